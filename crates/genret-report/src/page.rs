//! The HTML page: one function per section, each returning its markup. The page is one file
//! with inline CSS and inline SVG, no script, and a content security policy that forbids
//! fetching anything, so it opens offline and shows the same everywhere.
//!
//! Output is deterministic (no timestamps, sorted maps), so a regenerated report diffs cleanly.

use std::collections::HashMap;
use std::fmt::Write as _;

use genret_data::Run;
use genret_records::{DocidHealth, Metrics};

use crate::docids::{prefix_group_sizes, size_histogram};
use crate::error::ReportError;
use crate::folder::{RunFolder, TrainRun};
use crate::hierarchy::{build_tree, DocumentIndex, PrefixNode, TreeLimits};
use crate::plots::{line_chart, size_histogram_chart};
use crate::queries::{shared_prefix, worst_queries, LoadedRun, QueryComparison};
use crate::summary::{summary_rows, SummaryTableRow, METRIC_COLUMNS};
use crate::training::{health_after_steps, training_curves};
use crate::ReportInputs;

/// The sections every report has, by `id`, in page order. A section whose data is absent says
/// so in a `<p class="absent">` rather than disappearing.
pub const SECTIONS: [(&str, &str); 7] = [
    ("summary", "Summary"),
    ("training", "Training curves"),
    ("health", "Docid health"),
    ("hierarchy", "Docid hierarchy"),
    ("seen-unseen", "Seen and unseen documents"),
    ("queries", "Worst queries"),
    ("config", "Configuration and manifest"),
];

