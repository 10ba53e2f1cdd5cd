//! Behaviour of building, opening and searching an index, and the BM25 arithmetic itself.

use genret_bm25::{
    Analyzer, AnalyzerOptions, Bm25Builder, Bm25Config, Bm25Error, Bm25Index, BuildOptions,
    FieldLayout, IndexLocation, B, K1,
};
use genret_data::Document;

fn doc(id: &str, title: &str, text: &str) -> Document {
    Document {
        id: id.into(),
        title: title.into(),
        text: text.into(),
    }
}

fn small_corpus() -> Vec<Document> {
    vec![
        doc("solar", "Solar panels", "Photovoltaic solar panels convert sunlight into electricity; their efficiency is about 20%."),
        doc("wind", "Wind turbines", "Wind turbines convert the kinetic energy of wind into electricity."),
        doc("cats", "Domestic cats", "Cats sleep for most of the day and hunt small rodents at night."),
        doc("dogs", "Dogs", "Dogs were domesticated from wolves; they bark, herd sheep and guard houses."),
        doc("bread", "Baking bread", "Bread is baked from flour, water, salt and yeast in a hot oven."),
        doc("battery", "Batteries", "Lithium-ion batteries store electricity from solar and wind farms."),
    ]
}

fn options(fields: FieldLayout) -> BuildOptions {
    BuildOptions {
        config: Bm25Config {
            fields,
            ..Bm25Config::default()
        },
        threads: 1,
        memory_per_thread: 20_000_000,
        merge: true,
    }
}

fn ram_index(docs: &[Document], fields: FieldLayout) -> Bm25Index {
    Bm25Index::build(IndexLocation::Ram, docs, &options(fields)).expect("index builds")
}

fn ids(hits: &[genret_data::ScoredDoc]) -> Vec<&str> {
    hits.iter().map(|h| h.doc_id.as_str()).collect()
}

#[test]
fn ranks_the_matching_documents_first() {
    for fields in [FieldLayout::default(), FieldLayout::Combined] {
        let index = ram_index(&small_corpus(), fields);
        assert_eq!(index.num_docs(), 6);

        let hits = index.search("How efficient are solar panels?", 10).unwrap();
        assert_eq!(hits[0].doc_id, "solar", "{fields:?}: {:?}", ids(&hits));
        assert_eq!(ids(&hits), ["solar", "battery"], "{fields:?}");

        // Stemming: "domesticated"/"domestic" and "cat"/"cats" meet.
        let hits = index.search("the domestic cat", 10).unwrap();
        assert_eq!(hits[0].doc_id, "cats", "{fields:?}");
        assert_eq!(ids(&hits), ["cats", "dogs"], "{fields:?}");

        // Two documents mention electricity; both electricity and wind favour `wind`.
        let hits = index.search("wind electricity", 10).unwrap();
        assert_eq!(ids(&hits)[..2], ["wind", "battery"], "{fields:?}");
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));

        // k caps the list.
        assert_eq!(index.search("electricity", 1).unwrap().len(), 1);
        assert_eq!(index.search("electricity", 0).unwrap().len(), 0);
        assert_eq!(index.search("electricity", usize::MAX).unwrap().len(), 3);
    }
}

#[test]
fn query_syntax_characters_are_plain_text() {
    let index = ram_index(&small_corpus(), FieldLayout::default());
    for q in [
        "\"a:b (c) -d [e] ^2 AND OR",
        "title:solar AND (wind OR \"cats\") -dogs +bread ~2 ^3 {x TO y} [* TO *] \\ / ! ?",
        "\"unbalanced quote",
        ")(][}{",
        "solar*",
        "NOT",
    ] {
        let hits = index
            .search(q, 10)
            .unwrap_or_else(|e| panic!("query {q:?} failed: {e}"));
        assert!(hits.len() <= 6);
    }
    // The words still count: `solar` and `wind` match.
    let hits = index.search("(solar) AND wind^2 -dogs", 10).unwrap();
    assert!(ids(&hits).contains(&"solar") && ids(&hits).contains(&"wind"));
}

