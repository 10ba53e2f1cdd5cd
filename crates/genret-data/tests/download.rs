//! Datasets by name: download from an archive server (a local one here), unpack, resolve; and
//! the failures: offline, unreachable, a broken archive.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::thread::JoinHandle;

use genret_data::{Dataset, DatasetSource, ResolveOptions};

/// A zip with the layout of BEIR's `scifact.zip`: a top folder `scifact/` with the dataset.
fn beir_zip(top: &str) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let files: [(&str, String); 3] = [
        (
            "corpus.jsonl",
            (0..50).map(|i| format!("{{\"_id\": \"{i}\", \"title\": \"t{i}\", \"text\": \"body of document {i}\"}}\n")).collect(),
        ),
        ("queries.jsonl", "{\"_id\": \"1\", \"text\": \"first\"}\n{\"_id\": \"2\", \"text\": \"second\"}\n".into()),
        ("qrels/test.tsv", "query-id\tcorpus-id\tscore\n1\t3\t1\n2\t4\t1\n2\t5\t1\n".into()),
    ];
    zip.add_directory(format!("{top}/"), deflated).unwrap();
    zip.add_directory(format!("{top}/qrels/"), deflated)
        .unwrap();
    for (name, text) in files {
        zip.start_file(format!("{top}/{name}"), deflated).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// Serves `body` (with a `Content-Length` of `declared` bytes) to each of `requests` requests
/// on 127.0.0.1; returns the base URL and the paths that were asked for.
fn serve(
    body: Vec<u8>,
    declared: usize,
    status: &'static str,
    requests: usize,
) -> (String, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/beir", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut paths = Vec::new();
        for _ in 0..requests {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            paths.push(
                request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_string(),
            );
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
            }
            let mut stream = stream;
            let head = format!("HTTP/1.1 {status}\r\nContent-Type: application/zip\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
            let _ = stream.flush();
        }
        paths
    });
    (base, handle)
}

fn options(home: &Path, base_url: String) -> ResolveOptions {
    ResolveOptions {
        home: home.to_path_buf(),
        offline: false,
        base_url,
        progress: false,
    }
}

