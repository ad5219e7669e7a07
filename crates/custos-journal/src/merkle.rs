//! Merkle tree hashing for the journal, following RFC 9162 (Certificate
//! Transparency v2.0), section 2.1.
//!
//! The journal commits to its entries with the Merkle Tree Hash (MTH) of
//! RFC 9162 section 2.1.1, using SHA-256:
//!
//! - leaf hash: `SHA-256(0x00 || entry)`,
//! - interior node hash: `SHA-256(0x01 || left || right)`,
//! - the hash of an empty tree: `SHA-256("")`,
//! - a tree of `n > 1` leaves is split at `k`, the largest power of two
//!   smaller than `n`: `MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n]))`.
//!
//! The distinct `0x00` / `0x01` prefixes keep a leaf from ever being mistaken
//! for an interior node.
//!
//! On top of that, this module generates and verifies
//!
//! - inclusion proofs (section 2.1.3): a leaf is at a given index of a tree
//!   with a given root, and
//! - consistency proofs (section 2.1.4): a tree is an append-only extension
//!   of an older tree, and
//! - multi-proofs ([`multi_proof`], defined in `multiproof.rs`): a set of
//!   leaves is in a tree, each needed hash given once.
//!
//! The verifiers implement the algorithms of sections 2.1.3.2 and 2.1.4.2
//! step by step. Every function taking `leaves` takes *leaf hashes* (outputs
//! of [`leaf_hash`]), not raw entries. [`Frontier`] maintains the root
//! incrementally as leaves are appended.
//!
//! Generating a root or a proof over `n` leaves costs `O(n)` hashes, uses no
//! heap allocation besides the returned proof, and recurses `O(log n)` deep.

use sha2::{Digest, Sha256};

pub use crate::multiproof::{multi_proof, verify_multi};

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// Why a proof could not be generated or did not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    /// The leaf index is not smaller than the tree size.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The size of the tree.
        size: u64,
    },
    /// The old tree of a consistency proof is larger than the new tree.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    OldSizeTooLarge {
        /// The claimed size of the old tree.
        old_size: u64,
        /// The claimed size of the new tree.
        new_size: u64,
    },
    /// The proof has the wrong number of hashes for the claimed tree size(s).
    #[error("proof has {got} hashes, expected {expected}")]
    WrongProofLength {
        /// The number of hashes in the proof.
        got: usize,
        /// The number of hashes a proof for these sizes must have.
        expected: usize,
    },
    /// The indices of a multi-proof are not strictly ascending.
    #[error("leaf index {index} is out of order (indices must be strictly ascending)")]
    Unordered {
        /// The first index out of order.
        index: u64,
    },
    /// The root computed from an inclusion proof differs from the given root.
    #[error("computed root does not match")]
    RootMismatch,
    /// The old root computed from a consistency proof differs from the given one.
    #[error("computed old root does not match")]
    OldRootMismatch,
    /// The new root computed from a consistency proof differs from the given one.
    #[error("computed new root does not match")]
    NewRootMismatch,
}

/// Hashes a journal entry into a leaf: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(entry);
    hasher.finalize().into()
}

/// Hashes two child hashes into their parent: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// Merkle tree hash over leaf hashes (already leaf-hashed).
///
/// This is `MTH` of RFC 9162 section 2.1.1; an empty slice gives
/// [`empty_root`].
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [leaf] => *leaf,
        _ => {
            let k = split(leaves.len());
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The inclusion proof for the leaf at `index` in the tree of all `leaves`
/// (RFC 9162 section 2.1.3.1, `PATH(index, D[n])`).
///
/// The proof lists sibling hashes from the leaf up to the root. Fails if
/// `index` is not smaller than `leaves.len()`.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let size = tree_size(leaves);
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // `index < size <= usize::MAX`, so the conversion is lossless.
    let m = index as usize;
    let mut proof = Vec::with_capacity(inclusion_proof_len(index, size));
    path(leaves, m, &mut proof);
    Ok(proof)
}

