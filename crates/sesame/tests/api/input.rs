//! Hostile and odd input: whatever a client sends, the answer is a 4xx
//! `application/problem+json` body with a stable `code` (never a 500, never a dropped
//! connection), nothing is stored, and the request id is always there.

use crate::helpers::{assert_problem, spawn_app, Backend, TestApp, PASSWORD};
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

const REGISTER: &str = "/api/v1/auth/register";
const ME: &str = "/api/v1/users/me";
const LIMIT: usize = 64 * 1024;

/// POSTs raw bytes with the given content type (none when `None`).
async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut rb = app.client.post(app.url(path)).body(body);
    if let Some(ct) = content_type {
        rb = rb.header(CONTENT_TYPE, ct);
    }
    rb.send().await.unwrap()
}

/// `PATCH /users/me` with exactly the given content type and body, if any.
async fn patch_me_raw(
    app: &TestApp,
    token: &str,
    content_type: Option<&str>,
    body: Option<&'static str>,
) -> reqwest::Response {
    let mut rb = app.client.patch(app.url(ME)).bearer_auth(token);
    if let Some(ct) = content_type {
        rb = rb.header(CONTENT_TYPE, ct);
    }
    if let Some(body) = body {
        rb = rb.body(body);
    }
    rb.send().await.unwrap()
}

async fn patch_me(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.client
        .patch(app.url(ME))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Proves that no account with `email` exists: registering it properly succeeds.
async fn assert_email_is_free(app: &TestApp, email: &str) {
    let r = app.register(email, PASSWORD).await;
    assert_eq!(
        r.status(),
        201,
        "registering {email} should succeed: a rejected request stored an account"
    );
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["roles"], json!([]), "{user}");
    assert_eq!(user["email_verified"], false, "{user}");
    assert_eq!(user["is_active"], true, "{user}");
}

/// A registration body whose whitespace pads it to exactly `len` bytes.
fn padded_register_body(email: &str, len: usize) -> Vec<u8> {
    let core = json!({"email": email, "password": PASSWORD}).to_string();
    assert!(core.len() < len);
    let mut body = core.into_bytes();
    let close = body.pop().unwrap(); // the final `}`
    body.resize(len - 1, b' ');
    body.push(close);
    assert_eq!(body.len(), len);
    body
}

// ---------------------------------------------------------------------------------------------
// Broken JSON
// ---------------------------------------------------------------------------------------------

async fn malformed_json_is_400_malformed_json(b: Backend) {
    let app = spawn_app(b).await;
    for body in [
        "not json",
        r#"{"email": "a@example.com", "password": }"#,
        r#"{'email': 'a@example.com', 'password': 'correct horse'}"#,
        r#"{"email": "a@example.com", "password": "correct horse battery staple",}"#,
        r#"{"email": "a@example.com" "password": "correct horse battery staple"}"#,
        r#"{"email": "a@example.com", "password": "correct horse battery staple"} trailing"#,
    ] {
        let r = post_raw(&app, REGISTER, Some("application/json"), body).await;
        let p = assert_problem(r, 400, "malformed_json").await;
        assert!(p.get("errors").is_none(), "{p}");
    }
    assert_email_is_free(&app, "a@example.com").await;
}

async fn truncated_json_is_400_malformed_json(b: Backend) {
    let app = spawn_app(b).await;
    let full = json!({"email": "a@example.com", "password": PASSWORD}).to_string();
    for cut in [1, full.len() / 2, full.len() - 1] {
        let r = post_raw(
            &app,
            REGISTER,
            Some("application/json"),
            full[..cut].to_owned(),
        )
        .await;
        assert_problem(r, 400, "malformed_json").await;
    }
    assert_email_is_free(&app, "a@example.com").await;
}

async fn invalid_utf8_in_the_body_is_400_malformed_json(b: Backend) {
    let app = spawn_app(b).await;
    let bodies: [&[u8]; 3] = [
        b"{\"email\":\"a\xff\xfe@example.com\",\"password\":\"correct horse battery staple\"}",
        b"{\"email\":\"a@example.com\",\"password\":\"correct \xc3\x28 horse\"}",
        b"\xef\xbb\xbf\x80\x81",
    ];
    for body in bodies {
        let r = post_raw(&app, REGISTER, Some("application/json"), body.to_vec()).await;
        assert_problem(r, 400, "malformed_json").await;
    }
    assert_email_is_free(&app, "a@example.com").await;
}

