//! A bounded load test of `genret serve`: a fixed number of `POST /search` requests at a given
//! concurrency (one keep-alive connection per client thread), queries taken in turn from a
//! BEIR `queries.jsonl`. Prints one markdown table row per level: throughput, p50 and p99
//! latency, and errors (any non-200 answer or failed connection).
//!
//! ```text
//! cargo run --release -p genret-serve --example load -- --addr 127.0.0.1:8080 \
//!     --queries ../shared/data/scifact/queries.jsonl --system genret --concurrency 1,8,32
//! ```
//!
//! Only loopback addresses are accepted: this is a benchmark of a local server, not a tool to
//! load anyone else's.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use genret_pipeline::records::{ms, quantile};
use genret_serve::client::Connection;

#[derive(Parser, Debug)]
#[command(about = "Bounded load test of genret serve's POST /search (127.0.0.1 only)")]
struct Cli {
    /// The server (a loopback address).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// BEIR queries.jsonl whose `text` fields are sent in turn.
    #[arg(long)]
    queries: PathBuf,
    /// `system` of each request.
    #[arg(long, default_value = "genret")]
    system: String,
    /// Concurrency levels (client threads), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    concurrency: Vec<usize>,
    /// Requests per level (at least the concurrency).
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Documents per query.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Requests sent before each level and not counted (warms caches and connections).
    #[arg(long, default_value_t = 8)]
    warmup: usize,
    /// A label for the table's first column (e.g. the server's batching).
    #[arg(long, default_value = "")]
    label: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(
        cli.addr.ip().is_loopback(),
        "--addr must be a loopback address (127.0.0.1 or ::1)"
    );
    let queries: Vec<String> = std::fs::read_to_string(&cli.queries)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            Ok(v["text"].as_str().unwrap_or_default().to_string())
        })
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .filter(|q| !q.trim().is_empty())
        .collect();
    anyhow::ensure!(
        !queries.is_empty(),
        "no queries in {}",
        cli.queries.display()
    );
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        queries
            .iter()
            .map(|q| {
                serde_json::json!({"query": q, "k": cli.k, "system": cli.system})
                    .to_string()
                    .into_bytes()
            })
            .collect(),
    );
    for &concurrency in &cli.concurrency {
        let concurrency = concurrency.max(1);
        let total = cli.requests.max(concurrency);
        // Warm-up, not counted.
        let mut conn = Connection::new(cli.addr, Duration::from_secs(120));
        for i in 0..cli.warmup {
            let _ = conn.request("POST", "/search", Some(&bodies[i % bodies.len()]));
        }
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let threads: Vec<_> = (0..concurrency)
            .map(|t| {
                let (next, bodies, addr) = (next.clone(), bodies.clone(), cli.addr);
                std::thread::spawn(move || {
                    let mut conn = Connection::new(addr, Duration::from_secs(120));
                    let mut latencies = Vec::new();
                    let mut errors = 0usize;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= total {
                            break;
                        }
                        // Each thread starts at its own offset so concurrent requests differ.
                        let body = &bodies[(i * 7 + t) % bodies.len()];
                        let sent = Instant::now();
                        match conn.request("POST", "/search", Some(body)) {
                            Ok(a) if a.status == 200 => latencies.push(sent.elapsed()),
                            Ok(a) => {
                                errors += 1;
                                eprintln!("error: {} {}", a.status, a.text());
                            }
                            Err(e) => {
                                errors += 1;
                                eprintln!("error: {e}");
                            }
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(total);
        let mut errors = 0;
        for t in threads {
            let (l, e) = t
                .join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
            latencies.extend(l);
            errors += e;
        }
        let elapsed = start.elapsed().as_secs_f64();
        latencies.sort();
        let pct = |p: f64| -> f64 {
            if latencies.is_empty() {
                return f64::NAN;
            }
            ms(quantile(&latencies, p))
        };
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {} |",
            cli.label,
            cli.system,
            concurrency,
            total,
            total as f64 / elapsed,
            pct(0.5),
            pct(0.99),
            errors
        );
    }
    Ok(())
}