#[test]
fn queries_without_terms_return_nothing() {
    let index = ram_index(&small_corpus(), FieldLayout::default());
    for q in ["", "   ", "?!.,;", "the and of to", "\u{200b}"] {
        assert!(index.search(q, 10).unwrap().is_empty(), "{q:?}");
    }
    assert!(index.search("zyzzyva", 10).unwrap().is_empty());
}

#[test]
fn batch_search_matches_single_search() {
    let index = ram_index(&small_corpus(), FieldLayout::default());
    let queries = [
        "solar",
        "wind turbines",
        "",
        "dogs bark",
        "bread yeast oven",
        "electricity",
    ];
    let batch = index.search_batch(&queries, 3, 3).unwrap();
    assert_eq!(batch.len(), queries.len());
    for (q, got) in queries.iter().zip(&batch) {
        assert_eq!(got, &index.search(q, 3).unwrap(), "{q:?}");
    }
    let timed = index.search_batch_timed(&queries, 3, 0).unwrap();
    assert_eq!(timed.into_iter().map(|(d, _)| d).collect::<Vec<_>>(), batch);
}

/// BM25 of one query term computed from the formula, with tantivy's constants and idf.
fn bm25_term(tf: f64, dl: f64, avgdl: f64, n: f64, big_n: f64) -> f64 {
    if tf == 0.0 {
        return 0.0;
    }
    let (k1, b) = (K1, B);
    let idf = (1.0 + (big_n - n + 0.5) / (n + 0.5)).ln();
    idf * (k1 + 1.0) * tf / (tf + k1 * (1.0 - b + b * dl / avgdl))
}

/// BM25 of `query` against one field whose analysed contents per document are `field_docs`.
fn bm25_field(query: &[String], field_docs: &[Vec<String>], d: usize) -> f64 {
    let big_n = field_docs.len() as f64;
    let avgdl = field_docs.iter().map(Vec::len).sum::<usize>() as f64 / big_n;
    query
        .iter()
        .map(|t| {
            let n = field_docs.iter().filter(|toks| toks.contains(t)).count() as f64;
            let tf = field_docs[d].iter().filter(|x| *x == t).count() as f64;
            bm25_term(tf, field_docs[d].len() as f64, avgdl, n, big_n)
        })
        .sum()
}

#[test]
fn scores_match_the_bm25_formula() {
    // Lengths of at most 40 terms, which tantivy's one-byte field norms store exactly.
    let docs = vec![
        doc("d1", "cat", "cat dog dog fish"),
        doc("d2", "dog", "dog fish"),
        doc("d3", "bird", "cat bird bird bird bird bird"),
    ];
    let analyzer = Analyzer::new(AnalyzerOptions::default());
    let titles: Vec<Vec<String>> = docs.iter().map(|d| analyzer.analyze(&d.title)).collect();
    let texts: Vec<Vec<String>> = docs.iter().map(|d| analyzer.analyze(&d.text)).collect();
    let bodies: Vec<Vec<String>> = titles
        .iter()
        .zip(&texts)
        .map(|(t, x)| [t.clone(), x.clone()].concat())
        .collect();
    assert_eq!(bodies[0], ["cat", "cat", "dog", "dog", "fish"]);

    for query in ["cat", "cat dog", "fish bird cat"] {
        let terms = analyzer.analyze(query);

        // One combined field: a plain sum over terms.
        let index = ram_index(&docs, FieldLayout::Combined);
        let hits = index.search(query, 10).unwrap();
        for (d, document) in docs.iter().enumerate() {
            let expected = bm25_field(&terms, &bodies, d);
            let got = hits
                .iter()
                .find(|h| h.doc_id == document.id)
                .map_or(0.0, |h| h.score);
            assert!(
                (got - expected).abs() < 1e-4,
                "combined {query:?} {}: tantivy {got}, formula {expected}",
                document.id
            );
        }

        // Title and text: max of the two field scores plus tie_breaker times the other.
        let tie = 0.3;
        let index = ram_index(&docs, FieldLayout::TitleText { tie_breaker: tie });
        let hits = index.search(query, 10).unwrap();
        for (d, document) in docs.iter().enumerate() {
            let (t, x) = (
                bm25_field(&terms, &titles, d),
                bm25_field(&terms, &texts, d),
            );
            let expected = t.max(x) + f64::from(tie) * t.min(x);
            let got = hits
                .iter()
                .find(|h| h.doc_id == document.id)
                .map_or(0.0, |h| h.score);
            assert!(
                (got - expected).abs() < 1e-4,
                "title-text {query:?} {}: tantivy {got}, formula {expected}",
                document.id
            );
        }
    }
}