async fn deeply_nested_json_is_a_client_error_not_a_crash(b: Backend) {
    let app = spawn_app(b).await;
    let depth = 10_000;
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    let bodies = [
        arrays.clone(),
        objects.clone(),
        format!(r#"{{"email":{arrays},"password":"{PASSWORD}"}}"#),
        format!(r#"{{"email":"a@example.com","password":"{PASSWORD}","display_name":{objects}}}"#),
        // Unclosed: the parser must give up, not recurse until the stack overflows.
        "[".repeat(depth),
        r#"{"a":"#.repeat(depth),
    ];
    for body in bodies {
        let r = post_raw(&app, REGISTER, Some("application/json"), body).await;
        let status = r.status().as_u16();
        assert!(
            (400..500).contains(&status),
            "deep nesting must be a client error, got {status}"
        );
        let code = if status == 400 {
            "malformed_json"
        } else {
            "invalid_body"
        };
        assert_problem(r, status, code).await;
    }
    // Still serving, and nothing was stored.
    let live = app.get("/health/live").await;
    assert_eq!(live.status(), 200);
    assert_email_is_free(&app, "a@example.com").await;
}

async fn an_empty_body_is_400_malformed_json(b: Backend) {
    let app = spawn_app(b).await;
    for path in [REGISTER, "/api/v1/auth/login", "/api/v1/auth/refresh"] {
        let r = post_raw(&app, path, Some("application/json"), "").await;
        assert_problem(r, 400, "malformed_json").await;
        let r = post_raw(&app, path, Some("application/json"), "  \r\n ").await;
        assert_problem(r, 400, "malformed_json").await;
    }
    let tokens = app.user_with_tokens("a@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let r = patch_me_raw(&app, access, Some("application/json"), None).await;
    assert_problem(r, 400, "malformed_json").await;
}

// ---------------------------------------------------------------------------------------------
// Content type
// ---------------------------------------------------------------------------------------------

async fn a_non_json_content_type_is_415_unsupported_media_type(b: Backend) {
    let app = spawn_app(b).await;
    let body = json!({"email": "a@example.com", "password": PASSWORD}).to_string();
    for ct in [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "text/json",
        "not a media type",
    ] {
        for path in [REGISTER, "/api/v1/auth/login"] {
            let r = post_raw(&app, path, Some(ct), body.clone()).await;
            assert_problem(r, 415, "unsupported_media_type").await;
        }
    }
    // A form-encoded registration is refused too (only the OAuth token endpoint takes forms).
    let r = post_raw(
        &app,
        REGISTER,
        Some("application/x-www-form-urlencoded"),
        "email=a%40example.com&password=correct+horse+battery+staple",
    )
    .await;
    assert_problem(r, 415, "unsupported_media_type").await;
    assert_email_is_free(&app, "a@example.com").await;
}

async fn a_missing_content_type_is_415_unsupported_media_type(b: Backend) {
    let app = spawn_app(b).await;
    let body = json!({"email": "a@example.com", "password": PASSWORD}).to_string();
    let r = post_raw(&app, REGISTER, None, body.clone()).await;
    assert_problem(r, 415, "unsupported_media_type").await;
    let r = post_raw(&app, "/api/v1/auth/login", None, body).await;
    assert_problem(r, 415, "unsupported_media_type").await;
    assert_email_is_free(&app, "a@example.com").await;

    let tokens = app.tokens("a@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    let r = patch_me_raw(&app, access, None, Some(r#"{"display_name":"Alice"}"#)).await;
    assert_problem(r, 415, "unsupported_media_type").await;
}

async fn json_content_type_variants_are_accepted(b: Backend) {
    let app = spawn_app(b).await;
    let body = json!({"email": "a@example.com", "password": PASSWORD}).to_string();
    let r = post_raw(
        &app,
        REGISTER,
        Some("application/json; charset=utf-8"),
        body,
    )
    .await;
    assert_eq!(r.status(), 201);
    let body = json!({"email": "b@example.com", "password": PASSWORD}).to_string();
    let r = post_raw(&app, REGISTER, Some("Application/JSON"), body).await;
    assert_eq!(r.status(), 201);
    let body = json!({"email": "c@example.com", "password": PASSWORD}).to_string();
    let r = post_raw(&app, REGISTER, Some("application/vnd.sesame+json"), body).await;
    assert_eq!(r.status(), 201);
}

// ---------------------------------------------------------------------------------------------
// Wrong shape
// ---------------------------------------------------------------------------------------------

async fn a_field_of_the_wrong_type_is_422_invalid_body_and_stores_nothing(b: Backend) {
    let app = spawn_app(b).await;
    for body in [
        json!({"email": 5, "password": PASSWORD}),
        json!({"email": "a@example.com", "password": true}),
        json!({"email": "a@example.com", "password": PASSWORD, "username": ["alice"]}),
        json!({"email": "a@example.com", "password": PASSWORD, "display_name": {"first": "A"}}),
        json!({"email": ["a@example.com"], "password": PASSWORD}),
        json!(["a@example.com", PASSWORD]),
        json!("a@example.com"),
        json!(null),
        json!(42),
    ] {
        let r = app.post_json(REGISTER, &body).await;
        let p = assert_problem(r, 422, "invalid_body").await;
        assert!(p.get("errors").is_none(), "{p}");
    }
    // A duplicated key is ambiguous (parsers disagree on which wins): refused, not guessed.
    let r = post_raw(
        &app,
        REGISTER,
        Some("application/json"),
        format!(r#"{{"email":"b@example.com","password":"{PASSWORD}","email":"a@example.com"}}"#),
    )
    .await;
    assert_problem(r, 422, "invalid_body").await;
    assert_email_is_free(&app, "a@example.com").await;
    assert_email_is_free(&app, "b@example.com").await;
}

async fn a_missing_required_field_is_422_invalid_body(b: Backend) {
    let app = spawn_app(b).await;
    for body in [
        json!({"email": "a@example.com"}),
        json!({"password": PASSWORD}),
        json!({}),
        json!({"email": null, "password": PASSWORD}),
        json!({"email": "a@example.com", "password": null}),
    ] {
        let r = app.post_json(REGISTER, &body).await;
        assert_problem(r, 422, "invalid_body").await;
    }
    let r = app.post_json("/api/v1/auth/login", &json!({})).await;
    assert_problem(r, 422, "invalid_body").await;
    let r = app.post_json("/api/v1/auth/refresh", &json!({})).await;
    assert_problem(r, 422, "invalid_body").await;
    assert_email_is_free(&app, "a@example.com").await;
}

async fn privileged_fields_in_a_registration_body_are_422_invalid_body_and_store_nothing(
    b: Backend,
) {
    let app = spawn_app(b).await;
    for (field, value) in [
        ("roles", json!(["admin"])),
        ("is_active", json!(true)),
        ("email_verified", json!(true)),
        ("id", json!("01900000-0000-7000-8000-000000000000")),
        ("password_hash", json!("$argon2id$v=19$m=256,t=1,p=1$x$y")),
    ] {
        let mut body = json!({"email": "a@example.com", "password": PASSWORD});
        body[field] = value;
        let r = app.post_json(REGISTER, &body).await;
        let p = assert_problem(r, 422, "invalid_body").await;
        assert!(
            p["detail"].as_str().unwrap().contains(field),
            "the detail should name the unknown field `{field}`: {p}"
        );
    }
    // Nothing was stored: the same email registers normally, as a plain unverified user.
    assert_email_is_free(&app, "a@example.com").await;
}

// ---------------------------------------------------------------------------------------------
// Size
// ---------------------------------------------------------------------------------------------

async fn a_body_over_64_kib_is_413_payload_too_large(b: Backend) {
    let app = spawn_app(b).await;
    let body = json!({
        "email": "a@example.com",
        "password": PASSWORD,
        "display_name": "x".repeat(70 * 1024),
    });
    let r = app.post_json(REGISTER, &body).await;
    assert_problem(r, 413, "payload_too_large").await;
    // One byte over the limit, even as valid JSON.
    let r = post_raw(
        &app,
        REGISTER,
        Some("application/json"),
        padded_register_body("a@example.com", LIMIT + 1),
    )
    .await;
    assert_problem(r, 413, "payload_too_large").await;
    // Also for a body that is garbage: size is checked before syntax.
    let r = post_raw(
        &app,
        REGISTER,
        Some("application/json"),
        vec![b'{'; 100 * 1024],
    )
    .await;
    assert_problem(r, 413, "payload_too_large").await;
    assert_email_is_free(&app, "a@example.com").await;
}

/// Sends a chunked request (no Content-Length) over a raw socket and returns the response head
/// and body.
async fn raw_chunked_post(app: &TestApp, path: &str, body: &[u8]) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.addr
    )
    .into_bytes();
    for chunk in body.chunks(4096) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before reading everything; that is its right.
    let _ = sock.write_all(&req).await;
    let mut resp = Vec::new();
    let read = sock.read_to_end(&mut resp).await;
    assert!(
        read.is_ok() || !resp.is_empty(),
        "no response to a chunked body: {read:?}"
    );
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = resp.split_once("\r\n\r\n").expect("an HTTP response");
    (head.to_ascii_lowercase(), body.to_owned())
}

async fn a_chunked_body_over_64_kib_is_413_payload_too_large(b: Backend) {
    let app = spawn_app(b).await;
    let mut big = json!({"email": "a@example.com", "password": PASSWORD})
        .to_string()
        .into_bytes();
    big.resize(70 * 1024, b' ');
    let (head, body) = raw_chunked_post(&app, REGISTER, &big).await;
    assert!(head.starts_with("http/1.1 413"), "{head}");
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert!(head.contains("x-request-id: "), "{head}");
    let p: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(p["code"], "payload_too_large", "{p}");
    // A small chunked body is read normally.
    let small = json!({"email": "a@example.com", "password": PASSWORD}).to_string();
    let (head, _) = raw_chunked_post(&app, REGISTER, small.as_bytes()).await;
    assert!(head.starts_with("http/1.1 201"), "{head}");
}

async fn a_body_at_or_just_under_the_limit_is_not_rejected_for_size(b: Backend) {
    let app = spawn_app(b).await;
    let r = post_raw(
        &app,
        REGISTER,
        Some("application/json"),
        padded_register_body("a@example.com", LIMIT - 1),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = post_raw(
        &app,
        REGISTER,
        Some("application/json"),
        padded_register_body("b@example.com", LIMIT),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // A near-limit body with an over-long field is judged on its content, not its size.
    let body = json!({
        "email": "c@example.com",
        "password": PASSWORD,
        "display_name": "x".repeat(60 * 1024),
    });
    let r = app.post_json(REGISTER, &body).await;
    let p = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "display_name", "{p}");
    assert_eq!(p["errors"][0]["code"], "too_long", "{p}");
}

// ---------------------------------------------------------------------------------------------
// Field validation
// ---------------------------------------------------------------------------------------------

/// The `(field, code)` pairs of a validation problem, sorted.
fn field_errors(p: &Value) -> Vec<(String, String)> {
    let mut v: Vec<_> = p["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array in {p}"))
        .iter()
        .map(|e| {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = list
        .iter()
        .map(|(f, c)| ((*f).to_owned(), (*c).to_owned()))
        .collect();
    v.sort();
    v
}

async fn validation_failures_list_every_failing_field_and_rule(b: Backend) {
    let app = spawn_app(b).await;
    let r = app
        .post_json(
            REGISTER,
            &json!({"email": "not-an-email", "password": "1234567", "username": "no spaces"}),
        )
        .await;
    let p = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(
        field_errors(&p),
        pairs(&[
            ("email", "invalid"),
            ("password", "too_short"),
            ("username", "invalid")
        ]),
        "{p}"
    );
    // All four fields at once.
    let r = app
        .post_json(
            REGISTER,
            &json!({"email": "", "password": "", "username": "ab", "display_name": "   "}),
        )
        .await;
    let p = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(
        field_errors(&p),
        pairs(&[
            ("display_name", "required"),
            ("email", "required"),
            ("password", "too_short"),
            ("username", "too_short"),
        ]),
        "{p}"
    );
    // Nothing was stored for an otherwise valid email with a bad username.
    let r = app
        .post_json(
            REGISTER,
            &json!({"email": "a@example.com", "password": PASSWORD, "username": "_bad"}),
        )
        .await;
    let p = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(field_errors(&p), pairs(&[("username", "invalid")]));
    assert_email_is_free(&app, "a@example.com").await;
}

async fn a_password_over_256_bytes_is_rejected_as_too_long(b: Backend) {
    let app = spawn_app(b).await;
    let r = app.register("a@example.com", &"a".repeat(257)).await;
    let p = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(field_errors(&p), pairs(&[("password", "too_long")]), "{p}");
    // Bytes, not characters: 129 two-byte characters are 258 bytes.
    let r = app.register("a@example.com", &"é".repeat(129)).await;
    let p = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(field_errors(&p), pairs(&[("password", "too_long")]), "{p}");
    // Exactly 256 bytes is accepted, and works for login (never truncated).
    let max = "Zq7#mW2!vR9^kP4&".repeat(16);
    assert_eq!(max.len(), 256);
    assert_eq!(app.register("a@example.com", &max).await.status(), 201);
    assert_eq!(app.login("a@example.com", &max).await.status(), 200);
    let r = app.login("a@example.com", &max[..255]).await;
    assert_problem(r, 401, "invalid_credentials").await;
}

async fn a_display_name_with_a_control_character_is_rejected(b: Backend) {
    let app = spawn_app(b).await;
    // NUL and most controls fail the text rule every field is held to (`invalid_characters`);
    // tab and line breaks pass it and fail the display name's own rule (`invalid`).
    for (name, code) in [
        ("a\u{0}b", "invalid_characters"),
        ("a\u{7}b", "invalid_characters"),
        ("a\u{1b}[31mb", "invalid_characters"),
        ("a\nb", "invalid"),
        ("a\tb", "invalid"),
        ("a\u{7f}b", "invalid_characters"),
        ("a\u{85}b", "invalid_characters"),
        ("a\u{9b}b", "invalid_characters"),
    ] {
        let r = app
            .post_json(
                REGISTER,
                &json!({"email": "a@example.com", "password": PASSWORD, "display_name": name}),
            )
            .await;
        let p = assert_problem(r, 422, "validation_failed").await;
        assert_eq!(
            field_errors(&p),
            pairs(&[("display_name", code)]),
            "{name:?}: {p}"
        );
    }
    assert_email_is_free(&app, "a@example.com").await;
    // The same rule applies when changing it later.
    let tokens = app.tokens("a@example.com").await;
    let at = tokens["access_token"].as_str().unwrap();
    let r = patch_me(&app, at, &json!({"display_name": "evil\u{0}name"})).await;
    let p = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(
        field_errors(&p),
        pairs(&[("display_name", "invalid_characters")])
    );
    let r = patch_me(&app, at, &json!({"display_name": "evil\nname"})).await;
    let p = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(field_errors(&p), pairs(&[("display_name", "invalid")]));
    let me: Value = app.me(at).await.json().await.unwrap();
    assert_eq!(me["display_name"], Value::Null);
}

async fn unusual_but_valid_unicode_display_names_round_trip(b: Backend) {
    let app = spawn_app(b).await;
    let names = [
        "👩\u{200d}💻 Ada 🏳\u{fe0f}\u{200d}🌈",
        "שלום עולם",
        "مرحبا بالعالم",
        "q\u{307} a\u{332}",
        "李小龍",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
        "Zoë O'Brien-Łukasiewicz",
    ];
    for (i, name) in names.iter().enumerate() {
        let email = format!("user{i}@example.com");
        let r = app
            .post_json(
                REGISTER,
                &json!({"email": email, "password": PASSWORD, "display_name": name}),
            )
            .await;
        assert_eq!(r.status(), 201, "{name:?}");
        let user: Value = r.json().await.unwrap();
        assert_eq!(user["display_name"], *name, "{name:?}");
        let tokens = app.tokens(&email).await;
        let me: Value = app
            .me(tokens["access_token"].as_str().unwrap())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["display_name"], *name, "{name:?} after a round trip");
    }
    // Decomposed input is stored in NFC (and trimmed).
    let r = app
        .post_json(
            REGISTER,
            &json!({"email": "cafe@example.com", "password": PASSWORD, "display_name": "  Cafe\u{301} "}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let tokens = app.tokens("cafe@example.com").await;
    let me: Value = app
        .me(tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["display_name"], "Caf\u{e9}");
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

async fn an_unknown_path_is_404_not_found(b: Backend) {
    let app = spawn_app(b).await;
    for path in [
        "/",
        "/nope",
        "/api/v1/users/you",
        "/api/v2/auth/login",
        "/api/v1/auth/register/extra",
        "/%00",
    ] {
        let r = app.get(path).await;
        assert_problem(r, 404, "not_found").await;
    }
    let r = app
        .post_json("/api/v1/auth/signup", &json!({"email": "a@example.com"}))
        .await;
    assert_problem(r, 404, "not_found").await;
}

async fn a_wrong_method_is_405_method_not_allowed(b: Backend) {
    let app = spawn_app(b).await;
    let c = &app.client;
    for (rb, allowed) in [
        (c.get(app.url(REGISTER)), "POST"),
        (c.get(app.url("/api/v1/auth/login")), "POST"),
        (c.put(app.url("/api/v1/auth/refresh")), "POST"),
        (c.post(app.url(ME)), "DELETE,GET,HEAD,PATCH"),
        (c.post(app.url("/health/live")), "GET,HEAD"),
        (c.delete(app.url("/.well-known/jwks.json")), "GET,HEAD"),
    ] {
        let r = rb.send().await.unwrap();
        // RFC 9110 §15.5.6: a 405 names the methods the path does accept.
        let allow = r
            .headers()
            .get(reqwest::header::ALLOW)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no Allow header on 405 for {}", r.url()));
        let mut got: Vec<&str> = allow.split(',').map(str::trim).collect();
        got.sort_unstable();
        let mut want: Vec<&str> = allowed.split(',').collect();
        want.sort_unstable();
        assert_eq!(got, want, "Allow on {}", r.url());
        assert_problem(r, 405, "method_not_allowed").await;
    }
}

// ---------------------------------------------------------------------------------------------
// Request ids
// ---------------------------------------------------------------------------------------------

fn request_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id on {} {}", r.status(), r.url()))
        .to_str()
        .unwrap()
        .to_owned()
}

async fn every_response_carries_a_request_id(b: Backend) {
    let app = spawn_app(b).await;
    let c = &app.client;
    let mut ids = std::collections::HashSet::new();
    let mut check = |r: &reqwest::Response| {
        let id = request_id(r);
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "generated id {id} is a UUID"
        );
        assert!(
            ids.insert(id.clone()),
            "request id {id} was used twice (on {})",
            r.url()
        );
    };
    let r = app.register("a@example.com", PASSWORD).await;
    assert_eq!(r.status(), 201);
    check(&r);
    let r = app.login("a@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    check(&r);
    let r = app.login("a@example.com", "wrong password").await;
    assert_eq!(r.status(), 401);
    check(&r);
    let r = c.get(app.url(ME)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    check(&r);
    for path in [
        "/health/live",
        "/health/ready",
        "/.well-known/jwks.json",
        "/openapi.json",
        "/docs/",
        "/nope",
    ] {
        let r = c.get(app.url(path)).send().await.unwrap();
        check(&r);
    }
    let r = c.put(app.url(ME)).send().await.unwrap();
    assert_eq!(r.status(), 405);
    check(&r);
    let r = post_raw(&app, REGISTER, Some("text/plain"), "x").await;
    assert_eq!(r.status(), 415);
    check(&r);
    let r = post_raw(
        &app,
        REGISTER,
        Some("application/json"),
        vec![b' '; LIMIT + 1],
    )
    .await;
    assert_eq!(r.status(), 413);
    check(&r);
    // The OAuth endpoint answers RFC 6749 bodies, but still with a request id.
    let r = post_raw(
        &app,
        "/api/v1/auth/token",
        Some("application/x-www-form-urlencoded"),
        "grant_type=password&username=a%40example.com&password=nope",
    )
    .await;
    assert_eq!(r.status(), 400);
    check(&r);
}

async fn a_valid_client_request_id_is_echoed(b: Backend) {
    let app = spawn_app(b).await;
    let max = "a".repeat(128);
    for sent in ["abc-123", "A.b_c:d-9", "0", max.as_str()] {
        // In the header of a success...
        let r = app
            .client
            .get(app.url("/health/live"))
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(request_id(&r), sent);
        // ...and in the header and body of a problem.
        let r = app
            .client
            .get(app.url("/nope"))
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        assert_eq!(request_id(&r), sent);
        let p = assert_problem(r, 404, "not_found").await;
        assert_eq!(p["request_id"], sent);
    }
    // A validation problem too.
    let r = app
        .client
        .post(app.url(REGISTER))
        .header("x-request-id", "abc-123")
        .json(&json!({"email": "bad", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let p = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(p["request_id"], "abc-123");
}

async fn an_invalid_client_request_id_is_replaced_by_a_generated_one(b: Backend) {
    let app = spawn_app(b).await;
    let too_long = "a".repeat(129);
    for sent in [
        too_long.as_str(),
        "abc 123",
        "abc/123",
        "abc\t123",
        "<script>",
        "a\"b",
        "",
    ] {
        let r = app
            .client
            .get(app.url("/nope"))
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        let got = request_id(&r);
        assert_ne!(got, sent, "{sent:?} should have been replaced");
        assert!(
            uuid::Uuid::parse_str(&got).is_ok(),
            "replacement {got} is a UUID"
        );
        let p = assert_problem(r, 404, "not_found").await;
        assert_eq!(p["request_id"], got.as_str());
    }
    // Non-ASCII bytes in the header are replaced as well.
    let r = app
        .client
        .get(app.url("/nope"))
        .header(
            "x-request-id",
            reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        )
        .send()
        .await
        .unwrap();
    let got = request_id(&r);
    assert!(uuid::Uuid::parse_str(&got).is_ok(), "{got}");
    assert_problem(r, 404, "not_found").await;
}

// ---------------------------------------------------------------------------------------------
// PATCH /api/v1/users/me
// ---------------------------------------------------------------------------------------------

async fn patch_me_sets_and_clears_the_display_name(b: Backend) {
    let app = spawn_app(b).await;
    let tokens = app.user_with_tokens("a@example.com").await;
    let at = tokens["access_token"].as_str().unwrap();
    let r = patch_me(&app, at, &json!({"display_name": "Alice A."})).await;
    assert_eq!(r.status(), 200);
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["display_name"], "Alice A.");
    let me: Value = app.me(at).await.json().await.unwrap();
    assert_eq!(me["display_name"], "Alice A.");
    assert_eq!(me["email"], "a@example.com");

    let r = patch_me(&app, at, &json!({"display_name": null})).await;
    assert_eq!(r.status(), 200);
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["display_name"], Value::Null);
    let me: Value = app.me(at).await.json().await.unwrap();
    assert_eq!(me["display_name"], Value::Null);

    // An empty string is not a way to clear it.
    let r = patch_me(&app, at, &json!({"display_name": ""})).await;
    let p = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(field_errors(&p), pairs(&[("display_name", "required")]));
}

async fn patch_me_sets_the_username_and_leaves_absent_fields_alone(b: Backend) {
    let app = spawn_app(b).await;
    let r = app
        .post_json(
            REGISTER,
            &json!({"email": "a@example.com", "password": PASSWORD, "display_name": "Alice"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let tokens = app.tokens("a@example.com").await;
    let at = tokens["access_token"].as_str().unwrap();

    let r = patch_me(&app, at, &json!({"username": "Alice_1"})).await;
    assert_eq!(r.status(), 200);
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["username"], "Alice_1");
    assert_eq!(user["display_name"], "Alice", "display_name was absent");

    let r = patch_me(&app, at, &json!({"display_name": "Alice B."})).await;
    assert_eq!(r.status(), 200);
    let me: Value = app.me(at).await.json().await.unwrap();
    assert_eq!(me["username"], "Alice_1", "username was absent");
    assert_eq!(me["display_name"], "Alice B.");

    // An empty patch changes nothing.
    let r = patch_me(&app, at, &json!({})).await;
    assert_eq!(r.status(), 200);
    let me2: Value = app.me(at).await.json().await.unwrap();
    assert_eq!(me2["username"], "Alice_1");
    assert_eq!(me2["display_name"], "Alice B.");

    // The new username logs in (case-insensitively).
    let r = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"username": "alice_1", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), 200);

    // Clearing it with null.
    let r = patch_me(&app, at, &json!({"username": null})).await;
    assert_eq!(r.status(), 200);
    let me: Value = app.me(at).await.json().await.unwrap();
    assert_eq!(me["username"], Value::Null);
    assert_eq!(me["display_name"], "Alice B.");
}

async fn patch_me_rejects_a_username_another_user_holds_in_any_case(b: Backend) {
    let app = spawn_app(b).await;
    let bob = app.user_with_tokens("bob@example.com").await;
    let bob_at = bob["access_token"].as_str().unwrap();
    let r = patch_me(&app, bob_at, &json!({"username": "Bob.Builder"})).await;
    assert_eq!(r.status(), 200);

    let alice = app.user_with_tokens("alice@example.com").await;
    let alice_at = alice["access_token"].as_str().unwrap();
    for taken in ["Bob.Builder", "bob.builder", "BOB.BUILDER"] {
        let r = patch_me(
            &app,
            alice_at,
            &json!({"username": taken, "display_name": "Alice"}),
        )
        .await;
        assert_problem(r, 409, "username_taken").await;
    }
    // The failed patch changed nothing, not even the display name sent alongside.
    let me: Value = app.me(alice_at).await.json().await.unwrap();
    assert_eq!(me["username"], Value::Null);
    assert_eq!(me["display_name"], Value::Null);
    // Registration obeys the same rule.
    let r = app
        .post_json(
            REGISTER,
            &json!({"email": "carol@example.com", "password": PASSWORD, "username": "BOB.builder"}),
        )
        .await;
    assert_problem(r, 409, "username_taken").await;
    // Bob may change the case of his own username.
    let r = patch_me(&app, bob_at, &json!({"username": "bob.builder"})).await;
    assert_eq!(r.status(), 200);
    let me: Value = app.me(bob_at).await.json().await.unwrap();
    assert_eq!(me["username"], "bob.builder");
}

async fn patch_me_rejects_unknown_fields_bad_values_and_missing_tokens(b: Backend) {
    let app = spawn_app(b).await;
    let tokens = app.user_with_tokens("a@example.com").await;
    let at = tokens["access_token"].as_str().unwrap();
    for field in [
        "roles",
        "email",
        "email_verified",
        "is_active",
        "id",
        "password",
    ] {
        let r = patch_me(&app, at, &json!({ field: "x" })).await;
        assert_problem(r, 422, "invalid_body").await;
    }
    let r = patch_me(&app, at, &json!({"username": 7})).await;
    assert_problem(r, 422, "invalid_body").await;
    let r = patch_me(
        &app,
        at,
        &json!({"username": "x", "display_name": "y".repeat(101)}),
    )
    .await;
    let p = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(
        field_errors(&p),
        pairs(&[("display_name", "too_long"), ("username", "too_short")])
    );
    let me: Value = app.me(at).await.json().await.unwrap();
    assert_eq!(me["roles"], json!([]));
    assert_eq!(me["email"], "a@example.com");
    assert_eq!(me["username"], Value::Null);

    let r = app
        .client
        .patch(app.url(ME))
        .json(&json!({"display_name": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 401, "missing_token").await;
}

crate::on_every_backend!(
    malformed_json_is_400_malformed_json,
    truncated_json_is_400_malformed_json,
    invalid_utf8_in_the_body_is_400_malformed_json,
    deeply_nested_json_is_a_client_error_not_a_crash,
    an_empty_body_is_400_malformed_json,
    a_non_json_content_type_is_415_unsupported_media_type,
    a_missing_content_type_is_415_unsupported_media_type,
    json_content_type_variants_are_accepted,
    a_field_of_the_wrong_type_is_422_invalid_body_and_stores_nothing,
    a_missing_required_field_is_422_invalid_body,
    privileged_fields_in_a_registration_body_are_422_invalid_body_and_store_nothing,
    a_body_over_64_kib_is_413_payload_too_large,
    a_chunked_body_over_64_kib_is_413_payload_too_large,
    a_body_at_or_just_under_the_limit_is_not_rejected_for_size,
    validation_failures_list_every_failing_field_and_rule,
    a_password_over_256_bytes_is_rejected_as_too_long,
    a_display_name_with_a_control_character_is_rejected,
    unusual_but_valid_unicode_display_names_round_trip,
    an_unknown_path_is_404_not_found,
    a_wrong_method_is_405_method_not_allowed,
    every_response_carries_a_request_id,
    a_valid_client_request_id_is_echoed,
    an_invalid_client_request_id_is_replaced_by_a_generated_one,
    patch_me_sets_and_clears_the_display_name,
    patch_me_sets_the_username_and_leaves_absent_fields_alone,
    patch_me_rejects_a_username_another_user_holds_in_any_case,
    patch_me_rejects_unknown_fields_bad_values_and_missing_tokens,
);
