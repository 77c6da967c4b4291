//! The load generator: one HTTP/1.1 keep-alive connection per worker (hyper's client connection,
//! no pool), each worker driving a [`Flow`] in a closed loop (send, wait, send again) or paced at a
//! fixed interval. Latencies are recorded per request in microseconds and merged afterwards.
//!
//! Paced workers measure latency from the *scheduled* send time, not the actual one: when the
//! server stalls, the requests that should have gone out meanwhile are charged the wait
//! (no coordinated omission). It judges answers only through [`Flow::done`]; what a scenario
//! expects is the flow's business.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio::time::Instant;

/// One request as the load generator sends it.
pub type Req = Request<Full<Bytes>>;

/// What one worker does: produce requests and judge their answers.
pub trait Flow: Send + 'static {
    /// The next request, or `None` when this worker has nothing left to do.
    fn next(&mut self) -> Option<Req>;

    /// Judges the answer to the request last returned by [`Flow::next`]; `true` when it is the
    /// expected one. A flow that carries state from one answer to the next (a refresh chain)
    /// takes it from `body` here.
    fn done(&mut self, status: StatusCode, _body: &Bytes) -> bool {
        status.is_success()
    }
}

/// How long and how fast the workers run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Stop sending after this long; `None`: until every flow says it is finished.
    pub duration: Option<Duration>,
    /// Each worker sends one request per interval instead of back to back.
    pub interval: Option<Duration>,
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Outcome {
    pub ok: u64,
    pub errors: u64,
    /// Errors by kind: an HTTP status (`503`) or a transport failure (`io`).
    pub error_kinds: BTreeMap<String, u64>,
    /// Latencies of the successful requests, microseconds, sorted.
    pub latencies_us: Vec<u32>,
    pub elapsed: Duration,
}

impl Outcome {
    #[must_use]
    pub fn rps(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.ok as f64 / s
        } else {
            0.0
        }
    }

    /// The `q` quantile (0..=1) of the successful requests' latencies.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.latencies_us.is_empty() {
            return None;
        }
        let last = self.latencies_us.len() - 1;
        // Nearest-rank: the smallest value with at least q of the samples at or below it.
        let rank = ((q * self.latencies_us.len() as f64).ceil() as usize).clamp(1, last + 1) - 1;
        Some(Duration::from_micros(u64::from(self.latencies_us[rank])))
    }

    #[must_use]
    pub fn max(&self) -> Option<Duration> {
        self.latencies_us
            .last()
            .map(|&us| Duration::from_micros(u64::from(us)))
    }

    /// `503×12, io×1`, or empty when nothing failed.
    #[must_use]
    pub fn error_summary(&self) -> String {
        self.error_kinds
            .iter()
            .map(|(k, n)| format!("{k}×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Adds another run of the same kind (one slice of an alternating comparison).
    pub fn absorb(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.errors += other.errors;
        for (k, n) in other.error_kinds {
            *self.error_kinds.entry(k).or_default() += n;
        }
        self.latencies_us.extend(other.latencies_us);
        self.latencies_us.sort_unstable();
        self.elapsed += other.elapsed;
    }

    fn merge(&mut self, other: WorkerOut) {
        self.ok += other.ok;
        self.errors += other.errors;
        for (k, n) in other.error_kinds {
            *self.error_kinds.entry(k).or_default() += n;
        }
        self.latencies_us.extend(other.latencies_us);
    }
}

#[derive(Default)]
struct WorkerOut {
    ok: u64,
    errors: u64,
    error_kinds: BTreeMap<String, u64>,
    latencies_us: Vec<u32>,
}

impl WorkerOut {
    fn error(&mut self, kind: String) {
        self.errors += 1;
        *self.error_kinds.entry(kind).or_default() += 1;
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Conn {
    /// Opens a connection (with `TCP_NODELAY`: requests are small and latency matters).
    ///
    /// # Errors
    /// The connect or handshake failure, as text.
    pub async fn open(addr: SocketAddr) -> Result<Self, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { sender, driver })
    }

    /// Sends one request and reads the whole answer.
    ///
    /// # Errors
    /// A transport failure, as text; the connection is then unusable.
    pub async fn send(&mut self, req: Req) -> Result<(StatusCode, Bytes), String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    }
}

/// Builds a request to this server (HTTP/1.1 needs a `Host`).
#[must_use]
pub fn request(
    method: &str,
    path: &str,
    bearer: Option<&hyper::http::HeaderValue>,
    json: Option<Bytes>,
) -> Req {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, "127.0.0.1");
    if let Some(v) = bearer {
        b = b.header(hyper::header::AUTHORIZATION, v.clone());
    }
    let body = match json {
        Some(j) => {
            b = b.header(hyper::header::CONTENT_TYPE, "application/json");
            j
        }
        None => Bytes::new(),
    };
    b.body(Full::new(body))
        .unwrap_or_else(|e| unreachable!("static request parts are valid: {e}"))
}

