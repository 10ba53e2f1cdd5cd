//! `genret search`: ask a GenRet index a few queries and show what it retrieves.
//!
//! Each query is answered by constrained beam search over the index's docids (see the
//! `genret-index` crate): the ranked documents, their score (the summed log-probability of
//! their docid), the docid itself, the title and the start of the text. `--json` prints the
//! same as one JSON array, with the full text.

use std::io::Write;
use std::path::PathBuf;

use genret_index::{Hit, Index, SearchOptions};
use serde::Serialize;

use super::common::parse_device;

const AFTER_HELP: &str = "\
Examples:
  genret search --index runs/scifact.index \"what causes scurvy\"
  genret search --index runs/scifact.index --beam 100 --depth 20 --json \"query one\" \"query two\"

Documents that share a docid share its score and come in the order they entered the index.";

/// Arguments of `genret search`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Search a GenRet index: constrained beam search over its docids",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// The index folder (made by training or `genret index`).
    #[arg(long, value_name = "DIR")]
    pub index: PathBuf,
    /// Beam width: docids kept at every decoding step. Default: the beam of the index's
    /// scoring, else 10.
    #[arg(long)]
    pub beam: Option<usize>,
    /// Documents returned per query.
    #[arg(long, default_value_t = 10)]
    pub depth: usize,
    /// Queries searched together.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Characters of text shown per hit (table output).
    #[arg(long, default_value_t = 120)]
    pub snippet: usize,
    /// Where the model runs: `cpu`, `cuda`, `cuda:N`, or `auto` (a GPU when one is visible).
    #[arg(long, default_value = "auto")]
    pub device: String,
    #[command(flatten)]
    pub scoring: super::common::ScoringArgs,
    /// The queries.
    #[arg(required = true, value_name = "QUERY")]
    pub queries: Vec<String>,
}

/// One hit as printed.
#[derive(Debug, Serialize)]
pub struct ShownHit {
    pub rank: usize,
    pub doc_id: String,
    pub score: f32,
    pub docid: Vec<u32>,
    pub title: String,
    pub text: String,
}

/// One query's results as printed.
#[derive(Debug, Serialize)]
pub struct QueryResults {
    pub query: String,
    pub hits: Vec<ShownHit>,
}

/// Characters of a query shown in a results table's header.
const QUERY_HEADER_CHARS: usize = 200;

