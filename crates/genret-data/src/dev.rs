//! The development split: where settings are chosen, so that the test split is only measured.
//!
//! BEIR collections such as SciFact ship `train` and `test` judgements and no `dev`. Tuning
//! anything (a fusion weight, a scoring mode, a docid length) on `test` would make the test
//! number a chosen one, not a result. genret therefore carves a fixed development split out of
//! the training judgements: a query belongs to it when a stable hash of its id falls in one
//! fifth of the hash space. The rule depends on the query id alone, so it is the same on every
//! machine and in every run, and it needs no file.
//!
//! When a dataset has no `qrels/dev.tsv` but has `qrels/train.tsv`, the split `dev` is those
//! queries and the split `train` (what training reads) is the rest: training never sees a
//! development query. A dataset with its own `dev.tsv` uses that file unchanged.

/// One query in this many goes to the carved development split.
pub const DEV_ONE_IN: u64 = 5;

/// FNV-1a (64 bit) of the id's bytes: stable across platforms and Rust versions.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// True when the training query `query_id` belongs to the carved development split.
pub fn in_dev(query_id: &str) -> bool {
    fnv1a(query_id.as_bytes()).is_multiple_of(DEV_ONE_IN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_is_fixed_and_takes_about_one_query_in_five() {
        // Pinned values: changing the hash would silently move queries between splits.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let n = 10_000;
        let dev = (0..n).filter(|i| in_dev(&i.to_string())).count();
        assert!((1_800..2_200).contains(&dev), "{dev} of {n}");
    }
}
