//! The summary table: one row per system of each run (GenRet's scorings, BM25, dense), with
//! quality, latency, build time and index size per document.
//!
//! A quickstart folder already has this table (`quickstart.json`); a training run folder has
//! only the retrieval reports written into it (`genret run --out`), from which the rows are
//! made here.

use genret_records::{Metrics, RetrievalReport, System};

use crate::folder::RunFolder;

/// One row of the summary table.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryTableRow {
    /// The run folder's name.
    pub run: String,
    pub system: String,
    pub metrics: Metrics,
    pub query_p50_ms: Option<f64>,
    pub query_p99_ms: Option<f64>,
    /// Training (GenRet) or indexing / encoding (baselines) seconds.
    pub build_s: Option<f64>,
    pub index_bytes: Option<u64>,
    /// Documents the index holds, for bytes per document.
    pub num_docs: Option<usize>,
    pub num_queries: usize,
    pub baseline: bool,
}

impl SummaryTableRow {
    pub fn index_bytes_per_doc(&self) -> Option<f64> {
        Some(self.index_bytes? as f64 / self.num_docs.filter(|&n| n > 0)? as f64)
    }
}

/// The metric columns, in the order the issue and the quickstart table use.
pub const METRIC_COLUMNS: [&str; 5] = ["nDCG@10", "R@1", "R@10", "R@100", "MRR@10"];

/// Whether a quickstart row is a baseline: by the system of the report it names (newer
/// summaries), else by its label, which the quickstart starts with the baseline's name
/// (`BM25 (tantivy)`, `dense (same encoder, exact)`).
fn is_baseline(folder: &RunFolder, row: &genret_records::SummaryRow) -> bool {
    let named = row.report.as_ref().and_then(|report| {
        let name = report.file_name()?;
        folder
            .reports
            .iter()
            .find(|r| r.file.file_name() == Some(name))
    });
    match named {
        Some(r) => !matches!(r.report.system, System::Genret { .. }),
        None => {
            let label = row.system.to_ascii_lowercase();
            label.starts_with("bm25") || label.starts_with("dense")
        }
    }
}

/// The rows of one run folder.
pub fn summary_rows(folder: &RunFolder) -> Vec<SummaryTableRow> {
    let num_docs = folder.num_docs();
    if let Some(summary) = &folder.summary {
        return summary
            .rows
            .iter()
            .map(|r| SummaryTableRow {
                run: folder.label.clone(),
                system: r.system.clone(),
                metrics: r.metrics.clone(),
                query_p50_ms: r.query_p50_ms,
                query_p99_ms: r.query_p99_ms,
                build_s: r.build_s,
                index_bytes: r.index_bytes,
                num_docs,
                num_queries: r.num_queries,
                baseline: is_baseline(folder, r),
            })
            .collect();
    }
    let train_s = folder.train.as_ref().and_then(|t| t.wall_secs());
    let mut rows = Vec::new();
    for named in folder.reports.iter().filter(|r| r.stem() != "holdout") {
        let report = &named.report;
        rows.push(report_row(folder, report, train_s, num_docs));
        if let Some(fused) = &report.fused {
            rows.push(SummaryTableRow {
                system: format!("GenRet + BM25 hybrid ({})", fused.method),
                metrics: fused.metrics.clone(),
                query_p50_ms: fused.timings.query_p50_ms,
                query_p99_ms: fused.timings.query_p99_ms,
                ..report_row(folder, report, train_s, num_docs)
            });
        }
    }
    if rows.is_empty() {
        if let Some(train) = &folder.train {
            // A run that was trained but never searched still has a training time.
            rows.push(SummaryTableRow {
                run: folder.label.clone(),
                system: "GenRet (trained, not searched)".into(),
                metrics: Metrics::new(),
                query_p50_ms: None,
                query_p99_ms: None,
                build_s: train.wall_secs(),
                index_bytes: None,
                num_docs,
                num_queries: 0,
                baseline: false,
            });
        }
    }
    rows
}

fn report_row(
    folder: &RunFolder,
    report: &RetrievalReport,
    train_s: Option<f64>,
    num_docs: Option<usize>,
) -> SummaryTableRow {
    let (system, build_s, baseline) = match &report.system {
        System::Bm25 { bm25, .. } => {
            let engine = bm25
                .get("engine")
                .and_then(|e| e.as_str())
                .unwrap_or("BM25");
            (format!("BM25 ({engine})"), report.timings.index_s, true)
        }
        System::Dense { model, .. } => {
            let name = model.rsplit('/').next().unwrap_or(model);
            (format!("dense ({name})"), report.timings.encode_s, true)
        }
        System::Genret { search, .. } => (
            format!("GenRet ({}, beam {})", search.scoring_name, search.beam),
            train_s,
            false,
        ),
    };
    SummaryTableRow {
        run: folder.label.clone(),
        system,
        metrics: report.metrics.clone(),
        query_p50_ms: report.timings.query_p50_ms,
        query_p99_ms: report.timings.query_p99_ms,
        build_s,
        index_bytes: report.index_bytes.or(report.index_bytes_beyond_weights),
        num_docs: Some(report.num_docs).filter(|&n| n > 0).or(num_docs),
        num_queries: report.num_queries,
        baseline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::folder::RunFolder;

    fn fixture(path: &str) -> RunFolder {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        RunFolder::read(&dir.join(path)).unwrap()
    }

    #[test]
    fn quickstart_rows_come_from_its_summary() {
        let rows = summary_rows(&fixture("tinyfact-run"));
        let systems: Vec<(&str, bool)> = rows
            .iter()
            .map(|r| (r.system.as_str(), r.baseline))
            .collect();
        assert_eq!(systems.len(), 6);
        assert_eq!(systems[0], ("BM25 (tantivy)", true));
        assert_eq!(systems[1], ("dense (same encoder, exact)", true));
        assert!(systems[2..]
            .iter()
            .all(|(s, b)| s.starts_with("GenRet") && !b));
        // 48 documents; GenRet's index without weights is 631,487 bytes (genret.metrics.json).
        let genret = &rows[4];
        assert_eq!(genret.index_bytes, Some(631_487));
        assert!((genret.index_bytes_per_doc().unwrap() - 631_487.0 / 48.0).abs() < 1e-9);
        assert_eq!(genret.metrics["nDCG@10"], 0.8979939980213508);
    }

    #[test]
    fn a_training_folder_without_reports_has_its_training_row() {
        let rows = summary_rows(&fixture("tinyfact-run/train"));
        assert_eq!(rows.len(), 1);
        assert!(rows[0].metrics.is_empty());
        assert!(rows[0].build_s.unwrap() > 0.0);
    }
}