const CSS: &str = r#"
:root { --ink: #1d1d1f; --muted: #6b6b70; --line: #e2e2e6; --accent: #0072b2; --bg: #fafafa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0; background: var(--bg); }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 18px 28px 10px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 2px 0; color: var(--muted); }
nav { margin-top: 8px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
main { padding: 8px 28px 40px; max-width: 1280px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 6px 18px 14px;
          margin: 16px 0; }
h2 { font-size: 18px; margin: 10px 0 8px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
table { border-collapse: collapse; margin: 6px 0 10px; }
th, td { padding: 3px 9px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #f3f3f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
tr.baseline td { color: #44454a; background: #fbfbfd; }
td.best { font-weight: 700; }
.note, .absent { color: var(--muted); }
.absent { font-style: italic; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: #f6f6f8; padding: 8px 10px; overflow-x: auto; border-radius: 4px; }
svg { max-width: 100%; height: auto; }
.charts { display: flex; flex-wrap: wrap; gap: 10px; }
.tree details { margin: 2px 0 2px 14px; }
.tree > details { margin-left: 0; }
.tree summary { cursor: pointer; }
.tree .prefix { background: #eef4fa; color: #004b75; padding: 0 4px; border-radius: 3px; }
.tree .count { color: var(--muted); margin: 0 6px; }
.tree .terms { color: #8a3b00; }
.tree ul.titles { margin: 2px 0 4px 18px; padding-left: 14px; color: #333; }
.tree .hidden { color: var(--muted); margin: 2px 0 2px 18px; font-size: 12.5px; }
mark { background: #ffe9a8; padding: 0; }
.rel { color: #007a55; font-weight: 600; }
ul.docs { margin: 0; padding-left: 16px; }
table.queries { width: 100%; table-layout: fixed; }
table.queries td { overflow-wrap: anywhere; }
table.queries th:nth-child(1) { width: 22%; }
table.queries th:nth-child(2), table.queries th:nth-child(3) { width: 8%; }
table.queries th:nth-child(4), table.queries th:nth-child(5) { width: 31%; }
"#;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A note that a section's data is absent; `backquoted` spans become `<code>`.
fn absent(text: &str) -> String {
    format!("<p class=\"absent\">{}</p>\n", inline_code(&escape(text)))
}

/// Escaped text with `backquoted` spans as `<code>`.
fn inline_code(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len());
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn opt<T>(value: Option<T>, show: impl Fn(T) -> String) -> String {
    value.map(show).unwrap_or_else(|| "–".into())
}

/// `1.2 MiB`, `812 B`.
fn bytes(b: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = b;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn seconds(s: f64) -> String {
    if s >= 120.0 {
        format!("{s:.0} s ({:.1} min)", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

/// Builds the whole page.
pub fn render_page(
    main: &RunFolder,
    compared: &[RunFolder],
    inputs: &ReportInputs,
) -> Result<String, ReportError> {
    let documents = inputs.documents.as_deref().map(DocumentIndex::new);
    let mut body = String::new();
    for (id, title) in SECTIONS {
        let content = match id {
            "summary" => summary_section(main, compared),
            "training" => training_section(main)?,
            "health" => health_section(main)?,
            "hierarchy" => hierarchy_section(main, documents.as_ref(), inputs),
            "seen-unseen" => seen_unseen_section(main),
            "queries" => queries_section(main, documents.as_ref(), inputs)?,
            _ => config_section(main, compared),
        };
        let _ = write!(
            body,
            "<section id=\"{id}\">\n<h2>{}</h2>\n{content}</section>\n",
            escape(title)
        );
    }
    let dataset = main
        .reports
        .first()
        .map(|r| r.report.dataset.clone())
        .or_else(|| {
            main.train
                .as_ref()
                .and_then(|t| Some(t.manifest.as_ref()?.dataset.clone()))
        });
    let kind = match main.kind {
        crate::folder::FolderKind::Quickstart => "quickstart run",
        crate::folder::FolderKind::Training => "training run",
    };
    let mut subtitle = format!(
        "{kind} <code>{}</code>",
        escape(&main.dir.display().to_string())
    );
    if let Some(d) = dataset {
        let _ = write!(subtitle, " · dataset {}", escape(&d));
    }
    if let Some(split) = main.summary.as_ref().map(|s| s.split.clone()) {
        let _ = write!(subtitle, " · split {}", escape(&split));
    }
    if !compared.is_empty() {
        let names: Vec<String> = compared.iter().map(|c| escape(&c.label)).collect();
        let _ = write!(subtitle, " · compared with {}", names.join(", "));
    }
    let nav: String = SECTIONS
        .iter()
        .map(|(id, title)| format!("<a href=\"#{id}\">{}</a>", escape(title)))
        .collect();
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>genret report: {title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
         <header>\n<h1>genret run report: {title}</h1>\n<p>{subtitle}</p>\n<nav>{nav}</nav>\n</header>\n\
         <main>\n{body}</main>\n</body>\n</html>\n",
        title = escape(&main.label),
    ))
}

fn summary_section(main: &RunFolder, compared: &[RunFolder]) -> String {
    let mut rows: Vec<SummaryTableRow> = summary_rows(main);
    for other in compared {
        rows.extend(summary_rows(other));
    }
    if rows.is_empty() {
        return absent(
            "No retrieval reports in this folder: search it with `genret run` (or run \
             `genret quickstart`) to compare it with BM25 and dense retrieval.",
        );
    }
    // The best value of each metric column, to mark it.
    let best: HashMap<&str, f64> = METRIC_COLUMNS
        .iter()
        .filter_map(|&m| {
            let top = rows
                .iter()
                .filter_map(|r| r.metrics.get(m).copied())
                .fold(f64::NEG_INFINITY, f64::max);
            top.is_finite().then_some((m, top))
        })
        .collect();
    let show_run = !compared.is_empty();
    let mut html = String::from("<table class=\"summary\">\n<tr>");
    if show_run {
        html.push_str("<th>run</th>");
    }
    html.push_str("<th>system</th>");
    for m in METRIC_COLUMNS {
        let _ = write!(html, "<th class=\"num\">{m}</th>");
    }
    html.push_str(
        "<th class=\"num\">p50 ms</th><th class=\"num\">p99 ms</th>\
         <th class=\"num\">train / index</th><th class=\"num\">index bytes / doc</th>\
         <th class=\"num\">queries</th></tr>\n",
    );
    for row in &rows {
        let class = if row.baseline {
            " class=\"baseline\""
        } else {
            ""
        };
        let _ = write!(html, "<tr{class}>");
        if show_run {
            let _ = write!(html, "<td>{}</td>", escape(&row.run));
        }
        let _ = write!(html, "<td>{}</td>", escape(&row.system));
        for m in METRIC_COLUMNS {
            let value = row.metrics.get(m).copied();
            let is_best = value.is_some_and(|v| best.get(m).is_some_and(|b| (v - b).abs() < 1e-12));
            let _ = write!(
                html,
                "<td class=\"num{}\">{}</td>",
                if is_best { " best" } else { "" },
                opt(value, |v| format!("{v:.4}"))
            );
        }
        let _ = writeln!(
            html,
            "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            opt(row.query_p50_ms, |v| format!("{v:.2}")),
            opt(row.query_p99_ms, |v| format!("{v:.2}")),
            opt(row.build_s, seconds),
            opt(row.index_bytes_per_doc(), bytes),
            row.num_queries
        );
    }
    html.push_str("</table>\n");
    html.push_str(
        "<p class=\"note\">Bold: the best value of a column. Latency is per query. \
         Train / index: GenRet's training time; BM25's indexing and dense retrieval's corpus \
         encoding time (– when reused from a cache). GenRet's index bytes exclude the \
         network's weights (document store, configuration and tokenizer); BM25's are its index \
         folder, dense's its embedding matrix.</p>\n",
    );
    if let Some(health) = final_health(main) {
        let _ =
            writeln!(
            html,
            "<p>GenRet docids: {} documents, {} distinct docids of length {}, largest collision \
             group {}, first-code diversity {}.</p>",
            health.n_docs,
            health.distinct_docids,
            health.docid_len,
            health.largest_collision_group,
            opt(health.steps.first().map(|s| s.diversity), |d| format!("{d:.3}"))
        );
    }
    html
}

/// The docid health of the final docids: the quickstart's summary, else the manifest's result.
fn final_health(folder: &RunFolder) -> Option<DocidHealth> {
    folder
        .summary
        .as_ref()
        .map(|s| s.docid_health.clone())
        .or_else(|| {
            folder
                .train
                .as_ref()?
                .manifest
                .as_ref()?
                .result
                .as_ref()
                .map(|r| r.health.clone())
        })
}

fn training_section(main: &RunFolder) -> Result<String, ReportError> {
    let Some(train) = &main.train else {
        return Ok(absent("No training run in this folder."));
    };
    let curves = training_curves(&train.log.events);
    if curves.losses.is_empty() {
        return Ok(absent(&format!(
            "{}: no batch events in metrics.jsonl (no training log, or training had not \
             logged a batch yet).",
            train.dir.display()
        )));
    }
    let mut html = String::new();
    let losses: Vec<&_> = curves.losses.iter().collect();
    html.push_str(&line_chart(
        "Loss per logged batch",
        "loss",
        &losses,
        &curves.boundaries,
        curves.total_batches,
        (980, 400),
    )?);
    html.push('\n');
    if let Some(lr) = &curves.learning_rate {
        html.push_str(&line_chart(
            "Learning rate",
            "learning rate",
            &[lr],
            &curves.boundaries,
            curves.total_batches,
            (980, 220),
        )?);
        html.push('\n');
    }
    html.push_str(
        "<p class=\"note\">Dashed lines: where a progressive docid step (or the final, \
         step-less training) begins. Each term is drawn unweighted; the total loss is the sum \
         of the terms times their weights in the configuration's <code>[losses]</code>. A \
         line breaks where its term is off.</p>\n",
    );
    let inits: Vec<String> = train
        .log
        .events
        .iter()
        .filter_map(|e| match e {
            genret_records::TrainEvent::CodebookInit {
                step,
                k,
                inertia,
                iterations,
                argmax_agreement,
                secs,
            } => Some(format!(
                "<tr><td class=\"num\">{step}</td><td class=\"num\">{k}</td>\
                 <td class=\"num\">{inertia:.1}</td><td class=\"num\">{iterations}</td>\
                 <td class=\"num\">{argmax_agreement:.3}</td><td class=\"num\">{secs:.2}</td></tr>"
            )),
            _ => None,
        })
        .collect();
    if !inits.is_empty() {
        let _ = write!(
            html,
            "<h3>Codebook initialisation (balanced k-means)</h3>\n<table>\n<tr><th class=\"num\">step</th>\
             <th class=\"num\">K</th><th class=\"num\">inertia</th><th class=\"num\">iterations</th>\
             <th class=\"num\">argmax agreement</th><th class=\"num\">seconds</th></tr>\n{}\n</table>\n",
            inits.join("\n")
        );
    }
    if let Some(shares) = &train.log.kept_prefix_share {
        let shares: Vec<String> = shares
            .iter()
            .enumerate()
            .map(|(i, s)| format!("first {}: {:.1}%", i + 1, s * 100.0))
            .collect();
        let _ = writeln!(
            html,
            "<p>Re-assignment by the final tokenizer: share of documents keeping their first \
             codes: {}.</p>",
            shares.join(", ")
        );
    }
    if train.log.unknown_events > 0 {
        let _ = writeln!(
            html,
            "<p class=\"note\">{} log lines of event kinds this report does not know were \
             skipped.</p>",
            train.log.unknown_events
        );
    }
    Ok(html)
}

fn health_section(main: &RunFolder) -> Result<String, ReportError> {
    let Some(train) = &main.train else {
        return Ok(absent("No training run in this folder."));
    };
    let mut html = String::new();
    let after = health_after_steps(&train.log.events);
    if !after.is_empty() {
        html.push_str(
            "<h3>After each step</h3>\n<table>\n<tr><th class=\"num\">after step</th><th>stage</th>\
             <th class=\"num\">docid length</th><th class=\"num\">diversity (last code)</th>\
             <th class=\"num\">codes used (last code)</th><th class=\"num\">distinct docids</th>\
             <th class=\"num\">largest group</th><th class=\"num\">colliding documents</th></tr>\n",
        );
        for h in &after {
            let last = h.health.steps.last();
            let _ = writeln!(
                html,
                "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{} ({:.1}%)</td></tr>",
                h.after_step,
                escape(&h.stage),
                h.health.docid_len,
                opt(last.map(|s| s.diversity), |d| format!("{d:.3}")),
                opt(last.map(|s| s.codes_used), |c| format!(
                    "{c} of {}",
                    h.health.k
                )),
                h.health.distinct_docids,
                h.health.largest_collision_group,
                h.health.colliding_docs,
                h.health.collision_rate * 100.0
            );
        }
        html.push_str("</table>\n<p class=\"note\">Stages: <code>assigned</code> after the step's training, <code>reassigned</code> by the final tokenizer, <code>disambiguated</code> with the collision code. Largest group: documents sharing one docid of that length.</p>\n");
    }
    if let Some(health) = final_health(main) {
        html.push_str(
            "<h3>Final docids, per position</h3>\n<table>\n<tr><th class=\"num\">position</th>\
             <th class=\"num\">diversity</th><th class=\"num\">codes used</th></tr>\n",
        );
        for s in &health.steps {
            let _ = writeln!(
                html,
                "<tr><td class=\"num\">{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{} of {}</td></tr>",
                s.step + 1,
                s.diversity,
                s.codes_used,
                health.k
            );
        }
        let _ = writeln!(
            html,
            "</table>\n<p>{} distinct docids for {} documents; largest collision group {}; \
             {} colliding documents.</p>",
            health.distinct_docids,
            health.n_docs,
            health.largest_collision_group,
            health.colliding_docs
        );
    }
    if !train.docids.is_empty() {
        let depth = train.docids[0].codes.len();
        html.push_str(
            "<h3>Prefix groups (from docids.tsv)</h3>\n<table>\n<tr><th class=\"num\">prefix length</th>\
             <th class=\"num\">groups</th><th class=\"num\">largest</th><th class=\"num\">median</th>\
             <th class=\"num\">single documents</th></tr>\n",
        );
        let mut charts = String::new();
        for level in 1..=depth {
            let sizes = prefix_group_sizes(&train.docids, level);
            let median = sizes.get(sizes.len() / 2).copied().unwrap_or(0);
            let _ = writeln!(
                html,
                "<tr><td class=\"num\">{level}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{median}</td><td class=\"num\">{}</td></tr>",
                sizes.len(),
                sizes.first().copied().unwrap_or(0),
                sizes.iter().filter(|&&s| s == 1).count()
            );
            charts.push_str(&size_histogram_chart(
                &format!("Group sizes, prefix length {level}"),
                &size_histogram(&sizes),
                (420, 240),
            )?);
        }
        let _ = write!(html, "</table>\n<div class=\"charts\">{charts}</div>\n");
    }
    if html.is_empty() {
        return Ok(absent(
            "No docid health in this run (no health events, manifest result or docids.tsv).",
        ));
    }
    Ok(html)
}

fn hierarchy_section(
    main: &RunFolder,
    documents: Option<&DocumentIndex>,
    inputs: &ReportInputs,
) -> String {
    let Some(train) = main.train.as_ref().filter(|t| !t.docids.is_empty()) else {
        return absent("No docids.tsv in the training run.");
    };
    let limits = inputs
        .tree_limits
        .unwrap_or_else(|| TreeLimits::for_corpus(train.docids.len()));
    let tree = build_tree(&train.docids, documents, &limits);
    let mut html = format!(
        "<p>{} documents by docid prefix: every first code, then groups of at least {} \
         documents (at most {} per group, {} groups in all). Each group shows its size, its \
         most distinctive terms (tf-idf of the group against the whole corpus) and the titles \
         of the documents that use those terms most. Click a group to open it.</p>\n",
        tree.size,
        limits.min_group_size,
        limits.max_children,
        tree.count() - 1
    );
    if documents.is_none() {
        html.push_str(&absent(
            "Terms and titles need the documents: give the dataset (--data) or the index.",
        ));
    }
    html.push_str("<div class=\"tree\">\n");
    for (i, child) in tree.children.iter().enumerate() {
        node_html(&mut html, child, i == 0);
    }
    hidden_html(&mut html, &tree);
    html.push_str("</div>\n");
    html
}

fn node_html(html: &mut String, node: &PrefixNode, open: bool) {
    let terms: Vec<String> = node.terms.iter().map(|t| escape(&t.term)).collect();
    let _ = writeln!(
        html,
        "<details{}><summary><code class=\"prefix\">{}</code><span class=\"count\">{} doc{}</span>\
         <span class=\"terms\">{}</span></summary>",
        if open { " open" } else { "" },
        node.label(),
        node.size,
        if node.size == 1 { "" } else { "s" },
        terms.join(" · ")
    );
    if !node.titles.is_empty() {
        html.push_str("<ul class=\"titles\">");
        for t in &node.titles {
            let _ = write!(html, "<li>{}</li>", escape(t));
        }
        html.push_str("</ul>\n");
    }
    for (i, child) in node.children.iter().enumerate() {
        node_html(html, child, open && i == 0);
    }
    hidden_html(html, node);
    html.push_str("</details>\n");
}

fn hidden_html(html: &mut String, node: &PrefixNode) {
    if node.hidden_groups > 0 {
        let _ = writeln!(
            html,
            "<p class=\"hidden\">+ {} smaller group{} ({} document{})</p>",
            node.hidden_groups,
            if node.hidden_groups == 1 { "" } else { "s" },
            node.hidden_docs,
            if node.hidden_docs == 1 { "" } else { "s" }
        );
    }
}

fn metric_cells(metrics: &Metrics, names: &[&str]) -> String {
    names
        .iter()
        .map(|m| {
            format!(
                "<td class=\"num\">{}</td>",
                opt(metrics.get(*m).copied(), |v| format!("{v:.4}"))
            )
        })
        .collect()
}

fn seen_unseen_section(main: &RunFolder) -> String {
    let mut html = String::new();
    if let Some(groups) = main.summary.as_ref().and_then(|s| s.seen_unseen.as_ref()) {
        let holdout = main.summary.as_ref().map_or(0.0, |s| s.holdout_docs);
        let _ = writeln!(
            html,
            "<p>GenRet trained without {:.0}% of the documents, which were then added with the \
             trained tokenizer. Queries are grouped by where their relevant documents come from; \
             BM25 and dense are the same queries on the full corpus.</p>",
            holdout * 100.0
        );
        html.push_str(
            "<table>\n<tr><th>queries</th><th class=\"num\">n</th><th class=\"num\">GenRet nDCG@10</th>\
             <th class=\"num\">GenRet R@10</th><th class=\"num\">GenRet R@100</th>\
             <th class=\"num\">BM25 nDCG@10</th><th class=\"num\">dense nDCG@10</th></tr>\n",
        );
        for (name, g) in groups {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td class=\"num\">{}</td>{}{}{}</tr>",
                escape(name),
                g.num_queries,
                metric_cells(&g.genret, &["nDCG@10", "R@10", "R@100"]),
                metric_cells(&g.bm25, &["nDCG@10"]),
                metric_cells(&g.dense, &["nDCG@10"])
            );
        }
        html.push_str("</table>\n");
    }
    if let Some(named) = main.holdout_report() {
        if let Some(groups) = &named.report.seen_unseen_judgements {
            html.push_str(
                "<h3>Judgements restricted to one origin</h3>\n<p class=\"note\">Each query \
                 judged only on its seen (or only its unseen) relevant documents.</p>\n<table>\n\
                 <tr><th>documents</th><th class=\"num\">queries</th><th class=\"num\">nDCG@10</th>\
                 <th class=\"num\">R@10</th><th class=\"num\">R@100</th><th class=\"num\">MRR@10</th></tr>\n",
            );
            for (name, g) in groups {
                let _ = writeln!(
                    html,
                    "<tr><td>{}</td><td class=\"num\">{}</td>{}</tr>",
                    escape(name),
                    g.num_queries,
                    metric_cells(&g.metrics, &["nDCG@10", "R@10", "R@100", "MRR@10"])
                );
            }
            html.push_str("</table>\n");
        }
        if let Some(holdout) = &main.holdout {
            let _ = writeln!(
                html,
                "<p>Holdout run: {} documents trained (docids.tsv), {} in the index{}.</p>",
                holdout.docids.len(),
                named.report.num_docs,
                opt(holdout.wall_secs(), |s| format!(
                    ", trained in {}",
                    seconds(s)
                ))
            );
        }
    }
    if html.is_empty() {
        return absent(
            "This run had no held-out documents (run `genret quickstart --holdout-docs 0.1` to \
             measure how GenRet handles documents added after training).",
        );
    }
    html
}

fn queries_section(
    main: &RunFolder,
    documents: Option<&DocumentIndex>,
    inputs: &ReportInputs,
) -> Result<String, ReportError> {
    let Some(qrels) = &inputs.qrels else {
        return Ok(absent(
            "Per-query results need the judgements: give the dataset (--data DIR).",
        ));
    };
    let Some(genret) = main.main_genret() else {
        return Ok(absent("No GenRet retrieval report in this folder."));
    };
    let Some(genret_path) = genret.run_path() else {
        return Ok(absent(&format!(
            "The GenRet run file {} is missing.",
            genret.report.run.display()
        )));
    };
    let genret_run = Run::load(&genret_path)?;
    let bm25 = main
        .bm25()
        .and_then(|b| b.run_path())
        .map(|p| Run::load(&p).map(|run| (run, p)))
        .transpose()?;
    let docids: HashMap<String, String> = main
        .train
        .iter()
        .flat_map(|t: &TrainRun| t.docids.iter())
        .map(|d| (d.doc_id.clone(), d.display()))
        .collect();
    let worst = worst_queries(
        qrels,
        &LoadedRun {
            run: &genret_run,
            path: &genret_path,
        },
        bm25.as_ref()
            .map(|(run, path)| LoadedRun { run, path })
            .as_ref(),
        &docids,
        inputs.worst_queries,
        5,
    )?;
    if worst.is_empty() {
        return Ok(absent("No judged query in the run."));
    }
    let mut html = format!(
        "<p>The {} queries where GenRet's nDCG@10 ({}) falls furthest below BM25's{}. Beside \
         each relevant document: its docid and its rank in each run; beside GenRet's top \
         documents: their docids, with the codes they share with a relevant document's docid \
         <mark>marked</mark> (a relevant document found is <span class=\"rel\">green</span>).</p>\n",
        worst.len(),
        escape(&genret.file.file_name().unwrap_or_default().to_string_lossy()),
        if bm25.is_none() { " (no BM25 run: lowest GenRet scores)" } else { "" }
    );
    html.push_str(
        "<table class=\"queries\">\n<tr><th>query</th><th class=\"num\">GenRet nDCG@10</th>\
         <th class=\"num\">BM25 nDCG@10</th><th>relevant documents</th><th>GenRet's top 5</th></tr>\n",
    );
    for q in &worst {
        query_row(&mut html, q, documents, inputs);
    }
    html.push_str("</table>\n");
    Ok(html)
}

fn title_of(documents: Option<&DocumentIndex>, id: &str) -> String {
    documents
        .and_then(|d| d.title(id))
        .map(|t| format!(" {}", escape(&crate::hierarchy::shorten(&t, 70))))
        .unwrap_or_default()
}

fn query_row(
    html: &mut String,
    q: &QueryComparison,
    documents: Option<&DocumentIndex>,
    inputs: &ReportInputs,
) {
    let text = inputs
        .queries
        .as_ref()
        .and_then(|qs| qs.get(&q.query_id))
        .map(|query| format!("<br>{}", escape(&query.text)))
        .unwrap_or_default();
    let rank = |r: Option<usize>| r.map_or("–".to_string(), |r| r.to_string());
    let relevant: String = q
        .relevant
        .iter()
        .map(|r| {
            format!(
                "<li><code>{}</code> {} <span class=\"note\">GenRet {}, BM25 {}</span>{}</li>",
                opt(r.doc.docid.as_deref(), escape),
                escape(&r.doc.doc_id),
                rank(r.genret_rank),
                rank(r.bm25_rank),
                title_of(documents, &r.doc.doc_id)
            )
        })
        .collect();
    let relevant_docids: Vec<&str> = q
        .relevant
        .iter()
        .filter_map(|r| r.doc.docid.as_deref())
        .collect();
    let top: String = q
        .genret_top
        .iter()
        .map(|d| {
            let docid = d.docid.as_deref().map_or("–".to_string(), |docid| {
                let shared = relevant_docids
                    .iter()
                    .map(|r| shared_prefix(docid, r))
                    .max()
                    .unwrap_or(0);
                mark_prefix(docid, shared)
            });
            let class = if d.grade > 0 { " class=\"rel\"" } else { "" };
            format!(
                "<li><code>{docid}</code> <span{class}>{}</span>{}</li>",
                escape(&d.doc_id),
                title_of(documents, &d.doc_id)
            )
        })
        .collect();
    let _ = writeln!(
        html,
        "<tr><td><code>{}</code>{text}</td><td class=\"num\">{:.3}</td><td class=\"num\">{}</td>\
         <td><ul class=\"docs\">{relevant}</ul></td><td><ul class=\"docs\">{top}</ul></td></tr>",
        escape(&q.query_id),
        q.genret_ndcg,
        opt(q.bm25_ndcg, |v| format!("{v:.3}"))
    );
}

/// A docid with its first `shared` codes in `<mark>`.
fn mark_prefix(docid: &str, shared: usize) -> String {
    if shared == 0 {
        return escape(docid);
    }
    let codes: Vec<&str> = docid.split('-').collect();
    let (head, tail) = codes.split_at(shared.min(codes.len()));
    let mut out = format!("<mark>{}</mark>", escape(&head.join("-")));
    if !tail.is_empty() {
        let _ = write!(out, "-{}", escape(&tail.join("-")));
    }
    out
}

fn config_section(main: &RunFolder, compared: &[RunFolder]) -> String {
    let runs: Vec<(&str, &TrainRun)> = std::iter::once(main)
        .chain(compared)
        .filter_map(|f| f.train.as_ref().map(|t| (f.label.as_str(), t)))
        .collect();
    if runs.is_empty() {
        return absent("No training run, so no manifest or configuration.");
    }
    let mut html = String::from("<h3>Manifest</h3>\n<table>\n<tr><th></th>");
    for (label, _) in &runs {
        let _ = write!(html, "<th>{}</th>", escape(label));
    }
    html.push_str("</tr>\n");
    type Field = fn(&crate::folder::Manifest) -> Option<String>;
    let fields: [(&str, Field); 12] = [
        ("dataset", |m| Some(m.dataset.clone())),
        ("seed", |m| Some(m.seed.to_string())),
        ("data hash", |m| Some(m.data_hash.clone())),
        ("model", |m| Some(m.model.clone())),
        ("model hash", |m| Some(m.model_hash.clone())),
        ("git revision", |m| Some(m.git_revision.clone())),
        ("genret version", |m| Some(m.genret_version.clone())),
        ("started at", |m| Some(m.started_at.clone())),
        ("device", |m| Some(m.device.clone())),
        ("threads", |m| Some(m.threads.to_string())),
        ("command", |m| {
            (!m.command.is_empty()).then(|| m.command.join(" "))
        }),
        ("training time", |m| {
            m.result.as_ref().map(|r| seconds(r.wall_secs))
        }),
    ];
    for (name, field) in fields {
        let _ = write!(html, "<tr><th>{name}</th>");
        for (_, run) in &runs {
            let value = run.manifest.as_ref().and_then(field);
            let _ = write!(
                html,
                "<td><code>{}</code></td>",
                opt(value.as_deref(), escape)
            );
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    for (label, run) in &runs {
        if let Some(signal) = run
            .manifest
            .as_ref()
            .and_then(|m| m.result.as_ref())
            .map(|r| &r.signal)
            .filter(|s| !s.is_null())
        {
            let _ = writeln!(
                html,
                "<h3>Training signal ({})</h3>\n<pre>{}</pre>",
                escape(label),
                escape(&serde_json::to_string_pretty(signal).unwrap_or_default())
            );
        }
        if let Some(config) = &run.config_toml {
            let _ = writeln!(
                html,
                "<details><summary>config.toml ({})</summary>\n<pre>{}</pre>\n</details>",
                escape(label),
                escape(config)
            );
        }
    }
    let searches: Vec<String> = std::iter::once(main)
        .chain(compared)
        .flat_map(|f| f.reports.iter().map(move |r| (f, r)))
        .filter_map(|(f, r)| match &r.report.system {
            genret_records::System::Genret {
                search, num_docids, ..
            } => Some(format!(
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(&f.label),
                escape(&r.file.file_name().unwrap_or_default().to_string_lossy()),
                escape(&search.scoring_name),
                search.beam,
                search.depth,
                search.batch_size,
                num_docids,
                if search.exact { "exact" } else { "beam" }
            )),
            _ => None,
        })
        .collect();
    if !searches.is_empty() {
        let _ = write!(
            html,
            "<h3>GenRet searches</h3>\n<table>\n<tr><th>run</th><th>report</th><th>scoring</th>\
             <th class=\"num\">beam</th><th class=\"num\">depth</th><th class=\"num\">batch</th>\
             <th class=\"num\">docids</th><th>search</th></tr>\n{}\n</table>\n",
            searches.join("\n")
        );
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn backquotes_become_code() {
        assert_eq!(
            absent("run `genret run` <now>"),
            "<p class=\"absent\">run <code>genret run</code> &lt;now&gt;</p>\n"
        );
    }

    #[test]
    fn shared_codes_are_marked() {
        assert_eq!(mark_prefix("3-25-19-0", 2), "<mark>3-25</mark>-19-0");
        assert_eq!(mark_prefix("3-25", 2), "<mark>3-25</mark>");
        assert_eq!(mark_prefix("3-25", 0), "3-25");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(bytes(812.0), "812 B");
        assert_eq!(bytes(4096.0), "4.0 KiB");
        assert_eq!(seconds(905.2), "905 s (15.1 min)");
        assert_eq!(seconds(7.94), "7.9 s");
    }
}