/// The first `chars` characters of `text` on one line, with `…` when cut.
pub(crate) fn snippet(text: &str, chars: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

/// Searches and gathers what is shown.
pub fn search(args: &Args) -> anyhow::Result<Vec<QueryResults>> {
    anyhow::ensure!(args.depth >= 1, "--depth must be at least 1");
    let index = Index::open(&args.index, parse_device(&args.device)?)?;
    let queries: Vec<&str> = args.queries.iter().map(String::as_str).collect();
    let scoring = args.scoring.resolve(index.config().scoring);
    let options = SearchOptions {
        beam: args.beam.or(scoring.beam).unwrap_or(10),
        depth: args.depth,
        batch_size: args.batch_size,
        scoring: Some(scoring),
        exact: args.scoring.exact,
    };
    if let Some(w) =
        super::common::depth_beyond_beam(options.depth, options.beam, &scoring, options.exact)
    {
        tracing::warn!("{w}");
    }
    let found = index.search_with(&queries, &options, |_, _| {})?;
    queries
        .iter()
        .zip(found)
        .map(|(query, hits)| {
            let positions: Vec<u64> = hits.iter().map(|h| h.pos).collect();
            let docs = index.documents(&positions)?;
            let hits = hits
                .into_iter()
                .zip(docs)
                .enumerate()
                .map(|(rank, (Hit { doc_id, score, .. }, doc))| ShownHit {
                    rank: rank + 1,
                    doc_id,
                    score,
                    docid: doc.codes,
                    title: doc.title,
                    text: doc.text,
                })
                .collect();
            Ok(QueryResults {
                query: query.to_string(),
                hits,
            })
        })
        .collect()
}

/// Prints results as a table (or JSON with `json`).
pub fn print(
    out: &mut dyn Write,
    results: &[QueryResults],
    json: bool,
    chars: usize,
) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, results)?;
        writeln!(out)?;
        return Ok(());
    }
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        // A long query is shortened in the header (JSON output keeps it whole).
        writeln!(
            out,
            "query {}: {}",
            i + 1,
            snippet(&r.query, QUERY_HEADER_CHARS)
        )?;
        if r.hits.is_empty() {
            writeln!(out, "  (no document: the index is empty)")?;
        }
        let id_width = r.hits.iter().map(|h| h.doc_id.len()).max().unwrap_or(0);
        for h in &r.hits {
            let docid = h
                .docid
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join("-");
            writeln!(
                out,
                "{:>4}. {:<id_width$}  {:>9.4}  [{docid}]",
                h.rank, h.doc_id, h.score
            )?;
            let title = snippet(&h.title, chars);
            let body = snippet(&h.text, chars);
            match (title.is_empty(), body.is_empty()) {
                (false, false) => writeln!(out, "      {title} | {body}")?,
                (false, true) => writeln!(out, "      {title}")?,
                (true, _) => writeln!(out, "      {body}")?,
            }
        }
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let results = search(&args)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    print(&mut out, &results, args.json, args.snippet)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    type Cli = super::super::common::TestCli<Args>;

    #[test]
    fn every_argument_has_help() {
        super::super::common::assert_every_argument_has_help(&Cli::command());
    }

    #[test]
    fn searches_a_tiny_index() {
        let tmp = genret_index::testing::ScratchDir::new("cli").unwrap();
        let (_, path) = genret_index::testing::tiny_index(tmp.path(), "idx", 10).unwrap();
        let q = genret_index::testing::text(3);
        let argv = [
            "search",
            "--index",
            path.to_str().unwrap(),
            "--beam",
            "4",
            "--depth",
            "3",
            "--device",
            "cpu",
            &q,
            "zulu",
        ];
        let args = Cli::try_parse_from(argv).unwrap().args;
        let results = search(&args).unwrap();
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(|r| (1..=3).contains(&r.hits.len())));
        assert!(results[0].hits.windows(2).all(|w| w[0].score >= w[1].score));

        let mut text = Vec::new();
        print(&mut text, &results, false, 12).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.starts_with(&format!("query 1: {q}\n")), "{text}");
        assert!(text.contains("…"), "snippets are cut: {text}");
        let mut json = Vec::new();
        print(&mut json, &results, true, 12).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(json[1]["query"], "zulu");
        assert_eq!(json[0]["hits"][0]["rank"], 1);
        assert_eq!(json[0]["hits"][0]["docid"].as_array().unwrap().len(), 3);

        // A 50,000-character query: the table's header shows its start, JSON keeps it whole.
        let long = QueryResults {
            query: "word ".repeat(10_000),
            hits: Vec::new(),
        };
        let mut text = Vec::new();
        print(&mut text, std::slice::from_ref(&long), false, 12).unwrap();
        let header = String::from_utf8(text)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string();
        assert!(
            header.chars().count() < QUERY_HEADER_CHARS + 20 && header.ends_with('…'),
            "{header}"
        );
        let mut json = Vec::new();
        print(&mut json, std::slice::from_ref(&long), true, 12).unwrap();
        assert!(String::from_utf8(json).unwrap().len() > 50_000);

        let argv = [
            "search",
            "--index",
            "/nonexistent/idx",
            "--device",
            "cpu",
            "q",
        ];
        let err = format!(
            "{:#}",
            search(&Cli::try_parse_from(argv).unwrap().args).unwrap_err()
        );
        assert!(
            err.contains("/nonexistent/idx") && err.contains("no such index folder"),
            "{err}"
        );
    }

    #[test]
    fn snippets_cut_on_characters() {
        assert_eq!(snippet("a  b\nc", 10), "a b c");
        assert_eq!(snippet("héllo wörld", 4), "héll…");
        assert_eq!(snippet("", 4), "");
    }
}