/// Everything under the cache's `datasets` folder (hidden staging folders included).
fn cache_entries(home: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(home.join("datasets"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn named_dataset_is_downloaded_unpacked_and_resolved() {
    let home = tempfile::tempdir().unwrap();
    let body = beir_zip("scifact");
    let (base, server) = serve(body.clone(), body.len(), "200 OK", 1);
    let opts = options(home.path(), base);
    let ds = Dataset::resolve_with(&DatasetSource::Named("scifact".into()), &opts).unwrap();
    assert_eq!(server.join().unwrap(), ["/beir/scifact.zip"]);
    assert_eq!(ds.name, "scifact");
    assert_eq!(ds.root, home.path().join("datasets/scifact"));
    assert_eq!(
        cache_entries(home.path()),
        ["scifact"],
        "the staging folder and the zip are gone"
    );

    let split = ds.load_split("test", true).unwrap();
    assert_eq!(split.corpus.len(), 50);
    assert_eq!(split.queries.len(), 2);
    assert_eq!(split.qrels.num_judgements(), 3);

    // Second time: from the cache, no server.
    let again = Dataset::resolve_with(&DatasetSource::Named("scifact".into()), &opts).unwrap();
    assert_eq!(again.root, ds.root);
    let offline = ResolveOptions {
        offline: true,
        ..opts
    };
    assert!(Dataset::resolve_with(&DatasetSource::Named("scifact".into()), &offline).is_ok());
}

#[test]
fn archive_whose_top_folder_has_another_name_is_accepted() {
    let home = tempfile::tempdir().unwrap();
    let body = beir_zip("SciFact-v1");
    let (base, server) = serve(body.clone(), body.len(), "200 OK", 1);
    let ds = Dataset::resolve_with(
        &DatasetSource::Named("scifact".into()),
        &options(home.path(), base),
    )
    .unwrap();
    server.join().unwrap();
    assert_eq!(ds.load_corpus().unwrap().len(), 50);
}

fn assert_no_dataset_left(home: &Path) {
    let entries = cache_entries(home);
    assert!(entries.is_empty(), "left behind: {entries:?}");
}

#[test]
fn truncated_zip_leaves_no_half_written_dataset() {
    let home = tempfile::tempdir().unwrap();
    let body = beir_zip("scifact");
    let cut = body[..body.len() * 2 / 3].to_vec();
    // The server declares the length of what it sends: the archive itself is cut short.
    let (base, server) = serve(cut.clone(), cut.len(), "200 OK", 1);
    let err = Dataset::resolve_with(
        &DatasetSource::Named("scifact".into()),
        &options(home.path(), base),
    )
    .unwrap_err();
    server.join().unwrap();
    let msg = err.to_string();
    assert!(msg.contains("zip") && msg.contains("scifact.zip"), "{msg}");
    assert_no_dataset_left(home.path());
}

#[test]
fn corrupt_zip_entry_leaves_no_half_written_dataset() {
    let home = tempfile::tempdir().unwrap();
    let mut body = beir_zip("scifact");
    // Flip bytes inside the first file's compressed data: the central directory still reads,
    // the entry's inflate or CRC check fails.
    for b in &mut body[120..160] {
        *b ^= 0x5a;
    }
    let (base, server) = serve(body.clone(), body.len(), "200 OK", 1);
    let err = Dataset::resolve_with(
        &DatasetSource::Named("scifact".into()),
        &options(home.path(), base),
    )
    .unwrap_err();
    server.join().unwrap();
    assert!(err.to_string().contains("zip"), "{err}");
    assert_no_dataset_left(home.path());
}

#[test]
fn connection_closed_early_leaves_nothing() {
    let home = tempfile::tempdir().unwrap();
    let body = beir_zip("scifact");
    let declared = body.len();
    let (base, server) = serve(body[..declared / 2].to_vec(), declared, "200 OK", 1);
    let err = Dataset::resolve_with(
        &DatasetSource::Named("scifact".into()),
        &options(home.path(), base),
    )
    .unwrap_err();
    server.join().unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("--data DIR") && msg.contains("scifact.zip"),
        "{msg}"
    );
    assert_no_dataset_left(home.path());
}

#[test]
fn html_instead_of_zip_is_rejected() {
    let home = tempfile::tempdir().unwrap();
    let body = b"<html>captive portal</html>".to_vec();
    let (base, server) = serve(body.clone(), body.len(), "200 OK", 1);
    let err = Dataset::resolve_with(
        &DatasetSource::Named("nfcorpus".into()),
        &options(home.path(), base),
    )
    .unwrap_err();
    server.join().unwrap();
    assert!(err.to_string().contains("not a zip archive"), "{err}");
    assert_no_dataset_left(home.path());
}

#[test]
fn http_error_names_both_ways_out() {
    let home = tempfile::tempdir().unwrap();
    let (base, server) = serve(b"not here".to_vec(), 8, "404 Not Found", 1);
    let err = Dataset::resolve_with(
        &DatasetSource::Named("fiqa".into()),
        &options(home.path(), base.clone()),
    )
    .unwrap_err();
    server.join().unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("404") && msg.contains(&format!("{base}/fiqa.zip")),
        "{msg}"
    );
    assert!(
        msg.contains("connect to the internet") && msg.contains("--data DIR"),
        "{msg}"
    );
    assert_no_dataset_left(home.path());
}

#[test]
fn unreachable_server_is_one_clear_error() {
    let home = tempfile::tempdir().unwrap();
    // A port nobody listens on: bind, note the port, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}/beir");
    let err = Dataset::resolve_with(
        &DatasetSource::Named("arguana".into()),
        &options(home.path(), base.clone()),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&format!("{base}/arguana.zip")), "{msg}");
    assert!(
        msg.contains("connect to the internet") && msg.contains("--data DIR"),
        "{msg}"
    );
    assert!(
        msg.contains(&home.path().join("datasets/arguana").display().to_string()),
        "{msg}"
    );
    assert_no_dataset_left(home.path());
}

