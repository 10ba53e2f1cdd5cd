//! Every route over real HTTP (127.0.0.1, an ephemeral port), every answer checked against
//! the OpenAPI document the server publishes; the error cases with their status and field;
//! internal faults without internals; timeouts; graceful shutdown.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{call, call_json, check_against_spec, serve, validate};
use serde_json::{json, Value};

fn spec_of(server: &common::TestServer) -> Value {
    let (status, spec) = call_json("GET", &server.url("/openapi.json"), None);
    assert_eq!(status, 200);
    spec
}

#[test]
fn every_route_answers_as_documented() {
    let server = serve(12, true, |_| {});
    let spec = spec_of(&server);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let mut exercised = BTreeSet::new();
    let mut checked = |method: &str, template: &str, path: &str, body: Option<Value>| -> Value {
        let text = body.map(|b| b.to_string());
        let (status, value) = call_json(method, &server.url(path), text.as_deref());
        check_against_spec(&spec, method, template, status, &value);
        exercised.insert((method.to_lowercase(), template.to_string()));
        assert!(status < 300, "{method} {path}: {status} {value}");
        value
    };

    // Search: one query, a batch, each system, a fusion, snippets.
    let one = checked(
        "POST",
        "/search",
        "/search",
        Some(json!({"query": "alpha bravo", "k": 5})),
    );
    assert_eq!(one["system"], "genret");
    assert_eq!(one["results"].as_array().unwrap().len(), 1);
    let hits = one["results"][0]["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 5);
    assert_eq!(hits[0]["rank"], 1);
    assert_eq!(hits[0]["docid"].as_array().unwrap().len(), 3, "M = 3 codes");
    assert!(hits[0].get("snippet").is_none());
    let batch = checked(
        "POST",
        "/search",
        "/search",
        Some(json!({"queries": ["alpha", "delta echo", "lima"], "k": 3, "beam": 20})),
    );
    assert_eq!(batch["beam"], 20);
    let queries: Vec<&str> = batch["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["query"].as_str().unwrap())
        .collect();
    assert_eq!(queries, ["alpha", "delta echo", "lima"]);
    for system in [
        "bm25",
        "dense",
        "genret+bm25",
        "bm25+dense",
        "genret+bm25+dense",
    ] {
        let r = checked(
            "POST",
            "/search",
            "/search",
            Some(json!({"query": genret_index::testing::text(4), "k": 4, "system": system})),
        );
        assert_eq!(r["system"], system);
        assert!(
            !r["results"][0]["hits"].as_array().unwrap().is_empty(),
            "{system}"
        );
    }
    let bm25 = checked(
        "POST",
        "/search",
        "/search",
        Some(json!({"query": genret_index::testing::text(4), "system": "bm25", "k": 1})),
    );
    assert_eq!(
        bm25["results"][0]["hits"][0]["doc_id"], "t4",
        "BM25 finds a document by its own text"
    );
    assert!(bm25.get("beam").is_none(), "no GenRet search ran");
    let fused = checked(
        "POST",
        "/search",
        "/search",
        Some(
            json!({"query": "alpha", "system": "genret+bm25", "fusion": "rrf", "weights": [1.0, 1.0], "snippets": true}),
        ),
    );
    assert!(fused["results"][0]["hits"][0]["snippet"].is_string());
    let z = checked(
        "POST",
        "/search",
        "/search",
        Some(
            json!({"query": "alpha", "system": "genret+bm25", "fusion": "z-score", "weights": [0.5, 0.5]}),
        ),
    );
    assert!(
        !z["results"][0]["hits"].as_array().unwrap().is_empty(),
        "{z}"
    );

    // Add documents: JSON lines, then a JSON array; then they are found and fetched.
    let lines = "{\"_id\": \"n1\", \"title\": \"Zanzibar cloves\", \"text\": \"alpha bravo charlie\"}\n{\"_id\": 77, \"text\": \"delta echo\"}\n";
    let (status, added) = call_json("POST", &server.url("/documents"), Some(lines));
    check_against_spec(&spec, "POST", "/documents", status, &added);
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["added"], 2);
    assert_eq!(added["num_docs"], 14);
    assert_eq!(added["documents"][1]["doc_id"], "77");
    let added = checked(
        "POST",
        "/documents",
        "/documents",
        Some(json!([{"_id": "n3", "title": "Quokka island", "text": "golf hotel"}])),
    );
    assert_eq!(added["num_docs"], 15);
    for system in ["bm25", "dense", "genret+bm25"] {
        let r = checked(
            "POST",
            "/search",
            "/search",
            Some(json!({"query": "Zanzibar cloves", "system": system, "k": 20})),
        );
        let ids: Vec<&str> = r["results"][0]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["doc_id"].as_str().unwrap())
            .collect();
        assert!(
            ids.contains(&"n1"),
            "{system} does not see the added document: {ids:?}"
        );
        if system == "bm25" {
            assert_eq!(ids[0], "n1", "BM25 ranks it first by its title");
        }
    }
    let every = checked(
        "POST",
        "/search",
        "/search",
        Some(json!({"query": "alpha", "k": 1000, "beam": 1000})),
    );
    assert_eq!(
        every["results"][0]["hits"].as_array().unwrap().len(),
        15,
        "GenRet sees every document"
    );
    let doc = checked("GET", "/documents/{id}", "/documents/n1", None);
    assert_eq!(doc["title"], "Zanzibar cloves");
    assert_eq!(doc["origin"], "added");
    assert_eq!(doc["docid"], added_docid(&server, "n1"));
    let doc = checked("GET", "/documents/{id}", "/documents/t3", None);
    assert_eq!(doc["origin"], "train");

    let health = checked("GET", "/health", "/health", None);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["num_docs"], 15);
    let info = checked("GET", "/info", "/info", None);
    assert_eq!(info["K"], 5);
    assert_eq!(info["M"], 3);
    assert_eq!(info["documents"]["total"], 15);
    assert_eq!(info["documents"]["added"], 3);
    assert_eq!(info["systems"], json!(["genret", "bm25", "dense"]));

    // Non-JSON routes.
    let (status, ctype, metrics) = call("GET", &server.url("/metrics"), None);
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    for needle in [
        "genret_http_requests_total{route=\"/search\",method=\"POST\",status=\"200\"}",
        "genret_http_request_duration_seconds_bucket{route=\"/documents\",method=\"POST\",status=\"200\",le=\"+Inf\"} 2",
        "genret_queue_depth{system=\"genret\"}",
        "genret_batch_size_bucket{system=\"bm25\",le=\"1\"}",
        "genret_documents 15",
    ] {
        assert!(metrics.contains(needle), "/metrics lacks {needle}:\n{metrics}");
    }
    exercised.insert(("get".into(), "/metrics".into()));
    let (status, ctype, page) = call("GET", &server.url("/docs"), None);
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/html"));
    assert!(page.contains("/openapi.json"));
    // The viewer loads nothing from elsewhere.
    for external in ["http://", "https://", "src=", "<link", "@import"] {
        assert!(
            !page.contains(external),
            "the viewer page refers to `{external}`"
        );
    }
    exercised.insert(("get".into(), "/docs".into()));
    exercised.insert(("get".into(), "/openapi.json".into()));

    // Every documented route was exercised.
    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), p.clone()))
        })
        .collect();
    assert_eq!(documented, exercised);
}

