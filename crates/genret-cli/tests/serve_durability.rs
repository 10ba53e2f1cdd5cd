//! `genret serve` killed with SIGKILL during a stream of adds, then started again.
//!
//! Every add the server acknowledged must be there after the restart; a batch that was sent but
//! not acknowledged is there whole or not at all; the index opens without repair (the restarted
//! server opens it, and `genret index verify` passes after a graceful stop).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use genret_index::testing::{tiny_index, ScratchDir};
use genret_serve::client::{request, Connection};

const INITIAL: usize = 8;
const BATCH: usize = 4;
const ADDERS: usize = 2;

/// Starts `genret serve` on an ephemeral port; returns the child and its address (read from
/// its log), with the rest of the log copied into `log`.
fn start(index: &std::path::Path, log: Arc<Mutex<String>>) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_genret"))
        .args(["serve", "--index"])
        .arg(index)
        .args(["--addr", "127.0.0.1:0", "--bm25", "--add-batch-size", "2"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("on http://").nth(1) {
                if let (Some(tx), Some(addr)) = (tx.take(), rest.split_whitespace().next()) {
                    let _ = tx.send(addr.parse::<SocketAddr>().unwrap());
                }
            }
            log.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the server did not say where it listens");
    (child, addr)
}

fn body(batch: usize, adder: usize) -> String {
    (0..BATCH)
        .map(|i| {
            format!(
                "{}\n",
                serde_json::json!({"_id": format!("a{adder}-b{batch}-{i}"), "title": format!("Batch {batch} of {adder}"), "text": genret_index::testing::text(batch * 3 + i)})
            )
        })
        .collect()
}

#[test]
fn sigkill_during_adds_loses_nothing_acknowledged_and_tears_no_batch() {
    let tmp = ScratchDir::new("serve-kill").unwrap();
    let (index, dir) = tiny_index(tmp.path(), "idx", INITIAL).unwrap();
    drop(index);
    let log = Arc::new(Mutex::new(String::new()));
    let (mut child, addr) = start(&dir, log.clone());

    // Adders send batches one after another until the server dies under them.
    let acknowledged = Arc::new(Mutex::new(Vec::<(usize, usize)>::new()));
    let sent = Arc::new(Mutex::new(Vec::<(usize, usize)>::new()));
    let dead = Arc::new(AtomicBool::new(false));
    let adders: Vec<_> = (0..ADDERS)
        .map(|a| {
            let (acknowledged, sent, dead) = (acknowledged.clone(), sent.clone(), dead.clone());
            std::thread::spawn(move || {
                let mut conn = Connection::new(addr, Duration::from_secs(30));
                for b in 0.. {
                    if dead.load(Ordering::Acquire) {
                        return;
                    }
                    sent.lock().unwrap().push((a, b));
                    match conn.request("POST", "/documents", Some(body(b, a).as_bytes())) {
                        Ok(answer) if answer.status == 200 => {
                            acknowledged.lock().unwrap().push((a, b))
                        }
                        Ok(answer) => panic!("add refused: {} {}", answer.status, answer.text()),
                        Err(_) => return, // killed mid-request
                    }
                }
            })
        })
        .collect();
    // Let some adds through, then kill without warning.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 6 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    dead.store(true, Ordering::Release);
    child.wait().unwrap();
    for a in adders {
        a.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let sent = sent.lock().unwrap().clone();
    assert!(acknowledged.len() >= 6, "too few adds before the kill");

    // Restart on the same index: it opens (checksums and store verified at open).
    let (mut child, addr) = start(&dir, log.clone());
    let mut whole_unacknowledged = 0;
    for &(a, b) in &sent {
        let present = (0..BATCH)
            .filter(|i| {
                let answer =
                    request(addr, "GET", &format!("/documents/a{a}-b{b}-{i}"), None).unwrap();
                assert!(matches!(answer.status, 200 | 404), "{}", answer.text());
                answer.status == 200
            })
            .count();
        if acknowledged.contains(&(a, b)) {
            assert_eq!(
                present,
                BATCH,
                "acknowledged batch {a}/{b} lost {} documents",
                BATCH - present
            );
        } else {
            assert!(
                present == 0 || present == BATCH,
                "unacknowledged batch {a}/{b} is half there ({present} of {BATCH})"
            );
            whole_unacknowledged += usize::from(present == BATCH);
        }
    }
    let health = request(addr, "GET", "/health", None)
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        health["num_docs"].as_u64().unwrap() as usize,
        INITIAL + (acknowledged.len() + whole_unacknowledged) * BATCH
    );
    // Found by search too (BM25 view rebuilt from the store at start).
    let &(a, b) = acknowledged.last().unwrap();
    let found = request(
        addr,
        "POST",
        "/search",
        Some(
            serde_json::json!({"query": format!("Batch {b} of {a}"), "system": "bm25", "k": 50})
                .to_string()
                .as_bytes(),
        ),
    )
    .unwrap()
    .json()
    .unwrap();
    let ids: Vec<&str> = found["results"][0]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["doc_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&format!("a{a}-b{b}-0").as_str()), "{ids:?}");

    // A graceful stop (SIGTERM) closes the index; it verifies clean.
    let pid = child.id() as i32;
    assert_eq!(unsafe { libc_kill(pid, 15) }, 0);
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "SIGTERM: {status:?}\n{}",
        log.lock().unwrap()
    );
    assert!(
        log.lock().unwrap().contains("closed the index"),
        "{}",
        log.lock().unwrap()
    );
    let verify = Command::new(env!("CARGO_BIN_EXE_genret"))
        .args(["index", "verify", "--index"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "index verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
