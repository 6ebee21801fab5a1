//! RFC 9162 Merkle tree hashing, proof construction and pure proof verification.
//!
//! A complete subtree is named by `(level, index)`: it covers leaves `index << level ..
//! (index + 1) << level`. The ledger stores every complete subtree hash, so the hash of any range that
//! a proof needs is a fold over at most 64 stored nodes. Verification functions do no I/O.

pub use tulpar_core::merkle::{
    Hash, ProofError, leaf_hash, node_hash, proof_hashes, verify_inclusion,
};

/// The root of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Checks a protobuf [`InclusionProof`](tulpar_proto::v1::InclusionProof) of the entry whose
/// stored bytes are `entry` against the root of a tree of `proof.tree_size` entries.
pub fn verify_inclusion_proof(
    proof: &tulpar_proto::v1::InclusionProof,
    entry: &[u8],
    root: &Hash,
) -> Result<(), ProofError> {
    verify_inclusion(
        proof.leaf_index,
        proof.tree_size,
        &leaf_hash(entry),
        &proof_hashes(&proof.hashes)?,
        root,
    )
}

/// Checks a protobuf [`ConsistencyProof`](tulpar_proto::v1::ConsistencyProof) between the roots
/// of the trees of `proof.old_size` and `proof.new_size` entries.
pub fn verify_consistency_proof(
    proof: &tulpar_proto::v1::ConsistencyProof,
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    verify_consistency(
        proof.old_size,
        proof.new_size,
        old_root,
        new_root,
        &proof_hashes(&proof.hashes)?,
    )
}

/// Checks an RFC 9162 §2.1.4.2 consistency proof between a tree of `old_size` leaves with root
/// `old_root` and a tree of `new_size` leaves with root `new_root`.
///
/// Every tree is consistent with the empty tree, so `old_size == 0` verifies with an empty proof.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength { got: proof.len() });
        }
        if old_size == new_size && old_root != new_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(old_root);
    }
    path.extend(proof.iter());
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength { got: 0 });
    };
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = **first;
    let mut s_r = **first;
    for c in rest {
        if s_n == 0 {
            return Err(ProofError::WrongLength { got: proof.len() });
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength { got: proof.len() });
    }
    if &s_r == new_root && &f_r != old_root {
        return Err(ProofError::Diverges);
    }
    if &f_r != old_root || &s_r != new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a growing tree: the hashes of its maximal complete subtrees, largest first.
///
/// Appending a leaf merges equal-sized subtrees; each merge completes a node that the ledger stores.
/// Auditors use it to recompute a root from downloaded entries in constant memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `(level, hash)` of each maximal complete subtree, left to right.
    nodes: Vec<(u8, Hash)>,
}

impl Frontier {
    /// A frontier for `size` leaves from the hashes of its maximal complete subtrees, left to right.
    pub(crate) fn from_nodes(size: u64, hashes: Vec<Hash>) -> Self {
        let levels = subtree_levels(size);
        debug_assert_eq!(levels.len(), hashes.len());
        Self {
            size,
            nodes: levels.into_iter().zip(hashes).collect(),
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; calls `completed(level, index, hash)` for the leaf and each node it completes.
    pub(crate) fn push(&mut self, leaf: Hash, mut completed: impl FnMut(u8, u64, &Hash)) {
        let index = self.size;
        completed(0, index, &leaf);
        let mut level = 0u8;
        let mut hash = leaf;
        while let Some(&(top_level, top)) = self.nodes.last() {
            if top_level != level {
                break;
            }
            self.nodes.pop();
            hash = node_hash(&top, &hash);
            level += 1;
            completed(level, index >> level, &hash);
        }
        self.nodes.push((level, hash));
        self.size += 1;
    }

    /// Appends the leaf hash of one entry.
    pub fn push_leaf(&mut self, leaf: Hash) {
        self.push(leaf, |_, _, _| {});
    }

    /// The root hash of the tree.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(&(_, mut root)) = iter.next() else {
            return EMPTY_ROOT;
        };
        for (_, left) in iter {
            root = node_hash(left, &root);
        }
        root
    }
}

/// Levels of the maximal complete subtrees of a tree of `size` leaves, left to right.
pub(crate) fn subtree_levels(size: u64) -> Vec<u8> {
    (0..64u8).rev().filter(|l| size >> l & 1 == 1).collect()
}

/// The `(level, index)` of the maximal complete subtrees of a tree of `size` leaves, left to right.
pub(crate) fn frontier_nodes(size: u64) -> Vec<(u8, u64)> {
    let mut start = 0u64;
    subtree_levels(size)
        .into_iter()
        .map(|level| {
            let node = (level, start >> level);
            start += 1 << level;
            node
        })
        .collect()
}

/// Builds proofs from stored complete-subtree hashes.
pub(crate) struct ProofBuilder<F> {
    node: F,
}

