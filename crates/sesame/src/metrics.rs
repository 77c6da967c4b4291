//! Prometheus metrics, kept in memory and rendered in the text exposition format (0.0.4) at
//! `GET /metrics` (see `http::meta::metrics`). No metrics crate: a handful of counters and one
//! histogram family, recorded once per request by the `observe` middleware.
//!
//! Labels are bounded: the route is the matched path template (`/api/v1/admin/users/{id}`,
//! never a concrete id) or `unmatched`, the method one of the standard ones or `other`, and the
//! status a number; nothing from a request's content becomes a label.

use crate::storage::session_cache::SessionCache;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Upper bounds (seconds) of the request-duration histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// One route template's counts for one method.
#[derive(Default)]
struct RouteStats {
    statuses: BTreeMap<u16, u64>,
    durations: Histogram,
}

/// route template → method → counts. Keys are allocated once per route, not per request.
type Recorded = BTreeMap<String, BTreeMap<&'static str, RouteStats>>;

/// Writes a family's `# HELP` and `# TYPE` lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// What the server counts; one per process, shared through `AppState`.
pub struct Metrics {
    recorded: Mutex<Recorded>,
    started_unix: f64,
    session_cache: Option<Arc<SessionCache>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The method as a bounded label.
#[must_use]
pub fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

impl Metrics {
    /// Starts counting now; `session_cache` is reported when the server has one.
    #[must_use]
    pub fn new(session_cache: Option<Arc<SessionCache>>) -> Self {
        Self {
            recorded: Mutex::new(Recorded::new()),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            session_cache,
        }
    }

    /// Counts one finished request.
    pub fn record(&self, method: &'static str, route: &str, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let mut routes = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        if !routes.contains_key(route) {
            routes.insert(route.to_owned(), BTreeMap::new());
        }
        let Some(methods) = routes.get_mut(route) else {
            return;
        };
        let stats = methods.entry(method).or_default();
        *stats.statuses.entry(status).or_insert(0) += 1;
        let h = &mut stats.durations;
        for (count, le) in h.counts.iter_mut().zip(BUCKETS) {
            if secs <= le {
                *count += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The text exposition format. `in_flight` is the number of requests being served now;
    /// `tasks` the number of request tasks still running (see `http/detach.rs`), which includes
    /// work whose client has gone.
    #[must_use]
    pub fn render(&self, in_flight: usize, tasks: usize) -> String {
        let mut out = String::with_capacity(4096);
        family(&mut out, "sesame_build_info", "gauge", "Sesame's version.");
        let _ = writeln!(
            out,
            "sesame_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        family(
            &mut out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch.",
        );
        let _ = writeln!(out, "process_start_time_seconds {}", self.started_unix);
        family(
            &mut out,
            "sesame_http_requests_in_flight",
            "gauge",
            "Requests being served now.",
        );
        let _ = writeln!(out, "sesame_http_requests_in_flight {in_flight}");
        family(
            &mut out,
            "sesame_http_request_tasks",
            "gauge",
            "Request tasks running, including those whose client disconnected or timed out.",
        );
        let _ = writeln!(out, "sesame_http_request_tasks {tasks}");
        {
            let routes = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
            family(
                &mut out,
                "sesame_http_requests_total",
                "counter",
                "Finished requests by method, route template and status.",
            );
            for (route, methods) in routes.iter() {
                let route = escape(route);
                for (method, stats) in methods {
                    for (status, n) in &stats.statuses {
                        let _ = writeln!(
                            out,
                            "sesame_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                        );
                    }
                }
            }
            family(
                &mut out,
                "sesame_http_request_duration_seconds",
                "histogram",
                "Time from request head to response, by method and route template.",
            );
            for (route, methods) in routes.iter() {
                let route = escape(route);
                for (method, stats) in methods {
                    let h = &stats.durations;
                    let labels = format!("method=\"{method}\",route=\"{route}\"");
                    for (le, n) in BUCKETS.iter().zip(h.counts) {
                        let _ = writeln!(
                            out,
                            "sesame_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}"
                        );
                    }
                    let _ = writeln!(
                        out,
                        "sesame_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                        h.count
                    );
                    let _ = writeln!(
                        out,
                        "sesame_http_request_duration_seconds_sum{{{labels}}} {}",
                        h.sum
                    );
                    let _ = writeln!(
                        out,
                        "sesame_http_request_duration_seconds_count{{{labels}}} {}",
                        h.count
                    );
                }
            }
        }
        if let Some(c) = &self.session_cache {
            let s = c.stats();
            family(
                &mut out,
                "sesame_session_cache_lookups_total",
                "counter",
                "Session checks by where they were answered.",
            );
            let _ = writeln!(
                out,
                "sesame_session_cache_lookups_total{{result=\"hit\"}} {}",
                s.hits
            );
            let _ = writeln!(
                out,
                "sesame_session_cache_lookups_total{{result=\"miss\"}} {}",
                s.misses
            );
            family(
                &mut out,
                "sesame_session_cache_entries",
                "gauge",
                "Sessions cached on this node.",
            );
            let _ = writeln!(out, "sesame_session_cache_entries {}", s.entries);
            family(
                &mut out,
                "sesame_session_cache_enabled",
                "gauge",
                "1 while this node answers session checks from memory.",
            );
            let _ = writeln!(out, "sesame_session_cache_enabled {}", u8::from(s.enabled));
        }
        out
    }
}

/// Escapes a label value (backslash, quote, newline), though route templates hold none.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_counted_once_and_lands_in_every_bucket_at_or_above_its_duration() {
        let m = Metrics::new(None);
        m.record("GET", "/x", 200, Duration::from_millis(7));
        m.record("GET", "/x", 404, Duration::from_millis(300));
        let text = m.render(3, 4);
        assert!(text.contains(
            "sesame_http_requests_total{method=\"GET\",route=\"/x\",status=\"200\"} 1\n"
        ));
        assert!(text.contains(
            "sesame_http_requests_total{method=\"GET\",route=\"/x\",status=\"404\"} 1\n"
        ));
        for (le, n) in [
            ("0.005", 0),
            ("0.01", 1),
            ("0.25", 1),
            ("0.5", 2),
            ("+Inf", 2),
        ] {
            let line = format!(
                "sesame_http_request_duration_seconds_bucket{{method=\"GET\",route=\"/x\",le=\"{le}\"}} {n}\n"
            );
            assert!(text.contains(&line), "missing {line} in\n{text}");
        }
        assert!(text.contains(
            "sesame_http_request_duration_seconds_count{method=\"GET\",route=\"/x\"} 2\n"
        ));
        assert!(text.contains("sesame_http_requests_in_flight 3\n"));
        assert!(text.contains("sesame_http_request_tasks 4\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
