//! Reading a run folder: either a training run (`genret train --out DIR`) or a quickstart
//! output (`genret quickstart --out DIR`, which holds its training run in `DIR/train` and, with
//! a holdout, `DIR/holdout`). Everything optional is optional: a training run that was never
//! searched has no retrieval reports, an old quickstart has no `train_run` field, and the
//! report shows what there is.

use std::path::{Path, PathBuf};

use genret_records::{read_json, QuickstartSummary, RetrievalReport, System};

use crate::docids::{read_docids, DocidEntry};
use crate::error::ReportError;
use crate::training::{read_training_log, TrainingLog};

/// What kind of folder a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderKind {
    /// `quickstart.json` and the reports of every system.
    Quickstart,
    /// `manifest.json`, `metrics.jsonl`, `docids.tsv` of one training run.
    Training,
}

/// A retrieval report and the file it was read from.
#[derive(Debug, Clone)]
pub struct NamedReport {
    pub file: PathBuf,
    pub report: RetrievalReport,
}

impl NamedReport {
    /// The TREC run the report wrote. Reports store the path as given on the command line
    /// (often relative to where the command ran), so the file of that name next to the report
    /// is tried first: it is where the quickstart writes it, and it still works after the
    /// folder moved.
    pub fn run_path(&self) -> Option<PathBuf> {
        let dir = self.file.parent()?;
        let beside = self.report.run.file_name().map(|name| dir.join(name));
        beside
            .into_iter()
            .chain(std::iter::once(self.report.run.clone()))
            .find(|p| p.is_file())
    }

    /// `genret.metrics.json` without its extensions: `genret`.
    pub fn stem(&self) -> String {
        let name = self
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        name.trim_end_matches(".json")
            .trim_end_matches(".metrics")
            .to_string()
    }
}

/// The manifest of a training run: what made it (seed, data, model, code) and what it gave.
pub use genret_records::RunManifest as Manifest;

/// One training run folder.
#[derive(Debug, Clone)]
pub struct TrainRun {
    pub dir: PathBuf,
    pub manifest: Option<Manifest>,
    /// `config.toml` as written, shown verbatim.
    pub config_toml: Option<String>,
    pub log: TrainingLog,
    pub docids: Vec<DocidEntry>,
}

impl TrainRun {
    /// Reads what a training run folder has; a folder with none of `manifest.json`,
    /// `metrics.jsonl` and `docids.tsv` is not one.
    pub fn read(dir: &Path) -> Result<Self, ReportError> {
        let manifest_path = dir.join("manifest.json");
        let log_path = dir.join("metrics.jsonl");
        let docids_path = dir.join("docids.tsv");
        if !manifest_path.is_file() && !log_path.is_file() && !docids_path.is_file() {
            return Err(ReportError::NotARun {
                path: dir.to_path_buf(),
                reason: "no manifest.json, metrics.jsonl or docids.tsv".into(),
            });
        }
        let manifest = manifest_path
            .is_file()
            .then(|| read_json::<Manifest>(&manifest_path))
            .transpose()?;
        let config_path = dir.join("config.toml");
        let config_toml = config_path
            .is_file()
            .then(|| {
                std::fs::read_to_string(&config_path).map_err(|e| ReportError::io(&config_path, e))
            })
            .transpose()?;
        let log = if log_path.is_file() {
            read_training_log(&log_path)?
        } else {
            TrainingLog::default()
        };
        let docids = if docids_path.is_file() {
            read_docids(&docids_path)?
        } else {
            Vec::new()
        };
        Ok(TrainRun {
            dir: dir.to_path_buf(),
            manifest,
            config_toml,
            log,
            docids,
        })
    }

    /// Training wall time, from the manifest's result.
    pub fn wall_secs(&self) -> Option<f64> {
        self.manifest.as_ref()?.result.as_ref().map(|r| r.wall_secs)
    }
}

/// A run folder, read.
#[derive(Debug, Clone)]
pub struct RunFolder {
    pub dir: PathBuf,
    /// The folder's name, to tell runs apart in tables.
    pub label: String,
    pub kind: FolderKind,
    pub summary: Option<QuickstartSummary>,
    /// Every retrieval report in the folder (`bm25.json`, `dense.json`, `*.metrics.json`), by
    /// file name.
    pub reports: Vec<NamedReport>,
    pub train: Option<TrainRun>,
    /// The quickstart's run trained without the held-out documents.
    pub holdout: Option<TrainRun>,
}

