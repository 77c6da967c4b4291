//! The admin API and roles: every route under `/api/v1/admin` refuses anonymous and non-admin
//! callers, roles reach tokens at the next refresh but admin powers follow the database at once,
//! the last active admin stays, deactivation cuts a user off at once, the user list pages by
//! cursor (exactly once, also while users are being added) with its filters, admin-made users
//! and invitations, unlocks and session revocation, the audit trail of every admin action, the
//! bootstrap admin, and `sesame users seed`.

use crate::helpers::text_field as s;
use crate::helpers::{
    assert_problem, spawn_app_with, spawn_on, Backend, TestApp, TestDb, FAST_HASH, PASSWORD,
};
use crate::smtp::SmtpSink;
use base64::Engine as _;
use futures::stream::{self, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ADMIN_EMAIL: &str = "admin@example.com";
const USERS: &str = "/api/v1/admin/users";
const ROLES: &str = "/api/v1/admin/roles";
const AUDIT: &str = "/api/v1/admin/audit-events";
const WRONG: &str = "definitely not the password";
/// `sesame users seed`'s default password.
const SEED_PASSWORD: &str = "seed passphrase for load tests 42";

/// A logged-in caller.
#[derive(Debug, Clone)]
struct Caller {
    id: String,
    access: String,
    refresh: String,
}

impl Caller {
    fn from_tokens(t: &Value) -> Self {
        Self {
            id: s(&t["user"], "id"),
            access: s(t, "access_token"),
            refresh: s(t, "refresh_token"),
        }
    }
}

/// `serve` flags that create the bootstrap admin, plus `extra`.
fn with_bootstrap<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "--bootstrap-admin-email",
        ADMIN_EMAIL,
        "--bootstrap-admin-password",
        PASSWORD,
    ];
    v.extend_from_slice(extra);
    v
}

/// A server whose bootstrap admin is logged in.
async fn admin_app_with(b: Backend, serve: &[&str]) -> (TestApp, Caller) {
    let app = spawn_app_with(b, &[], &with_bootstrap(serve)).await;
    let admin = Caller::from_tokens(&app.tokens(ADMIN_EMAIL).await);
    (app, admin)
}

async fn admin_app(b: Backend) -> (TestApp, Caller) {
    admin_app_with(b, &[]).await
}

/// One request, with a bearer token and a JSON body if given.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut rb = app.client.request(method, app.url(path));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(b);
    }
    rb.send().await.unwrap()
}

async fn get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    call(app, Method::GET, path, Some(token), None).await
}

async fn post(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    call(app, Method::POST, path, Some(token), Some(body)).await
}

async fn post_empty(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    call(app, Method::POST, path, Some(token), None).await
}

async fn patch(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    call(app, Method::PATCH, path, Some(token), Some(body)).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    call(app, Method::DELETE, path, Some(token), None).await
}

/// Asserts the status and returns the JSON body (`Null` when empty).
async fn expect(r: reqwest::Response, status: u16) -> Value {
    let got = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

fn user_path(id: &str) -> String {
    format!("{USERS}/{id}")
}

/// `GET /admin/users` with query parameters (encoded by reqwest), as the response.
async fn list_raw(app: &TestApp, token: &str, query: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .get(app.url(USERS))
        .bearer_auth(token)
        .query(query)
        .send()
        .await
        .unwrap()
}

async fn list(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Value {
    expect(list_raw(app, token, query).await, 200).await
}

/// The emails of one page, as a set.
async fn emails(app: &TestApp, token: &str, query: &[(&str, &str)]) -> BTreeSet<String> {
    let mut q = query.to_vec();
    q.push(("limit", "200"));
    let page = list(app, token, &q).await;
    assert!(page["next_cursor"].is_null(), "one page expected: {page}");
    page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| s(u, "email"))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Walks every page of `GET /admin/users` with `query` and pages of `limit`; returns the ids in
/// the order served.
async fn walk(app: &TestApp, token: &str, query: &[(&str, &str)], limit: u32) -> Vec<String> {
    let limit_s = limit.to_string();
    let mut cursor: Option<String> = None;
    let mut ids = Vec::new();
    for _ in 0..10_000 {
        let mut q = query.to_vec();
        q.push(("limit", &limit_s));
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let page = list(app, token, &q).await;
        let users = page["users"].as_array().unwrap();
        ids.extend(users.iter().map(|u| s(u, "id")));
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(
                    users.len(),
                    limit as usize,
                    "a page before the last is full"
                );
                cursor = Some(c.to_owned());
            }
            None => return ids,
        }
    }
    panic!("the walk never ended");
}

/// The payload of a JWT.
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn sorted(v: &Value) -> Vec<String> {
    let mut r: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect();
    r.sort();
    r
}

async fn create_role(app: &TestApp, admin: &Caller, name: &str) -> Value {
    expect(
        post(app, ROLES, &admin.access, &json!({ "name": name })).await,
        201,
    )
    .await
}

/// Creates a user through the admin API with `PASSWORD` and `extra` fields.
async fn admin_create(app: &TestApp, admin: &Caller, email: &str, extra: Value) -> Value {
    let mut body = json!({ "email": email, "password": PASSWORD });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    expect(post(app, USERS, &admin.access, &body).await, 201).await
}

/// Creates a second admin and logs them in.
async fn second_admin(app: &TestApp, admin: &Caller, email: &str) -> Caller {
    admin_create(app, admin, email, json!({ "roles": ["admin"] })).await;
    Caller::from_tokens(&app.tokens(email).await)
}

/// Registers a user with a username and logs them in.
async fn registered(app: &TestApp, email: &str, username: Option<&str>) -> Caller {
    let mut body = json!({ "email": email, "password": PASSWORD });
    if let Some(u) = username {
        body["username"] = json!(u);
    }
    expect(app.post_json("/api/v1/auth/register", &body).await, 201).await;
    Caller::from_tokens(&app.tokens(email).await)
}