impl<F, E> ProofBuilder<F>
where
    F: FnMut(u8, u64) -> Result<Hash, E>,
{
    /// A builder reading the hash of complete subtree `(level, index)` through `node`.
    pub(crate) fn new(node: F) -> Self {
        Self { node }
    }

    /// MTH of leaves `start .. start + len`, where `start` is a multiple of a power of two ≥ `len`,
    /// as every range in the RFC 9162 recursion is.
    fn range_hash(&mut self, start: u64, len: u64) -> Result<Hash, E> {
        if len == 0 {
            return Ok(EMPTY_ROOT);
        }
        let mut pieces = Vec::with_capacity(8);
        let mut at = start;
        for level in subtree_levels(len) {
            pieces.push((self.node)(level, at >> level)?);
            at += 1 << level;
        }
        let mut iter = pieces.into_iter().rev();
        let mut hash = iter.next().unwrap_or(EMPTY_ROOT);
        for left in iter {
            hash = node_hash(&left, &hash);
        }
        Ok(hash)
    }

    /// The root of a tree of `size` leaves.
    pub(crate) fn root(&mut self, size: u64) -> Result<Hash, E> {
        self.range_hash(0, size)
    }

    /// RFC 9162 PATH(index, D[0:size]), leaf to root. Requires `index < size`.
    pub(crate) fn inclusion(&mut self, index: u64, size: u64) -> Result<Vec<Hash>, E> {
        let mut out = Vec::new();
        self.path(index, 0, size, &mut out)?;
        Ok(out)
    }

    fn path(&mut self, m: u64, start: u64, n: u64, out: &mut Vec<Hash>) -> Result<(), E> {
        if n <= 1 {
            return Ok(());
        }
        let k = split_point(n);
        if m < k {
            self.path(m, start, k, out)?;
            out.push(self.range_hash(start + k, n - k)?);
        } else {
            self.path(m - k, start + k, n - k, out)?;
            out.push(self.range_hash(start, k)?);
        }
        Ok(())
    }

    /// RFC 9162 PROOF(old, D[0:new]). Requires `0 < old <= new`.
    pub(crate) fn consistency(&mut self, old: u64, new: u64) -> Result<Vec<Hash>, E> {
        let mut out = Vec::new();
        self.subproof(old, 0, new, true, &mut out)?;
        Ok(out)
    }

    fn subproof(
        &mut self,
        m: u64,
        start: u64,
        n: u64,
        complete: bool,
        out: &mut Vec<Hash>,
    ) -> Result<(), E> {
        if m == n {
            if !complete {
                out.push(self.range_hash(start, n)?);
            }
            return Ok(());
        }
        let k = split_point(n);
        if m <= k {
            self.subproof(m, start, k, complete, out)?;
            out.push(self.range_hash(start + k, n - k)?);
        } else {
            self.subproof(m - k, start + k, n - k, false, out)?;
            out.push(self.range_hash(start, k)?);
        }
        Ok(())
    }
}

/// The largest power of two smaller than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        let nothing = ring::digest::digest(&ring::digest::SHA256, b"");
        assert_eq!(EMPTY_ROOT.as_slice(), nothing.as_ref());
        assert_eq!(Frontier::default().root(), EMPTY_ROOT);
    }

    #[test]
    fn split_point_is_largest_power_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(1 << 40), 1 << 39);
    }

    #[test]
    fn frontier_nodes_cover_the_tree() {
        assert_eq!(frontier_nodes(0), vec![]);
        assert_eq!(frontier_nodes(1), vec![(0, 0)]);
        assert_eq!(frontier_nodes(6), vec![(2, 0), (1, 2)]);
        assert_eq!(frontier_nodes(7), vec![(2, 0), (1, 2), (0, 6)]);
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The eight leaves of the Certificate Transparency reference tests.
    fn ct_leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|h| {
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect()
    }

    fn ct_tree() -> std::collections::HashMap<(u8, u64), Hash> {
        let mut nodes = std::collections::HashMap::new();
        let mut frontier = Frontier::default();
        for leaf in ct_leaves() {
            frontier.push(leaf_hash(&leaf), |l, i, h| {
                nodes.insert((l, i), *h);
            });
        }
        nodes
    }

    #[test]
    fn certificate_transparency_vectors() {
        let nodes = ct_tree();
        let mut proofs = ProofBuilder::new(|l, i| nodes.get(&(l, i)).copied().ok_or(()));
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        for (n, root) in roots.iter().enumerate() {
            assert_eq!(
                hex(&proofs.root(n as u64 + 1).unwrap()),
                *root,
                "size {}",
                n + 1
            );
        }
        let hexes = |v: Vec<Hash>| v.iter().map(hex).collect::<Vec<_>>();
        assert_eq!(
            hexes(proofs.inclusion(0, 8).unwrap()),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            hexes(proofs.inclusion(5, 8).unwrap()),
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert_eq!(
            hexes(proofs.consistency(1, 8).unwrap()),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            hexes(proofs.consistency(6, 8).unwrap()),
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert_eq!(
            hexes(proofs.consistency(2, 5).unwrap()),
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]
        );
    }
}