/// Verifies that `leaf` is the leaf at `index` of the tree of `size` leaves
/// whose root is `root`, using the algorithm of RFC 9162 section 2.1.3.2.
///
/// Fails with [`ProofError::IndexOutOfRange`] if `index >= size`,
/// [`ProofError::WrongProofLength`] if the proof does not have exactly the
/// number of hashes the RFC algorithm consumes, and
/// [`ProofError::RootMismatch`] if the computed root differs from `root`.
///
/// The hashes bind `size` only through the shape of the path, so a proof can
/// also verify for some other sizes: take `size` and `root` together from the
/// same trusted tree head.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let wrong_length = || ProofError::WrongProofLength {
        got: proof.len(),
        expected: inclusion_proof_len(index, size),
    };
    // 1. Fail if leaf_index >= tree_size.
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // 2. Set fn to leaf_index and sn to tree_size - 1.
    let (mut f_n, mut s_n) = (index, size - 1);
    // 3. Set r to hash.
    let mut r = *leaf;
    // 4. For each value p in the inclusion_path array:
    for p in proof {
        // a. If sn is 0, stop and fail.
        if s_n == 0 {
            return Err(wrong_length());
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if f_n & 1 == 1 || f_n == s_n {
            // i. Set r to HASH(0x01 || p || r).
            r = node_hash(p, &r);
            // ii. If LSB(fn) is not set, right-shift fn and sn equally
            //     until either LSB(fn) is set or fn is 0.
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            // Otherwise: set r to HASH(0x01 || r || p).
            r = node_hash(&r, p);
        }
        // c. Finally, right-shift both fn and sn one time.
        f_n >>= 1;
        s_n >>= 1;
    }
    // 5. The proof holds if sn is 0 and r equals root_hash.
    if s_n != 0 {
        return Err(wrong_length());
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The consistency proof between the tree of the first `old_size` leaves and
/// the tree of all `leaves` (RFC 9162 section 2.1.4.1, `PROOF(m, D[n])`).
///
/// The RFC defines proofs for `0 < old_size < leaves.len()`; for
/// `old_size == 0` and `old_size == leaves.len()` there is nothing to prove
/// and the proof is empty (see [`verify_consistency`]). Fails if `old_size`
/// is larger than `leaves.len()`.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, ProofError> {
    let new_size = tree_size(leaves);
    if old_size > new_size {
        return Err(ProofError::OldSizeTooLarge { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    // `old_size < new_size <= usize::MAX`, so the conversion is lossless.
    let m = old_size as usize;
    let mut proof = Vec::with_capacity(consistency_proof_len(old_size, new_size));
    subproof(leaves, m, true, &mut proof);
    Ok(proof)
}

/// Verifies that the tree of `new_size` leaves with root `new_root` extends
/// the tree of `old_size` leaves with root `old_root`.
///
/// For `0 < old_size < new_size` this is the algorithm of RFC 9162 section
/// 2.1.4.2. The cases the RFC leaves out are handled as follows:
///
/// - `old_size > new_size` fails with [`ProofError::OldSizeTooLarge`];
/// - `old_size == 0`: the empty tree is a prefix of every tree, so the proof
///   must be empty and `old_root` must be [`empty_root`];
/// - `old_size == new_size`: the trees are the same, so the proof must be
///   empty and the roots equal.
///
/// A proof with more or fewer hashes than the algorithm consumes fails with
/// [`ProofError::WrongProofLength`]; a computed root that differs fails with
/// [`ProofError::OldRootMismatch`] or [`ProofError::NewRootMismatch`].
///
/// As with [`verify_inclusion`], the hashes bind `new_size` only through the
/// shape of the proof: take each size and root together from the same
/// trusted tree head.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::OldSizeTooLarge { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                got: proof.len(),
                expected: 0,
            });
        }
        if old_size == 0 && *old_root != empty_root() {
            return Err(ProofError::OldRootMismatch);
        }
        if old_size == new_size && old_root != new_root {
            return Err(ProofError::NewRootMismatch);
        }
        return Ok(());
    }

    let wrong_length = || ProofError::WrongProofLength {
        got: proof.len(),
        expected: consistency_proof_len(old_size, new_size),
    };
    // 1. If consistency_path is an empty array, stop and fail.
    if proof.is_empty() {
        return Err(wrong_length());
    }
    // 2. If first is an exact power of 2, prepend first_hash to the path.
    // 5. (done here) Set both fr and sr to the first value of the path.
    // The rest of the path is what step 6 iterates over.
    let (seed, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        proof.split_first().ok_or_else(wrong_length)?
    };
    let (mut fr, mut sr) = (*seed, *seed);
    // 3. Set fn to first - 1 and sn to second - 1.
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    // 4. If LSB(fn) is set, right-shift fn and sn equally until it is not.
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // 6. For each subsequent value c in the consistency_path array:
    for c in rest {
        // a. If sn is 0, stop and fail.
        if s_n == 0 {
            return Err(wrong_length());
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if f_n & 1 == 1 || f_n == s_n {
            // i. Set fr to HASH(0x01 || c || fr).
            fr = node_hash(c, &fr);
            // ii. Set sr to HASH(0x01 || c || sr).
            sr = node_hash(c, &sr);
            // iii. If LSB(fn) is not set, right-shift fn and sn equally
            //      until either LSB(fn) is set or fn is 0.
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            // Otherwise: set sr to HASH(0x01 || sr || c).
            sr = node_hash(&sr, c);
        }
        // c. Finally, right-shift both fn and sn one time.
        f_n >>= 1;
        s_n >>= 1;
    }
    // 7. The proof holds if sn is 0, fr equals first_hash and sr equals
    //    second_hash.
    if s_n != 0 {
        return Err(wrong_length());
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}

/// Incremental "frontier" (compact range): the roots of the perfect subtrees of the tree so far,
/// so appending a leaf and reading the root are O(log n) with no access to old leaves.
///
/// A tree of `n` leaves is made of one perfect subtree per set bit of `n`,
/// largest (leftmost) first; the frontier keeps exactly those roots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    /// Number of leaves appended so far.
    size: u64,
    /// Roots of the perfect subtrees, left to right (decreasing height).
    peaks: Vec<Hash>,
}

