//! A run's docids (`docids.tsv`: `doc_id<TAB>c1-c2-...-cM`) and the groups their prefixes form.
//!
//! Documents sharing the first `l` codes form a *prefix group* at level `l`. GenRet's claim is
//! that such groups are semantically related; the sizes of the groups at each level show how
//! evenly the codebook splits the corpus (one huge group means the step did not separate
//! documents; many singletons at level 1 mean it scattered them).

use std::collections::HashMap;
use std::path::Path;

use crate::error::ReportError;

/// One document's docid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocidEntry {
    pub doc_id: String,
    pub codes: Vec<u32>,
}

impl DocidEntry {
    /// `3-25-19-0`, as `docids.tsv` and the index write it.
    pub fn display(&self) -> String {
        format_codes(&self.codes)
    }
}

/// Codes joined by `-`.
pub fn format_codes(codes: &[u32]) -> String {
    codes
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join("-")
}

/// Reads `docids.tsv`; a line without a tab, with a code that is not a number, or with a docid
/// length different from the first line's is an error naming the line.
pub fn read_docids(path: &Path) -> Result<Vec<DocidEntry>, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    let mut entries: Vec<DocidEntry> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| ReportError::line(path, i + 1, message);
        let (doc_id, docid) = line
            .split_once('\t')
            .ok_or_else(|| bad("expected `doc_id<TAB>docid`".into()))?;
        let codes = docid
            .trim()
            .split('-')
            .map(|c| c.parse::<u32>())
            .collect::<Result<Vec<u32>, _>>()
            .map_err(|_| bad(format!("docid `{docid}` is not codes joined by `-`")))?;
        if let Some(first) = entries.first() {
            if first.codes.len() != codes.len() {
                return Err(bad(format!(
                    "docid `{docid}` has {} codes, the first line's has {}",
                    codes.len(),
                    first.codes.len()
                )));
            }
        }
        entries.push(DocidEntry {
            doc_id: doc_id.to_string(),
            codes,
        });
    }
    Ok(entries)
}

/// The sizes of the prefix groups at level `len` (documents sharing their first `len` codes),
/// largest first.
pub fn prefix_group_sizes(docids: &[DocidEntry], len: usize) -> Vec<usize> {
    let mut counts: HashMap<&[u32], usize> = HashMap::new();
    for entry in docids {
        let prefix = &entry.codes[..len.min(entry.codes.len())];
        *counts.entry(prefix).or_default() += 1;
    }
    let mut sizes: Vec<usize> = counts.into_values().collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes
}

/// A bin of a size histogram: groups of `lo..=hi` documents, and how many there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeBin {
    pub lo: usize,
    pub hi: usize,
    pub groups: usize,
}

impl SizeBin {
    /// `1`, `2-3`, `4-7`, ...
    pub fn label(&self) -> String {
        if self.lo == self.hi {
            self.lo.to_string()
        } else {
            format!("{}-{}", self.lo, self.hi)
        }
    }
}

/// Group sizes binned by powers of two (1, 2-3, 4-7, ...) up to the largest: sizes span orders
/// of magnitude (a balanced first step makes groups of N/K, the last step singletons), which
/// linear bins would crush into one bar.
pub fn size_histogram(sizes: &[usize]) -> Vec<SizeBin> {
    let Some(&largest) = sizes.iter().max() else {
        return Vec::new();
    };
    let mut bins = Vec::new();
    let mut lo = 1usize;
    while lo <= largest {
        let hi = lo * 2 - 1;
        let groups = sizes.iter().filter(|&&s| (lo..=hi).contains(&s)).count();
        bins.push(SizeBin { lo, hi, groups });
        lo *= 2;
    }
    bins
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(docids: &[&str]) -> Vec<DocidEntry> {
        docids
            .iter()
            .enumerate()
            .map(|(i, d)| DocidEntry {
                doc_id: format!("d{i}"),
                codes: d.split('-').map(|c| c.parse().unwrap()).collect(),
            })
            .collect()
    }

    #[test]
    fn prefix_groups_count_documents_sharing_the_first_codes() {
        let d = entries(&["0-0-0", "0-0-1", "0-1-0", "1-0-0", "0-0-1"]);
        assert_eq!(prefix_group_sizes(&d, 1), [4, 1]);
        assert_eq!(prefix_group_sizes(&d, 2), [3, 1, 1]);
        // Full docids: one collision of two documents.
        assert_eq!(prefix_group_sizes(&d, 3), [2, 1, 1, 1]);
        assert_eq!(prefix_group_sizes(&d, 0), [5]);
    }

    #[test]
    fn histogram_bins_are_powers_of_two() {
        let bins = size_histogram(&[1, 1, 2, 3, 4, 9]);
        let got: Vec<(String, usize)> = bins.iter().map(|b| (b.label(), b.groups)).collect();
        assert_eq!(
            got,
            [
                ("1".to_string(), 2),
                ("2-3".to_string(), 2),
                ("4-7".to_string(), 1),
                ("8-15".to_string(), 1)
            ]
        );
        assert!(size_histogram(&[]).is_empty());
    }

    #[test]
    fn docids_read_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docids.tsv");
        std::fs::write(&path, "a\t1-2-3\nb\t4-5-6\n").unwrap();
        let d = read_docids(&path).unwrap();
        assert_eq!(d[1].codes, [4, 5, 6]);
        assert_eq!(d[1].display(), "4-5-6");

        for (text, want) in [
            ("a\t1-2\nb 1-2\n", "docids.tsv:2: expected"),
            ("a\t1-2\nb\t1-x\n", "docids.tsv:2: docid `1-x`"),
            (
                "a\t1-2\n\nb\t1-2-3\n",
                "docids.tsv:3: docid `1-2-3` has 3 codes",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = read_docids(&path).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}
