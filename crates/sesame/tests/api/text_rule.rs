//! The text rule: a NUL or another control character in any string of a JSON body, a form or a
//! query string is answered 422 `validation_failed` with field code `invalid_characters` (400
//! `invalid_request` on the OAuth token endpoint, a 400 page on the HTML forms), the same on both
//! backends, and nothing of it is stored. The one header that is stored, the user agent, is
//! cleaned instead of refused.

use crate::helpers::{assert_problem, spawn_app, spawn_app_with, Backend, TestApp, PASSWORD};
use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use serde_json::{json, Value};

const ADMIN_EMAIL: &str = "admin@example.com";

/// Asserts a 422 naming `field` with the `invalid_characters` rule.
async fn assert_invalid_characters(resp: reqwest::Response, field: &str) {
    let p = assert_problem(resp, 422, "validation_failed").await;
    assert_eq!(
        p["errors"],
        json!([{
            "field": field,
            "code": "invalid_characters",
            "message": "NUL and other control characters (except tab and line breaks) are not allowed"
        }]),
        "{p}"
    );
}

async fn admin_app(b: Backend) -> (TestApp, String) {
    let app = spawn_app_with(
        b,
        &[],
        &[
            "--bootstrap-admin-email",
            ADMIN_EMAIL,
            "--bootstrap-admin-password",
            PASSWORD,
        ],
    )
    .await;
    let token = app.tokens(ADMIN_EMAIL).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (app, token)
}

async fn form(app: &TestApp, path: &str, body: &str) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn a_nul_in_the_login_name_is_422_invalid_characters_and_nothing_is_recorded(b: Backend) {
    let app = spawn_app(b).await;
    app.create_user("alice@example.com").await;
    for (field, name) in [
        ("email", "a\u{0}b@example.com"),
        ("email", "alice@example.com\u{0}"),
        ("username", "a\u{0}b"),
        ("username", "alice\u{1b}[31m"),
    ] {
        let r = app
            .post_json(
                "/api/v1/auth/login",
                &json!({field: name, "password": PASSWORD}),
            )
            .await;
        assert_invalid_characters(r, field).await;
    }
    assert_eq!(
        app.db
            .text("SELECT throttle_key FROM login_throttle LIMIT 1")
            .await,
        None,
        "a refused login name reached the lockout counters"
    );
    // The real account is untouched and still logs in.
    app.tokens("alice@example.com").await;
}

async fn every_json_body_refuses_control_characters_in_any_string(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.user_with_tokens("bob@example.com").await;
    let access = t["access_token"].as_str().unwrap();
    let anonymous: [(&str, Value, &str); 9] = [
        (
            "/api/v1/auth/register",
            json!({"email": "new\u{0}@example.com", "password": PASSWORD}),
            "email",
        ),
        (
            "/api/v1/auth/register",
            json!({"email": "new@example.com", "password": PASSWORD, "display_name": "N\u{7f}"}),
            "display_name",
        ),
        (
            "/api/v1/auth/register",
            json!({"email": "new@example.com", "password": "pass\u{0}word long enough"}),
            "password",
        ),
        (
            "/api/v1/auth/password/forgot",
            json!({"email": "bob@example.com\u{0}"}),
            "email",
        ),
        (
            "/api/v1/auth/verify-email/resend",
            json!({"email": "bob@example.com\u{85}"}),
            "email",
        ),
        (
            "/api/v1/auth/verify-email",
            json!({"token": "abc\u{0}"}),
            "token",
        ),
        (
            "/api/v1/auth/password/reset",
            json!({"token": "abc", "new_password": "new\u{0}password long"}),
            "new_password",
        ),
        (
            "/api/v1/auth/email/confirm",
            json!({"token": "\u{1}"}),
            "token",
        ),
        (
            "/api/v1/auth/refresh",
            json!({"refresh_token": "x\u{0}y"}),
            "refresh_token",
        ),
    ];
    for (path, body, field) in anonymous {
        let r = app.post_json(path, &body).await;
        assert_invalid_characters(r, field).await;
    }
    let authenticated: [(&str, &str, Value, &str); 4] = [
        (
            "PATCH",
            "/api/v1/users/me",
            json!({"display_name": "Bob\u{0}"}),
            "display_name",
        ),
        (
            "POST",
            "/api/v1/users/me/password",
            json!({"current_password": PASSWORD, "new_password": "\u{0}a new password"}),
            "new_password",
        ),
        (
            "POST",
            "/api/v1/users/me/email",
            json!({"new_email": "b\u{0}@example.com", "password": PASSWORD}),
            "new_email",
        ),
        (
            "DELETE",
            "/api/v1/users/me",
            json!({"password": "\u{0}"}),
            "password",
        ),
    ];
    for (method, path, body, field) in authenticated {
        let r = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(access)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_invalid_characters(r, field).await;
    }
    let me: Value = app.me(access).await.json().await.unwrap();
    assert_eq!(me["display_name"], Value::Null, "{me}");
    assert_eq!(me["email"], "bob@example.com", "{me}");
}

