//! What one client can hold, so that a slow or hostile client cannot starve the others.
//!
//! [`admit`] runs before the in-flight bound (`security::load_bounds`) and does three things, in
//! this order:
//!
//! 1. A request whose declared `Content-Length` is over the body limit is answered 413 at once,
//!    before a byte of its body is read (RFC 9110 §15.5.14; the connection is then closed, since
//!    the body is left unread).
//! 2. The client gets one of its [`ClientBounds::max_per_client`] slots, or 429 at once. The
//!    client is the address [`client_ip`] resolves, so behind a trusted proxy each real client
//!    has its own share, and IPv6 clients are counted by their /64 (one host usually owns a whole
//!    /64, so counting single addresses would let it take as many shares as it likes).
//! 3. The whole body is read, within the body limit and the body read deadline (413 and 408
//!    otherwise), and handed on in memory. Only then does the request ask for an in-flight
//!    permit, so a client dribbling its body holds its own slot, never a permit that other
//!    clients need.
//!
//! The probes (`/health/live`, `/health/ready`) are routed outside this layer and the in-flight
//! bound (see `http::app`), so they are answered however busy the server is.
//!
//! This module does not limit connections (the accept loop in `server.rs` bounds idle and
//! slow request heads with the header read timeout) nor request rates (`ratelimit.rs`).

use super::client_ip::client_ip;
use super::extract::ResolvedIp;
use super::problem::ApiError;
use super::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{CONNECTION, CONTENT_LENGTH};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Who a per-client share belongs to: an IPv4 address, or an IPv6 /64 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of a (resolved) client address; IPv4-mapped IPv6 counts as the IPv4 address.
    #[must_use]
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            v4 @ IpAddr::V4(_) => Self(v4),
            IpAddr::V6(v6) => Self(IpAddr::V6(Ipv6Addr::from(
                u128::from(v6) & (u128::MAX << 64),
            ))),
        }
    }
}

/// The per-client share and the body bounds, with the count of requests each client has open.
#[derive(Debug)]
pub struct ClientBounds {
    max_per_client: usize,
    body_read_timeout: Duration,
    max_body_bytes: usize,
    open: Mutex<HashMap<ClientKey, usize>>,
}

/// One open request of a client; dropping it (when the request ends or is abandoned) gives the
/// slot back.
#[derive(Debug)]
pub struct Slot {
    bounds: Arc<ClientBounds>,
    key: ClientKey,
}

impl ClientBounds {
    /// `max_per_client` requests open at once per client (at least 1), bodies of at most
    /// `max_body_bytes` that must arrive within `body_read_timeout`.
    #[must_use]
    pub fn new(max_per_client: usize, body_read_timeout: Duration, max_body_bytes: usize) -> Self {
        Self {
            max_per_client: max_per_client.max(1),
            body_read_timeout,
            max_body_bytes,
            open: Mutex::new(HashMap::new()),
        }
    }

    #[must_use]
    pub fn max_per_client(&self) -> usize {
        self.max_per_client
    }

    /// A slot for `key`, or `None` when the client already has all of its share open.
    #[must_use]
    pub fn enter(self: &Arc<Self>, key: ClientKey) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= self.max_per_client {
            return None;
        }
        *count += 1;
        Some(Slot {
            bounds: Arc::clone(self),
            key,
        })
    }

    /// Requests `key` has open now.
    #[must_use]
    pub fn open_for(&self, key: ClientKey) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&key).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .bounds
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            // No entry outlives its last request, so the map holds only clients with requests
            // open.
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// The declared body length, when the request declares one that parses. (hyper has already
/// refused a malformed or repeated `Content-Length`, RFC 9112 §6.3.)
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// How long, and how many bytes, the rest of a refused body is read and thrown away.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// Answers `error` at once while the rest of `body` is read and discarded in the background
/// (for at most [`LINGER_TIME`] and [`LINGER_BYTES`]), then the connection closes: a client
/// still sending when the server closes would get a TCP reset that destroys the answer
/// (RFC 9112 §9.6).
fn refuse_unread(error: ApiError, body: Body) -> Response {
    tokio::spawn(async move {
        let drain = Limited::new(body, LINGER_BYTES).collect();
        let _ = tokio::time::timeout(LINGER_TIME, drain).await;
    });
    let mut resp = error.into_response();
    resp.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Reads the whole body within the size limit and the deadline.
///
/// # Errors
/// [`ApiError::PayloadTooLarge`] past the limit, [`ApiError::SlowBody`] past the deadline,
/// [`ApiError::UnreadableBody`] when the connection fails mid-body; each as a response.
async fn read_body(
    mut body: Body,
    max_bytes: usize,
    deadline: Duration,
) -> Result<Bytes, Response> {
    let mut got = bytes::BytesMut::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                if got.len() + data.len() > max_bytes {
                    return Ok(false);
                }
                got.extend_from_slice(&data);
            }
        }
        Ok::<_, axum::Error>(true)
    };
    match tokio::time::timeout(deadline, read).await {
        Err(_) => Err(ApiError::SlowBody.into_response()),
        Ok(Ok(true)) => Ok(got.freeze()),
        Ok(Ok(false)) => Err(refuse_unread(ApiError::PayloadTooLarge, body)),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "request body could not be read");
            Err(ApiError::UnreadableBody.into_response())
        }
    }
}