/// Registers `n` users `{prefix}{i}@example.com` (16 at a time); returns their ids.
async fn register_many(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    stream::iter(0..n)
        .map(|i| async move {
            let r = app
                .register(&format!("{prefix}{i}@example.com"), PASSWORD)
                .await;
            s(&expect(r, 201).await, "id")
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// `GET /admin/users/{id}/sessions`, expecting 200.
async fn sessions_of(app: &TestApp, admin: &Caller, id: &str) -> Value {
    expect(
        get(app, &format!("{}/sessions", user_path(id)), &admin.access).await,
        200,
    )
    .await
}

async fn user(app: &TestApp, admin: &Caller, id: &str) -> Value {
    expect(get(app, &user_path(id), &admin.access).await, 200).await
}

/// Active admins, read from the database.
async fn active_admins(app: &TestApp) -> usize {
    app.db.count("users u JOIN user_roles r ON r.user_id = u.id WHERE r.role = 'admin' AND u.is_active = TRUE",
    )
    .await
}

/// Every audit event matching `query`, walked page by page with `limit`.
async fn audit_walk(app: &TestApp, token: &str, query: &[(&str, &str)], limit: u32) -> Vec<Value> {
    let limit_s = limit.to_string();
    let mut cursor: Option<String> = None;
    let mut events = Vec::new();
    loop {
        let mut q = query.to_vec();
        q.push(("limit", &limit_s));
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let r = app
            .client
            .get(app.url(AUDIT))
            .bearer_auth(token)
            .query(&q)
            .send()
            .await
            .unwrap();
        let page = expect(r, 200).await;
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return events,
        }
    }
}

async fn audit(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Vec<Value> {
    audit_walk(app, token, query, 200).await
}

// ---------------------------------------------------------------------------------------------
// Who may call the admin API
// ---------------------------------------------------------------------------------------------

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every `(method, path)` under `/api/v1/admin` in the published document, path parameters
/// filled in (a random uuid, or a role name).
async fn admin_routes(app: &TestApp) -> Vec<(Method, String)> {
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/admin") {
            continue;
        }
        let filled: Vec<String> = path
            .split('/')
            .map(|seg| match seg.strip_prefix('{') {
                Some(p) if p.starts_with("name") => "some-role".to_owned(),
                Some(_) => uuid::Uuid::now_v7().to_string(),
                None => seg.to_owned(),
            })
            .collect();
        for method in item.as_object().unwrap().keys() {
            if METHODS.contains(&method.as_str()) {
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                routes.push((m, filled.join("/")));
            }
        }
    }
    routes
}

async fn every_admin_route_refuses_anonymous_and_non_admin_callers(b: Backend) {
    let (app, admin) = admin_app(b).await;
    let alice = registered(&app, "alice@example.com", None).await;
    let routes = admin_routes(&app).await;
    assert!(
        !routes.is_empty(),
        "the OpenAPI document lists no route under /api/v1/admin"
    );
    // The routes this suite knows of are among them (new ones are covered automatically).
    for known in ["/api/v1/admin/users", "/api/v1/admin/roles", AUDIT] {
        assert!(
            routes.iter().any(|(_, p)| p == known),
            "{known} in {routes:?}"
        );
    }
    for (method, path) in &routes {
        let what = format!("{method} {path}");
        // No body is sent: who may call is decided before the body is read.
        let r = call(&app, method.clone(), path, None, None).await;
        assert_eq!(r.status(), 401, "{what} anonymous");
        assert!(r.headers().contains_key("www-authenticate"), "{what}");
        assert_problem(r, 401, "missing_token").await;

        let r = call(&app, method.clone(), path, Some("not.a.jwt"), None).await;
        assert_eq!(r.status(), 401, "{what} with a bad token");
        assert_problem(r, 401, "invalid_token").await;

        let r = call(&app, method.clone(), path, Some(&alice.access), None).await;
        assert_eq!(r.status(), 403, "{what} as a non-admin");
        assert_problem(r, 403, "forbidden").await;

        // The admin gets past the check (whatever the handler then says).
        let r = call(&app, method.clone(), path, Some(&admin.access), None).await;
        assert!(
            r.status() != 401 && r.status() != 403,
            "{what} as the admin: {}",
            r.status()
        );
    }
    // The refusals changed nothing: alice still holds no role and nothing was audited as admin.
    assert_eq!(user(&app, &admin, &alice.id).await["roles"], json!([]));
    assert_eq!(
        app.db
            .count("audit_events WHERE event LIKE 'admin.%' AND actor_id IS NOT NULL")
            .await,
        0
    );
}

async fn every_admin_route_refuses_a_caller_holding_only_a_non_admin_role(b: Backend) {
    // A role other than `admin` grants no admin power: the check is for the admin role, not for
    // "has some role".
    let (app, admin) = admin_app(b).await;
    create_role(&app, &admin, "support").await;
    let carol = admin_create(
        &app,
        &admin,
        "carol@example.com",
        json!({ "roles": ["support"], "email_verified": true }),
    )
    .await;
    let carol = Caller::from_tokens(&app.tokens(&s(&carol, "email")).await);
    assert_eq!(
        user(&app, &admin, &carol.id).await["roles"],
        json!(["support"])
    );
    let routes = admin_routes(&app).await;
    assert!(!routes.is_empty());
    for (method, path) in &routes {
        let r = call(&app, method.clone(), path, Some(&carol.access), None).await;
        assert_eq!(r.status(), 403, "{method} {path} as a support-role user");
        assert_problem(r, 403, "forbidden").await;
    }
    assert_eq!(
        user(&app, &admin, &carol.id).await["roles"],
        json!(["support"])
    );
    assert_eq!(
        app.db.count("audit_events WHERE event LIKE 'admin.%' AND event <> 'admin.role_created' AND event <> 'admin.user_created'"
        )
        .await,
        0,
        "the refusals changed nothing"
    );
}

// ---------------------------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------------------------

async fn roles_are_created_listed_with_user_counts_and_deleted_but_admin_is_built_in(b: Backend) {
    let (app, admin) = admin_app(b).await;
    let r = post(
        &app,
        ROLES,
        &admin.access,
        &json!({ "name": "billing:read", "description": "  Reads invoices  " }),
    )
    .await;
    let role = expect(r, 201).await;
    assert_eq!(role["name"], "billing:read");
    assert_eq!(role["description"], "Reads invoices");
    assert_eq!(role["built_in"], false);
    assert_eq!(role["users"], 0);
    assert!(role["created_at"].is_string());
    create_role(&app, &admin, "editor").await;

    // A duplicate, and names that break the rules.
    let r = post(&app, ROLES, &admin.access, &json!({ "name": "editor" })).await;
    assert_problem(r, 409, "role_exists").await;
    let r = post(&app, ROLES, &admin.access, &json!({ "name": "admin" })).await;
    assert_problem(r, 409, "role_exists").await;
    for bad in ["Editor", "", "two words", "é", &"r".repeat(65)] {
        let r = post(&app, ROLES, &admin.access, &json!({ "name": bad })).await;
        let body = assert_problem(r, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "name", "{bad}: {body}");
    }
    let r = post(
        &app,
        ROLES,
        &admin.access,
        &json!({ "name": "long", "description": "d".repeat(501) }),
    )
    .await;
    assert_problem(r, 422, "validation_failed").await;
    let r = post(&app, ROLES, &admin.access, &json!({ "nom": "x" })).await;
    assert_eq!(r.status(), 422);

    // The list: every role, with how many users hold it.
    let alice = registered(&app, "alice@example.com", None).await;
    let bob = registered(&app, "bob@example.com", None).await;
    for u in [&alice, &bob] {
        let r = patch(
            &app,
            &user_path(&u.id),
            &admin.access,
            &json!({ "roles": ["editor"] }),
        )
        .await;
        expect(r, 200).await;
    }
    let roles = expect(get(&app, ROLES, &admin.access).await, 200).await;
    let by_name: BTreeMap<String, Value> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (s(r, "name"), r.clone()))
        .collect();
    assert_eq!(
        by_name.keys().cloned().collect::<Vec<_>>(),
        ["admin", "billing:read", "editor"],
        "{roles}"
    );
    assert_eq!(by_name["admin"]["built_in"], true);
    assert_eq!(by_name["admin"]["users"], 1);
    assert_eq!(by_name["editor"]["users"], 2);
    assert_eq!(by_name["billing:read"]["users"], 0);

    // Deleting a custom role takes its grants with it.
    assert_eq!(
        delete(&app, &format!("{ROLES}/editor"), &admin.access)
            .await
            .status(),
        204
    );
    let names: Vec<String> = expect(get(&app, ROLES, &admin.access).await, 200)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(r, "name"))
        .collect();
    assert_eq!(names, ["admin", "billing:read"]);
    assert_eq!(user(&app, &admin, &alice.id).await["roles"], json!([]));
    assert_eq!(app_me(&app, &bob.access).await["roles"], json!([]));

    // The built-in role stays; unknown (or impossible) names are not found.
    let r = delete(&app, &format!("{ROLES}/admin"), &admin.access).await;
    assert_problem(r, 409, "built_in_role").await;
    for missing in ["editor", "nope", "Not%20A%20Name"] {
        let r = delete(&app, &format!("{ROLES}/{missing}"), &admin.access).await;
        assert_problem(r, 404, "not_found").await;
    }
    assert_eq!(
        user(&app, &admin, &admin.id).await["roles"],
        json!(["admin"])
    );
}

async fn app_me(app: &TestApp, access: &str) -> Value {
    expect(app.me(access).await, 200).await
}

async fn assigned_roles_show_at_once_in_the_user_and_in_the_token_after_a_refresh(b: Backend) {
    let (app, admin) = admin_app(b).await;
    create_role(&app, &admin, "editor").await;
    create_role(&app, &admin, "billing:read").await;
    let alice = registered(&app, "alice@example.com", None).await;
    assert_eq!(claims(&alice.access)["roles"], json!([]));

    let r = patch(
        &app,
        &user_path(&alice.id),
        &admin.access,
        &json!({ "roles": ["editor", "billing:read"] }),
    )
    .await;
    let changed = expect(r, 200).await;
    assert_eq!(sorted(&changed["roles"]), ["billing:read", "editor"]);
    // At once in the admin view and in /users/me (read from the database)…
    assert_eq!(
        sorted(&user(&app, &admin, &alice.id).await["roles"]),
        ["billing:read", "editor"]
    );
    assert_eq!(
        sorted(&app_me(&app, &alice.access).await["roles"]),
        ["billing:read", "editor"]
    );
    // …but the access token already issued keeps the roles it was signed with,
    assert_eq!(claims(&alice.access)["roles"], json!([]));
    // and the next refresh carries the new ones.
    let refreshed = expect(app.refresh(&alice.refresh).await, 200).await;
    let access = s(&refreshed, "access_token");
    assert_eq!(
        sorted(&claims(&access)["roles"]),
        ["billing:read", "editor"]
    );

    // Replacing: roles are the list given, not added to it.
    let r = patch(
        &app,
        &user_path(&alice.id),
        &admin.access,
        &json!({ "roles": ["editor"] }),
    )
    .await;
    assert_eq!(expect(r, 200).await["roles"], json!(["editor"]));
    let refreshed = expect(app.refresh(&s(&refreshed, "refresh_token")).await, 200).await;
    assert_eq!(
        claims(&s(&refreshed, "access_token"))["roles"],
        json!(["editor"])
    );

    // An unknown role (or a malformed name) is refused and nothing changes, other fields included.
    for roles in [json!(["editor", "ghost"]), json!(["Not A Role"])] {
        let r = patch(
            &app,
            &user_path(&alice.id),
            &admin.access,
            &json!({ "roles": roles, "display_name": "Changed" }),
        )
        .await;
        let body = assert_problem(r, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "roles", "{body}");
    }
    let r = patch(
        &app,
        &user_path(&alice.id),
        &admin.access,
        &json!({ "roles": ["ghost"] }),
    )
    .await;
    let body = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["code"], "unknown_role", "{body}");
    let now = user(&app, &admin, &alice.id).await;
    assert_eq!(now["roles"], json!(["editor"]));
    assert!(now["display_name"].is_null(), "{now}");
    assert_eq!(app.db.count("roles WHERE name = 'ghost'").await, 0);

    // Other fields of PATCH work, and `null` clears.
    let r = patch(
        &app,
        &user_path(&alice.id),
        &admin.access,
        &json!({ "display_name": "Alice A.", "username": "alice", "email_verified": true }),
    )
    .await;
    let changed = expect(r, 200).await;
    assert_eq!(changed["display_name"], "Alice A.");
    assert_eq!(changed["username"], "alice");
    assert_eq!(changed["email_verified"], true);
    assert_eq!(changed["roles"], json!(["editor"]), "roles left alone");
    let r = patch(
        &app,
        &user_path(&alice.id),
        &admin.access,
        &json!({ "display_name": null }),
    )
    .await;
    let changed = expect(r, 200).await;
    assert!(changed["display_name"].is_null());
    assert_eq!(changed["username"], "alice");
    let r = patch(
        &app,
        &user_path(&alice.id),
        &admin.access,
        &json!({ "password": "x" }),
    )
    .await;
    assert_eq!(r.status(), 422, "unknown fields are refused");
}

