//! One proof that a whole set of entries is in the tree: what an export
//! carries so a third party can check thousands (or millions) of entries
//! against one signed tree head without the archive.
//!
//! A separate RFC 9162 inclusion proof per entry would repeat the same
//! upper nodes for every entry (`log n` hashes each). The multi-proof holds
//! each needed hash once. It follows the tree's own recursion (RFC 9162
//! section 2.1.1): for the subtree over leaves `[lo, hi)`,
//!
//! - if none of the proven indices is in `[lo, hi)`, the proof holds the
//!   subtree's hash, `MTH(D[lo:hi])`;
//! - otherwise, if it is a single leaf, the verifier has that leaf and the
//!   proof holds nothing;
//! - otherwise the range is split at `lo + k`, `k` the largest power of two
//!   smaller than `hi - lo`, and the left part is visited before the right.
//!
//! The proof is the hashes emitted, in that depth-first, left-to-right
//! order, starting from `[0, size)`. The verifier walks the same recursion,
//! taking the hash of a leaf it holds, the next proof hash for a range it
//! holds no leaf of, and `SHA-256(0x01 || left || right)` for the rest; the
//! result must be the signed root and every proof hash must be used.
//! An empty set is proven by the root itself (a proof of one hash).

use crate::merkle::{Hash, ProofError, node_hash};

/// The multi-proof for the leaves at `indices` (strictly ascending, each
/// smaller than `leaves.len()`) in the tree of all `leaves` (leaf hashes).
pub fn multi_proof(leaves: &[Hash], indices: &[u64]) -> Result<Vec<Hash>, ProofError> {
    check_indices(indices, leaves.len() as u64)?;
    let mut proof = Vec::new();
    emit(leaves, 0, indices, &mut proof);
    Ok(proof)
}

/// Verifies that each `(index, leaf hash)` of `leaves` (strictly ascending
/// indices) is in the tree of `size` leaves whose root is `root`.
///
/// As with RFC 9162 inclusion proofs, the hashes bind `size` only through
/// the shape of the recursion: take `size` and `root` together from one
/// trusted (signed) tree head.
pub fn verify_multi(
    size: u64,
    leaves: &[(u64, Hash)],
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let indices: Vec<u64> = leaves.iter().map(|(i, _)| *i).collect();
    check_indices(&indices, size)?;
    let expected = proof_len(0, size, &indices);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            got: proof.len(),
            expected,
        });
    }
    let mut next = proof.iter();
    let computed = if size == 0 {
        crate::merkle::empty_root()
    } else {
        rebuild(0, size, leaves, &mut next)
    };
    if computed != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

fn check_indices(indices: &[u64], size: u64) -> Result<(), ProofError> {
    for (n, &index) in indices.iter().enumerate() {
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        if n > 0 && indices[n - 1] >= index {
            return Err(ProofError::Unordered { index });
        }
    }
    Ok(())
}

/// The largest power of two smaller than `n >= 2`.
fn split(n: u64) -> u64 {
    1 << (n - 1).ilog2()
}

/// Emits the proof hashes for the subtree `leaves` starting at leaf `lo`;
/// `indices` are the proven ones inside it.
fn emit(leaves: &[Hash], lo: u64, indices: &[u64], proof: &mut Vec<Hash>) {
    if indices.is_empty() {
        proof.push(crate::merkle::root(leaves));
        return;
    }
    if leaves.len() == 1 {
        return;
    }
    let k = split(leaves.len() as u64);
    let cut = indices.partition_point(|&i| i < lo + k);
    emit(&leaves[..k as usize], lo, &indices[..cut], proof);
    emit(&leaves[k as usize..], lo + k, &indices[cut..], proof);
}

/// How many hashes the proof for `[lo, hi)` holds.
fn proof_len(lo: u64, hi: u64, indices: &[u64]) -> usize {
    if indices.is_empty() {
        return 1;
    }
    if hi - lo == 1 {
        return 0;
    }
    let k = split(hi - lo);
    let cut = indices.partition_point(|&i| i < lo + k);
    proof_len(lo, lo + k, &indices[..cut]) + proof_len(lo + k, hi, &indices[cut..])
}

/// The hash of `[lo, hi)` from the leaves held and the proof (whose length
/// was checked, so it cannot run out).
fn rebuild<'a>(
    lo: u64,
    hi: u64,
    leaves: &[(u64, Hash)],
    next: &mut impl Iterator<Item = &'a Hash>,
) -> Hash {
    if leaves.is_empty() {
        return *next.next().expect("proof length was checked");
    }
    if hi - lo == 1 {
        return leaves[0].1;
    }
    let k = split(hi - lo);
    let cut = leaves.partition_point(|(i, _)| *i < lo + k);
    let left = rebuild(lo, lo + k, &leaves[..cut], next);
    let right = rebuild(lo + k, hi, &leaves[cut..], next);
    node_hash(&left, &right)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{inclusion_proof, leaf_hash, root};
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_le_bytes()))
            .collect()
    }

    #[test]
    fn one_index_is_the_rfc_inclusion_proof() {
        // For a single leaf the recursion emits exactly the hashes of the
        // RFC 9162 audit path (in left-to-right order, not leaf to root).
        let all = leaves(13);
        for i in 0..13u64 {
            let mut ours = multi_proof(&all, &[i]).unwrap();
            let mut rfc = inclusion_proof(&all, i).unwrap();
            ours.sort();
            rfc.sort();
            assert_eq!(ours, rfc, "index {i}");
        }
    }

    #[test]
    fn empty_set_and_bad_indices() {
        let all = leaves(5);
        let r = root(&all);
        assert_eq!(multi_proof(&all, &[]).unwrap(), vec![r]);
        assert_eq!(verify_multi(5, &[], &[r], &r), Ok(()));
        assert_eq!(
            multi_proof(&all, &[5]),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            multi_proof(&all, &[2, 2]),
            Err(ProofError::Unordered { index: 2 })
        );
        let pairs = [(3, all[3]), (1, all[1])];
        assert_eq!(
            verify_multi(5, &pairs, &[], &r),
            Err(ProofError::Unordered { index: 1 })
        );
    }

    proptest! {
        #[test]
        fn proofs_verify_and_catch_any_change(
            n in 1usize..200,
            picks in prop::collection::btree_set(0usize..200, 0..40),
            flip in any::<prop::sample::Index>(),
        ) {
            let all = leaves(n);
            let r = root(&all);
            let indices: Vec<u64> = picks.into_iter().filter(|&i| i < n).map(|i| i as u64).collect();
            let proof = multi_proof(&all, &indices).unwrap();
            let held: Vec<(u64, Hash)> = indices.iter().map(|&i| (i, all[i as usize])).collect();
            prop_assert_eq!(verify_multi(n as u64, &held, &proof, &r), Ok(()));
            // A held leaf altered.
            if !held.is_empty() {
                let mut bad = held.clone();
                let k = flip.index(bad.len());
                bad[k].1[0] ^= 1;
                prop_assert_eq!(verify_multi(n as u64, &bad, &proof, &r), Err(ProofError::RootMismatch));
            }
            // A proof hash altered, dropped or added.
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let k = flip.index(bad.len());
                bad[k][31] ^= 1;
                prop_assert_eq!(verify_multi(n as u64, &held, &bad, &r), Err(ProofError::RootMismatch));
                let short = &proof[1..];
                prop_assert!(verify_multi(n as u64, &held, short, &r).is_err());
            }
            let mut long = proof.clone();
            long.push([0; 32]);
            prop_assert!(verify_multi(n as u64, &held, &long, &r).is_err());
        }
    }
}
