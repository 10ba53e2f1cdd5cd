//! The records a genret run leaves behind, as one typed schema.
//!
//! Every command that retrieves (`genret bm25`, `dense`, `run`) writes a [`RetrievalReport`];
//! training appends [`TrainEvent`]s to `metrics.jsonl`; `genret quickstart` writes a
//! [`QuickstartSummary`]. The writers, the benchmarks' table scripts, the HTML report and the
//! server all read these types, so a field is named once, here, and a renamed field is a compile
//! error rather than a silently empty column.
//!
//! The crate has no libtorch or search-engine dependency, so a reader of run folders (a report,
//! a notebook exporter) builds in seconds.
//!
//! Key names are those the files have always had (`timings.query_p50_ms`, `metrics["nDCG@10"]`),
//! so older reports still read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use genret_cluster::{DocidHealth, StepHealth};

/// Mean measures by name (`nDCG@10`, `R@100`, ...), as `genret eval` names them.
pub type Metrics = BTreeMap<String, f64>;

/// Why a record file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file that is not the record it should be; `line` is 1-based for JSON lines files.
    #[error("{}{}: {source}", .path.display(), .line.map(|l| format!(":{l}")).unwrap_or_default())]
    Json {
        path: PathBuf,
        line: Option<usize>,
        source: serde_json::Error,
    },
}

/// Reads one JSON record file (a report, a summary, a manifest).
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, RecordError> {
    let text = std::fs::read_to_string(path).map_err(|source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| RecordError::Json {
        path: path.to_path_buf(),
        line: None,
        source,
    })
}

/// Milliseconds of a duration, as reports store them.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The value at quantile `q` of sorted durations (nearest rank, as latency reports use).
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Mean, median, 99th percentile and maximum of measured times (per query or per batch).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Latency {
    pub mean: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Latency {
    pub fn of(mut times: Vec<Duration>) -> Self {
        times.sort();
        let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
        Self {
            mean,
            p50: quantile(&times, 0.5),
            p99: quantile(&times, 0.99),
            max: times.last().copied().unwrap_or_default(),
        }
    }

    /// `mean 1.20 ms, p50 1.10 ms, p99 3.40 ms`, for the summary on standard error.
    pub fn describe(&self) -> String {
        format!(
            "mean {:.2} ms, p50 {:.2} ms, p99 {:.2} ms",
            ms(self.mean),
            ms(self.p50),
            ms(self.p99)
        )
    }
}

/// Where the time of a retrieval command went. Every field is optional because each system
/// measures different things (BM25 builds an index, dense encodes a corpus, GenRet searches in
/// batches); a reader shows what is there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Wall time of searching every query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_wall_s: Option<f64>,
    /// Per-query latency (`query_mean_ms`, `query_p50_ms`, `query_p99_ms`, `query_max_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_mean_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_p99_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_max_ms: Option<f64>,
    /// Per-batch latency, where queries are searched in batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_mean_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_p99_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_max_ms: Option<f64>,
    /// BM25: whether the index was built by this command (else reused), and how long it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_built: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_s: Option<f64>,
    /// BM25: threads searching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_threads: Option<usize>,
    /// Dense: whether the corpus was encoded by this command, how long it took, and its rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoded: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encode_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs_per_s: Option<f64>,
    /// Dense: device, torch threads and encoding batch size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// Fusion: building the BM25 index over a GenRet index's documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bm25_build_s: Option<f64>,
}

impl Timings {
    /// Sets the `query_*_ms` fields.
    pub fn with_query_latency(mut self, l: &Latency) -> Self {
        self.query_mean_ms = Some(ms(l.mean));
        self.query_p50_ms = Some(ms(l.p50));
        self.query_p99_ms = Some(ms(l.p99));
        self.query_max_ms = Some(ms(l.max));
        self
    }