fn added_docid(server: &common::TestServer, id: &str) -> Value {
    let (_, hits) = call_json(
        "POST",
        &server.url("/search"),
        Some(&json!({"query": "Zanzibar cloves", "system": "bm25", "k": 50}).to_string()),
    );
    hits["results"][0]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["doc_id"] == id)
        .map(|h| h["docid"].clone())
        .unwrap()
}

#[test]
fn bad_requests_get_4xx_naming_the_field() {
    let server = serve(8, false, |a| a.max_body_bytes = 2048);
    let spec = spec_of(&server);
    let long = "alpha ".repeat(1000);
    let cases: Vec<(&str, &str, String, u16, Option<&str>)> = vec![
        (
            "POST",
            "/search",
            r#"{"query": "alpha""#.into(),
            400,
            Some("body"),
        ),
        ("POST", "/search", "not json".into(), 400, Some("body")),
        ("POST", "/search", "".into(), 400, Some("body")),
        ("POST", "/search", "{}".into(), 400, Some("query")),
        (
            "POST",
            "/search",
            r#"{"query": "   "}"#.into(),
            400,
            Some("query"),
        ),
        (
            "POST",
            "/search",
            r#"{"query": null}"#.into(),
            400,
            Some("query"),
        ),
        (
            "POST",
            "/search",
            r#"{"queries": []}"#.into(),
            400,
            Some("queries"),
        ),
        (
            "POST",
            "/search",
            r#"{"queries": ["alpha", ""]}"#.into(),
            400,
            Some("queries[1]"),
        ),
        (
            "POST",
            "/search",
            r#"{"query": "a", "queries": ["b"]}"#.into(),
            400,
            Some("queries"),
        ),
        (
            "POST",
            "/search",
            r#"{"query": 5}"#.into(),
            400,
            Some("query"),
        ),
        (
            "POST",
            "/search",
            r#"{"query": "alpha", "k": 0}"#.into(),
            400,
            Some("k"),
        ),
        (
            "POST",
            "/search",
            r#"{"query": "alpha", "k": 10001}"#.into(),
            400,
            Some("k"),
        ),
        (
            "POST",
            "/search",
            r#"{"query": "alpha", "k": -3}"#.into(),
            400,
            Some("k"),
        ),
        (
            "POST",
            "/search",
            r#"{"query": "alpha", "k": "ten"}"#.into(),
            400,
            Some("k"),
        ),
        (
            "POST",
            "/search",
            r#"{"query": "alpha", "beam": 0}"#.into(),
            400,
            Some("beam"),
        ),
        (
            "POST",
            "/search",
            r#"{"query": "alpha", "beam": 100001}"#.into(),
            400,
            Some("beam"),
        ),
        (
            "POST",
            "/search",
            r#"{"query": "alpha", "kk": 3}"#.into(),
            400,
            Some("kk"),
        ),
        (
            "POST",
            "/search",
            r#"{"query": "alpha", "system": "tfidf"}"#.into(),
            400,
            Some("system"),
        ),
        (
            "POST",
            "/search",
            r#"{"query": "alpha", "system": "dense"}"#.into(),
            400,
            Some("system"),
        ),
        (
            "POST",
            "/search",
            r#"{"query": "alpha", "system": "genret+bm25", "weights": [1]}"#.into(),
            400,
            Some("weights"),
        ),
        (
            "POST",
            "/search",
            r#"{"query": "alpha", "system": "genret+bm25", "fusion": "max"}"#.into(),
            400,
            Some("fusion"),
        ),
        (
            "POST",
            "/search",
            json!({"query": long}).to_string(),
            413,
            Some("body"),
        ),
        ("POST", "/documents", "".into(), 400, Some("body")),
        (
            "POST",
            "/documents",
            "[{\"_id\": \"x\", \"text\": \"alpha\"}".into(),
            400,
            Some("body"),
        ),
        (
            "POST",
            "/documents",
            "{\"_id\": \"x\", \"text\": \"alpha\"}\n{\"text\": \"b\"}".into(),
            400,
            Some("documents[1]._id"),
        ),
        (
            "POST",
            "/documents",
            r#"[{"_id": "x", "text": 1}]"#.into(),
            400,
            Some("documents[0].text"),
        ),
        (
            "POST",
            "/documents",
            r#"[{"_id": "x", "title": "", "text": ""}]"#.into(),
            400,
            Some("documents[0].text"),
        ),
        (
            "POST",
            "/documents",
            r#"[{"_id": "x", "text": "a"}, {"_id": "x", "text": "b"}]"#.into(),
            409,
            Some("documents[1]._id"),
        ),
        (
            "POST",
            "/documents",
            r#"[{"_id": "fresh", "text": "a"}, {"_id": "t3", "text": "b"}]"#.into(),
            409,
            Some("documents[1]._id"),
        ),
        (
            "POST",
            "/documents",
            json!([{"_id": "big", "text": long}]).to_string(),
            413,
            Some("body"),
        ),
        ("GET", "/documents/nope", String::new(), 404, Some("id")),
        ("GET", "/no/such/route", String::new(), 404, None),
    ];
    for (method, path, body, status, field) in cases {
        let (got, value) = call_json(
            method,
            &server.url(path),
            (method == "POST").then_some(body.as_str()),
        );
        assert_eq!(got, status, "{method} {path} {body:.80}: {value}");
        assert_eq!(
            value["error"]["field"].as_str(),
            field,
            "{method} {path} {body:.80}: {value}"
        );
        assert_eq!(value["error"]["status"], status);
        let schema = json!({"$ref": "#/components/schemas/ErrorResponse"});
        validate(&spec, &schema, &value, "$").unwrap();
        if path != "/no/such/route" {
            let template = if path.starts_with("/documents/") {
                "/documents/{id}"
            } else {
                path
            };
            check_against_spec(&spec, method, template, got, &value);
        }
    }
    // The refused adds added nothing, not even their valid documents.
    let (_, health) = call_json("GET", &server.url("/health"), None);
    assert_eq!(health["num_docs"], 8);
    let (status, _) = call_json("GET", &server.url("/documents/fresh"), None);
    assert_eq!(status, 404);
}