#[test]
fn an_index_on_disk_is_reopened_with_its_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut opts = options(FieldLayout::default());
    opts.config.analyzer = AnalyzerOptions::tantivy_english();
    let built = Bm25Index::build(IndexLocation::Dir(dir.clone()), small_corpus(), &opts).unwrap();
    let before = built.search("solar wind electricity", 10).unwrap();
    drop(built);

    let opened = Bm25Index::open(&dir).unwrap();
    assert_eq!(opened.config(), &opts.config);
    assert_eq!(opened.num_docs(), 6);
    assert_eq!(opened.path(), Some(dir.as_path()));
    assert_eq!(opened.search("solar wind electricity", 10).unwrap(), before);
    // Only the index folder is left behind: no staging folder.
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from("idx")]);

    // A non-empty folder is never overwritten.
    match Bm25Index::build(IndexLocation::Dir(dir.clone()), small_corpus(), &opts) {
        Err(Bm25Error::AlreadyExists(p)) => assert_eq!(p, dir),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
}

#[test]
fn fingerprint_is_recorded_and_abandoned_builds_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut builder = Bm25Builder::new(
        IndexLocation::Dir(dir.clone()),
        &options(FieldLayout::Combined),
    )
    .unwrap();
    builder.add(&small_corpus()[0]).unwrap();
    drop(builder);
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "an abandoned build leaves no folder"
    );

    let mut builder = Bm25Builder::new(
        IndexLocation::Dir(dir.clone()),
        &options(FieldLayout::Combined),
    )
    .unwrap()
    .with_fingerprint("abc123");
    for d in small_corpus() {
        builder.add(&d).unwrap();
    }
    assert_eq!(builder.len(), 6);
    builder.finish().unwrap();
    assert_eq!(Bm25Index::open(&dir).unwrap().fingerprint(), Some("abc123"));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let mut docs = small_corpus();
    docs.push(doc("solar", "again", "a second document with the id solar"));
    match Bm25Index::build(IndexLocation::Ram, &docs, &options(FieldLayout::default())) {
        Err(Bm25Error::DuplicateId(id)) => assert_eq!(id, "solar"),
        other => panic!("expected DuplicateId, got {other:?}"),
    }

    let tmp = tempfile::tempdir().unwrap();
    assert!(matches!(
        Bm25Index::open(tmp.path()),
        Err(Bm25Error::NotAnIndex { .. })
    ));
    assert!(matches!(
        Bm25Index::open(tmp.path().join("missing")),
        Err(Bm25Error::NotAnIndex { .. })
    ));

    let mut opts = options(FieldLayout::TitleText { tie_breaker: 2.0 });
    assert!(matches!(
        Bm25Builder::new(IndexLocation::Ram, &opts),
        Err(Bm25Error::InvalidOption(_))
    ));
    opts = options(FieldLayout::default());
    opts.memory_per_thread = 1000;
    assert!(matches!(
        Bm25Builder::new(IndexLocation::Ram, &opts),
        Err(Bm25Error::InvalidOption(_))
    ));
}

#[test]
fn documents_with_no_terms_are_indexed_but_never_found() {
    let docs = vec![
        doc("empty", "", "!!! ..."),
        doc("stop", "The", "and of the"),
        doc("real", "Real", "real words"),
    ];
    let index = ram_index(&docs, FieldLayout::default());
    assert_eq!(index.num_docs(), 3);
    assert_eq!(ids(&index.search("real words the", 10).unwrap()), ["real"]);

    let nothing = ram_index(&[], FieldLayout::default());
    assert_eq!(nothing.num_docs(), 0);
    assert!(nothing.search("real words", 10).unwrap().is_empty());
}