    /// Sets the `batch_*_ms` fields.
    pub fn with_batch_latency(mut self, l: &Latency) -> Self {
        self.batch_mean_ms = Some(ms(l.mean));
        self.batch_p50_ms = Some(ms(l.p50));
        self.batch_p99_ms = Some(ms(l.p99));
        self.batch_max_ms = Some(ms(l.max));
        self
    }
}

/// How many queries an evaluation scored, and which judged queries the run lacked (they
/// score 0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvaluationCounts {
    pub num_queries: usize,
    #[serde(default)]
    pub missing_queries: Vec<String>,
}

/// The mean measures of a group of queries (seen, unseen, mixed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupMetrics {
    pub num_queries: usize,
    pub metrics: Metrics,
}

/// A GenRet run fused with BM25 (`genret run --fuse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FusedReport {
    /// The fusion method and its parameters (`{"method": "min-max"}`, `{"method": "rrf", "k": 60}`).
    pub method: serde_json::Value,
    pub genret_weight: f64,
    pub bm25_weight: f64,
    pub run: PathBuf,
    pub metrics: Metrics,
    pub timings: Timings,
}

/// How GenRet searched: beam, depth, batching and the docid scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenretSearch {
    pub beam: usize,
    pub depth: usize,
    pub batch_size: usize,
    pub device: String,
    /// The scoring's settings, as the index stores them.
    pub scoring: serde_json::Value,
    /// A short name of the scoring (`codes+encoder-states(0, first 2 codes)`).
    pub scoring_name: String,
    /// Every docid scored, no beam.
    pub exact: bool,
}

/// What was searched, by system: the settings a reader needs to reproduce the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "system", rename_all = "kebab-case")]
pub enum System {
    /// `genret bm25`.
    Bm25 {
        k: usize,
        /// Engine, k1, b and the analysis settings.
        bm25: serde_json::Value,
        index_dir: PathBuf,
    },
    /// `genret dense`.
    Dense {
        model: String,
        max_len: usize,
        k: usize,
        dim: usize,
        /// The cached document embeddings, when caching was on.
        cache: Option<PathBuf>,
    },
    /// `genret run`.
    Genret {
        index: PathBuf,
        model: String,
        num_docids: usize,
        search: GenretSearch,
    },
}

impl System {
    /// `bm25`, `dense` or `genret`.
    pub fn name(&self) -> &'static str {
        match self {
            System::Bm25 { .. } => "bm25",
            System::Dense { .. } => "dense",
            System::Genret { .. } => "genret",
        }
    }
}

/// What one retrieval command did and measured: written as `<run>.metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalReport {
    #[serde(flatten)]
    pub system: System,
    pub dataset: String,
    pub split: String,
    pub num_docs: usize,
    pub num_queries: usize,
    pub metrics: Metrics,
    #[serde(default)]
    pub evaluation: EvaluationCounts,
    pub timings: Timings,
    /// The TREC run written.
    pub run: PathBuf,
    /// Bytes a search holds: BM25's index folder, dense's embedding matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_bytes: Option<u64>,
    /// GenRet: everything in the index folder except the network's weights (the document
    /// store, configuration and tokenizer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_bytes_beyond_weights: Option<u64>,
    /// GenRet with `--fuse`: the hybrid run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fused: Option<FusedReport>,
    /// GenRet over an index with added documents: queries grouped by the origin of their
    /// relevant documents (`seen`, `unseen`, `mixed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_unseen: Option<BTreeMap<String, GroupMetrics>>,
    /// The same, restricting the judgements to the documents of one origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_unseen_judgements: Option<BTreeMap<String, GroupMetrics>>,
}

impl RetrievalReport {
    /// Reads a report; one written before reports named their `system` is recognised by the
    /// keys only its system wrote.
    pub fn read(path: &Path) -> Result<Self, RecordError> {
        let mut value: serde_json::Value = read_json(path)?;
        if let Some(map) = value.as_object_mut() {
            if !map.contains_key("system") {
                let system = if map.contains_key("search") {
                    "genret"
                } else if map.contains_key("bm25") {
                    "bm25"
                } else {
                    "dense"
                };
                map.insert("system".into(), system.into());
            }
        }
        serde_json::from_value(value).map_err(|source| RecordError::Json {
            path: path.to_path_buf(),
            line: None,
            source,
        })
    }
}