async fn a_demoted_admin_loses_admin_powers_on_the_very_next_request(b: Backend) {
    let (app, admin) = admin_app(b).await;
    let bob = second_admin(&app, &admin, "bob@example.com").await;
    assert_eq!(claims(&bob.access)["roles"], json!(["admin"]));
    expect(get(&app, USERS, &bob.access).await, 200).await;

    let r = patch(
        &app,
        &user_path(&bob.id),
        &admin.access,
        &json!({ "roles": [] }),
    )
    .await;
    expect(r, 200).await;
    // Bob's token still says admin, and is still a valid token for the rest of the API…
    assert_eq!(claims(&bob.access)["roles"], json!(["admin"]));
    assert_eq!(app_me(&app, &bob.access).await["roles"], json!([]));
    // …but every admin route refuses it at once.
    assert_problem(get(&app, USERS, &bob.access).await, 403, "forbidden").await;
    let r = patch(
        &app,
        &user_path(&admin.id),
        &bob.access,
        &json!({ "roles": [] }),
    )
    .await;
    assert_problem(r, 403, "forbidden").await;
    assert_eq!(
        user(&app, &admin, &admin.id).await["roles"],
        json!(["admin"])
    );

    // Promoted again, the same old token works again: the database decides.
    let r = patch(
        &app,
        &user_path(&bob.id),
        &admin.access,
        &json!({ "roles": ["admin"] }),
    )
    .await;
    expect(r, 200).await;
    expect(get(&app, USERS, &bob.access).await, 200).await;
}

// ---------------------------------------------------------------------------------------------
// The last admin
// ---------------------------------------------------------------------------------------------

async fn the_last_active_admin_cannot_be_demoted_deactivated_or_deleted(b: Backend) {
    let (app, admin) = admin_app(b).await;
    let me = user_path(&admin.id);
    let audited = app
        .db
        .count("audit_events WHERE event LIKE 'admin.%'")
        .await;
    for change in [
        json!({ "roles": [] }),
        json!({ "roles": [], "display_name": "Changed" }),
        json!({ "is_active": false }),
        json!({ "is_active": false, "roles": ["admin"] }),
    ] {
        let r = patch(&app, &me, &admin.access, &change).await;
        let body = assert_problem(r, 409, "last_admin").await;
        assert!(
            body["detail"].as_str().unwrap().contains("last"),
            "a clear message: {body}"
        );
    }
    assert_problem(delete(&app, &me, &admin.access).await, 409, "last_admin").await;
    // Not even through deleting their own account.
    let r = call(
        &app,
        Method::DELETE,
        "/api/v1/users/me",
        Some(&admin.access),
        Some(&json!({ "password": PASSWORD })),
    )
    .await;
    assert_problem(r, 409, "last_admin").await;

    // Nothing changed: still an active admin with a live session, and nothing was audited.
    let now = user(&app, &admin, &admin.id).await;
    assert_eq!(now["roles"], json!(["admin"]));
    assert_eq!(now["is_active"], true);
    assert!(now["display_name"].is_null());
    assert_eq!(active_admins(&app).await, 1);
    assert_eq!(
        app.db
            .count("audit_events WHERE event LIKE 'admin.%'")
            .await,
        audited
    );

    // An inactive admin does not count as a second one.
    let bob = second_admin(&app, &admin, "bob@example.com").await;
    let r = patch(
        &app,
        &user_path(&bob.id),
        &admin.access,
        &json!({ "is_active": false }),
    )
    .await;
    expect(r, 200).await;
    let r = patch(&app, &me, &admin.access, &json!({ "roles": [] })).await;
    assert_problem(r, 409, "last_admin").await;
    assert_problem(delete(&app, &me, &admin.access).await, 409, "last_admin").await;

    // With a second active admin, each of the three works.
    let r = patch(
        &app,
        &user_path(&bob.id),
        &admin.access,
        &json!({ "is_active": true }),
    )
    .await;
    expect(r, 200).await;
    let bob = Caller::from_tokens(&app.tokens("bob@example.com").await);
    let r = patch(&app, &me, &admin.access, &json!({ "roles": [] })).await;
    assert_eq!(expect(r, 200).await["roles"], json!([]));
    // Bob is now the last one, and is protected in turn.
    let r = patch(
        &app,
        &user_path(&bob.id),
        &bob.access,
        &json!({ "is_active": false }),
    )
    .await;
    assert_problem(r, 409, "last_admin").await;
    // Re-promote the first admin; then deactivating, and deleting, work.
    let r = patch(&app, &me, &bob.access, &json!({ "roles": ["admin"] })).await;
    expect(r, 200).await;
    let r = patch(&app, &me, &bob.access, &json!({ "is_active": false })).await;
    assert_eq!(expect(r, 200).await["is_active"], false);
    let r = patch(&app, &me, &bob.access, &json!({ "is_active": true })).await;
    expect(r, 200).await;
    assert_eq!(delete(&app, &me, &bob.access).await.status(), 204);
    assert_eq!(active_admins(&app).await, 1);
    assert_problem(
        delete(&app, &user_path(&bob.id), &bob.access).await,
        409,
        "last_admin",
    )
    .await;
}

async fn two_admins_demoting_each_other_at_once_leave_exactly_one_admin(b: Backend) {
    let (app, a) = admin_app(b).await;
    let bob = second_admin(&app, &a, "bob@example.com").await;
    let mut a = a;
    let mut bob = bob;
    for round in 0..8 {
        let none = json!({ "roles": [] });
        let (path_a, path_bob) = (user_path(&a.id), user_path(&bob.id));
        let (ra, rb) = tokio::join!(
            patch(&app, &path_bob, &a.access, &none),
            patch(&app, &path_a, &bob.access, &none),
        );
        let statuses = [ra.status().as_u16(), rb.status().as_u16()];
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: exactly one demotion succeeds: {statuses:?}"
        );
        for st in statuses {
            assert!([200, 403, 409].contains(&st), "round {round}: {statuses:?}");
        }
        assert_eq!(active_admins(&app).await, 1, "round {round}");
        // The survivor promotes the other again (and swaps who goes first next round).
        let (survivor, demoted) = if statuses[0] == 200 {
            (a.clone(), bob.clone())
        } else {
            (bob.clone(), a.clone())
        };
        let r = patch(
            &app,
            &user_path(&demoted.id),
            &survivor.access,
            &json!({ "roles": ["admin"] }),
        )
        .await;
        expect(r, 200).await;
        assert_eq!(active_admins(&app).await, 2);
        std::mem::swap(&mut a, &mut bob);
    }
}

// ---------------------------------------------------------------------------------------------
// Deactivation
// ---------------------------------------------------------------------------------------------

async fn the_last_two_admins_deleting_each_other_at_once_leave_exactly_one_admin(b: Backend) {
    let (app, mut a) = admin_app(b).await;
    for round in 0..6 {
        let bob = second_admin(&app, &a, &format!("bob{round}@example.com")).await;
        let (path_a, path_bob) = (user_path(&a.id), user_path(&bob.id));
        let (ra, rb) = tokio::join!(
            delete(&app, &path_bob, &a.access),
            delete(&app, &path_a, &bob.access),
        );
        let statuses = [ra.status().as_u16(), rb.status().as_u16()];
        assert_eq!(
            statuses.iter().filter(|s| **s == 204).count(),
            1,
            "round {round}: exactly one deletion succeeds: {statuses:?}"
        );
        assert_eq!(active_admins(&app).await, 1, "round {round}");
        // The loser was refused as the last admin, or (deleted first) lost its session.
        let (loser, survivor) = if statuses[0] == 204 {
            (rb, a.clone())
        } else {
            (ra, bob)
        };
        let st = loser.status().as_u16();
        assert!([401, 409].contains(&st), "round {round}: {statuses:?}");
        if st == 409 {
            assert_problem(loser, 409, "last_admin").await;
        }
        a = survivor;
        assert_eq!(app.me(&a.access).await.status(), 200, "round {round}");
    }
}

async fn the_last_two_admins_deleting_their_own_accounts_at_once_leave_exactly_one_admin(
    b: Backend,
) {
    let (app, mut a) = admin_app(b).await;
    for round in 0..6 {
        let bob = second_admin(&app, &a, &format!("bob{round}@example.com")).await;
        let leave = |c: &Caller| {
            app.client
                .delete(app.url("/api/v1/users/me"))
                .bearer_auth(&c.access)
                .json(&json!({ "password": PASSWORD }))
                .send()
        };
        let (ra, rb) = tokio::join!(leave(&a), leave(&bob));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let statuses = [ra.status().as_u16(), rb.status().as_u16()];
        assert_eq!(
            statuses.iter().filter(|s| **s == 204).count(),
            1,
            "round {round}: exactly one account goes: {statuses:?}"
        );
        assert_eq!(active_admins(&app).await, 1, "round {round}");
        let (loser, survivor) = if statuses[0] == 204 {
            (rb, bob)
        } else {
            (ra, a.clone())
        };
        assert_problem(loser, 409, "last_admin").await;
        a = survivor;
        assert_eq!(app.me(&a.access).await.status(), 200, "round {round}");
    }
}