/// The real archive, from this machine: with the network (CI has none) this downloads
/// SciFact; without it, the error must be the one clear message. Either way no panic and no
/// half-written folder. Skipped unless GENRET_TEST_REAL_ARCHIVE=1, since it may download.
#[test]
fn real_archive_or_clear_error() {
    if std::env::var("GENRET_TEST_REAL_ARCHIVE").as_deref() != Ok("1") {
        eprintln!("note: set GENRET_TEST_REAL_ARCHIVE=1 to try the public BEIR archive");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let opts = ResolveOptions {
        home: home.path().to_path_buf(),
        progress: true,
        ..ResolveOptions::from_env()
    };
    match Dataset::resolve_with(&DatasetSource::Named("scifact".into()), &opts) {
        Ok(ds) => assert_eq!(ds.load_corpus().unwrap().len(), 5183),
        Err(e) => {
            let msg = e.to_string();
            eprintln!("{msg}");
            assert!(
                msg.contains("scifact.zip") && msg.contains("--data DIR"),
                "{msg}"
            );
            assert_no_dataset_left(home.path());
        }
    }
}

#[test]
fn offline_with_nothing_cached_names_both_ways_out() {
    let home = tempfile::tempdir().unwrap();
    let opts = ResolveOptions {
        offline: true,
        ..options(home.path(), "http://127.0.0.1:9/beir".into())
    };
    let msg = Dataset::resolve_with(&DatasetSource::Named("scifact".into()), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("GENRET_OFFLINE") && msg.contains("--data DIR") && msg.contains("scifact.zip"),
        "{msg}"
    );
}

#[test]
fn unknown_name_lists_known_names() {
    let home = tempfile::tempdir().unwrap();
    let opts = options(home.path(), "http://127.0.0.1:9/beir".into());
    let msg = Dataset::resolve_with(&DatasetSource::Named("scifakt".into()), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("unknown dataset `scifakt`")
            && msg.contains("scifact")
            && msg.contains("trec-covid"),
        "{msg}"
    );
}

#[test]
fn data_dir_reads_a_local_folder_with_gzip_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mydata");
    std::fs::create_dir_all(root.join("qrels")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(b"{\"_id\": \"d1\", \"text\": \"a\"}\n")
        .unwrap();
    std::fs::write(root.join("corpus.jsonl.gz"), enc.finish().unwrap()).unwrap();
    std::fs::write(
        root.join("queries.jsonl"),
        "{\"_id\": \"q1\", \"text\": \"x\"}\n",
    )
    .unwrap();
    std::fs::write(
        root.join("qrels/test.tsv"),
        "query-id\tcorpus-id\tscore\nq1\td1\t1\n",
    )
    .unwrap();
    let ds = Dataset::resolve_with(
        &DatasetSource::Dir(root.clone()),
        &ResolveOptions::from_env(),
    )
    .unwrap();
    assert_eq!(ds.name, "mydata");
    assert!(ds.corpus_path().unwrap().ends_with("corpus.jsonl.gz"));
    assert_eq!(ds.splits(), ["test"]);
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(ds.corpus_path().unwrap()).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(ds.load_split("test", true).unwrap().corpus.len(), 1);
}

#[test]
fn folder_placed_in_the_cache_by_hand_is_found_by_name() {
    let home = tempfile::tempdir().unwrap();
    let root = home.path().join("datasets/my-corpus");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("corpus.jsonl"),
        "{\"_id\": \"d1\", \"text\": \"a\"}\n",
    )
    .unwrap();
    let opts = ResolveOptions {
        offline: true,
        ..options(home.path(), "http://127.0.0.1:9/beir".into())
    };
    let ds = Dataset::resolve_with(&DatasetSource::Named("my-corpus".into()), &opts).unwrap();
    assert_eq!(
        (ds.name.as_str(), ds.root.as_path()),
        ("my-corpus", root.as_path())
    );
    assert!(
        Dataset::resolve_with(&DatasetSource::Named("../datasets/my-corpus".into()), &opts)
            .is_err()
    );
}