/// Loss terms of one batch or means over an epoch (`None`: the term is off in this unit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LossTerms {
    pub ranking: Option<f64>,
    pub generation: Option<f64>,
    pub prefix: Option<f64>,
    pub reconstruction: Option<f64>,
    pub distill: Option<f64>,
}

/// One line of a training run's `metrics.jsonl`.
///
/// `unit` is the training plan's unit (`{"unit": "main", "step": 0, "epoch": 1}`), kept as
/// JSON so this schema does not depend on the trainer; [`TrainEvent::step`] reads its step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainEvent {
    /// Every `log_every` batches and at the last batch of a unit.
    Batch {
        unit: serde_json::Value,
        batch: usize,
        batches: usize,
        loss: f64,
        #[serde(flatten)]
        terms: LossTerms,
        lr: f64,
        grad_norm: f64,
        elapsed_s: f64,
    },
    /// The end of an epoch: mean loss terms.
    Epoch {
        unit: serde_json::Value,
        mean_loss: f64,
        mean_ranking: f64,
        mean_generation: f64,
        mean_prefix: f64,
        mean_reconstruction: f64,
        mean_distill: f64,
    },
    /// A finished unit of the plan.
    UnitDone {
        unit: serde_json::Value,
        secs: f64,
        elapsed_s: f64,
        run_eta_s: Option<f64>,
    },
    /// A step's codebook initialised by balanced k-means (`step` is 1-based).
    CodebookInit {
        step: usize,
        k: usize,
        inertia: f64,
        iterations: usize,
        argmax_agreement: f64,
        secs: f64,
    },
    /// Docid health after a step (`after_step` is 1-based).
    Health {
        after_step: usize,
        stage: String,
        health: DocidHealth,
    },
    /// Docids re-assigned by the final tokenizer: for each prefix length 1..M, the share of
    /// documents that kept their prefix.
    Reassigned {
        #[serde(deserialize_with = "one_or_many")]
        kept_prefix_share: Vec<f64>,
    },
    /// A re-assignment that made collisions worse, dropped.
    ReassignmentDropped { largest_collision_group: usize },
    /// Documents that could not be given a distinct docid.
    DisambiguationOverflow { documents: usize, k: usize },
    /// Training resumed from a checkpoint.
    Resumed { next_unit: usize },
}

/// A list of numbers, or one number (logs written before the list).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(f64),
        Many(Vec<f64>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(x) => vec![x],
        OneOrMany::Many(v) => v,
    })
}

impl TrainEvent {
    /// The 0-based docid step a batch, epoch or unit event belongs to.
    pub fn step(&self) -> Option<usize> {
        let unit = match self {
            TrainEvent::Batch { unit, .. }
            | TrainEvent::Epoch { unit, .. }
            | TrainEvent::UnitDone { unit, .. } => unit,
            TrainEvent::CodebookInit { step, .. } => return step.checked_sub(1),
            TrainEvent::Health { after_step, .. } => return after_step.checked_sub(1),
            _ => return None,
        };
        unit.get("step")
            .and_then(|s| s.as_u64())
            .map(|s| s as usize)
    }

    /// Reads a `metrics.jsonl`; a malformed line is an error naming its line.
    pub fn read_log(path: &Path) -> Result<Vec<TrainEvent>, RecordError> {
        let text = std::fs::read_to_string(path).map_err(|source| RecordError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|source| RecordError::Json {
                    path: path.to_path_buf(),
                    line: Some(i + 1),
                    source,
                })
            })
            .collect()
    }
}