#[test]
fn internal_faults_are_500_without_internals() {
    let server = serve(6, false, |_| {});
    // The store vanishes under the server (no read connection was opened yet).
    let store = server.index_dir.join(genret_index::index::STORE_FILE);
    let moved = server.dir.path().join("moved.sqlite");
    std::fs::rename(&store, &moved).unwrap();
    for (method, path, body) in [
        ("GET", "/documents/t1", None),
        ("POST", "/search", Some(r#"{"query": "alpha"}"#)),
    ] {
        let (status, value) = call_json(method, &server.url(path), body);
        assert_eq!(status, 500, "{value}");
        assert_eq!(value["error"]["code"], "internal");
        let text = value.to_string();
        for secret in ["sqlite", "store", "/tmp", "genret-serve", "No such file"] {
            assert!(!text.contains(secret), "a 500 reveals `{secret}`: {text}");
        }
    }
    std::fs::rename(&moved, &store).unwrap();
    let (status, _) = call_json("GET", &server.url("/documents/t1"), None);
    assert_eq!(status, 200, "the server recovers once the fault is gone");
}

#[test]
fn slow_requests_time_out_with_503() {
    let server = serve(6, false, |a| a.request_timeout_s = 0.3);
    // Hold the GenRet worker for a second: a search queued behind it cannot finish in time.
    let genret = server.running.state.genret.clone();
    let holder = std::thread::spawn(move || {
        genret
            .with_mut(|_| std::thread::sleep(Duration::from_millis(1200)))
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(100));
    let (status, value) = call_json(
        "POST",
        &server.url("/search"),
        Some(r#"{"query": "alpha"}"#),
    );
    assert_eq!(status, 503, "{value}");
    assert_eq!(value["error"]["code"], "timeout");
    holder.join().unwrap();
    let (status, _) = call_json(
        "POST",
        &server.url("/search"),
        Some(r#"{"query": "alpha"}"#),
    );
    assert_eq!(status, 200);
}

#[test]
fn shutdown_lets_requests_in_flight_finish_and_closes_the_index() {
    let server = serve(6, false, |_| {});
    let url = server.url("/search");
    let genret = server.running.state.genret.clone();
    let holder = std::thread::spawn(move || {
        genret
            .with_mut(|_| std::thread::sleep(Duration::from_millis(800)))
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(100));
    let in_flight =
        std::thread::spawn(move || call_json("POST", &url, Some(r#"{"query": "alpha", "k": 3}"#)));
    std::thread::sleep(Duration::from_millis(200));
    let common::TestServer {
        running,
        index_dir,
        dir: _dir,
    } = server;
    let addr = running.addr;
    running.stop().unwrap();
    let (status, value) = in_flight.join().unwrap();
    assert_eq!(status, 200, "the request in flight finished: {value}");
    assert_eq!(value["results"][0]["hits"].as_array().unwrap().len(), 3);
    holder.join().unwrap();
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
        "the server still accepts connections"
    );
    // Closed cleanly: it opens again at once, its files verified.
    let index = genret_index::Index::open(&index_dir, tch::Device::Cpu).unwrap();
    assert_eq!(index.num_docs(), 6);
}

#[test]
fn the_schema_check_catches_undocumented_missing_and_mistyped_fields() {
    let spec = serde_json::to_value(genret_serve::openapi()).unwrap();
    let health = json!({"$ref": "#/components/schemas/HealthResponse"});
    validate(
        &spec,
        &health,
        &json!({"status": "ok", "num_docs": 3, "uptime_s": 1.5}),
        "$",
    )
    .unwrap();
    for wrong in [
        json!({"status": "ok", "num_docs": 3, "uptime_s": 1.5, "extra": 1}),
        json!({"status": "ok", "uptime_s": 1.5}),
        json!({"status": "ok", "num_docs": "3", "uptime_s": 1.5}),
        json!({"status": "ok", "num_docs": -3, "uptime_s": 1.5}),
    ] {
        assert!(
            validate(&spec, &health, &wrong, "$").is_err(),
            "{wrong} passed"
        );
    }
    let hit = json!({"$ref": "#/components/schemas/SearchHit"});
    let mut h = json!({"rank": 1, "doc_id": "d", "score": -1.5, "docid": [1, 2], "title": ""});
    validate(&spec, &hit, &h, "$").unwrap();
    h["docid"] = json!(["1"]);
    assert!(validate(&spec, &hit, &h, "$").is_err());
}

#[test]
fn a_restart_sees_added_documents_in_every_view() {
    let server = serve(6, true, |_| {});
    let text = "zulu yankee xray whiskey victor uniform";
    let (status, _) = call_json(
        "POST",
        &server.url("/documents"),
        Some(&json!([{"_id": "late", "title": "", "text": text}]).to_string()),
    );
    assert_eq!(status, 200);
    let common::TestServer {
        running,
        index_dir,
        dir,
    } = server;
    let mut args = genret_serve::Args::for_index(index_dir.clone());
    args.addr = "127.0.0.1:0".parse().unwrap();
    args.bm25 = true;
    args.dense = true;
    args.dense_model = Some(dir.path().join("dense-model").display().to_string());
    args.dense_max_len = 32;
    args.dense_cache = Some(dir.path().join("dense-cache"));
    running.stop().unwrap();
    // The dense cache covers the first 6 documents; the restart encodes only the added one.
    let again = genret_serve::start(args).unwrap();
    for system in ["genret", "bm25", "dense"] {
        let (status, value) = call_json(
            "POST",
            &format!("{}/search", again.url()),
            Some(&json!({"query": text, "system": system, "k": 1000, "beam": 1000}).to_string()),
        );
        assert_eq!(status, 200, "{value}");
        let hits = value["results"][0]["hits"].as_array().unwrap();
        if system != "bm25" {
            assert_eq!(hits.len(), 7, "{system} sees every document");
        }
        if system != "genret" {
            assert_eq!(hits[0]["doc_id"], "late", "{system}");
        }
    }
    again.stop().unwrap();
}
