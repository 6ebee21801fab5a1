//! RFC 9162 Merkle tree hashing: the primitives the ledger's tree and batch signatures share.
//!
//! A leaf is hashed as SHA-256(0x00 || bytes) and an interior node as SHA-256(0x01 || left || right),
//! so a leaf can never pass for a node. Pure functions, no I/O.

use ring::digest;

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Leaf hash: SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&[0x00]);
    ctx.update(entry);
    to_hash(ctx.finish())
}

/// Interior node hash: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    to_hash(digest::digest(&digest::SHA256, &buf))
}

fn to_hash(d: digest::Digest) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not inside a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The old size is larger than the new size.
    #[error("old size {old} is larger than new size {new}")]
    SizesOutOfOrder {
        /// The earlier size.
        old: u64,
        /// The later size.
        new: u64,
    },
    /// The proof has the wrong number of hashes for the sizes.
    #[error("proof has {got} hashes, which does not fit the sizes")]
    WrongLength {
        /// Number of hashes in the proof.
        got: usize,
    },
    /// The recomputed root does not match.
    #[error("recomputed root does not match the expected root")]
    RootMismatch,
    /// The proof leads to the new root, but from another old root than the one given: the tree it
    /// proves does not extend the old tree. With both roots signed by one log, proof of a fork.
    #[error("the proof leads to the new root from another old root: the trees diverge")]
    Diverges,
    /// A proof hash is not 32 bytes.
    #[error("proof hash {position} has {len} bytes, expected 32")]
    BadHash {
        /// Its position in the proof.
        position: usize,
        /// Its length.
        len: usize,
    },
}

/// Proof hashes as they travel in protobuf messages, checked to be 32 bytes each.
pub fn proof_hashes(hashes: &[Vec<u8>]) -> Result<Vec<Hash>, ProofError> {
    hashes
        .iter()
        .enumerate()
        .map(|(position, h)| {
            h.as_slice().try_into().map_err(|_| ProofError::BadHash {
                position,
                len: h.len(),
            })
        })
        .collect()
}

/// The root that an RFC 9162 §2.1.3.2 inclusion proof of the leaf with hash `leaf` at `index` in a
/// tree of `size` leaves leads to; the proof holds only if that is the root the verifier trusts.
pub fn inclusion_root(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength { got: proof.len() });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength { got: proof.len() });
    }
    Ok(r)
}

/// Checks an RFC 9162 §2.1.3.2 inclusion proof of the leaf with hash `leaf` at `index` in a tree of
/// `size` leaves whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if &inclusion_root(index, size, leaf, proof)? != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The root of the tree over `leaves` and the inclusion proof of each leaf, in order (the empty tree's
/// root, SHA-256 of nothing, when there are none).
///
/// Built level by level: a level's odd last node is carried up unchanged, which gives exactly the
/// RFC 9162 tree (its left subtree is always the largest power of two).
pub fn tree_with_proofs(leaves: &[Hash]) -> (Hash, Vec<Vec<Hash>>) {
    let mut proofs = vec![Vec::new(); leaves.len()];
    let mut level = leaves.to_vec();
    // Which node of the current level each leaf is under.
    let mut positions: Vec<usize> = (0..leaves.len()).collect();
    while level.len() > 1 {
        for (proof, position) in proofs.iter_mut().zip(&mut positions) {
            if let Some(sibling) = level.get(*position ^ 1) {
                proof.push(*sibling);
            }
            *position /= 2;
        }
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => node_hash(left, right),
                [single] => *single,
                _ => unreachable!("chunks of two"),
            })
            .collect();
    }
    let root = level
        .first()
        .copied()
        .unwrap_or_else(|| to_hash(digest::digest(&digest::SHA256, &[])));
    (root, proofs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MTH from RFC 9162 §2.1.1, recursively, as the reference.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves {
            [leaf] => *leaf,
            _ => {
                // The largest power of two below the size.
                let k = 1usize << (usize::BITS - 1 - (leaves.len() - 1).leading_zeros());
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn every_proof_of_every_tree_up_to_70_leaves_verifies() {
        for size in 1..=70u64 {
            let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let (root, proofs) = tree_with_proofs(&leaves);
            assert_eq!(root, reference_root(&leaves), "size {size}");
            for (index, proof) in proofs.iter().enumerate() {
                let index = index as u64;
                verify_inclusion(index, size, &leaves[index as usize], proof, &root).unwrap();
                if size > 1 {
                    let other = leaves[((index + 1) % size) as usize];
                    assert_eq!(
                        verify_inclusion(index, size, &other, proof, &root),
                        Err(ProofError::RootMismatch)
                    );
                }
            }
        }
    }

    #[test]
    fn a_proof_for_another_size_or_index_is_refused() {
        let leaves: Vec<Hash> = (0..5u8).map(|i| leaf_hash(&[i])).collect();
        let (root, proofs) = tree_with_proofs(&leaves);
        assert!(verify_inclusion(4, 6, &leaves[4], &proofs[4], &root).is_err());
        assert!(verify_inclusion(1, 5, &leaves[0], &proofs[0], &root).is_err());
        assert_eq!(
            verify_inclusion(5, 5, &leaves[4], &proofs[4], &root),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
    }
}