async fn the_token_endpoint_refuses_control_characters_with_invalid_request(b: Backend) {
    let app = spawn_app(b).await;
    app.create_user("carol@example.com").await;
    for body in [
        "grant_type=password&username=a%00b&password=x",
        "grant_type=password&username=carol%40example.com&password=correct%00horse",
        "grant_type=refresh_token&refresh_token=abc%00def",
        "grant_type=pass%00word&username=carol&password=x",
    ] {
        let r = form(&app, "/api/v1/auth/token", body).await;
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_request", "{body}: {v}");
        assert!(
            v["error_description"]
                .as_str()
                .unwrap()
                .contains("control character"),
            "{v}"
        );
    }
    assert_eq!(
        app.db
            .text("SELECT throttle_key FROM login_throttle LIMIT 1")
            .await,
        None
    );
}

async fn admin_filters_with_control_characters_are_422_invalid_characters(b: Backend) {
    let (app, token) = admin_app(b).await;
    for (path, field) in [
        ("/api/v1/admin/users?q=a%00", "q"),
        ("/api/v1/admin/users?role=adm%00in", "role"),
        ("/api/v1/admin/users?limit=5&cursor=%1b", "cursor"),
        ("/api/v1/admin/audit-events?event=login%00", "event"),
        ("/api/v1/admin/audit-events?event=%C2%85", "event"),
    ] {
        let r = app.get_auth(path, &token).await;
        assert_invalid_characters(r, field).await;
    }
    // Tabs are not control characters to refuse; the filter simply matches nothing.
    let r = app
        .get_auth("/api/v1/admin/audit-events?event=a%09b", &token)
        .await;
    assert_eq!(r.status(), 200);
}

async fn a_role_description_with_a_control_character_is_refused_and_not_stored(b: Backend) {
    let (app, token) = admin_app(b).await;
    for (name, description) in [("nul", "a\u{0}b"), ("c1", "next line\u{85}")] {
        let r = app
            .post_json_auth(
                "/api/v1/admin/roles",
                &token,
                Some(&json!({"name": name, "description": description})),
            )
            .await;
        assert_invalid_characters(r, "description").await;
    }
    let roles: Value = app
        .get_auth("/api/v1/admin/roles", &token)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin"], "{roles}");
    // Line breaks and tabs are text, not control characters to refuse.
    let r = app
        .post_json_auth(
            "/api/v1/admin/roles",
            &token,
            Some(&json!({"name": "multi", "description": "line one\nline\ttwo"})),
        )
        .await;
    assert_eq!(r.status(), 201);
}