async fn deactivating_a_user_ends_their_sessions_at_once_and_reactivation_allows_login(b: Backend) {
    let (app, admin) = admin_app(b).await;
    let first = registered(&app, "alice@example.com", None).await;
    let second = Caller::from_tokens(&app.tokens("alice@example.com").await);
    app_me(&app, &first.access).await;
    let sessions = sessions_of(&app, &admin, &first.id).await;
    assert_eq!(sessions.as_array().unwrap().len(), 2, "{sessions}");

    let r = patch(
        &app,
        &user_path(&first.id),
        &admin.access,
        &json!({ "is_active": false }),
    )
    .await;
    assert_eq!(expect(r, 200).await["is_active"], false);
    for c in [&first, &second] {
        // The very next request with a still-unexpired access token is refused…
        assert_problem(app.me(&c.access).await, 401, "invalid_token").await;
        // …and so is a refresh.
        assert_problem(app.refresh(&c.refresh).await, 401, "invalid_refresh_token").await;
    }
    assert_problem(
        app.login("alice@example.com", PASSWORD).await,
        403,
        "account_disabled",
    )
    .await;
    let sessions = sessions_of(&app, &admin, &first.id).await;
    assert_eq!(sessions, json!([]));
    let listed = list(&app, &admin.access, &[("is_active", "false")]).await;
    assert_eq!(listed["users"][0]["id"], first.id.as_str());

    // Reactivated: login works again; the ended sessions stay ended.
    let r = patch(
        &app,
        &user_path(&first.id),
        &admin.access,
        &json!({ "is_active": true }),
    )
    .await;
    assert_eq!(expect(r, 200).await["is_active"], true);
    let again = Caller::from_tokens(&app.tokens("alice@example.com").await);
    app_me(&app, &again.access).await;
    assert_problem(app.me(&first.access).await, 401, "invalid_token").await;
    assert_problem(
        app.refresh(&second.refresh).await,
        401,
        "invalid_refresh_token",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// The user list
// ---------------------------------------------------------------------------------------------

/// Runs `sesame … users seed` against `url` (after `migrate up`: the users commands need an
/// existing database) and returns its stdout.
async fn seed(url: &str, args: &[&str]) -> String {
    sesame_on(url, &["migrate", "up"]).await;
    let mut seed = vec!["users", "seed"];
    seed.extend_from_slice(FAST_HASH);
    seed.extend_from_slice(args);
    sesame_on(url, &seed).await
}

/// Runs `sesame --database-url URL ARGS…` to success and returns its stdout.
async fn sesame_on(url: &str, args: &[&str]) -> String {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sesame"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SESAME_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["--database-url", url, "--log-level", "warn"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("sesame {args:?} finishes within 2 minutes"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn page_sizes_1_through_200_are_honoured_and_bad_queries_are_refused(b: Backend) {
    let db = TestDb::new(b).await;
    seed(&db.url, &["--count", "250"]).await;
    let app = spawn_on(db, &[], &with_bootstrap(&[])).await;
    let admin = Caller::from_tokens(&app.tokens(ADMIN_EMAIL).await);
    let len = |v: &Value| v["users"].as_array().unwrap().len();

    let page = list(&app, &admin.access, &[]).await;
    assert_eq!(len(&page), 50, "the default page");
    assert!(page["next_cursor"].is_string());
    assert!(page["total"].is_null(), "no count unless asked");
    // A limit outside 1–200 is refused, not clamped: text_rule::admin_page_limits_outside_1_to_200_are_422.
    for (limit, expected) in [("1", 1), ("7", 7), ("200", 200)] {
        let page = list(&app, &admin.access, &[("limit", limit)]).await;
        assert_eq!(len(&page), expected, "limit={limit}");
        assert!(page["next_cursor"].is_string(), "limit={limit}");
    }
    // The last page of 251 users by 200.
    let first = list(&app, &admin.access, &[("limit", "200")]).await;
    let cursor = s(&first, "next_cursor");
    let rest = list(
        &app,
        &admin.access,
        &[("limit", "200"), ("cursor", &cursor)],
    )
    .await;
    assert_eq!(len(&rest), 51);
    assert!(rest["next_cursor"].is_null());

    // Values of the wrong type: 400 invalid_query.
    for (k, v) in [
        ("limit", "-1"),
        ("limit", "ten"),
        ("limit", "99999999999999999999"),
        ("email_verified", "yes"),
        ("is_active", "1"),
        ("locked", "maybe"),
        ("include_total", "please"),
        ("created_after", "yesterday"),
        ("created_before", "2024-13-01T00:00:00Z"),
    ] {
        let r = list_raw(&app, &admin.access, &[(k, v)]).await;
        assert_eq!(r.status(), 400, "{k}={v}");
        assert_problem(r, 400, "invalid_query").await;
    }
    // Well-typed but wrong: 422 naming the field.
    for (k, v, field) in [
        ("cursor", "not a cursor!", "cursor"),
        ("cursor", "AAAA", "cursor"),
        ("cursor", "", "cursor"),
        ("role", "Not A Role", "role"),
    ] {
        let r = list_raw(&app, &admin.access, &[(k, v)]).await;
        let body = assert_problem(r, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], field, "{k}={v}: {body}");
    }
    // A cursor built from an id this API never returned is still a position: it pages on.
    let past_everything = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xff; 16]);
    let page = list(&app, &admin.access, &[("cursor", &past_everything)]).await;
    assert_eq!(len(&page), 0);
    assert!(page["next_cursor"].is_null());
}