/// Sends one request on a fresh connection.
///
/// # Errors
/// A transport failure, as text.
pub async fn once(addr: SocketAddr, req: Req) -> Result<(StatusCode, Bytes), String> {
    Conn::open(addr).await?.send(req).await
}

/// Runs `flows`, one connection each, under `plan`. All connections are opened before the clock
/// starts, so connection setup is not measured.
///
/// # Errors
/// When a connection cannot be opened at all.
pub async fn run(
    addr: SocketAddr,
    flows: Vec<Box<dyn Flow>>,
    plan: Plan,
) -> Result<Outcome, String> {
    let n = flows.len();
    let barrier = Arc::new(Barrier::new(n + 1));
    let mut handles = Vec::with_capacity(n);
    for (i, flow) in flows.into_iter().enumerate() {
        let barrier = Arc::clone(&barrier);
        // Spread paced workers evenly over one interval, so they do not all fire together.
        let offset = plan
            .interval
            .map_or(Duration::ZERO, |iv| iv.mul_f64(i as f64 / n.max(1) as f64));
        handles.push(tokio::spawn(worker(addr, flow, barrier, plan, offset)));
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut out = Outcome::default();
    let mut failure = None;
    for h in handles {
        match h.await {
            Ok(Ok(w)) => out.merge(w),
            Ok(Err(e)) => failure = Some(e),
            Err(e) => failure = Some(format!("load worker failed: {e}")),
        }
    }
    out.elapsed = start.elapsed();
    if let Some(e) = failure {
        return Err(e);
    }
    out.latencies_us.sort_unstable();
    Ok(out)
}

async fn worker(
    addr: SocketAddr,
    mut flow: Box<dyn Flow>,
    barrier: Arc<Barrier>,
    plan: Plan,
    offset: Duration,
) -> Result<WorkerOut, String> {
    let opened = Conn::open(addr).await;
    // Everyone reaches the barrier, even a worker whose connection failed, or the run would hang.
    barrier.wait().await;
    let mut conn = Some(opened?);
    let start = Instant::now();
    let deadline = plan.duration.map(|d| start + d);
    let mut out = WorkerOut::default();
    let mut k: u32 = 0;
    loop {
        let scheduled = match plan.interval {
            Some(iv) => {
                let t = start + offset + iv * k;
                tokio::time::sleep_until(t).await;
                t
            }
            None => Instant::now(),
        };
        if deadline.is_some_and(|d| scheduled >= d) {
            break;
        }
        let Some(req) = flow.next() else { break };
        k = k.saturating_add(1);
        let c = match conn.take() {
            Some(c) => c,
            None => match Conn::open(addr).await {
                Ok(c) => c,
                Err(e) => {
                    out.error(format!("io ({e})"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let mut c = c;
        match c.send(req).await {
            Ok((status, body)) => {
                let latency = scheduled.elapsed();
                if flow.done(status, &body) {
                    out.ok += 1;
                    out.latencies_us
                        .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
                } else {
                    out.error(status.as_u16().to_string());
                }
                conn = Some(c);
            }
            Err(e) => {
                // The connection is gone (the server closed it, or it broke): open a new one.
                out.error(format!("io ({e})"));
            }
        }
    }
    Ok(out)
}
