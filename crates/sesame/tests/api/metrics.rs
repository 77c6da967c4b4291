//! `GET /metrics`: Prometheus text with per-route counters and histograms (route templates,
//! never concrete paths), the session cache's hits and misses, and optional bearer protection.

use crate::helpers::{assert_problem, spawn_app, spawn_app_with, Backend, TestApp};
use uuid::Uuid;

async fn scrape(app: &TestApp) -> String {
    let r = app.get("/metrics").await;
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    r.text().await.unwrap()
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn requests_are_counted_by_route_template_and_status(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.user_with_tokens("metrics@example.com").await;
    let at = t["access_token"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(app.me(at).await.status(), 200);
    }
    assert_eq!(app.me("not-a-token").await.status(), 401);
    let id = Uuid::now_v7();
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/users/me/sessions/{id}")))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = app.get(&format!("/no/such/path/{id}")).await;
    assert_eq!(r.status(), 404);

    let text = scrape(&app).await;
    let me = r#"route="/api/v1/users/me""#;
    assert_eq!(
        sample(
            &text,
            &format!(r#"sesame_http_requests_total{{method="GET",{me},status="200"}}"#)
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"sesame_http_requests_total{{method="GET",{me},status="401"}}"#)
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(r#"sesame_http_request_duration_seconds_count{{method="GET",{me}}}"#)
        ),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"sesame_http_requests_total{method="DELETE",route="/api/v1/users/me/sessions/{id}",status="404"}"#
        ),
        Some(1.0),
        "a path with an id is counted under its template"
    );
    assert_eq!(
        sample(
            &text,
            r#"sesame_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        Some(1.0)
    );
    assert!(
        !text.contains(&id.to_string()),
        "no concrete path or id becomes a label"
    );
    // The first /users/me missed the session cache; the next two were answered from memory.
    let hits = sample(&text, r#"sesame_session_cache_lookups_total{result="hit"}"#).unwrap();
    assert!(hits >= 2.0, "hits {hits}\n{text}");
    assert_eq!(sample(&text, "sesame_session_cache_enabled"), Some(1.0));
    assert_eq!(
        sample(&text, "sesame_http_requests_in_flight"),
        Some(1.0),
        "the scrape itself"
    );
}

async fn a_metrics_token_keeps_the_endpoint_to_its_bearer(b: Backend) {
    let token = "a-long-random-metrics-token-for-tests";
    let app = spawn_app_with(b, &[], &["--metrics-token", token]).await;
    let url = app.url("/metrics");
    let r = app.client.get(&url).send().await.unwrap();
    assert_problem(r, 401, "missing_token").await;
    let r = app
        .client
        .get(&url)
        .bearer_auth("a-long-random-metrics-token-for-tesTs")
        .send()
        .await
        .unwrap();
    assert_problem(r, 401, "invalid_token").await;
    let r = app
        .client
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("sesame_build_info"));
}

crate::on_every_backend!(
    requests_are_counted_by_route_template_and_status,
    a_metrics_token_keeps_the_endpoint_to_its_bearer,
);
