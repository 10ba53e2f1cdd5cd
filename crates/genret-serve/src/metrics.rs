//! Prometheus metrics, in the text exposition format at `GET /metrics`.
//!
//! Requests are counted and timed by route template (`/documents/{id}`, never the id itself,
//! so the number of series stays bounded), method and status. The model queues report their
//! depth, the sizes of the batches the model was called with, and refusals, straight from the
//! pipeline's [`QueueStats`] counters, read when scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use genret_pipeline::queue::BATCH_BUCKETS;
use genret_pipeline::QueueStats;

/// Upper bounds (seconds) of the request latency histogram.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Non-cumulative counts per bucket of [`LATENCY_BUCKETS`], then the overflow.
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

/// Request counters and latency histograms.
#[derive(Debug, Default)]
pub struct Metrics {
    /// By (route, method, status).
    requests: Mutex<BTreeMap<(String, String, u16), Histogram>>,
    in_flight: AtomicI64,
}

/// Queue figures of one system, for [`Metrics::render`].
pub struct QueueView<'a> {
    pub system: &'a str,
    pub stats: &'a QueueStats,
}

impl Metrics {
    pub fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn finished(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(LATENCY_BUCKETS.len());
        // A poisoned lock only means another request panicked while counting: keep counting.
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let h = map
            .entry((route.to_string(), method.to_string(), status))
            .or_default();
        h.buckets[bucket] += 1;
        h.sum += seconds;
        h.count += 1;
    }

    /// The exposition text: requests, then each queue, then `num_docs`.
    pub fn render(&self, queues: &[QueueView], num_docs: usize) -> String {
        let mut out = String::new();
        let map = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let _ = writeln!(
            out,
            "# HELP genret_http_requests_total HTTP requests answered, by route, method and status.\n# TYPE genret_http_requests_total counter"
        );
        for ((route, method, status), h) in &map {
            let _ = writeln!(
                out,
                "genret_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {}",
                escape(route),
                h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP genret_http_request_duration_seconds Time to answer a request, by route, method and status.\n# TYPE genret_http_request_duration_seconds histogram"
        );
        for ((route, method, status), h) in &map {
            let labels = format!(
                "route=\"{}\",method=\"{method}\",status=\"{status}\"",
                escape(route)
            );
            let mut cumulative = 0;
            for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i];
                let _ = writeln!(
                    out,
                    "genret_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "genret_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\ngenret_http_request_duration_seconds_sum{{{labels}}} {}\ngenret_http_request_duration_seconds_count{{{labels}}} {}",
                h.count, h.sum, h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP genret_http_requests_in_flight Requests being answered.\n# TYPE genret_http_requests_in_flight gauge\ngenret_http_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );

        let _ = writeln!(
            out,
            "# HELP genret_queue_depth Requests waiting for a system's model worker.\n# TYPE genret_queue_depth gauge"
        );
        for q in queues {
            let _ = writeln!(
                out,
                "genret_queue_depth{{system=\"{}\"}} {}",
                q.system,
                q.stats.queued.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP genret_queue_refused_total Requests refused because a queue was full.\n# TYPE genret_queue_refused_total counter"
        );
        for q in queues {
            let _ = writeln!(
                out,
                "genret_queue_refused_total{{system=\"{}\"}} {}",
                q.system,
                q.stats.refused.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP genret_batch_size Queries per model call (concurrent requests batched together).\n# TYPE genret_batch_size histogram"
        );
        for q in queues {
            let mut cumulative = 0;
            for (i, &le) in BATCH_BUCKETS.iter().enumerate() {
                cumulative += q.stats.batch_sizes[i].load(Ordering::Relaxed);
                let le = if le == usize::MAX {
                    "+Inf".to_string()
                } else {
                    le.to_string()
                };
                let _ = writeln!(
                    out,
                    "genret_batch_size_bucket{{system=\"{}\",le=\"{le}\"}} {cumulative}",
                    q.system
                );
            }
            let _ = writeln!(
                out,
                "genret_batch_size_sum{{system=\"{0}\"}} {1}\ngenret_batch_size_count{{system=\"{0}\"}} {2}",
                q.system,
                q.stats.queries.load(Ordering::Relaxed),
                q.stats.batches.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP genret_documents Documents in the index.\n# TYPE genret_documents gauge\ngenret_documents {num_docs}"
        );
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_complete() {
        let m = Metrics::default();
        m.started();
        m.finished("/search", "POST", 200, Duration::from_millis(3));
        m.started();
        m.finished("/search", "POST", 200, Duration::from_secs(60));
        let stats = QueueStats::default();
        let text = m.render(
            &[QueueView {
                system: "genret",
                stats: &stats,
            }],
            5,
        );
        assert!(text.contains(
            "genret_http_requests_total{route=\"/search\",method=\"POST\",status=\"200\"} 2"
        ));
        assert!(text.contains("le=\"0.005\"} 1\n"), "{text}");
        assert!(text.contains("le=\"30\"} 1\n"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 2\n"), "{text}");
        assert!(text.contains("genret_queue_depth{system=\"genret\"} 0"));
        assert!(text.contains("genret_batch_size_bucket{system=\"genret\",le=\"+Inf\"} 0"));
        assert!(text.contains("genret_documents 5"));
        assert!(text.contains("genret_http_requests_in_flight 0"));
    }
}
