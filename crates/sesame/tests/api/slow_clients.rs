//! Slow and hostile clients cannot starve the others: a body being dribbled holds no in-flight
//! permit, one client (one address, or one forwarded address behind a trusted proxy) holds at
//! most its share of requests, a declared body over the limit is refused before it is read, a
//! dribbled body is cut off at the body read deadline, and the probes are always answered.
//! Raw sockets, since a well-behaved client cannot misbehave enough.

use crate::hardening::{
    assert_raw_problem, assert_serving, login_body, read_response, start_slow_login, RawResponse,
};
use crate::helpers::{assert_problem, spawn_app_with, Backend, TestApp};
use futures::stream::{FuturesUnordered, StreamExt as _};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

/// Another loopback address than the one the dribblers use: a different client.
const OTHER_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A connection from `local` (any loopback address), or from 127.0.0.1.
async fn connect_from(addr: SocketAddr, local: Option<IpAddr>) -> TcpStream {
    match local {
        None => TcpStream::connect(addr).await.unwrap(),
        Some(ip) => {
            let socket = TcpSocket::new_v4().unwrap();
            socket.bind(SocketAddr::new(ip, 0)).unwrap();
            socket.connect(addr).await.unwrap()
        }
    }
}

/// Sends a login head (with `extra` header lines) declaring a 100-byte body, and only the
/// body's first half; returns the socket and the rest of the body.
async fn dribble(app: &TestApp, extra: &str) -> (TcpStream, String) {
    let body = login_body(100);
    let (first, rest) = body.split_at(50);
    let mut s = connect_from(app.addr, None).await;
    s.write_all(
        format!(
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             {extra}Content-Length: {}\r\n\r\n{first}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    (s, rest.to_owned())
}

/// A client on its own loopback address.
fn other_client() -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(OTHER_CLIENT)
        .build()
        .unwrap()
}

/// A server with `max` in-flight permits, `per_client` of them for one client, and 30 s for a
/// request and its body; and 20 requests from 127.0.0.1 dribbling their bodies into it.
async fn twenty_dribblers(
    b: Backend,
    max: &str,
    per_client: &str,
) -> (TestApp, Vec<(TcpStream, String)>) {
    let app = spawn_app_with(
        b,
        &[],
        &[
            "--max-in-flight",
            max,
            "--max-in-flight-per-client",
            per_client,
            "--request-timeout",
            "30s",
            "--body-read-timeout",
            "30s",
        ],
    )
    .await;
    let mut dribblers = Vec::new();
    for _ in 0..20 {
        dribblers.push(dribble(&app, "").await);
    }
    (app, dribblers)
}

/// Polls `GET path` from the dribblers' address until it is answered 429: every share of that
/// address is then held by a dribbler whose head the server has read. A probe can take a slot
/// before the last dribblers' heads are read (on a loaded machine) and so get a dribbler
/// refused; such a dribbler is replaced (`extra` are its header lines) until all hold.
async fn until_the_share_is_held(
    app: &TestApp,
    probe_header: Option<(&str, &str)>,
    dribblers: &mut [(TcpStream, String)],
    extra: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut rb = app.client.get(app.url("/.well-known/jwks.json"));
        if let Some((k, v)) = probe_header {
            rb = rb.header(k, v);
        }
        let r = rb.send().await.unwrap();
        if r.status() == 429 {
            assert_problem(r, 429, "too_many_concurrent_requests").await;
            return;
        }
        for d in dribblers.iter_mut() {
            let mut buf = [0u8; 64];
            let answered = matches!(d.0.try_read(&mut buf), Ok(n) if n > 0);
            if answered {
                assert!(
                    buf.starts_with(b"HTTP/1.1 429"),
                    "a dribbler was answered before its body was complete: {}",
                    String::from_utf8_lossy(&buf)
                );
                *d = dribble(app, extra).await;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the dribblers never held their client's share (last answer {})",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Finishes each dribbled body: each request is then served normally (an unknown account).
async fn finish(dribblers: Vec<(TcpStream, String)>) {
    for (mut s, rest) in dribblers {
        s.write_all(rest.as_bytes()).await.unwrap();
        let r = read_response(&mut s, Duration::from_secs(10)).await;
        assert_raw_problem(&r, 401, "invalid_credentials");
    }
}

/// More connections dribbling bodies than there are in-flight permits: on a server whose
/// permits are taken before the body is read they would hold every permit, and the probes and
/// every other client would get 503.
async fn bodies_being_dribbled_hold_no_in_flight_permit_so_probes_and_other_clients_are_served(
    backend: Backend,
) {
    let (app, mut dribblers) = twenty_dribblers(backend, "4", "20").await;
    until_the_share_is_held(&app, None, &mut dribblers, "").await;

    // 20 bodies in progress, 4 permits: the probes and another client are still served.
    let r = app.get("/health/live").await;
    assert_eq!(r.status(), 200, "liveness while 20 bodies are dribbled");
    let r = app.get("/health/ready").await;
    assert_eq!(r.status(), 200, "readiness while 20 bodies are dribbled");
    let other = other_client();
    let r = other
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "nobody@example.com", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401, "invalid_credentials").await;

    finish(dribblers).await;
    assert_serving(&app).await;
}

crate::on_every_backend!(
    bodies_being_dribbled_hold_no_in_flight_permit_so_probes_and_other_clients_are_served,
);

/// Waits until `count` of `sockets` have something to read; returns their indexes.
async fn answered(sockets: &[(TcpStream, String)], count: usize) -> Vec<usize> {
    let mut pending: FuturesUnordered<_> = sockets
        .iter()
        .enumerate()
        .map(|(i, (s, _))| async move {
            let mut byte = [0u8; 1];
            let _ = s.peek(&mut byte).await;
            i
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ready = Vec::new();
    while ready.len() < count {
        match tokio::time::timeout_at(deadline, pending.next()).await {
            Ok(Some(i)) => ready.push(i),
            Ok(None) => unreachable!("fewer sockets than answers awaited"),
            Err(_) => panic!("only {} of {count} answered in time", ready.len()),
        }
    }
    ready
}

fn assert_client_busy(r: &RawResponse) {
    assert_raw_problem(r, 429, "too_many_concurrent_requests");
    assert_eq!(r.header("retry-after"), Some("1"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_hold_more_than_its_share_of_requests() {
    let (app, dribblers) = twenty_dribblers(Backend::Sqlite, "8", "4").await;
    // Beyond its 4, every request of the client is refused at once.
    let refused = answered(&dribblers, 16).await;
    let mut held = Vec::new();
    for (i, (mut s, rest)) in dribblers.into_iter().enumerate() {
        if refused.contains(&i) {
            let r = read_response(&mut s, Duration::from_secs(5)).await;
            assert_client_busy(&r);
        } else {
            held.push((s, rest));
        }
    }
    assert_eq!(held.len(), 4);
    let r = app.get("/.well-known/jwks.json").await;
    assert_problem(r, 429, "too_many_concurrent_requests").await;

    // Another client and the probes are served meanwhile.
    let r = other_client()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "another client is served");
    let r = app.get("/health/live").await;
    assert_eq!(r.status(), 200);

    // The held four finish normally, and the client has its share back.
    finish(held).await;
    let r = app.get("/.well-known/jwks.json").await;
    assert_eq!(r.status(), 200, "the share is free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_share() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[],
        &[
            "--trusted-proxies",
            "127.0.0.1",
            "--max-in-flight-per-client",
            "2",
            "--body-read-timeout",
            "30s",
        ],
    )
    .await;
    let xff = "X-Forwarded-For: 203.0.113.7\r\n";
    let mut dribblers = vec![dribble(&app, xff).await, dribble(&app, xff).await];
    // The same forwarded client is refused through the proxy…
    until_the_share_is_held(
        &app,
        Some(("x-forwarded-for", "203.0.113.7")),
        &mut dribblers,
        xff,
    )
    .await;
    // …while another one behind the same proxy is served.
    let r = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("x-forwarded-for", "198.51.100.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "another client behind the proxy");
    finish(dribblers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_content_length_over_the_body_limit_is_refused_413_before_the_body_is_read() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[],
        &["--request-timeout", "30s", "--body-read-timeout", "30s"],
    )
    .await;
    let mut s = connect_from(app.addr, None).await;
    let started = Instant::now();
    s.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 99999999999\r\n\r\n{}",
    )
    .await
    .unwrap();
    let r = read_response(&mut s, Duration::from_secs(5)).await;
    let waited = started.elapsed();
    assert_raw_problem(&r, 413, "payload_too_large");
    // A behaviour bound, not a benchmark: the timeouts are 30 s.
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}");
    assert_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dribbled_body_is_answered_408_at_the_body_read_deadline() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[],
        &["--body-read-timeout", "1s", "--request-timeout", "30s"],
    )
    .await;
    let started = Instant::now();
    let (mut s, _rest) = start_slow_login(&app).await;
    let r = read_response(&mut s, Duration::from_secs(5)).await;
    let waited = started.elapsed();
    assert_raw_problem(&r, 408, "request_timeout");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(
        waited >= Duration::from_millis(800),
        "answered before the deadline ({waited:?})"
    );
    assert_serving(&app).await;
}
