//! The API contract as published: `/openapi.json` (the same document `sesame openapi` prints)
//! lists every operation with its error schema and security schemes, and Swagger UI is served
//! from vendored assets, so `/docs` works without network access.

use crate::helpers::{spawn_app, Backend, TestApp};
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document(app: &TestApp) -> Value {
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status(), 200);
    let ct = r.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "content type {ct}");
    r.json().await.unwrap()
}

/// The response statuses an operation documents.
fn statuses(op: &Value) -> BTreeSet<&str> {
    op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

/// Every `(METHOD, path, operation)` in the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths is an object") {
        for (key, op) in item.as_object().unwrap() {
            if METHODS.contains(&key.as_str()) {
                ops.push((key.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_json_lists_exactly_the_api_operations() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "openapi {version}");
    assert_eq!(doc["info"]["title"], "Sesame");
    assert!(doc["info"]["version"].is_string());

    let got: BTreeSet<String> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| format!("{m} {p}"))
        .collect();
    let expected: BTreeSet<String> = [
        "POST /api/v1/auth/register",
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/token",
        "POST /api/v1/auth/refresh",
        "POST /api/v1/auth/logout",
        "POST /api/v1/auth/logout-all",
        "GET /api/v1/users/me",
        "PATCH /api/v1/users/me",
        "DELETE /api/v1/users/me",
        "POST /api/v1/users/me/password",
        "POST /api/v1/users/me/email",
        "GET /api/v1/users/me/sessions",
        "DELETE /api/v1/users/me/sessions/{id}",
        "GET /api/v1/users/me/export",
        "POST /api/v1/auth/login/mfa",
        "POST /api/v1/auth/reauthenticate",
        "GET /api/v1/users/me/factors",
        "POST /api/v1/users/me/factors/totp",
        "POST /api/v1/users/me/factors/totp/{id}/confirm",
        "PATCH /api/v1/users/me/factors/{id}",
        "DELETE /api/v1/users/me/factors/{id}",
        "POST /api/v1/users/me/recovery-codes",
        "GET /api/v1/admin/users/{id}/factors",
        "DELETE /api/v1/admin/users/{id}/factors",
        "POST /api/v1/users/me/factors/passkeys/options",
        "POST /api/v1/users/me/factors/passkeys",
        "POST /api/v1/auth/passkey/options",
        "POST /api/v1/auth/passkey/login",
        "POST /api/v1/auth/reauthenticate/passkey/options",
        "POST /api/v1/auth/verify-email",
        "POST /api/v1/auth/verify-email/resend",
        "POST /api/v1/auth/password/forgot",
        "POST /api/v1/auth/password/reset",
        "POST /api/v1/auth/email/confirm",
        "GET /api/v1/admin/users",
        "POST /api/v1/admin/users",
        "GET /api/v1/admin/users/{id}",
        "PATCH /api/v1/admin/users/{id}",
        "DELETE /api/v1/admin/users/{id}",
        "POST /api/v1/admin/users/{id}/unlock",
        "POST /api/v1/admin/users/{id}/revoke-sessions",
        "GET /api/v1/admin/users/{id}/sessions",
        "GET /api/v1/admin/roles",
        "POST /api/v1/admin/roles",
        "DELETE /api/v1/admin/roles/{name}",
        "GET /api/v1/admin/clients",
        "POST /api/v1/admin/clients",
        "GET /api/v1/admin/clients/{id}",
        "PATCH /api/v1/admin/clients/{id}",
        "DELETE /api/v1/admin/clients/{id}",
        "POST /api/v1/admin/clients/{id}/secret",
        "GET /api/v1/admin/audit-events",
        "POST /api/v1/auth/login/mfa",
        "POST /api/v1/auth/reauthenticate",
        "GET /api/v1/users/me/factors",
        "POST /api/v1/users/me/factors/totp",
        "POST /api/v1/users/me/factors/totp/{id}/confirm",
        "PATCH /api/v1/users/me/factors/{id}",
        "DELETE /api/v1/users/me/factors/{id}",
        "POST /api/v1/users/me/recovery-codes",
        "GET /api/v1/admin/users/{id}/factors",
        "DELETE /api/v1/admin/users/{id}/factors",
        "GET /.well-known/jwks.json",
        "GET /.well-known/openid-configuration",
        "GET /.well-known/oauth-authorization-server",
        "GET /oauth2/userinfo",
        "POST /oauth2/userinfo",
        "POST /oauth2/revoke",
        "GET /api/v1/users/me/grants",
        "DELETE /api/v1/users/me/grants/{client_id}",
        "POST /oauth2/introspect",
        "GET /metrics",
        "GET /health/live",
        "GET /health/ready",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(got, expected);

    // Operation ids, where present, are unique (client generators rely on it).
    let ids: Vec<_> = operations(&doc)
        .into_iter()
        .filter_map(|(_, _, op)| op["operationId"].as_str().map(str::to_owned))
        .collect();
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate operationId in {ids:?}");
}

/// A response as written, or the shared one under `components.responses` it refers to.
fn resolve(doc: &Value, resp: &Value) -> Value {
    match resp["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/responses/")
                .unwrap_or_else(|| panic!("a response $ref outside components.responses: {r}"));
            let shared = doc["components"]["responses"][name].clone();
            assert!(shared.is_object(), "dangling response $ref {r}");
            shared
        }
        None => resp.clone(),
    }
}

/// The schema names (the last segment of each `$ref`) of a response's contents.
fn response_schemas(resp: &Value) -> Vec<(String, String)> {
    resp["content"]
        .as_object()
        .map(|c| {
            c.iter()
                .filter_map(|(ct, media)| {
                    let r = media["schema"]["$ref"].as_str()?;
                    Some((ct.clone(), r.rsplit('/').next().unwrap().to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_documents_responses_and_4xx_answers_use_the_error_schema() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in ["ProblemBody", "OAuthErrorResponse", "FieldProblem"] {
        assert!(schemas.contains_key(name), "components.schemas.{name}");
    }
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} has no responses"));
        assert!(!responses.is_empty(), "{method} {path} has no responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path} documents no success"
        );
        for (status, resp) in responses {
            let resp = resolve(&doc, resp);
            assert!(
                resp["description"].is_string(),
                "{method} {path} {status} has no description"
            );
            if !status.starts_with('4') {
                continue;
            }
            let found = response_schemas(&resp);
            for (_, schema) in &found {
                assert!(schemas.contains_key(schema), "dangling $ref {schema}");
            }
            // The load bounds answer before the token endpoint runs, in problem+json.
            let from_bounds = matches!(status.as_str(), "408" | "429")
                && found
                    .iter()
                    .any(|(ct, s)| ct == "application/problem+json" && s == "ProblemBody");
            if path == "/oauth2/userinfo" && !from_bounds {
                assert!(
                    found
                        .iter()
                        .any(|(ct, s)| ct == "application/json" && s == "BearerErrorResponse"),
                    "{method} {path} {status} should be an RFC 6750 error: {resp}"
                );
            } else if matches!(
                path.as_str(),
                "/api/v1/auth/token" | "/oauth2/revoke" | "/oauth2/introspect"
            ) && !from_bounds
            {
                assert!(
                    found
                        .iter()
                        .any(|(ct, s)| ct == "application/json" && s == "OAuthErrorResponse"),
                    "{method} {path} {status} should be an RFC 6749 error: {resp}"
                );
            } else {
                assert!(
                    found
                        .iter()
                        .any(|(ct, s)| ct == "application/problem+json" && s == "ProblemBody"),
                    "{method} {path} {status} should be a problem+json ProblemBody: {resp}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} 4xx responses documented");
    // Protected operations declare their security; the ProblemBody schema has the stable code.
    let me = &doc["paths"]["/api/v1/users/me"]["get"];
    assert!(
        me["security"].to_string().contains("bearer"),
        "GET /users/me security: {me}"
    );
    let problem = &schemas["ProblemBody"]["properties"];
    for field in ["type", "title", "status", "detail", "code", "request_id"] {
        assert!(problem.get(field).is_some(), "ProblemBody.{field}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_schemes_offer_bearer_and_the_oauth2_password_flow() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http", "{schemes}");
    assert_eq!(
        schemes["bearer"]["scheme"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("bearer"),
        "{schemes}"
    );
    assert_eq!(schemes["oauth2"]["type"], "oauth2", "{schemes}");
    assert_eq!(
        schemes["oauth2"]["flows"]["password"]["tokenUrl"], "/api/v1/auth/token",
        "{schemes}"
    );
    // The documented token URL is a working OAuth token endpoint on this server.
    app.create_user("a@example.com").await;
    let r = app
        .password_grant("a@example.com", crate::helpers::PASSWORD)
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
}

/// Every `src="…"` and `href="…"` value in an HTML page.
fn asset_refs(html: &str) -> Vec<String> {
    let mut refs = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').unwrap();
            refs.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    refs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_is_served_from_vendored_assets() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut pages = Vec::new();
    for path in ["/docs/", "/docs"] {
        // reqwest follows the /docs → /docs/ redirect.
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.url().path(), "/docs/", "{path} ends on /docs/");
        let ct = r.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        let html = r.text().await.unwrap();
        assert!(html.contains("swagger-ui"), "{html}");
        pages.push(html);
    }
    assert_eq!(pages[0], pages[1]);
    let html = &pages[0];

    let refs = asset_refs(html);
    assert!(
        refs.iter().any(|r| r.ends_with("swagger-ui-bundle.js")),
        "{refs:?}"
    );
    for r in &refs {
        assert!(
            !r.contains("://") && !r.starts_with("//"),
            "the docs page loads {r} from elsewhere"
        );
    }
    // Every asset the page references is served by us.
    let base = reqwest::Url::parse(&app.url("/docs/")).unwrap();
    for r in &refs {
        let url = base.join(r).unwrap();
        let resp = app.client.get(url.clone()).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        assert!(!resp.bytes().await.unwrap().is_empty(), "{url} is empty");
    }
    let bundle = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), 200);
    let ct = bundle.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(ct.contains("javascript"), "{ct}");
    assert!(bundle.bytes().await.unwrap().len() > 100_000);
    // The UI is configured with this server's document, not a remote one.
    let init = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(init.status(), 200);
    let init = init.text().await.unwrap();
    assert!(init.contains("\"/openapi.json\""), "{init}");
    assert!(
        !init.contains("http://") && !init.contains("https://"),
        "{init}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_the_same_document_as_the_server() {
    let app = spawn_app(Backend::Sqlite).await;
    let served = document(&app).await;
    let dir = std::env::temp_dir().join(format!("sesame-openapi-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sesame"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SESAME_") {
            cmd.env_remove(k);
        }
    }
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        cmd.arg("openapi")
            .current_dir(&dir)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("sesame openapi finishes")
    .unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(leftovers.is_empty(), "`sesame openapi` wrote {leftovers:?}");
    let printed: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let keys =
        |d: &Value| -> Vec<String> { d["paths"].as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&printed), keys(&served));
    assert_eq!(printed, served);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_json_body_or_query_operation_documents_the_extractor_answers() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    let (mut with_body, mut with_query) = (0, 0);
    for (method, path, op) in operations(&doc) {
        let statuses = statuses(&op);
        if op["requestBody"]["content"]
            .get("application/json")
            .is_some()
        {
            with_body += 1;
            for s in ["400", "413", "415", "422"] {
                assert!(
                    statuses.contains(s),
                    "{method} {path} lacks {s}: {statuses:?}"
                );
            }
        }
        let has_query = op["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
        if has_query {
            with_query += 1;
            for s in ["400", "422"] {
                assert!(
                    statuses.contains(s),
                    "{method} {path} lacks {s}: {statuses:?}"
                );
            }
        }
    }
    assert!(
        with_body >= 15,
        "only {with_body} operations with a JSON body"
    );
    assert_eq!(with_query, 2, "the admin listings take query parameters");
    // The limited endpoints document their 429.
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/register",
        "/api/v1/auth/password/forgot",
        "/api/v1/auth/verify-email/resend",
        "/api/v1/users/me/email",
    ] {
        assert!(
            doc["paths"][path]["post"]["responses"].get("429").is_some(),
            "{path} lacks 429"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_schema_requires_exactly_one_of_email_and_username() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    let login = &doc["components"]["schemas"]["LoginRequest"];
    let branches = login["oneOf"].as_array().expect("LoginRequest is a oneOf");
    let required: BTreeSet<String> = branches
        .iter()
        .map(|b| {
            assert_eq!(b["additionalProperties"], false, "{b}");
            let mut r: Vec<String> = serde_json::from_value(b["required"].clone()).unwrap();
            r.sort();
            r.join("+")
        })
        .collect();
    let expected: BTreeSet<String> = ["email+password", "password+username"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(required, expected, "{login}");
    // And the server agrees: neither, or both, is refused.
    for body in [
        serde_json::json!({"password": "x"}),
        serde_json::json!({"email": "a@example.com", "username": "a", "password": "x"}),
    ] {
        let r = app.post_json("/api/v1/auth/login", &body).await;
        assert_eq!(r.status(), 422, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_schema_requires_the_refresh_token() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    let refresh = &doc["components"]["schemas"]["RefreshRequest"];
    assert_eq!(
        refresh["required"],
        serde_json::json!(["refresh_token"]),
        "{refresh}"
    );
    assert_eq!(
        refresh["properties"]["refresh_token"]["type"], "string",
        "{refresh}"
    );
    let r = app
        .post_json("/api/v1/auth/refresh", &serde_json::json!({}))
        .await;
    assert_eq!(r.status(), 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_page_limits_are_documented_as_1_to_200() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    for path in ["/api/v1/admin/users", "/api/v1/admin/audit-events"] {
        let limit = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap_or_else(|| panic!("{path} has no limit"))
            .clone();
        assert_eq!(limit["schema"]["minimum"], 1, "{path}: {limit}");
        assert_eq!(limit["schema"]["maximum"], 200, "{path}: {limit}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_strings_document_the_control_character_rule() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    let pattern = &schemas["RegisterRequest"]["properties"]["email"]["pattern"];
    let pattern = pattern
        .as_str()
        .expect("RegisterRequest.email has a pattern");
    assert!(pattern.contains("\\u0000"), "{pattern}");
    for (schema, field) in [
        ("CreateRoleRequest", "description"),
        ("RefreshRequest", "refresh_token"),
        ("UpdateMeRequest", "display_name"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["pattern"], pattern,
            "{schema}.{field}"
        );
    }
    for branch in schemas["LoginRequest"]["oneOf"].as_array().unwrap() {
        assert_eq!(
            branch["properties"]["password"]["pattern"], pattern,
            "{branch}"
        );
    }
    let q = doc["paths"]["/api/v1/admin/users"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "q")
        .unwrap()
        .clone();
    assert_eq!(q["schema"]["pattern"], pattern, "{q}");
}

/// Any operation behind the load bounds can answer 408, 429 (the client's share) and 503 (busy,
/// or the database unavailable), whatever its input; the document says so for each one, and
/// the probes (outside the bounds) do not claim it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bounded_operation_documents_timeout_share_and_unavailable_answers() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    let mut bounded = 0;
    for (method, path, op) in operations(&doc) {
        let statuses = statuses(&op);
        if path.starts_with("/health/") {
            assert!(!statuses.contains("408"), "{method} {path}: {statuses:?}");
            continue;
        }
        bounded += 1;
        for s in ["408", "429", "503"] {
            assert!(
                statuses.contains(s),
                "{method} {path} lacks {s}: {statuses:?}"
            );
        }
    }
    assert!(bounded >= 25, "only {bounded} bounded operations");
}

/// The license the crates and the API document declare is the one the repository ships.
#[test]
fn the_repository_ships_the_license_that_the_crates_and_the_document_declare() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("license = \"Apache-2.0\""), "{manifest}");
    let license = std::fs::read_to_string(root.join("LICENSE")).expect("a LICENSE file");
    assert!(
        license.contains("Apache License"),
        "LICENSE is not the Apache license"
    );
    assert!(license.contains("Version 2.0, January 2004"));
    let doc = serde_json::to_value(sesame::http::openapi()).unwrap();
    assert_eq!(doc["info"]["license"]["identifier"], "Apache-2.0");
}

/// A request body for `schema` (resolved through `components.schemas`; of a `oneOf`, the first
/// alternative) that gets past the JSON/form extractors: every required property set to a value
/// of its type, chosen by its name where the name implies a format. `n` keeps addresses unique.
fn probe_body(doc: &Value, schema: &Value, n: usize) -> Value {
    let schema = match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            doc["components"]["schemas"][name].clone()
        }
        None => schema.clone(),
    };
    if let Some(first) = schema["oneOf"].as_array().and_then(|a| a.first()) {
        return probe_body(doc, first, n);
    }
    let mut body = serde_json::Map::new();
    for name in schema["required"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap();
        let prop = &schema["properties"][name];
        let value = if let Some(first) = prop["enum"].as_array().and_then(|e| e.first()) {
            first.clone()
        } else if name.contains("email") {
            Value::from(format!("probe-{n}@example.com"))
        } else if name.contains("password") {
            Value::from(crate::helpers::PASSWORD)
        } else if name == "username" {
            Value::from(format!("probe{n}"))
        } else {
            let ty = prop["type"].as_str().or_else(|| {
                prop["type"]
                    .as_array()
                    .and_then(|t| t.iter().find_map(|t| t.as_str().filter(|t| *t != "null")))
            });
            match ty {
                Some("boolean") => Value::Bool(false),
                Some("integer" | "number") => Value::from(1),
                Some("array") => Value::Array(vec![]),
                Some("object") => Value::Object(serde_json::Map::new()),
                _ => Value::from("probe"),
            }
        };
        body.insert(name.to_owned(), value);
    }
    Value::Object(body)
}

/// Sends the operation `method path` with a probe body (JSON or form, as the document says) and
/// an optional bearer token; path parameters get a random id or name.
async fn probe(
    app: &TestApp,
    doc: &Value,
    (method, path, op): (&str, &str, &Value),
    token: Option<&str>,
    n: usize,
) -> reqwest::Response {
    let path = path
        .replace("{id}", &uuid::Uuid::now_v7().to_string())
        .replace("{name}", "probe-role");
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut rb = app.client.request(method, app.url(&path));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let content = &op["requestBody"]["content"];
    if let Some(schema) = content.get("application/json").map(|c| &c["schema"]) {
        rb = rb.json(&probe_body(doc, schema, n));
    } else if let Some(schema) = content
        .get("application/x-www-form-urlencoded")
        .map(|c| &c["schema"])
    {
        let body = probe_body(doc, schema, n);
        let pairs: Vec<(String, String)> = body
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_owned)))
            .collect();
        rb = rb.form(&pairs);
    }
    rb.send().await.unwrap()
}

/// The contract for the two answers a client must be ready for everywhere they can happen:
/// every operation that answers 401 documents it (and exactly the operations that declare a
/// bearer requirement answer 401 without one), and every operation that a rate limit can
/// answer with 429 documents 429 with `Retry-After`. Both are found by calling every documented
/// operation on a server whose quotas are all one request per hour, not from a list; tokens
/// come fresh for each operation from a second server on the same database (same keys, normal
/// quotas), so one operation's logout cannot hide the next one's answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_authenticated_operation_documents_401_and_every_rate_limited_one_429() {
    const ADMIN: &str = "admin@example.com";
    let bootstrap = [
        "--bootstrap-admin-email",
        ADMIN,
        "--bootstrap-admin-password",
        crate::helpers::PASSWORD,
    ];
    let minter = crate::helpers::spawn_app_with(Backend::Sqlite, &[], &bootstrap).await;
    let mut strict_flags: Vec<&str> = Vec::new();
    for rule in [
        "login-ip",
        "login-account",
        "register-ip",
        "forgot-ip",
        "forgot-email",
        "resend-ip",
        "resend-email",
        "email-change-ip",
        "email-change-user",
    ] {
        strict_flags.push(Box::leak(format!("--rate-{rule}").into_boxed_str()));
        strict_flags.push("1/1h");
    }
    let strict = crate::helpers::spawn_on(minter.db.share(), &[], &strict_flags).await;
    let doc = document(&strict).await;

    let mut answered_401 = BTreeSet::new();
    let mut limited = BTreeSet::new();
    for (n, (method, path, op)) in operations(&doc).into_iter().enumerate() {
        let name = format!("{method} {path}");
        let documented = statuses(&op)
            .into_iter()
            .map(str::to_owned)
            .collect::<BTreeSet<_>>();
        let bearer = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|req| req.get("bearer").is_some()));

        // Without credentials.
        let anonymous = probe(&strict, &doc, (&method, &path, &op), None, n).await;
        let status = anonymous.status().as_u16();
        if status == 401 {
            answered_401.insert(name.clone());
            assert!(
                documented.contains("401"),
                "{name} answers 401 but documents {documented:?}"
            );
        }
        if bearer {
            assert_eq!(
                status, 401,
                "{name} declares a bearer token but answers {status} without one"
            );
        }

        // Twice with a fresh token: a quota of one lets at most the first through.
        let token = minter.tokens(ADMIN).await;
        let token = crate::helpers::text_field(&token, "access_token");
        for attempt in 0..2 {
            let r = probe(
                &strict,
                &doc,
                (&method, &path, &op),
                Some(&token),
                n * 2 + attempt,
            )
            .await;
            if r.status() == 429 {
                let retry = r.headers().get("retry-after").cloned();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                assert!(retry.is_some(), "{name}: 429 without Retry-After");
                let code = body["code"]
                    .as_str()
                    .or(body["error"].as_str())
                    .unwrap_or("");
                assert!(
                    matches!(code, "rate_limited" | "invalid_grant"),
                    "{name}: 429 with {body}"
                );
                limited.insert(name.clone());
            }
        }
        if limited.contains(&name) {
            assert!(
                documented.contains("429"),
                "{name} is rate limited but documents {documented:?}"
            );
            let resp = resolve(&doc, &op["responses"]["429"]);
            assert!(
                resp["headers"].get("Retry-After").is_some(),
                "{name}: its 429 does not document Retry-After: {resp}"
            );
        }
    }
    // The probes reached what they claim to check.
    assert!(
        answered_401.contains("GET /api/v1/users/me"),
        "{answered_401:?}"
    );
    assert!(
        answered_401.contains("GET /api/v1/admin/users"),
        "{answered_401:?}"
    );
    for op in [
        "POST /api/v1/auth/register",
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/token",
        "POST /api/v1/auth/password/forgot",
        "POST /api/v1/auth/verify-email/resend",
        "POST /api/v1/users/me/email",
    ] {
        assert!(
            limited.contains(op),
            "{op} was not rate limited: {limited:?}"
        );
    }
}