impl Frontier {
    /// An empty frontier (a tree of size 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash (an output of [`leaf_hash`]).
    pub fn push(&mut self, leaf: Hash) {
        // Each trailing one bit of the size is a perfect subtree as tall as the
        // one being built up from the new leaf: merge them, smallest first.
        let merged = self.size.trailing_ones() as usize;
        let keep = self.peaks.len() - merged;
        let mut hash = leaf;
        for left in self.peaks.drain(keep..).rev() {
            hash = node_hash(&left, &hash);
        }
        self.peaks.push(hash);
        self.size += 1;
    }

    /// The number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The Merkle tree hash of the leaves appended so far; equal to
    /// [`root`] over the same leaves.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        match peaks.next() {
            None => empty_root(),
            Some(last) => peaks.fold(*last, |right, left| node_hash(left, &right)),
        }
    }
}

/// The largest power of two smaller than `n`, for `n >= 2` (the split point
/// `k` of RFC 9162 section 2.1.1).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (n - 1).ilog2()
}

/// The number of leaves as a tree size.
fn tree_size(leaves: &[Hash]) -> u64 {
    // usize is at most 64 bits on every supported target.
    leaves.len() as u64
}

/// `PATH(m, D[n])` of RFC 9162 section 2.1.3.1, appended to `proof`.
fn path(leaves: &[Hash], m: usize, proof: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    if m < k {
        path(&leaves[..k], m, proof);
        proof.push(root(&leaves[k..]));
    } else {
        path(&leaves[k..], m - k, proof);
        proof.push(root(&leaves[..k]));
    }
}

/// `SUBPROOF(m, D[n], b)` of RFC 9162 section 2.1.4.1, appended to `proof`.
///
/// `old_root_known` is the RFC's `b`: whether this subtree is the whole old
/// tree, whose root the verifier already has.
fn subproof(leaves: &[Hash], m: usize, old_root_known: bool, proof: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !old_root_known {
            proof.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(&leaves[..k], m, old_root_known, proof);
        proof.push(root(&leaves[k..]));
    } else {
        subproof(&leaves[k..], m - k, false, proof);
        proof.push(root(&leaves[..k]));
    }
}

/// The number of hashes `(inner, border)` in the inclusion proof of leaf
/// `index < size`: `inner` siblings below the level where the paths to
/// `index` and to the last leaf join, and `border` left siblings above it
/// (where the path runs along the right edge of the tree).
fn inclusion_proof_parts(index: u64, size: u64) -> (u32, u32) {
    let inner = u64::BITS - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner, border)
}

/// The number of hashes in the inclusion proof of leaf `index < size`.
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    if index >= size {
        return 0;
    }
    let (inner, border) = inclusion_proof_parts(index, size);
    (inner + border) as usize
}