impl RunFolder {
    /// Reads a quickstart or training run folder.
    pub fn read(dir: &Path) -> Result<Self, ReportError> {
        if !dir.is_dir() {
            return Err(ReportError::NotARun {
                path: dir.to_path_buf(),
                reason: "not a folder".into(),
            });
        }
        let label = dir
            .canonicalize()
            .ok()
            .as_deref()
            .unwrap_or(dir)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let summary_path = dir.join("quickstart.json");
        let reports = read_reports(dir)?;
        if summary_path.is_file() {
            let summary: QuickstartSummary = read_json(&summary_path)?;
            let train_dir = summary
                .train_run
                .as_ref()
                .map(|p| dir.join(p))
                .unwrap_or_else(|| dir.join("train"));
            let train = read_optional_run(&train_dir)?;
            let holdout = read_optional_run(&dir.join("holdout"))?;
            return Ok(RunFolder {
                dir: dir.to_path_buf(),
                label,
                kind: FolderKind::Quickstart,
                summary: Some(summary),
                reports,
                train,
                holdout,
            });
        }
        match TrainRun::read(dir) {
            Ok(train) => Ok(RunFolder {
                dir: dir.to_path_buf(),
                label,
                kind: FolderKind::Training,
                summary: None,
                reports,
                train: Some(train),
                holdout: None,
            }),
            Err(ReportError::NotARun { path, .. }) => Err(ReportError::NotARun {
                path,
                reason: "expected quickstart.json (a `genret quickstart` folder) or \
                         manifest.json, metrics.jsonl and docids.tsv (a `genret train` folder)"
                    .into(),
            }),
            Err(e) => Err(e),
        }
    }

    fn first_report(&self, system: &str) -> Option<&NamedReport> {
        self.reports
            .iter()
            .find(|r| r.report.system.name() == system)
    }

    /// The GenRet run the report is about: `genret.metrics.json` when there is one (the
    /// quickstart's default scoring), else the first GenRet report that is not the holdout's.
    pub fn main_genret(&self) -> Option<&NamedReport> {
        self.reports
            .iter()
            .find(|r| r.stem() == "genret" && matches!(r.report.system, System::Genret { .. }))
            .or_else(|| {
                self.reports.iter().find(|r| {
                    matches!(r.report.system, System::Genret { .. }) && r.stem() != "holdout"
                })
            })
    }

    /// The holdout run's report (`holdout.metrics.json`), with seen and unseen queries.
    pub fn holdout_report(&self) -> Option<&NamedReport> {
        self.reports.iter().find(|r| r.stem() == "holdout")
    }

    pub fn bm25(&self) -> Option<&NamedReport> {
        self.first_report("bm25")
    }

    pub fn dense(&self) -> Option<&NamedReport> {
        self.first_report("dense")
    }

    /// The number of documents the run's index holds, for bytes per document.
    pub fn num_docs(&self) -> Option<usize> {
        self.summary
            .as_ref()
            .map(|s| s.docid_health.n_docs)
            .or_else(|| self.reports.first().map(|r| r.report.num_docs))
            .or_else(|| self.train.as_ref().map(|t| t.docids.len()))
            .filter(|&n| n > 0)
    }
}

fn read_optional_run(dir: &Path) -> Result<Option<TrainRun>, ReportError> {
    if dir.is_dir() {
        match TrainRun::read(dir) {
            Ok(run) => Ok(Some(run)),
            Err(ReportError::NotARun { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    } else {
        Ok(None)
    }
}

/// The retrieval reports of a folder, by file name: `bm25.json`, `dense.json` and every
/// `*.metrics.json`.
fn read_reports(dir: &Path) -> Result<Vec<NamedReport>, ReportError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ReportError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| ReportError::io(dir, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_file()
            && (name == "bm25.json" || name == "dense.json" || name.ends_with(".metrics.json"))
        {
            files.push(path);
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let report = RetrievalReport::read(&file)?;
            Ok(NamedReport { file, report })
        })
        .collect()
}