/// The middleware described in the module header.
pub async fn admit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let bounds = &state.client_bounds;
    let max_body = u64::try_from(bounds.max_body_bytes).unwrap_or(u64::MAX);
    if declared_length(req.headers()).is_some_and(|n| n > max_body) {
        return refuse_unread(ApiError::PayloadTooLarge, req.into_body());
    }
    // Every request the accept loop serves carries its peer; one built without it (only in
    // unit tests of other layers) has no client to count.
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let _slot = match peer {
        Some(peer) => {
            // `observe` (outside) has usually resolved it already.
            let client = match req.extensions().get::<ResolvedIp>() {
                Some(ResolvedIp(ip)) => *ip,
                None => {
                    let ip = client_ip(peer, req.headers(), &state.trusted_proxies);
                    req.extensions_mut().insert(ResolvedIp(ip));
                    ip
                }
            };
            match bounds.enter(ClientKey::of(client)) {
                Some(slot) => Some(slot),
                None => return refuse_unread(ApiError::ClientBusy, req.into_body()),
            }
        }
        None => None,
    };
    let (parts, body) = req.into_parts();
    let body = match read_body(body, bounds.max_body_bytes, bounds.body_read_timeout).await {
        Ok(bytes) => bytes,
        Err(refused) => return refused,
    };
    next.run(Request::from_parts(parts, Body::from(body))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(max: usize) -> Arc<ClientBounds> {
        Arc::new(ClientBounds::new(max, Duration::from_secs(1), 1024))
    }

    fn key(ip: &str) -> ClientKey {
        ClientKey::of(ip.parse().unwrap())
    }

    #[test]
    fn a_client_gets_at_most_its_share_and_a_released_slot_is_reusable() {
        let b = bounds(2);
        let first = b.enter(key("192.0.2.1")).unwrap();
        let _second = b.enter(key("192.0.2.1")).unwrap();
        assert!(b.enter(key("192.0.2.1")).is_none());
        // Another client is not affected.
        assert!(b.enter(key("192.0.2.2")).is_some());
        drop(first);
        assert!(b.enter(key("192.0.2.1")).is_some());
    }

    #[test]
    fn a_client_with_no_request_open_leaves_no_entry_behind() {
        let b = bounds(2);
        let slot = b.enter(key("192.0.2.1")).unwrap();
        assert_eq!(b.open_for(key("192.0.2.1")), 1);
        drop(slot);
        assert_eq!(b.open_for(key("192.0.2.1")), 0);
        assert!(b.open.lock().unwrap().is_empty());
    }

    #[test]
    fn ipv6_clients_share_by_slash_64_and_mapped_ipv4_counts_as_ipv4() {
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
    }

    #[test]
    fn the_declared_length_is_read_only_when_it_parses() {
        let mut h = HeaderMap::new();
        assert_eq!(declared_length(&h), None);
        h.insert(CONTENT_LENGTH, "99999999999".parse().unwrap());
        assert_eq!(declared_length(&h), Some(99_999_999_999));
        h.insert(CONTENT_LENGTH, "lots".parse().unwrap());
        assert_eq!(declared_length(&h), None);
    }
}
