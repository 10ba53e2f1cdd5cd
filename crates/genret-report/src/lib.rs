//! # genret-report: one HTML page per genret run
//!
//! A training run leaves `manifest.json`, `config.toml`, `metrics.jsonl` and `docids.tsv`; a
//! quickstart adds retrieval reports of GenRet, BM25 and dense retrieval, their TREC runs and a
//! summary. Judging a run from those files means reading numbers. This crate turns a run folder
//! into one self-contained HTML page (inline CSS and SVG, no script, nothing fetched) with:
//!
//! * the summary table against BM25, dense retrieval and any compared runs;
//! * training curves per loss term and the learning rate, progressive step boundaries marked;
//! * docid health after each step, and histograms of prefix group sizes;
//! * the docid hierarchy as nested `<details>`: per prefix its size, its most distinctive terms
//!   (tf-idf against the corpus) and a few titles, the GenRet paper's qualitative analysis;
//! * seen and unseen documents, when the run held some out;
//! * the worst queries against BM25, with relevant and returned documents' docids side by side;
//! * the configuration and manifest (seed, data hash, model hash, git revision).
//!
//! The caller supplies what is not in the run folder: the documents (the CLI reads them from
//! the index's document store; [`load_documents`] reads a BEIR corpus), the judgements and the
//! query texts. Each is optional; a section that needs a missing input says so.
//!
//! ```no_run
//! use genret_report::{write_report, ReportInputs};
//! let inputs = ReportInputs::new("runs/quickstart")
//!     .with_beir_dataset("../shared/data/scifact", "test")
//!     .unwrap();
//! write_report(&inputs, "runs/quickstart/report.html".as_ref()).unwrap();
//! ```

mod docids;
mod error;
mod folder;
mod hierarchy;
mod page;
mod plots;
mod queries;
mod summary;
mod terms;
mod training;

use std::path::{Path, PathBuf};

use genret_data::{CorpusReader, Dataset, Document, Qrels, Queries};

pub use docids::{
    format_codes, prefix_group_sizes, read_docids, size_histogram, DocidEntry, SizeBin,
};
pub use error::ReportError;
pub use folder::{FolderKind, Manifest, NamedReport, RunFolder, TrainRun};
pub use hierarchy::{build_tree, DocumentIndex, PrefixNode, TreeLimits};
pub use page::{escape, SECTIONS};
pub use queries::{worst_queries, LoadedRun, QueryComparison, RankedDoc, RelevantDoc};
pub use summary::{summary_rows, SummaryTableRow, METRIC_COLUMNS};
pub use terms::{tokenize, ScoredTerm, TermIndex};
pub use training::{
    health_after_steps, read_training_log, training_curves, Curve, HealthAfterStep, StepBoundary,
    TrainingCurves, TrainingLog,
};

/// Worst queries shown unless the caller asks otherwise.
pub const DEFAULT_WORST_QUERIES: usize = 15;

/// What a report is made from.
#[derive(Debug, Clone)]
pub struct ReportInputs {
    /// A `genret quickstart --out` or `genret train --out` folder.
    pub run: PathBuf,
    /// Other run folders whose rows join the summary table (and whose manifests join the
    /// configuration section).
    pub compare: Vec<PathBuf>,
    /// The corpus (id, title, text): terms and titles of the docid hierarchy, titles of the
    /// worst queries' documents.
    pub documents: Option<Vec<Document>>,
    /// The judgements of the split the run was evaluated on: per-query results.
    pub qrels: Option<Qrels>,
    /// Query texts, shown beside the worst queries' ids.
    pub queries: Option<Queries>,
    /// How much of the docid tree to show (default: [`TreeLimits::for_corpus`]).
    pub tree_limits: Option<TreeLimits>,
    /// How many worst queries to list.
    pub worst_queries: usize,
}

impl ReportInputs {
    /// A report of `run` with nothing else: no documents, judgements or compared runs.
    pub fn new(run: impl Into<PathBuf>) -> Self {
        ReportInputs {
            run: run.into(),
            compare: Vec::new(),
            documents: None,
            qrels: None,
            queries: None,
            tree_limits: None,
            worst_queries: DEFAULT_WORST_QUERIES,
        }
    }

    /// Reads documents, queries and the `split`'s judgements from a BEIR folder
    /// (`corpus.jsonl[.gz]`, `queries.jsonl`, `qrels/<split>.tsv`), as `--data DIR` names it.
    /// Queries are optional (a folder without `queries.jsonl` still gives documents and
    /// judgements).
    pub fn with_beir_dataset(
        mut self,
        dir: impl AsRef<Path>,
        split: &str,
    ) -> Result<Self, ReportError> {
        let dataset = Dataset::from_dir(dir)?;
        self.documents = Some(load_documents(&dataset.corpus_path()?)?);
        self.qrels = Some(dataset.read_qrels(split)?);
        if dataset.queries_path().is_file() {
            self.queries = Some(dataset.load_queries()?);
        }
        Ok(self)
    }
}

/// Reads a BEIR corpus file (`corpus.jsonl`, or `.jsonl.gz`); errors name the file and line.
pub fn load_documents(path: &Path) -> Result<Vec<Document>, ReportError> {
    let mut reader = CorpusReader::open(path)?;
    let mut documents = Vec::new();
    while let Some((_, doc)) = reader.next_document()? {
        documents.push(doc);
    }
    Ok(documents)
}

/// The report's HTML.
pub fn render(inputs: &ReportInputs) -> Result<String, ReportError> {
    let main = RunFolder::read(&inputs.run)?;
    let compared = inputs
        .compare
        .iter()
        .map(|dir| RunFolder::read(dir))
        .collect::<Result<Vec<_>, _>>()?;
    page::render_page(&main, &compared, inputs)
}

/// Renders the report and writes it to `out` through a temporary file in the same folder,
/// renamed into place: a reader (a browser reloading) never sees half a page.
pub fn write_report(inputs: &ReportInputs, out: &Path) -> Result<(), ReportError> {
    let html = render(inputs)?;
    genret_data::write_atomically(out, |w| std::io::Write::write_all(w, html.as_bytes()))?;
    Ok(())
}