async fn the_user_list_filters_by_prefix_role_flags_lockout_and_creation_time(b: Backend) {
    let (app, admin) = admin_app_with(b, &["--lockout-threshold", "2"]).await;
    create_role(&app, &admin, "editor").await;
    // Each account is created at its own instant on the server's clock.
    let pause = || app.clock.advance(Duration::from_millis(20));
    pause();
    let alice = registered(&app, "alice@example.com", Some("alice")).await;
    pause();
    let bob = registered(&app, "Bob@Example.com", Some("Bobby")).await;
    pause();
    let carol = registered(&app, "carol@other.org", Some("Alfred")).await;
    pause();
    admin_create(
        &app,
        &admin,
        "dave@example.com",
        json!({ "username": "dave", "email_verified": true }),
    )
    .await;
    expect(
        patch(
            &app,
            &user_path(&bob.id),
            &admin.access,
            &json!({ "roles": ["editor"] }),
        )
        .await,
        200,
    )
    .await;
    expect(
        patch(
            &app,
            &user_path(&carol.id),
            &admin.access,
            &json!({ "is_active": false }),
        )
        .await,
        200,
    )
    .await;
    for _ in 0..2 {
        assert_problem(
            app.login("dave@example.com", WRONG).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    assert_eq!(app.login("dave@example.com", PASSWORD).await.status(), 429);

    let all = set(&[
        ADMIN_EMAIL,
        "alice@example.com",
        "Bob@Example.com",
        "carol@other.org",
        "dave@example.com",
    ]);
    let t = &admin.access;
    assert_eq!(emails(&app, t, &[]).await, all);
    // q: a case-insensitive prefix of the email or of the username, nothing else.
    for (q, expected) in [
        ("al", &["alice@example.com", "carol@other.org"][..]),
        ("AL", &["alice@example.com", "carol@other.org"]),
        ("ALICE@EX", &["alice@example.com"]),
        ("alf", &["carol@other.org"]),
        ("bob", &["Bob@Example.com"]),
        ("bobby", &["Bob@Example.com"]),
        ("bob@example.com", &["Bob@Example.com"]),
        ("dave@example.comx", &[]),
        ("example", &[]),
        ("lice", &[]),
        ("%", &[]),
        ("a_", &[]),
        (
            "  ",
            &[
                ADMIN_EMAIL,
                "alice@example.com",
                "Bob@Example.com",
                "carol@other.org",
                "dave@example.com",
            ],
        ),
    ] {
        assert_eq!(emails(&app, t, &[("q", q)]).await, set(expected), "q={q:?}");
    }
    // role
    assert_eq!(
        emails(&app, t, &[("role", "editor")]).await,
        set(&["Bob@Example.com"])
    );
    assert_eq!(
        emails(&app, t, &[("role", "admin")]).await,
        set(&[ADMIN_EMAIL])
    );
    assert_eq!(emails(&app, t, &[("role", "ghost")]).await, set(&[]));
    // flags
    assert_eq!(
        emails(&app, t, &[("email_verified", "true")]).await,
        set(&[ADMIN_EMAIL, "dave@example.com"])
    );
    assert_eq!(
        emails(&app, t, &[("email_verified", "false")]).await,
        set(&["alice@example.com", "Bob@Example.com", "carol@other.org"])
    );
    assert_eq!(
        emails(&app, t, &[("is_active", "false")]).await,
        set(&["carol@other.org"])
    );
    assert_eq!(
        emails(&app, t, &[("is_active", "true")]).await,
        set(&[
            ADMIN_EMAIL,
            "alice@example.com",
            "Bob@Example.com",
            "dave@example.com"
        ])
    );
    assert_eq!(
        emails(&app, t, &[("locked", "true")]).await,
        set(&["dave@example.com"])
    );
    assert_eq!(
        emails(&app, t, &[("locked", "false")]).await,
        set(&[
            ADMIN_EMAIL,
            "alice@example.com",
            "Bob@Example.com",
            "carol@other.org"
        ])
    );
    // created_after is inclusive, created_before exclusive; times as the API printed them.
    let created = |c: &Caller| {
        let app = &app;
        let admin = &admin;
        let id = c.id.clone();
        async move { s(&user(app, admin, &id).await, "created_at") }
    };
    let (ta, tb, tc) = (
        created(&alice).await,
        created(&bob).await,
        created(&carol).await,
    );
    assert_eq!(
        emails(&app, t, &[("created_after", &tb)]).await,
        set(&["Bob@Example.com", "carol@other.org", "dave@example.com"])
    );
    assert_eq!(
        emails(&app, t, &[("created_before", &tb)]).await,
        set(&[ADMIN_EMAIL, "alice@example.com"])
    );
    assert_eq!(
        emails(&app, t, &[("created_after", &ta), ("created_before", &tc)]).await,
        set(&["alice@example.com", "Bob@Example.com"])
    );
    assert_eq!(
        emails(&app, t, &[("created_after", "2999-01-01T00:00:00Z")]).await,
        set(&[])
    );
    // Filters combine.
    assert_eq!(
        emails(
            &app,
            t,
            &[
                ("email_verified", "false"),
                ("is_active", "true"),
                ("q", "b")
            ]
        )
        .await,
        set(&["Bob@Example.com"])
    );
    assert_eq!(
        emails(&app, t, &[("locked", "false"), ("role", "editor")]).await,
        set(&["Bob@Example.com"])
    );

    // include_total counts every match, not the page, and honours the filters.
    for (query, total) in [
        (vec![], 5),
        (vec![("q", "al")], 2),
        (vec![("email_verified", "false")], 3),
        (vec![("email_verified", "false"), ("is_active", "true")], 2),
        (vec![("role", "editor")], 1),
        (vec![("locked", "true")], 1),
        (vec![("created_after", tb.as_str())], 3),
        (vec![("q", "zzz")], 0),
    ] {
        let mut q = query.clone();
        q.extend([("include_total", "true"), ("limit", "1")]);
        let page = list(&app, t, &q).await;
        assert_eq!(page["total"], total, "{query:?}: {page}");
        assert_eq!(
            page["users"].as_array().unwrap().len(),
            usize::from(total > 0),
            "{query:?}"
        );
        let mut q = query.clone();
        q.push(("include_total", "false"));
        assert!(list(&app, t, &q).await["total"].is_null());
    }
    // Every page of a filtered walk carries the same total.
    let first = list(
        &app,
        t,
        &[("q", "al"), ("limit", "1"), ("include_total", "true")],
    )
    .await;
    let cursor = s(&first, "next_cursor");
    let second = list(
        &app,
        t,
        &[
            ("q", "al"),
            ("limit", "1"),
            ("include_total", "true"),
            ("cursor", &cursor),
        ],
    )
    .await;
    assert_eq!(second["total"], 2);
    assert!(second["next_cursor"].is_null());
}

async fn walking_every_page_returns_every_user_exactly_once_in_a_stable_order(b: Backend) {
    let (app, admin) = admin_app(b).await;
    let mut expected: BTreeSet<String> =
        register_many(&app, "user", 120).await.into_iter().collect();
    expected.insert(admin.id.clone());
    assert_eq!(expected.len(), 121);

    let ids = walk(&app, &admin.access, &[], 7).await;
    assert_eq!(ids.len(), 121, "every user once");
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique, expected);
    let mut in_order = ids.clone();
    in_order.sort();
    assert_eq!(ids, in_order, "served in id (creation) order");
    assert_eq!(
        walk(&app, &admin.access, &[], 7).await,
        ids,
        "a second walk is identical"
    );
    assert_eq!(
        walk(&app, &admin.access, &[], 200).await,
        ids,
        "whatever the page size"
    );
    let total = list(&app, &admin.access, &[("include_total", "true")]).await;
    assert_eq!(total["total"], 121);

    // A filtered walk: user1, user10-user19, user100-user119.
    let filtered = walk(&app, &admin.access, &[("q", "user1")], 7).await;
    assert_eq!(filtered.len(), 31);
    assert_eq!(filtered.iter().collect::<BTreeSet<_>>().len(), 31);
    let emails: BTreeSet<String> = stream::iter(filtered.iter())
        .then(|id| async { s(&user(&app, &admin, id).await, "email") })
        .collect()
        .await;
    for e in &emails {
        assert!(e.starts_with("user1"), "{e}");
    }

    // A walk by role (served from the role's grants): every holder once, in the same order,
    // alone and combined with another filter.
    create_role(&app, &admin, "club").await;
    let members: Vec<String> = ids.iter().skip(1).step_by(3).cloned().collect();
    let mut members_user1 = Vec::new();
    for id in &members {
        let r = patch(
            &app,
            &user_path(id),
            &admin.access,
            &json!({ "roles": ["club"] }),
        )
        .await;
        if s(&expect(r, 200).await, "email").starts_with("user1") {
            members_user1.push(id.clone());
        }
    }
    assert_eq!(members.len(), 40);
    assert_eq!(
        walk(&app, &admin.access, &[("role", "club")], 7).await,
        members
    );
    assert_eq!(
        walk(&app, &admin.access, &[("role", "club")], 40).await,
        members
    );
    assert!(!members_user1.is_empty());
    let combined = walk(&app, &admin.access, &[("role", "club"), ("q", "user1")], 3).await;
    assert_eq!(combined, members_user1);
    let page = list(
        &app,
        &admin.access,
        &[("role", "club"), ("include_total", "true"), ("limit", "1")],
    )
    .await;
    assert_eq!(page["total"], 40);
}

async fn paging_while_users_are_being_added_returns_every_earlier_user_exactly_once(b: Backend) {
    let (app, admin) = admin_app(b).await;
    let mut before: BTreeSet<String> = register_many(&app, "early", 120)
        .await
        .into_iter()
        .collect();
    before.insert(admin.id.clone());

    // A task keeps registering users for as long as the walk lasts.
    let added = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let inserter = {
        let (client, url) = (app.client.clone(), app.url("/api/v1/auth/register"));
        let (added, stop) = (Arc::clone(&added), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut ids = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let n = ids.len();
                let r = client
                    .post(&url)
                    .json(&json!({ "email": format!("late{n}@example.com"), "password": PASSWORD }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                let u: Value = r.json().await.unwrap();
                ids.push(s(&u, "id"));
                added.fetch_add(1, Ordering::SeqCst);
            }
            ids
        })
    };

    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        // At least one new user arrives between any two pages.
        let mark = added.load(Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(10);
        while added.load(Ordering::SeqCst) == mark {
            assert!(Instant::now() < deadline, "the inserter stalled");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let mut q = vec![("limit", "7".to_owned())];
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = list(&app, &admin.access, &q).await;
        pages += 1;
        seen.extend(page["users"].as_array().unwrap().iter().map(|u| s(u, "id")));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 1000, "the walk keeps finding new users; stop");
    }
    stop.store(true, Ordering::SeqCst);
    let late: BTreeSet<String> = inserter.await.unwrap().into_iter().collect();
    assert!(
        late.len() >= pages,
        "{} users added during {pages} pages",
        late.len()
    );

    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no user is returned twice");
    for id in &before {
        assert_eq!(
            seen.iter().filter(|s| *s == id).count(),
            1,
            "{id}, which existed before the walk, is returned exactly once"
        );
    }
    for id in &seen {
        assert!(before.contains(id) || late.contains(id), "{id} is a user");
    }
    let mut in_order = seen.clone();
    in_order.sort();
    assert_eq!(seen, in_order, "still in id order");
}

// ---------------------------------------------------------------------------------------------
// Users made by an admin
// ---------------------------------------------------------------------------------------------

async fn an_admin_creates_users_with_a_password_under_the_password_policy(b: Backend) {
    let (app, admin) = admin_app(b).await;
    create_role(&app, &admin, "editor").await;
    let eve = admin_create(
        &app,
        &admin,
        "Eve@Example.com",
        json!({ "username": "eve", "display_name": "Eve E.", "roles": ["editor"], "email_verified": true }),
    )
    .await;
    assert_eq!(eve["email"], "Eve@Example.com");
    assert_eq!(eve["username"], "eve");
    assert_eq!(eve["display_name"], "Eve E.");
    assert_eq!(eve["roles"], json!(["editor"]));
    assert_eq!(eve["email_verified"], true);
    assert_eq!(eve["is_active"], true);
    assert!(!eve.to_string().contains(PASSWORD));
    assert_eq!(user(&app, &admin, &s(&eve, "id")).await, eve);
    let tokens = expect(
        app.post_json(
            "/api/v1/auth/login",
            &json!({ "username": "EVE", "password": PASSWORD }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        claims(&s(&tokens, "access_token"))["roles"],
        json!(["editor"])
    );

    let frank = admin_create(&app, &admin, "frank@example.com", json!({})).await;
    assert_eq!(frank["email_verified"], false);
    assert_eq!(frank["roles"], json!([]));
    assert!(frank["username"].is_null());
    let second = admin_create(
        &app,
        &admin,
        "gus@example.com",
        json!({ "roles": ["admin"] }),
    )
    .await;
    assert_eq!(second["roles"], json!(["admin"]));

    // The password policy applies as at registration.
    for (password, code) in [("password", "common_password"), ("short", "too_short")] {
        let r = post(
            &app,
            USERS,
            &admin.access,
            &json!({ "email": "weak@example.com", "password": password }),
        )
        .await;
        let body = assert_problem(r, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "password", "{body}");
        assert_eq!(body["errors"][0]["code"], code, "{body}");
    }
    // Duplicates, whatever the case.
    let r = post(
        &app,
        USERS,
        &admin.access,
        &json!({ "email": "EVE@example.com", "password": PASSWORD }),
    )
    .await;
    assert_problem(r, 409, "email_taken").await;
    let r = post(
        &app,
        USERS,
        &admin.access,
        &json!({ "email": "eve2@example.com", "password": PASSWORD, "username": "EVE" }),
    )
    .await;
    assert_problem(r, 409, "username_taken").await;
    // An unknown role, no password without a set-password invite, bad input.
    for (body, field) in [
        (
            json!({ "email": "h@example.com", "password": PASSWORD, "roles": ["ghost"] }),
            "roles",
        ),
        (json!({ "email": "h@example.com" }), "password"),
        (
            json!({ "email": "h@example.com", "invite": "verification" }),
            "password",
        ),
        (
            json!({ "email": "not an email", "password": PASSWORD }),
            "email",
        ),
        (
            json!({ "email": "h@example.com", "password": PASSWORD, "username": "a b" }),
            "username",
        ),
    ] {
        let r = post(&app, USERS, &admin.access, &body).await;
        let problem = assert_problem(r, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    let r = post(
        &app,
        USERS,
        &admin.access,
        &json!({ "email": "h@example.com", "password": PASSWORD, "is_admin": true }),
    )
    .await;
    assert_eq!(r.status(), 422, "unknown fields are refused");
    let r = post(
        &app,
        USERS,
        &admin.access,
        &json!({ "email": "h@example.com", "password": PASSWORD, "invite": "carrier_pigeon" }),
    )
    .await;
    assert_eq!(r.status(), 422);
    // None of the refused ones exists.
    assert_eq!(
        emails(&app, &admin.access, &[]).await,
        set(&[
            ADMIN_EMAIL,
            "Eve@Example.com",
            "frank@example.com",
            "gus@example.com"
        ])
    );
}

/// A server mailing to a running SMTP sink, with its bootstrap admin logged in.
async fn admin_app_with_mail(b: Backend) -> (TestApp, Caller, SmtpSink) {
    let sink = SmtpSink::start().await;
    let (app, admin) = admin_app_with(b, &sink.serve_flags()).await;
    (app, admin, sink)
}

async fn an_invited_user_without_a_password_chooses_one_through_the_emailed_link(b: Backend) {
    let (app, admin, sink) = admin_app_with_mail(b).await;
    let r = post(
        &app,
        USERS,
        &admin.access,
        &json!({ "email": "gina@example.com", "invite": "set_password", "display_name": "Gina" }),
    )
    .await;
    let gina = expect(r, 201).await;
    assert_eq!(gina["email_verified"], false);
    // The invitation is queued with the account: a mail of its own kind, not a password reset
    // the user never asked for, and no verification mail.
    for (kind, n) in [("invite", 1), ("password_reset", 0), ("verify_email", 0)] {
        assert_eq!(
            app.db
                .count(&format!(
                    "mail_outbox WHERE kind = '{kind}' AND recipient = 'gina@example.com'"
                ))
                .await,
            n,
            "{kind}"
        );
    }
    // Nobody can sign in before a password is chosen.
    assert_problem(
        app.login("gina@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;

    let mail = sink.wait_for_mail_to("gina@example.com", 1).await;
    assert_eq!(mail.subject, "Your new account on sesame.test");
    assert!(mail.text.contains("Welcome!"), "{}", mail.text);
    assert!(
        mail.text
            .contains("created an account for you with the address gina@example.com"),
        "{}",
        mail.text
    );
    assert!(
        mail.text.contains("expires in 7 days"),
        "the invite lifetime: {}",
        mail.text
    );
    assert!(
        !mail.text.contains("reset"),
        "not the reset wording: {}",
        mail.text
    );
    let link = mail.expect_link();
    assert!(
        link.starts_with("http://sesame.test/set-password?token="),
        "{link}"
    );
    let path = link.trim_start_matches("http://sesame.test");
    let page = app.get(path).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("name=\"new_password\""), "{page}");

    // The set-password page's form sets the first password.
    let chosen = "a passphrase she chose herself today";
    let form = [
        ("token", mail.token()),
        ("new_password", chosen.to_owned()),
        ("confirm_password", chosen.to_owned()),
    ];
    let r = app
        .client
        .post(app.url(path.split('?').next().unwrap()))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let t = app.login("gina@example.com", chosen).await;
    let t = expect(t, 200).await;
    assert_eq!(t["user"]["id"], gina["id"]);
    // The link reached her address: it is verified.
    assert_eq!(t["user"]["email_verified"], true);
    // The link works once.
    let r = app
        .post_json(
            "/api/v1/auth/password/reset",
            &json!({ "token": mail.token(), "new_password": "and yet another passphrase" }),
        )
        .await;
    assert_problem(r, 400, "invalid_email_token").await;
}

/// An invitation sent with a password: once the user changes that password, the invitation's
/// link can no longer set another one (whoever else reads the mail cannot take the account).
async fn a_password_change_ends_the_invitation_link(b: Backend) {
    let (app, admin, sink) = admin_app_with_mail(b).await;
    let r = post(
        &app,
        USERS,
        &admin.access,
        &json!({ "email": "hana@example.com", "password": PASSWORD, "invite": "set_password" }),
    )
    .await;
    expect(r, 201).await;
    let mail = sink.wait_for_mail_to("hana@example.com", 1).await;
    let t = expect(app.login("hana@example.com", PASSWORD).await, 200).await;
    let changed = "her own passphrase from now on";
    let r = app
        .post_json_auth(
            "/api/v1/users/me/password",
            &s(&t, "access_token"),
            Some(&json!({ "current_password": PASSWORD, "new_password": changed })),
        )
        .await;
    expect(r, 200).await;
    let r = app
        .post_json(
            "/api/v1/auth/password/reset",
            &json!({ "token": mail.token(), "new_password": "a takeover passphrase attempt" }),
        )
        .await;
    assert_problem(r, 400, "invalid_email_token").await;
    expect(app.login("hana@example.com", changed).await, 200).await;
}

async fn an_invitation_lasts_its_own_lifetime_in_the_users_language(b: Backend) {
    let sink = SmtpSink::start().await;
    let mut flags = sink.serve_flags().to_vec();
    flags.extend_from_slice(&["--invite-token-ttl", "2d", "--reset-token-ttl", "1h"]);
    let (app, admin) = admin_app_with(b, &flags).await;
    let r = post(
        &app,
        USERS,
        &admin.access,
        &json!({ "email": "ines@example.com", "invite": "set_password", "locale": "es" }),
    )
    .await;
    let ines = expect(r, 201).await;
    assert_eq!(ines["locale"], "es");
    let mail = sink.wait_for_mail_to("ines@example.com", 1).await;
    assert_eq!(mail.subject, "Su nueva cuenta en sesame.test");
    assert!(mail.text.contains("caduca en 2 días"), "{}", mail.text);
    assert!(mail.html.contains("<html lang=\"es\">"), "{}", mail.html);

    // Past the reset lifetime an invitation still works; past its own, it does not.
    let r = post(
        &app,
        USERS,
        &admin.access,
        &json!({ "email": "juan@example.com", "invite": "set_password" }),
    )
    .await;
    expect(r, 201).await;
    let late = sink.wait_for_mail_to("juan@example.com", 1).await;
    assert!(late.text.contains("expires in 2 days"), "{}", late.text);
    app.clock.advance(Duration::from_secs(2 * 3600));
    let r = app
        .post_json(
            "/api/v1/auth/password/reset",
            &json!({ "token": mail.token(), "new_password": "a passphrase chosen in time" }),
        )
        .await;
    expect(r, 204).await;
    app.clock.advance(Duration::from_secs(2 * 86_400));
    let r = app
        .post_json(
            "/api/v1/auth/password/reset",
            &json!({ "token": late.token(), "new_password": "a passphrase chosen too late" }),
        )
        .await;
    assert_problem(r, 400, "invalid_email_token").await;

    // An admin can change the user's language; an unsupported one is refused. (The clock moved
    // past the first access token's life.)
    let admin = Caller::from_tokens(&app.tokens(ADMIN_EMAIL).await);
    let path = format!("{USERS}/{}", s(&ines, "id"));
    let r = patch(&app, &path, &admin.access, &json!({ "locale": "fr" })).await;
    assert_eq!(expect(r, 200).await["locale"], "fr");
    let r = patch(&app, &path, &admin.access, &json!({ "locale": "klingon" })).await;
    let body = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["code"], "unsupported_locale", "{body}");
    let r = post(
        &app,
        USERS,
        &admin.access,
        &json!({ "email": "x@example.com", "invite": "set_password", "locale": "xx" }),
    )
    .await;
    let body = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["code"], "unsupported_locale", "{body}");
}

async fn an_invitation_to_verify_sends_a_verification_mail_unless_already_verified(b: Backend) {
    let (app, admin, sink) = admin_app_with_mail(b).await;
    let r = post(
        &app,
        USERS,
        &admin.access,
        &json!({ "email": "hank@example.com", "password": PASSWORD, "invite": "verification" }),
    )
    .await;
    let hank = expect(r, 201).await;
    assert_eq!(hank["email_verified"], false);
    assert_eq!(
        app.db
            .count("mail_outbox WHERE kind = 'verify_email' AND recipient = 'hank@example.com'")
            .await,
        1
    );
    let mail = sink.wait_for_mail_to("hank@example.com", 1).await;
    assert!(mail.expect_link().contains("verify-email"), "{}", mail.text);
    let r = app
        .post_json(
            "/api/v1/auth/verify-email",
            &json!({ "token": mail.token() }),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        user(&app, &admin, &s(&hank, "id")).await["email_verified"],
        true
    );

    // Already verified, or no invite: no mail at all.
    admin_create(
        &app,
        &admin,
        "ivy@example.com",
        json!({ "invite": "verification", "email_verified": true }),
    )
    .await;
    admin_create(&app, &admin, "jack@example.com", json!({})).await;
    for who in ["ivy@example.com", "jack@example.com"] {
        assert_eq!(
            app.db
                .count(&format!("mail_outbox WHERE recipient = '{who}'"))
                .await,
            0,
            "{who}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// One user: read, delete, unlock, sessions
// ---------------------------------------------------------------------------------------------

async fn a_user_is_read_and_deleted_by_id_and_unknown_ids_are_not_found(b: Backend) {
    let (app, admin) = admin_app(b).await;
    let alice = registered(&app, "alice@example.com", Some("alice")).await;
    let got = user(&app, &admin, &alice.id).await;
    assert_eq!(got["email"], "alice@example.com");
    assert_eq!(got["username"], "alice");
    assert!(got["last_login_at"].is_string(), "{got}");
    let listed = list(&app, &admin.access, &[("q", "alice")]).await;
    assert_eq!(listed["users"][0], got);

    let random = uuid::Uuid::now_v7().to_string();
    for id in [random.as_str(), "not-a-uuid", "1"] {
        let path = user_path(id);
        assert_problem(get(&app, &path, &admin.access).await, 404, "not_found").await;
        assert_problem(delete(&app, &path, &admin.access).await, 404, "not_found").await;
        let r = patch(&app, &path, &admin.access, &json!({ "is_active": false })).await;
        assert_problem(r, 404, "not_found").await;
        for action in ["unlock", "revoke-sessions"] {
            let r = post_empty(&app, &format!("{path}/{action}"), &admin.access).await;
            assert_problem(r, 404, "not_found").await;
        }
        let r = get(&app, &format!("{path}/sessions"), &admin.access).await;
        assert_problem(r, 404, "not_found").await;
    }

    assert_eq!(
        delete(&app, &user_path(&alice.id), &admin.access)
            .await
            .status(),
        204
    );
    assert_problem(
        get(&app, &user_path(&alice.id), &admin.access).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        delete(&app, &user_path(&alice.id), &admin.access).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(app.me(&alice.access).await, 401, "invalid_token").await;
    assert_problem(
        app.refresh(&alice.refresh).await,
        401,
        "invalid_refresh_token",
    )
    .await;
    assert_problem(
        app.login("alice@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(emails(&app, &admin.access, &[]).await, set(&[ADMIN_EMAIL]));
    // The address is free again.
    app.create_user("alice@example.com").await;
}

async fn unlocking_a_user_lets_them_log_in_again_at_once(b: Backend) {
    let (app, admin) = admin_app_with(
        b,
        &[
            "--lockout-threshold",
            "2",
            "--lockout-base",
            "1h",
            "--lockout-max",
            "1h",
        ],
    )
    .await;
    let alice = registered(&app, "alice@example.com", None).await;
    for _ in 0..2 {
        assert_problem(
            app.login("alice@example.com", WRONG).await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    assert_problem(
        app.login("alice@example.com", PASSWORD).await,
        429,
        "rate_limited",
    )
    .await;
    assert_eq!(
        emails(&app, &admin.access, &[("locked", "true")]).await,
        set(&["alice@example.com"])
    );

    let r = post_empty(
        &app,
        &format!("{}/unlock", user_path(&alice.id)),
        &admin.access,
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        emails(&app, &admin.access, &[("locked", "true")]).await,
        set(&[])
    );
    expect(app.login("alice@example.com", PASSWORD).await, 200).await;
    // The failure streak was cleared too: one failure does not pause sign-in again.
    assert_problem(
        app.login("alice@example.com", WRONG).await,
        401,
        "invalid_credentials",
    )
    .await;
    expect(app.login("alice@example.com", PASSWORD).await, 200).await;
    // Unlocking someone who is not locked is harmless.
    let r = post_empty(
        &app,
        &format!("{}/unlock", user_path(&alice.id)),
        &admin.access,
    )
    .await;
    assert_eq!(r.status(), 204);
}

async fn revoking_a_users_sessions_ends_every_one_of_them(b: Backend) {
    let (app, admin) = admin_app(b).await;
    let first = registered(&app, "alice@example.com", None).await;
    let mut all = vec![first.clone()];
    for _ in 0..2 {
        all.push(Caller::from_tokens(&app.tokens("alice@example.com").await));
    }
    let sessions = sessions_of(&app, &admin, &first.id).await;
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    let sids: BTreeSet<String> = sessions.iter().map(|x| s(x, "id")).collect();
    let from_tokens: BTreeSet<String> = all
        .iter()
        .map(|c| claims(&c.access)["sid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sids, from_tokens);
    for x in sessions {
        assert_eq!(
            x["current"], false,
            "the admin's own session is not one of them"
        );
        assert!(x["revoked_at"].is_null());
        for f in ["created_at", "last_used_at", "expires_at"] {
            assert!(x[f].is_string(), "{f}: {x}");
        }
    }

    let r = post_empty(
        &app,
        &format!("{}/revoke-sessions", user_path(&first.id)),
        &admin.access,
    )
    .await;
    assert_eq!(expect(r, 200).await, json!({ "sessions_ended": 3 }));
    for c in &all {
        assert_problem(app.me(&c.access).await, 401, "invalid_token").await;
        assert_problem(app.refresh(&c.refresh).await, 401, "invalid_refresh_token").await;
    }
    assert_eq!(sessions_of(&app, &admin, &first.id).await, json!([]));
    let r = post_empty(
        &app,
        &format!("{}/revoke-sessions", user_path(&first.id)),
        &admin.access,
    )
    .await;
    assert_eq!(expect(r, 200).await, json!({ "sessions_ended": 0 }));
    // The account itself is untouched: alice signs in again; the admin's session lives on.
    expect(app.login("alice@example.com", PASSWORD).await, 200).await;
    app_me(&app, &admin.access).await;

    // An admin may end their own sessions, this one included.
    let r = post_empty(
        &app,
        &format!("{}/revoke-sessions", user_path(&admin.id)),
        &admin.access,
    )
    .await;
    assert_eq!(expect(r, 200).await["sessions_ended"], 1);
    assert_problem(get(&app, USERS, &admin.access).await, 401, "invalid_token").await;
}

// ---------------------------------------------------------------------------------------------
// The audit trail
// ---------------------------------------------------------------------------------------------

/// The single event of `event` about `subject` (or about no user).
fn only<'a>(events: &'a [Value], event: &str) -> &'a Value {
    let found: Vec<&Value> = events.iter().filter(|e| e["event"] == event).collect();
    assert_eq!(found.len(), 1, "one {event} in {events:?}");
    found[0]
}

async fn every_admin_action_is_audited_with_the_acting_admin(b: Backend) {
    let (app, a) = admin_app(b).await;
    let step = || tokio::time::sleep(Duration::from_millis(15));
    let bob = second_admin(&app, &a, "bob@example.com").await;
    step().await;
    create_role(&app, &bob, "editor").await;
    step().await;
    let r = post(
        &app,
        USERS,
        &bob.access,
        &json!({ "email": "alice@example.com", "password": PASSWORD, "roles": ["editor"] }),
    )
    .await;
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let alice = s(&expect(r, 201).await, "id");
    step().await;
    expect(
        patch(
            &app,
            &user_path(&alice),
            &a.access,
            &json!({ "display_name": "Alice", "roles": [] }),
        )
        .await,
        200,
    )
    .await;
    step().await;
    let r = post_empty(&app, &format!("{}/unlock", user_path(&alice)), &bob.access).await;
    assert_eq!(r.status(), 204);
    step().await;
    app.tokens("alice@example.com").await;
    step().await;
    let r = post_empty(
        &app,
        &format!("{}/revoke-sessions", user_path(&alice)),
        &a.access,
    )
    .await;
    expect(r, 200).await;
    step().await;
    assert_eq!(
        delete(&app, &user_path(&alice), &bob.access).await.status(),
        204
    );
    step().await;
    assert_eq!(
        delete(&app, &format!("{ROLES}/editor"), &a.access)
            .await
            .status(),
        204
    );

    // About alice, newest first: each admin action with its actor; her own login has none.
    let events = audit(&app, &a.access, &[("user_id", &alice)]).await;
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "admin.user_deleted",
            "admin.sessions_revoked",
            "login.succeeded",
            "admin.user_unlocked",
            "admin.user_updated",
            "admin.user_created",
        ],
        "{events:?}"
    );
    for (event, actor) in [
        ("admin.user_created", &bob.id),
        ("admin.user_updated", &a.id),
        ("admin.user_unlocked", &bob.id),
        ("admin.sessions_revoked", &a.id),
        ("admin.user_deleted", &bob.id),
    ] {
        let e = only(&events, event);
        assert_eq!(e["actor_id"], actor.as_str(), "{e}");
        assert_eq!(e["user_id"], alice.as_str(), "{e}");
        assert!(e["ip"].is_string(), "{e}");
    }
    assert!(only(&events, "login.succeeded")["actor_id"].is_null());
    let created = only(&events, "admin.user_created");
    assert_eq!(created["request_id"], request_id.as_str());
    assert_eq!(created["detail"]["roles"], json!(["editor"]));
    let updated = only(&events, "admin.user_updated");
    assert_eq!(updated["detail"]["roles"], json!([]));
    assert_eq!(updated["detail"]["display_name_changed"], true);
    assert_eq!(
        only(&events, "admin.sessions_revoked")["detail"]["sessions_ended"],
        1
    );
    // Role events have no subject user; the role is in the detail.
    for (event, actor) in [
        ("admin.role_created", &bob.id),
        ("admin.role_deleted", &a.id),
    ] {
        let found = audit(&app, &a.access, &[("event", event)]).await;
        let e = only(&found, event);
        assert_eq!(e["actor_id"], actor.as_str(), "{e}");
        assert!(e["user_id"].is_null(), "{e}");
        assert_eq!(e["detail"]["role"], "editor", "{e}");
    }
    // Bob's promotion is an admin.user_created by the first admin.
    let bobs = audit(
        &app,
        &a.access,
        &[("user_id", &bob.id), ("event", "admin.user_created")],
    )
    .await;
    assert_eq!(only(&bobs, "admin.user_created")["actor_id"], a.id.as_str());

    // The event filter alone, and combined with the user.
    let updates = audit(&app, &a.access, &[("event", "admin.user_updated")]).await;
    assert!(updates.iter().all(|e| e["event"] == "admin.user_updated"));
    assert_eq!(updates.len(), 1);
    assert_eq!(
        audit(
            &app,
            &a.access,
            &[("event", "admin.user_updated"), ("user_id", &bob.id)]
        )
        .await
        .len(),
        0
    );
    assert_eq!(
        audit(&app, &a.access, &[("event", "no.such_event")])
            .await
            .len(),
        0
    );

    // from is inclusive, to exclusive.
    let at = s(updates.first().unwrap(), "occurred_at");
    let from = audit(&app, &a.access, &[("user_id", &alice), ("from", &at)]).await;
    assert_eq!(from.len(), 5, "{from:?}");
    assert_eq!(from.last().unwrap()["event"], "admin.user_updated");
    let to = audit(&app, &a.access, &[("user_id", &alice), ("to", &at)]).await;
    let to: Vec<&str> = to.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(to, ["admin.user_created"]);
    let window = audit(
        &app,
        &a.access,
        &[
            ("from", &at),
            ("to", &s(only(&events, "admin.user_deleted"), "occurred_at")),
        ],
    )
    .await;
    let window: BTreeSet<&str> = window
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        window,
        [
            "admin.user_updated",
            "admin.user_unlocked",
            "login.succeeded",
            "admin.sessions_revoked"
        ]
        .into_iter()
        .collect()
    );

    // Cursor pagination returns each event once, in the same order as one big page.
    let everything = audit(&app, &a.access, &[]).await;
    assert!(everything.len() >= 12, "{}", everything.len());
    for limit in [1, 2, 5] {
        let walked = audit_walk(&app, &a.access, &[], limit).await;
        assert_eq!(walked, everything, "pages of {limit}");
    }
    let ids: BTreeSet<String> = everything.iter().map(|e| s(e, "id")).collect();
    assert_eq!(ids.len(), everything.len());
    assert_eq!(
        audit_walk(&app, &a.access, &[("user_id", &alice)], 2).await,
        events
    );
    let times: Vec<String> = everything.iter().map(|e| s(e, "occurred_at")).collect();
    let parsed: Vec<chrono::DateTime<chrono::Utc>> =
        times.iter().map(|t| t.parse().unwrap()).collect();
    assert!(
        parsed.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );

    // Bad queries.
    let r = app
        .client
        .get(app.url(AUDIT))
        .bearer_auth(&a.access)
        .query(&[("user_id", "nobody")])
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "invalid_query").await;
    let r = app
        .client
        .get(app.url(AUDIT))
        .bearer_auth(&a.access)
        .query(&[("cursor", "%%%")])
        .send()
        .await
        .unwrap();
    let body = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "cursor");
}

// ---------------------------------------------------------------------------------------------
// Bootstrap and seeding
// ---------------------------------------------------------------------------------------------

async fn the_bootstrap_flags_create_a_verified_admin_only_when_no_admin_exists(b: Backend) {
    // A database with users but no admin gets one.
    let app = spawn_app_with(b, &[], &[]).await;
    app.create_user("early@example.com").await;
    let db = app.stop().await;
    let app = spawn_on(db, &[], &with_bootstrap(&[])).await;
    let tokens = app.tokens(ADMIN_EMAIL).await;
    let admin = Caller::from_tokens(&tokens);
    let me = app_me(&app, &admin.access).await;
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["is_active"], true);
    assert_eq!(claims(&admin.access)["roles"], json!(["admin"]));
    let events = audit(&app, &admin.access, &[("event", "admin.user_created")]).await;
    let e = only(&events, "admin.user_created");
    assert_eq!(e["user_id"], admin.id.as_str());
    assert!(e["actor_id"].is_null());
    assert_eq!(e["detail"]["bootstrap"], true);

    // Restarts with an admin present create nothing, whatever the email or password.
    let db = app.stop().await;
    let app = spawn_on(
        db,
        &[],
        &[
            "--bootstrap-admin-email",
            "second@example.com",
            "--bootstrap-admin-password",
            "another quite strong passphrase",
        ],
    )
    .await;
    assert_problem(
        app.login("second@example.com", "another quite strong passphrase")
            .await,
        401,
        "invalid_credentials",
    )
    .await;
    let db = app.stop().await;
    let app = spawn_on(
        db,
        &[],
        &[
            "--bootstrap-admin-email",
            ADMIN_EMAIL,
            "--bootstrap-admin-password",
            "another quite strong passphrase",
        ],
    )
    .await;
    let admin = Caller::from_tokens(&app.tokens(ADMIN_EMAIL).await);
    assert_eq!(
        emails(&app, &admin.access, &[]).await,
        set(&[ADMIN_EMAIL, "early@example.com"])
    );
    assert_eq!(active_admins(&app).await, 1);
}

async fn the_bootstrap_admin_password_can_come_from_a_file(b: Backend) {
    let file = std::env::temp_dir().join(format!("sesame-admin-pw-{}", uuid::Uuid::now_v7()));
    std::fs::write(&file, format!("{PASSWORD}\nsecond line ignored\n")).unwrap();
    let path = file.display().to_string();
    let app = spawn_app_with(
        b,
        &[],
        &[
            "--bootstrap-admin-email",
            ADMIN_EMAIL,
            "--bootstrap-admin-password-file",
            &path,
        ],
    )
    .await;
    let _ = std::fs::remove_file(&file);
    let admin = Caller::from_tokens(&app.tokens(ADMIN_EMAIL).await);
    assert_eq!(app_me(&app, &admin.access).await["roles"], json!(["admin"]));
    expect(get(&app, USERS, &admin.access).await, 200).await;
}

async fn users_seed_creates_users_who_can_log_in_with_the_seed_password(b: Backend) {
    let db = TestDb::new(b).await;
    let started = Instant::now();
    let out = seed(&db.url, &["--count", "500"]).await;
    assert!(out.contains("seeded 500 users"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(60));
    let app = spawn_on(db, &[], &with_bootstrap(&[])).await;
    for email in ["seed0@seed.example", "SEED499@seed.example"] {
        let r = app.login(email, SEED_PASSWORD).await;
        assert_eq!(r.status(), 200, "{email}");
    }
    for username in ["seed250", "SEED7"] {
        let r = app
            .post_json(
                "/api/v1/auth/login",
                &json!({ "username": username, "password": SEED_PASSWORD }),
            )
            .await;
        assert_eq!(r.status(), 200, "{username}");
    }
    assert_eq!(
        app.login("seed500@seed.example", SEED_PASSWORD)
            .await
            .status(),
        401
    );
    let admin = Caller::from_tokens(&app.tokens(ADMIN_EMAIL).await);
    let page = list(
        &app,
        &admin.access,
        &[
            ("q", "seed"),
            ("include_total", "true"),
            ("email_verified", "true"),
        ],
    )
    .await;
    assert_eq!(page["total"], 500);
    let seeded = walk(&app, &admin.access, &[("q", "seed")], 200).await;
    assert_eq!(seeded.len(), 500);
    assert_eq!(seeded.iter().collect::<BTreeSet<_>>().len(), 500);
    let one = list(&app, &admin.access, &[("q", "seed42@")]).await;
    assert_eq!(one["users"][0]["username"], "seed42");
    assert_eq!(one["users"][0]["roles"], json!([]));
    assert_eq!(one["users"][0]["is_active"], true);
    // A second run with another prefix adds to them.
    seed(&app.db.url, &["--count", "20", "--prefix", "more"]).await;
    let page = list(&app, &admin.access, &[("include_total", "true")]).await;
    assert_eq!(page["total"], 521);
}

crate::on_every_backend!(
    every_admin_route_refuses_anonymous_and_non_admin_callers,
    roles_are_created_listed_with_user_counts_and_deleted_but_admin_is_built_in,
    assigned_roles_show_at_once_in_the_user_and_in_the_token_after_a_refresh,
    a_demoted_admin_loses_admin_powers_on_the_very_next_request,
    the_last_active_admin_cannot_be_demoted_deactivated_or_deleted,
    two_admins_demoting_each_other_at_once_leave_exactly_one_admin,
    the_last_two_admins_deleting_each_other_at_once_leave_exactly_one_admin,
    the_last_two_admins_deleting_their_own_accounts_at_once_leave_exactly_one_admin,
    every_admin_route_refuses_a_caller_holding_only_a_non_admin_role,
    deactivating_a_user_ends_their_sessions_at_once_and_reactivation_allows_login,
    page_sizes_1_through_200_are_honoured_and_bad_queries_are_refused,
    the_user_list_filters_by_prefix_role_flags_lockout_and_creation_time,
    walking_every_page_returns_every_user_exactly_once_in_a_stable_order,
    paging_while_users_are_being_added_returns_every_earlier_user_exactly_once,
    an_admin_creates_users_with_a_password_under_the_password_policy,
    an_invited_user_without_a_password_chooses_one_through_the_emailed_link,
    a_password_change_ends_the_invitation_link,
    an_invitation_lasts_its_own_lifetime_in_the_users_language,
    an_invitation_to_verify_sends_a_verification_mail_unless_already_verified,
    a_user_is_read_and_deleted_by_id_and_unknown_ids_are_not_found,
    unlocking_a_user_lets_them_log_in_again_at_once,
    revoking_a_users_sessions_ends_every_one_of_them,
    every_admin_action_is_audited_with_the_acting_admin,
    the_bootstrap_flags_create_a_verified_admin_only_when_no_admin_exists,
    the_bootstrap_admin_password_can_come_from_a_file,
    users_seed_creates_users_who_can_log_in_with_the_seed_password,
);