/// `manifest.json` of a training run: everything needed to know what the run was and to
/// repeat it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    pub genret_version: String,
    /// The git revision genret was built from (`unknown` outside a git checkout).
    pub git_revision: String,
    /// The command line that started the run.
    pub command: Vec<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub seed: u64,
    /// libtorch intra-op threads.
    pub threads: i32,
    pub device: String,
    pub dataset: String,
    /// SHA-256 over the data files trained on (corpus, queries, judgements).
    pub data_hash: String,
    /// The checkpoint (folder or hub id) and the SHA-256 of its files.
    pub model: String,
    pub model_hash: String,
    /// The full training configuration.
    pub config: serde_json::Value,
    /// Absent while the run trains (or when it failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<TrainResult>,
}

impl RunManifest {
    pub fn read(path: &Path) -> Result<Self, RecordError> {
        read_json(path)
    }
}

/// What a finished training run reports in its manifest's `result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    pub health: DocidHealth,
    pub wall_secs: f64,
    /// The training signal's statistics (queries per document, pseudo-queries).
    #[serde(default)]
    pub signal: serde_json::Value,
}

/// One row of the quickstart's comparison table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    pub system: String,
    pub metrics: Metrics,
    /// Training (GenRet) or indexing (baselines) seconds; `None` when reused from a cache.
    pub build_s: Option<f64>,
    pub index_bytes: Option<u64>,
    pub query_p50_ms: Option<f64>,
    pub query_p99_ms: Option<f64>,
    pub num_queries: usize,
    /// The row's retrieval report, relative to the summary's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<PathBuf>,
    /// The row's TREC run, relative to the summary's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<PathBuf>,
}

/// Seen and unseen queries of a holdout run, with the baselines on the same queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupComparison {
    pub num_queries: usize,
    pub genret: Metrics,
    pub bm25: Metrics,
    pub dense: Metrics,
}

/// `quickstart.json`: the comparison table of `genret quickstart`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuickstartSummary {
    pub split: String,
    pub rows: Vec<SummaryRow>,
    pub docid_health: DocidHealth,
    #[serde(default)]
    pub seen_unseen: Option<BTreeMap<String, GroupComparison>>,
    pub holdout_docs: f64,
    /// The training run folder (relative to the summary's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_run: Option<PathBuf>,
}

/// One docid step of a [`DiagnoseReport`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DiagnoseStep {
    /// 1-based step.
    pub step: usize,
    /// Share of queries whose relevant document's prefix is the beam's best at this step.
    pub top1: f64,
    /// Share of queries whose relevant document's prefix is still in the beam.
    pub in_beam: f64,
}