/// The number of hashes in the consistency proof between sizes
/// `0 < old_size < new_size`.
///
/// It is the inclusion proof of the old tree's last leaf, minus the levels
/// inside the old tree's rightmost perfect subtree, plus that subtree's root
/// unless it is the whole old tree (the verifier has it already).
fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    if old_size == 0 || old_size >= new_size {
        return 0;
    }
    let (inner, border) = inclusion_proof_parts(old_size - 1, new_size);
    let shared = old_size.trailing_zeros();
    let seed = u32::from(!old_size.is_power_of_two());
    (seed + inner - shared + border) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes a 32-byte hex hash.
    fn h(hex: &str) -> Hash {
        hex::decode(hex).unwrap().try_into().unwrap()
    }

    // ---- Known answers --------------------------------------------------
    //
    // The RFC 6962 / Certificate Transparency reference data set, as published
    // in transparency-dev/merkle (testonly/constants.go, proof/verify_test.go)
    // and google/certificate-transparency-go.

    /// The eight reference entries, hex encoded.
    const KAT_ENTRIES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// Leaf hashes of the reference entries.
    const KAT_LEAF_HASHES: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ];

    /// Roots of the trees of the first 0..=8 reference entries.
    const KAT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// Inclusion proofs: (leaf index, tree size, proof).
    const KAT_INCLUSION: [(u64, u64, &[&str]); 5] = [
        (0, 1, &[]),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    /// Consistency proofs: (old size, new size, proof).
    const KAT_CONSISTENCY: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    fn kat_leaves() -> Vec<Hash> {
        KAT_ENTRIES
            .iter()
            .map(|e| leaf_hash(&hex::decode(e).unwrap()))
            .collect()
    }

    fn hashes(hex: &[&str]) -> Vec<Hash> {
        hex.iter().map(|x| h(x)).collect()
    }

    #[test]
    fn kat_empty_root() {
        assert_eq!(empty_root(), h(KAT_ROOTS[0]));
        assert_eq!(root(&[]), empty_root());
    }

    #[test]
    fn kat_leaf_hashes() {
        assert_eq!(kat_leaves(), hashes(&KAT_LEAF_HASHES));
    }

    #[test]
    fn kat_node_hash() {
        let leaves = kat_leaves();
        assert_eq!(
            node_hash(&leaves[0], &leaves[1]),
            h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")
        );
        assert_eq!(
            node_hash(&leaves[6], &leaves[7]),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0")
        );
    }

    #[test]
    fn kat_roots_for_every_size() {
        let leaves = kat_leaves();
        for (size, expected) in KAT_ROOTS.iter().enumerate() {
            assert_eq!(root(&leaves[..size]), h(expected), "size {size}");
        }
    }

    #[test]
    fn kat_frontier_roots_for_every_size() {
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), h(KAT_ROOTS[0]));
        for (leaf, expected) in kat_leaves().into_iter().zip(&KAT_ROOTS[1..]) {
            frontier.push(leaf);
            assert_eq!(frontier.root(), h(expected), "size {}", frontier.size());
        }
        assert_eq!(frontier.size(), 8);
    }

    #[test]
    fn kat_inclusion_proofs() {
        let leaves = kat_leaves();
        for (index, size, expected) in KAT_INCLUSION {
            let expected = hashes(expected);
            let tree = &leaves[..size as usize];
            let proof = inclusion_proof(tree, index).unwrap();
            assert_eq!(proof, expected, "index {index}, size {size}");
            let root = h(KAT_ROOTS[size as usize]);
            let leaf = &leaves[index as usize];
            assert_eq!(verify_inclusion(leaf, index, size, &proof, &root), Ok(()));
        }
    }

    #[test]
    fn kat_consistency_proofs() {
        let leaves = kat_leaves();
        for (old_size, new_size, expected) in KAT_CONSISTENCY {
            let expected = hashes(expected);
            let tree = &leaves[..new_size as usize];
            let proof = consistency_proof(tree, old_size).unwrap();
            assert_eq!(proof, expected, "{old_size} -> {new_size}");
            let old_root = h(KAT_ROOTS[old_size as usize]);
            let new_root = h(KAT_ROOTS[new_size as usize]);
            assert_eq!(
                verify_consistency(old_size, new_size, &old_root, &new_root, &proof),
                Ok(())
            );
        }
    }

    #[test]
    fn kat_consistency_proofs_reject_corruption() {
        let some_hash = h("abacaba000000000000000000000000000000000000000000060061e00123456");
        for (old_size, new_size, expected) in KAT_CONSISTENCY {
            let proof = hashes(expected);
            if proof.is_empty() {
                continue;
            }
            let old_root = h(KAT_ROOTS[old_size as usize]);
            let new_root = h(KAT_ROOTS[new_size as usize]);
            let check = |old: u64, new: u64, r1: &Hash, r2: &Hash, p: &[Hash]| {
                verify_consistency(old, new, r1, r2, p).is_err()
            };
            assert!(check(old_size - 1, new_size, &old_root, &new_root, &proof));
            assert!(check(old_size + 1, new_size, &old_root, &new_root, &proof));
            assert!(check(old_size ^ 2, new_size, &old_root, &new_root, &proof));
            assert!(check(old_size, new_size * 2, &old_root, &new_root, &proof));
            assert!(check(old_size, new_size / 2, &old_root, &new_root, &proof));
            assert!(check(old_size, new_size, &some_hash, &new_root, &proof));
            assert!(check(old_size, new_size, &old_root, &some_hash, &proof));
            assert!(check(old_size, new_size, &new_root, &old_root, &proof));
            assert!(check(old_size, new_size, &old_root, &new_root, &[]));
            let longer = [proof.as_slice(), &[some_hash]].concat();
            assert!(check(old_size, new_size, &old_root, &new_root, &longer));
            let shorter = &proof[..proof.len() - 1];
            assert!(check(old_size, new_size, &old_root, &new_root, shorter));
            let prefixed = [&[proof[0]], proof.as_slice()].concat();
            assert!(check(old_size, new_size, &old_root, &new_root, &prefixed));
        }
    }

    // ---- Edge cases and errors -----------------------------------------

    fn numbered_leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn error_messages_name_the_numbers() {
        let cases = [
            (
                ProofError::IndexOutOfRange { index: 7, size: 5 },
                "leaf index 7 is outside a tree of size 5",
            ),
            (
                ProofError::OldSizeTooLarge {
                    old_size: 9,
                    new_size: 4,
                },
                "old tree size 9 is larger than new tree size 4",
            ),
            (
                ProofError::WrongProofLength {
                    got: 3,
                    expected: 4,
                },
                "proof has 3 hashes, expected 4",
            ),
            (ProofError::RootMismatch, "computed root does not match"),
            (
                ProofError::OldRootMismatch,
                "computed old root does not match",
            ),
            (
                ProofError::NewRootMismatch,
                "computed new root does not match",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn inclusion_proof_index_out_of_range() {
        let leaves = numbered_leaves(5);
        for index in [5, 6, u64::MAX] {
            assert_eq!(
                inclusion_proof(&leaves, index),
                Err(ProofError::IndexOutOfRange { index, size: 5 })
            );
        }
        assert_eq!(
            inclusion_proof(&[], 0),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
    }

    #[test]
    fn verify_inclusion_index_out_of_range() {
        let leaf = leaf_hash(b"x");
        for (index, size) in [(0, 0), (1, 0), (5, 5), (7, 5), (u64::MAX, 3)] {
            assert_eq!(
                verify_inclusion(&leaf, index, size, &[], &leaf),
                Err(ProofError::IndexOutOfRange { index, size })
            );
        }
    }

    #[test]
    fn verify_inclusion_single_leaf_tree() {
        let leaf = leaf_hash(b"data");
        assert_eq!(verify_inclusion(&leaf, 0, 1, &[], &leaf), Ok(()));
        assert_eq!(
            verify_inclusion(&leaf, 0, 1, &[], &empty_root()),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_inclusion(&leaf, 0, 1, &[leaf], &leaf),
            Err(ProofError::WrongProofLength {
                got: 1,
                expected: 0
            })
        );
    }

    #[test]
    fn verify_inclusion_wrong_proof_length() {
        let leaves = numbered_leaves(5);
        let root = root(&leaves);
        let proof = inclusion_proof(&leaves, 1).unwrap();
        assert_eq!(proof.len(), 3);
        let extra = [proof.as_slice(), &[root]].concat();
        assert_eq!(
            verify_inclusion(&leaves[1], 1, 5, &extra, &root),
            Err(ProofError::WrongProofLength {
                got: 4,
                expected: 3
            })
        );
        assert_eq!(
            verify_inclusion(&leaves[1], 1, 5, &proof[..2], &root),
            Err(ProofError::WrongProofLength {
                got: 2,
                expected: 3
            })
        );
        // The last leaf of a size-5 tree has a single sibling.
        assert_eq!(
            verify_inclusion(&leaves[4], 4, 5, &proof, &root),
            Err(ProofError::WrongProofLength {
                got: 3,
                expected: 1
            })
        );
    }

    #[test]
    fn verify_inclusion_root_mismatch() {
        let leaves = numbered_leaves(6);
        let root = root(&leaves);
        let proof = inclusion_proof(&leaves, 3).unwrap();
        assert_eq!(verify_inclusion(&leaves[3], 3, 6, &proof, &root), Ok(()));
        assert_eq!(
            verify_inclusion(&leaves[2], 3, 6, &proof, &root),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_inclusion(&leaves[3], 3, 6, &proof, &empty_root()),
            Err(ProofError::RootMismatch)
        );
    }

    #[test]
    fn consistency_proof_old_size_too_large() {
        let leaves = numbered_leaves(4);
        assert_eq!(
            consistency_proof(&leaves, 5),
            Err(ProofError::OldSizeTooLarge {
                old_size: 5,
                new_size: 4
            })
        );
        assert_eq!(
            consistency_proof(&[], 1),
            Err(ProofError::OldSizeTooLarge {
                old_size: 1,
                new_size: 0
            })
        );
    }

    #[test]
    fn consistency_proof_trivial_sizes_are_empty() {
        let leaves = numbered_leaves(4);
        assert_eq!(consistency_proof(&leaves, 0), Ok(Vec::new()));
        assert_eq!(consistency_proof(&leaves, 4), Ok(Vec::new()));
        assert_eq!(consistency_proof(&[], 0), Ok(Vec::new()));
    }

    #[test]
    fn verify_consistency_old_size_too_large() {
        let r = leaf_hash(b"r");
        for (old_size, new_size) in [(1, 0), (2, 1), (9, 4), (u64::MAX, 0)] {
            assert_eq!(
                verify_consistency(old_size, new_size, &r, &r, &[]),
                Err(ProofError::OldSizeTooLarge { old_size, new_size })
            );
        }
    }

    #[test]
    fn verify_consistency_from_empty_tree() {
        let empty = empty_root();
        let new_root = root(&numbered_leaves(3));
        assert_eq!(verify_consistency(0, 0, &empty, &empty, &[]), Ok(()));
        assert_eq!(verify_consistency(0, 3, &empty, &new_root, &[]), Ok(()));
        assert_eq!(
            verify_consistency(0, 3, &new_root, &new_root, &[]),
            Err(ProofError::OldRootMismatch)
        );
        assert_eq!(
            verify_consistency(0, 0, &empty, &new_root, &[]),
            Err(ProofError::NewRootMismatch)
        );
        assert_eq!(
            verify_consistency(0, 3, &empty, &new_root, &[empty]),
            Err(ProofError::WrongProofLength {
                got: 1,
                expected: 0
            })
        );
    }

    #[test]
    fn verify_consistency_equal_sizes() {
        let a = root(&numbered_leaves(3));
        let b = root(&numbered_leaves(4)[1..]);
        assert_eq!(verify_consistency(3, 3, &a, &a, &[]), Ok(()));
        assert_eq!(
            verify_consistency(3, 3, &a, &b, &[]),
            Err(ProofError::NewRootMismatch)
        );
        assert_eq!(
            verify_consistency(3, 3, &a, &a, &[a]),
            Err(ProofError::WrongProofLength {
                got: 1,
                expected: 0
            })
        );
    }

    #[test]
    fn verify_consistency_wrong_proof_length() {
        let leaves = numbered_leaves(8);
        let (old_root, new_root) = (root(&leaves[..6]), root(&leaves));
        let proof = consistency_proof(&leaves, 6).unwrap();
        assert_eq!(proof.len(), 3);
        let wrong = |got| ProofError::WrongProofLength { got, expected: 3 };
        assert_eq!(
            verify_consistency(6, 8, &old_root, &new_root, &[]),
            Err(wrong(0))
        );
        assert_eq!(
            verify_consistency(6, 8, &old_root, &new_root, &proof[..1]),
            Err(wrong(1))
        );
        assert_eq!(
            verify_consistency(6, 8, &old_root, &new_root, &proof[..2]),
            Err(wrong(2))
        );
        let extra = [proof.as_slice(), &[new_root]].concat();
        assert_eq!(
            verify_consistency(6, 8, &old_root, &new_root, &extra),
            Err(wrong(4))
        );
        // A power-of-two old size: the old root is not part of the proof.
        let proof = consistency_proof(&leaves, 4).unwrap();
        assert_eq!(proof, vec![root(&leaves[4..])]);
        assert_eq!(
            verify_consistency(4, 8, &root(&leaves[..4]), &new_root, &[]),
            Err(ProofError::WrongProofLength {
                got: 0,
                expected: 1
            })
        );
    }

    #[test]
    fn verify_consistency_root_mismatch() {
        let leaves = numbered_leaves(7);
        let (old_root, new_root) = (root(&leaves[..3]), root(&leaves));
        let proof = consistency_proof(&leaves, 3).unwrap();
        assert_eq!(
            verify_consistency(3, 7, &old_root, &new_root, &proof),
            Ok(())
        );
        assert_eq!(
            verify_consistency(3, 7, &new_root, &new_root, &proof),
            Err(ProofError::OldRootMismatch)
        );
        assert_eq!(
            verify_consistency(3, 7, &old_root, &old_root, &proof),
            Err(ProofError::NewRootMismatch)
        );
        // With a power-of-two old size, the old root is the seed of both
        // computed roots, so a wrong old root shows up in the new root.
        let old_root = root(&leaves[..4]);
        let proof = consistency_proof(&leaves, 4).unwrap();
        assert_eq!(
            verify_consistency(4, 7, &old_root, &new_root, &proof),
            Ok(())
        );
        assert_eq!(
            verify_consistency(4, 7, &new_root, &new_root, &proof),
            Err(ProofError::NewRootMismatch)
        );
    }

    #[test]
    fn frontier_starts_empty() {
        let frontier = Frontier::new();
        assert_eq!(frontier.size(), 0);
        assert_eq!(frontier.root(), empty_root());
        assert_eq!(frontier, Frontier::default());
    }

    // ---- Properties -------------------------------------------------------

    /// Straight from the RFC 9162 section 2.1.1 definition, over raw entries.
    fn reference_mth(entries: &[Vec<u8>]) -> Hash {
        match entries.len() {
            0 => Sha256::digest(b"").into(),
            1 => Sha256::digest([&[0x00], entries[0].as_slice()].concat()).into(),
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                let left = reference_mth(&entries[..k]);
                let right = reference_mth(&entries[k..]);
                Sha256::digest([&[0x01], &left[..], &right[..]].concat()).into()
            }
        }
    }

    /// Distinct entries for a tree of `n` leaves; `seed` varies their content.
    fn entries(n: usize, seed: u8) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let mut entry = vec![seed; i % 7];
                entry.extend_from_slice(&(i as u64).to_le_bytes());
                entry
            })
            .collect()
    }

    fn leaves_for(n: usize, seed: u8) -> Vec<Hash> {
        entries(n, seed).iter().map(|e| leaf_hash(e)).collect()
    }

    /// A tree size in 1..=300 and an index in it.
    fn size_and_index() -> impl Strategy<Value = (usize, usize)> {
        (1usize..=300).prop_flat_map(|n| (Just(n), 0..n))
    }

    /// A tree size in 1..=300 and an old size in 0..=size.
    fn size_and_old_size() -> impl Strategy<Value = (usize, usize)> {
        (1usize..=300).prop_flat_map(|n| (Just(n), 0..=n))
    }

    proptest! {
        // Checking every prefix costs O(n^2) hashes, slow in debug builds; the
        // prefixes of a few trees already cover every size up to 300.
        #![proptest_config(ProptestConfig::with_cases(16))]

        #[test]
        fn frontier_matches_root_for_every_prefix(n in 0usize..=300, seed: u8) {
            let leaves = leaves_for(n, seed);
            let mut frontier = Frontier::new();
            prop_assert_eq!(frontier.root(), root(&[]));
            for (i, leaf) in leaves.iter().enumerate() {
                frontier.push(*leaf);
                prop_assert_eq!(frontier.size(), i as u64 + 1);
                prop_assert_eq!(frontier.root(), root(&leaves[..=i]));
            }
        }
    }

    proptest! {
        #[test]
        fn root_matches_reference(n in 0usize..=300, seed: u8) {
            let entries = entries(n, seed);
            let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
            prop_assert_eq!(root(&leaves), reference_mth(&entries));
        }

        #[test]
        fn inclusion_proofs_verify(
            (n, i) in size_and_index(),
            seed: u8,
            other in any::<prop::sample::Index>(),
        ) {
            let leaves = leaves_for(n, seed);
            let root = root(&leaves);
            let (index, size) = (i as u64, n as u64);
            let proof = inclusion_proof(&leaves, index).unwrap();
            prop_assert_eq!(proof.len(), inclusion_proof_len(index, size));
            prop_assert_eq!(verify_inclusion(&leaves[i], index, size, &proof, &root), Ok(()));

            // Any one hash altered.
            for k in 0..proof.len() {
                let mut bad = proof.clone();
                bad[k][0] ^= 0x08;
                prop_assert_eq!(
                    verify_inclusion(&leaves[i], index, size, &bad, &root),
                    Err(ProofError::RootMismatch)
                );
            }
            // Any wrong leaf, or the right leaf at a wrong index.
            let j = other.index(n);
            if j != i {
                prop_assert!(verify_inclusion(&leaves[j], index, size, &proof, &root).is_err());
                prop_assert!(verify_inclusion(&leaves[i], j as u64, size, &proof, &root).is_err());
            }
            prop_assert_eq!(
                verify_inclusion(&leaves[i], size, size, &proof, &root),
                Err(ProofError::IndexOutOfRange { index: size, size })
            );
            // Wrong sizes that change the shape of the tree above the leaf.
            prop_assert!(verify_inclusion(&leaves[i], index, size * 2, &proof, &root).is_err());
            prop_assert!(verify_inclusion(&leaves[i], index, size / 2, &proof, &root).is_err());
            // Hashes added or removed.
            let longer = [proof.as_slice(), &[root]].concat();
            prop_assert!(verify_inclusion(&leaves[i], index, size, &longer, &root).is_err());
            if !proof.is_empty() {
                let shorter = &proof[1..];
                prop_assert!(verify_inclusion(&leaves[i], index, size, shorter, &root).is_err());
            }
        }

        #[test]
        fn consistency_proofs_verify(
            (n, m) in size_and_old_size(),
            seed: u8,
            other in any::<prop::sample::Index>(),
        ) {
            let leaves = leaves_for(n, seed);
            let (old_root, new_root) = (root(&leaves[..m]), root(&leaves));
            let (old_size, new_size) = (m as u64, n as u64);
            let proof = consistency_proof(&leaves, old_size).unwrap();
            prop_assert_eq!(proof.len(), consistency_proof_len(old_size, new_size));
            prop_assert_eq!(
                verify_consistency(old_size, new_size, &old_root, &new_root, &proof),
                Ok(())
            );

            let check = |old: u64, new: u64, r1: &Hash, r2: &Hash, p: &[Hash]| {
                verify_consistency(old, new, r1, r2, p)
            };
            // Any one hash altered.
            for k in 0..proof.len() {
                let mut bad = proof.clone();
                bad[k][0] ^= 0x10;
                prop_assert!(check(old_size, new_size, &old_root, &new_root, &bad).is_err());
            }
            // Any other old size.
            let other_old = other.index(n + 1) as u64;
            if other_old != old_size {
                prop_assert!(check(other_old, new_size, &old_root, &new_root, &proof).is_err());
            }
            if 0 < old_size && old_size < new_size {
                // Wrong new sizes that change the shape of the tree.
                prop_assert!(check(old_size, new_size * 2, &old_root, &new_root, &proof).is_err());
                prop_assert!(check(old_size, new_size / 2, &old_root, &new_root, &proof).is_err());
                // Swapped roots, hashes added or removed.
                prop_assert!(check(old_size, new_size, &new_root, &old_root, &proof).is_err());
                let longer = [proof.as_slice(), &[new_root]].concat();
                prop_assert!(check(old_size, new_size, &old_root, &new_root, &longer).is_err());
                let shorter = &proof[1..];
                prop_assert!(check(old_size, new_size, &old_root, &new_root, shorter).is_err());
            } else {
                // Nothing to prove: any hash in the proof is one too many.
                prop_assert!(check(old_size, new_size, &old_root, &new_root, &[old_root]).is_err());
            }
        }
    }
}
