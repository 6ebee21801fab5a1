//! The ledger's proofs against a naive recursive RFC 9162 reference, for every tree size up to 64.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use ring::digest;
use tulpar_ledger::{Hash, verify_consistency, verify_inclusion};

fn sha(parts: &[&[u8]]) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    ctx.finish().as_ref().try_into().unwrap()
}

/// RFC 9162 §2.1.1 MTH, written straight from the definition.
fn mth(d: &[Vec<u8>]) -> Hash {
    match d.len() {
        0 => sha(&[]),
        1 => sha(&[&[0], &d[0]]),
        n => {
            let k = largest_power_below(n);
            sha(&[&[1], &mth(&d[..k]), &mth(&d[k..])])
        }
    }
}

fn largest_power_below(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 9162 §2.1.3.1 PATH(m, D[n]).
fn path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    let n = d.len();
    if n <= 1 {
        return vec![];
    }
    let k = largest_power_below(n);
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b).
fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![mth(d)] };
    }
    let k = largest_power_below(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

fn hashes(v: &[Vec<u8>]) -> Vec<Hash> {
    v.iter().map(|h| h.as_slice().try_into().unwrap()).collect()
}

#[test]
fn proofs_match_the_reference_for_sizes_1_to_64() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = common::open(dir.path());
    let rt = common::runtime();
    // Several batch shapes, so that checkpoints exist at irregular sizes.
    let mut next = 0;
    for batch in [1usize, 2, 3, 5, 8, 13, 32] {
        let appends: Vec<_> = (0..batch)
            .map(|k| ledger.append(common::entry(&format!("A{}", next + k), k * 3)))
            .collect();
        rt.block_on(async {
            for a in appends {
                a.await.unwrap();
            }
        });
        next += batch;
    }
    assert_eq!(ledger.size(), 64);
    let leaves: Vec<Vec<u8>> = (0..64).map(|i| ledger.entry_bytes(i).unwrap()).collect();

    for n in 1..=64usize {
        let d = &leaves[..n];
        let root = mth(d);
        assert_eq!(ledger.root_at(n as u64).unwrap(), root, "root of size {n}");
        for m in 0..n {
            let proof = ledger.inclusion_proof(m as u64, n as u64).unwrap();
            let got = hashes(&proof.hashes);
            assert_eq!(got, path(m, d), "PATH({m}, D[{n}])");
            let leaf = ledger.leaf_hash(m as u64).unwrap();
            verify_inclusion(m as u64, n as u64, &leaf, &got, &root).unwrap();
            if !got.is_empty() {
                let mut bad = got.clone();
                bad[0][0] ^= 1;
                assert!(verify_inclusion(m as u64, n as u64, &leaf, &bad, &root).is_err());
            }
        }
        for m in 1..=n {
            let proof = ledger.consistency_proof(m as u64, n as u64).unwrap();
            let got = hashes(&proof.hashes);
            assert_eq!(got, subproof(m, d, true), "PROOF({m}, D[{n}])");
            let old_root = mth(&leaves[..m]);
            verify_consistency(m as u64, n as u64, &old_root, &root, &got).unwrap();
            if m < n {
                let mut bad = got.clone();
                let last = bad.len() - 1;
                bad[last][5] ^= 1;
                assert!(verify_consistency(m as u64, n as u64, &old_root, &root, &bad).is_err());
                assert!(verify_consistency(m as u64, n as u64, &root, &root, &got).is_err());
            }
        }
        if let Some(cp) = ledger.checkpoint_at(n as u64).unwrap() {
            assert_eq!(cp.root(), &root);
        }
    }
    assert_eq!(ledger.consistency_proof(0, 64).unwrap().hashes.len(), 0);
    assert!(ledger.inclusion_proof(64, 64).is_err());
    assert!(ledger.consistency_proof(5, 65).is_err());
}