/// `genret diagnose`: where the beam loses the relevant documents of a split's queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnoseReport {
    pub index: PathBuf,
    pub split: String,
    /// Judged queries with a relevant document in the index.
    pub queries: usize,
    pub beam: usize,
    pub depth: usize,
    /// The scoring's short name.
    pub scoring: String,
    /// Codes the beam search decodes before ordering.
    pub searched_codes: usize,
    pub steps: Vec<DiagnoseStep>,
    /// Share of queries with a relevant document among the `depth` returned.
    pub returned: f64,
    /// Mean log-probability gap between the best kept docid and the best relevant kept one.
    pub mean_gap: Option<f64>,
    /// Queries the gap is averaged over (a relevant docid was kept).
    pub gap_queries: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&d, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&d, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&d[..1], 0.99), Duration::from_millis(1));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn latency_fills_the_report_keys() {
        let lat = Latency::of((1..=4).rev().map(Duration::from_millis).collect());
        assert_eq!(lat.mean, Duration::from_micros(2500));
        assert_eq!(
            (lat.p50, lat.p99, lat.max),
            (
                Duration::from_millis(2),
                Duration::from_millis(4),
                Duration::from_millis(4)
            )
        );
        let t = Timings::default().with_query_latency(&lat);
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["query_p50_ms"], 2.0);
        assert_eq!(json["query_mean_ms"], 2.5);
        assert!(
            json.get("batch_p50_ms").is_none(),
            "unset fields are left out"
        );
    }

    #[test]
    fn training_log_lines_parse_with_their_step() {
        let lines = [
            r#"{"batch":20,"batches":81,"distill":null,"elapsed_s":18.0,"event":"batch","generation":null,"grad_norm":7.9,"loss":1.16,"lr":0.0005,"prefix":null,"ranking":2.33,"reconstruction":null,"unit":{"epoch":0,"step":1,"unit":"warmup"}}"#,
            r#"{"argmax_agreement":0.92,"event":"codebook_init","inertia":42212.9,"iterations":25,"k":64,"secs":1.86,"step":1}"#,
            r#"{"elapsed_s":116.3,"event":"unit_done","run_eta_s":977.1,"secs":28.4,"unit":{"step":0,"unit":"init-codebook"}}"#,
            r#"{"event":"reassigned","kept_prefix_share":0.5}"#,
            r#"{"event":"reassigned","kept_prefix_share":[0.9,0.5]}"#,
        ];
        let events: Vec<TrainEvent> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        match &events[0] {
            TrainEvent::Batch { terms, loss, .. } => {
                assert_eq!(terms.ranking, Some(2.33));
                assert_eq!(terms.generation, None);
                assert_eq!(*loss, 1.16);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            events.iter().map(TrainEvent::step).collect::<Vec<_>>(),
            [Some(1), Some(0), Some(0), None, None]
        );
        assert_eq!(
            events[4],
            TrainEvent::Reassigned {
                kept_prefix_share: vec![0.9, 0.5]
            }
        );
        // A line written back reads the same.
        let again: TrainEvent =
            serde_json::from_str(&serde_json::to_string(&events[0]).unwrap()).unwrap();
        assert_eq!(again, events[0]);
    }

    #[test]
    fn a_bad_log_line_is_named() {
        let dir = std::env::temp_dir().join(format!("genret-records-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("metrics.jsonl");
        std::fs::write(
            &path,
            "{\"event\":\"resumed\",\"next_unit\":3}\n{\"event\":\"batch\"}\n",
        )
        .unwrap();
        let err = TrainEvent::read_log(&path).unwrap_err().to_string();
        assert!(err.contains("metrics.jsonl:2"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn reports_written_before_the_system_tag_still_read() {
        let dir = std::env::temp_dir().join(format!("genret-records-old-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bm25.json");
        std::fs::write(
            &path,
            r#"{"dataset":"scifact","split":"test","k":1000,"bm25":{"k1":1.2},"index_dir":"i","num_docs":3,"num_queries":1,"metrics":{"nDCG@10":0.5},"timings":{"index_s":null,"query_p50_ms":1.0},"run":"r.trec","index_bytes":5}"#,
        )
        .unwrap();
        let report = RetrievalReport::read(&path).unwrap();
        assert_eq!(report.system.name(), "bm25");
        assert_eq!(report.timings.query_p50_ms, Some(1.0));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn reports_carry_their_system_as_a_tag() {
        let report = RetrievalReport {
            system: System::Bm25 {
                k: 1000,
                bm25: serde_json::json!({"k1": 1.2}),
                index_dir: "idx".into(),
            },
            dataset: "scifact".into(),
            split: "test".into(),
            num_docs: 10,
            num_queries: 2,
            metrics: [("nDCG@10".to_string(), 0.5)].into(),
            evaluation: EvaluationCounts::default(),
            timings: Timings::default(),
            run: "r.trec".into(),
            index_bytes: Some(7),
            index_bytes_beyond_weights: None,
            fused: None,
            seen_unseen: None,
            seen_unseen_judgements: None,
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["system"], "bm25");
        assert_eq!(json["k"], 1000);
        assert_eq!(json["metrics"]["nDCG@10"], 0.5);
        let back: RetrievalReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
        assert_eq!(back.system.name(), "bm25");
    }
}