async fn the_page_forms_refuse_control_characters_with_a_400_page(b: Backend) {
    let app = spawn_app(b).await;
    for (path, body) in [
        (
            "/reset-password",
            "token=abc&new_password=long%00password&confirm_password=long%00password",
        ),
        ("/verify-email", "token=abc%00"),
        ("/confirm-email", "token=%7F"),
    ] {
        let r = form(&app, path, body).await;
        assert_eq!(r.status(), 400, "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains("Invalid characters"), "{path}: {html}");
    }
    // A link whose token holds a control character is not echoed into a form.
    let r = app.get("/verify-email?token=a%00b").await;
    assert_eq!(r.status(), 400);
    assert!(!r.text().await.unwrap().contains("a\u{0}b"));
}

async fn a_user_agent_with_control_characters_or_utf8_is_stored_cleaned(b: Backend) {
    let app = spawn_app(b).await;
    app.create_user("dave@example.com").await;
    let ua = reqwest::header::HeaderValue::from_bytes(b"Agent/1.0\t(caf\xc3\xa9)\t\xff").unwrap();
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header(USER_AGENT, ua)
        .json(&json!({"email": "dave@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "an odd user agent is no reason to refuse");
    let t: Value = r.json().await.unwrap();
    let sessions: Value = app
        .get_auth(
            "/api/v1/users/me/sessions",
            t["access_token"].as_str().unwrap(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        sessions[0]["user_agent"], "Agent/1.0 (café) \u{fffd}",
        "{sessions}"
    );
}

async fn admin_page_limits_outside_1_to_200_are_422(b: Backend) {
    let (app, token) = admin_app(b).await;
    for path in ["/api/v1/admin/users", "/api/v1/admin/audit-events"] {
        for limit in ["0", "201", "2147483648", "18446744073709551615"] {
            let r = app.get_auth(&format!("{path}?limit={limit}"), &token).await;
            let p = assert_problem(r, 422, "validation_failed").await;
            assert_eq!(p["errors"][0]["field"], "limit", "{path} {limit}: {p}");
            assert_eq!(
                p["errors"][0]["code"], "out_of_range",
                "{path} {limit}: {p}"
            );
        }
        for limit in ["-1", "x", "18446744073709551616"] {
            let r = app.get_auth(&format!("{path}?limit={limit}"), &token).await;
            assert_problem(r, 400, "invalid_query").await;
        }
        for limit in ["1", "200"] {
            let r = app.get_auth(&format!("{path}?limit={limit}"), &token).await;
            assert_eq!(r.status(), 200, "{path} {limit}");
        }
    }
}

async fn a_body_that_is_not_a_json_object_is_422_invalid_body(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.user_with_tokens("erin@example.com").await;
    let access = t["access_token"].as_str().unwrap();
    for body in [r#"[null, null]"#, r#"["Erin", "erin"]"#, "\"x\"", "1"] {
        let r = app
            .client
            .patch(app.url("/api/v1/users/me"))
            .bearer_auth(access)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(r, 422, "invalid_body").await;
    }
    let me: Value = app.me(access).await.json().await.unwrap();
    assert_eq!(me["display_name"], Value::Null, "{me}");
    assert_eq!(me["username"], Value::Null, "{me}");
}

/// JSON can write U+0008 and U+000C as the short escapes `\b` and `\f` (RFC 8259 §7), which is
/// how serde_json and most encoders send them: they are control characters like any other. (A
/// factor name of `"\f6"` was once stored as "6".)
async fn controls_written_as_short_json_escapes_are_refused_too(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.user_with_tokens("fay@example.com").await;
    let access = t["access_token"].as_str().unwrap();
    for (method, path, body, field) in [
        (
            "POST",
            "/api/v1/users/me/factors/totp",
            r#"{"name":"\f6"}"#,
            "name",
        ),
        (
            "PATCH",
            "/api/v1/users/me",
            r#"{"display_name":"Fay\bX"}"#,
            "display_name",
        ),
    ] {
        let r = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(access)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_invalid_characters(r, field).await;
    }
    let factors: Value = app
        .get_auth("/api/v1/users/me/factors", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(factors["factors"], json!([]), "{factors}");
    let me: Value = app.me(access).await.json().await.unwrap();
    assert_eq!(me["display_name"], Value::Null, "{me}");
}

crate::on_every_backend!(
    a_nul_in_the_login_name_is_422_invalid_characters_and_nothing_is_recorded,
    controls_written_as_short_json_escapes_are_refused_too,
    every_json_body_refuses_control_characters_in_any_string,
    the_token_endpoint_refuses_control_characters_with_invalid_request,
    admin_filters_with_control_characters_are_422_invalid_characters,
    a_role_description_with_a_control_character_is_refused_and_not_stored,
    the_page_forms_refuse_control_characters_with_a_400_page,
    a_user_agent_with_control_characters_or_utf8_is_stored_cleaned,
    admin_page_limits_outside_1_to_200_are_422,
    a_body_that_is_not_a_json_object_is_422_invalid_body,
);
