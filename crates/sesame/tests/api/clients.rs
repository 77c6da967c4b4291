//! Registered OAuth / OpenID Connect clients through the admin API (`/api/v1/admin/clients`) and
//! the `sesame clients` commands, on both backends: registration with its secret shown once and
//! kept only hashed, the registration rules (redirect URIs, grants, scopes, lifetimes), changes,
//! secret rotation, deletion, the audit trail, and who may do it.

use crate::helpers::{
    assert_problem, run, sesame, spawn_app_with, spawn_on, text, Backend, TempDir, TestApp, TestDb,
    PASSWORD,
};
use crate::second_factor::{audited, call, expect};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const ADMIN: &str = "admin@example.com";
const CLIENTS: &str = "/api/v1/admin/clients";

/// `serve` flags that make [`ADMIN`] the first admin.
const BOOTSTRAP: [&str; 4] = [
    "--bootstrap-admin-email",
    ADMIN,
    "--bootstrap-admin-password",
    PASSWORD,
];

async fn admin_token(app: &TestApp) -> String {
    app.tokens(ADMIN).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn admin_app(b: Backend) -> (TestApp, String) {
    let app = spawn_app_with(b, &[], &BOOTSTRAP).await;
    let token = admin_token(&app).await;
    (app, token)
}

fn web_app() -> Value {
    json!({
        "client_name": "Shop",
        "redirect_uris": ["https://shop.example.com/callback"],
        "post_logout_redirect_uris": ["https://shop.example.com/"],
    })
}

async fn register(app: &TestApp, token: &str, body: &Value) -> Value {
    expect(
        call(app, Method::POST, CLIENTS, Some(token), Some(body)).await,
        201,
    )
    .await
}

fn field_codes(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn a_confidential_client_gets_a_secret_shown_once_and_kept_hashed(b: Backend) {
    let (app, token) = admin_app(b).await;
    let made = register(&app, &token, &web_app()).await;
    let id = made["client_id"].as_str().unwrap().to_owned();
    let secret = made["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 43, "256 random bits, base64url: {made}");
    assert_eq!(made["client_type"], "confidential");
    assert_eq!(made["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        made["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(made["scope"], "openid email profile offline_access");
    assert_eq!(made["id_token_signed_response_alg"], "RS256");
    assert_eq!(made["first_party"], false);
    assert_eq!(made["access_token_ttl"], Value::Null);

    // Read back, alone and in the list: never the secret.
    let one = expect(
        call(
            &app,
            Method::GET,
            &format!("{CLIENTS}/{id}"),
            Some(&token),
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(one.get("client_secret").is_none(), "{one}");
    assert_eq!(one["redirect_uris"], made["redirect_uris"]);
    let all = expect(
        call(&app, Method::GET, CLIENTS, Some(&token), None).await,
        200,
    )
    .await;
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    assert!(all[0].get("client_secret").is_none(), "{all}");

    // Stored as its SHA-256 only.
    let stored = app
        .db
        .bytes("SELECT secret_hash FROM oauth_clients")
        .await
        .unwrap();
    assert_eq!(stored, Sha256::digest(secret.as_bytes()).to_vec());
    assert_eq!(audited(&app, "admin.client_created").await, 1);
    let detail = app
        .db
        .text("SELECT detail FROM audit_events WHERE event = 'admin.client_created'")
        .await
        .unwrap();
    assert!(detail.contains(&id), "{detail}");
    assert!(!detail.contains(&secret), "{detail}");
}

async fn a_public_client_has_no_secret_and_never_client_credentials(b: Backend) {
    let (app, token) = admin_app(b).await;
    let mut body = web_app();
    body["client_type"] = json!("public");
    body["redirect_uris"] = json!(["com.example.shop:/callback", "http://127.0.0.1/callback"]);
    let made = register(&app, &token, &body).await;
    assert!(made.get("client_secret").is_none(), "{made}");
    assert_eq!(made["token_endpoint_auth_method"], "none");
    let id = made["client_id"].as_str().unwrap();
    assert_problem(
        call(
            &app,
            Method::POST,
            &format!("{CLIENTS}/{id}/secret"),
            Some(&token),
            None,
        )
        .await,
        409,
        "public_client",
    )
    .await;

    body["grant_types"] = json!(["password"]);
    let p = assert_problem(
        call(&app, Method::POST, CLIENTS, Some(&token), Some(&body)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        field_codes(&p),
        [("grant_types".to_owned(), "first_party_only".to_owned())]
    );
    body["grant_types"] = json!(["client_credentials"]);
    let p = assert_problem(
        call(&app, Method::POST, CLIENTS, Some(&token), Some(&body)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        field_codes(&p),
        [("grant_types".to_owned(), "public_client".to_owned())]
    );
    assert_eq!(app.db.count("oauth_clients").await, 1);
}

async fn a_registration_that_breaks_the_rules_names_every_field_and_stores_nothing(b: Backend) {
    let (app, token) = admin_app(b).await;
    let p = assert_problem(
        call(
            &app,
            Method::POST,
            CLIENTS,
            Some(&token),
            Some(&json!({
                "client_name": "",
                "redirect_uris": ["http://shop.example.com/callback"],
                "post_logout_redirect_uris": ["https://shop.example.com/#top"],
                "grant_types": ["implicit"],
                "scope": "openid admin",
                "access_token_ttl": 5,
                "id_token_signed_response_alg": "none",
                "client_type": "secretive",
            })),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let mut got = field_codes(&p);
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("access_token_ttl", "out_of_range"),
        ("client_type", "invalid"),
        ("grant_types", "unsupported_grant_type"),
        ("id_token_signed_response_alg", "unsupported"),
        ("client_name", "required"),
        ("post_logout_redirect_uris", "invalid_redirect_uri"),
        ("redirect_uris", "invalid_redirect_uri"),
        ("scope", "unknown_scope"),
    ]
    .iter()
    .map(|(f, c)| ((*f).to_owned(), (*c).to_owned()))
    .collect();
    want.sort();
    assert_eq!(got, want, "{p}");

    // The code flow needs somewhere to send the user back.
    let p = assert_problem(
        call(
            &app,
            Method::POST,
            CLIENTS,
            Some(&token),
            Some(&json!({"client_name": "No way back"})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        field_codes(&p),
        [("redirect_uris".to_owned(), "required".to_owned())]
    );
    assert_eq!(app.db.count("oauth_clients").await, 0);
    assert_eq!(audited(&app, "admin.client_created").await, 0);
}

async fn a_client_is_changed_and_its_secret_rotated_with_the_old_one_gone(b: Backend) {
    let (app, token) = admin_app(b).await;
    let mut body = web_app();
    body["access_token_ttl"] = json!(600);
    let made = register(&app, &token, &body).await;
    let id = made["client_id"].as_str().unwrap();
    let path = format!("{CLIENTS}/{id}");

    let changed = expect(
        call(
            &app,
            Method::PATCH,
            &path,
            Some(&token),
            Some(&json!({
                "client_name": "Shop (new)",
                "redirect_uris": ["https://shop.example.com/cb2"],
                "scope": "openid email",
                "first_party": true,
                "access_token_ttl": null,
                "id_token_signed_response_alg": "EdDSA",
            })),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(changed["client_name"], "Shop (new)");
    assert_eq!(
        changed["redirect_uris"],
        json!(["https://shop.example.com/cb2"])
    );
    assert_eq!(
        changed["post_logout_redirect_uris"], made["post_logout_redirect_uris"],
        "absent fields stay"
    );
    assert_eq!(changed["scope"], "openid email");
    assert_eq!(changed["first_party"], true);
    assert_eq!(changed["access_token_ttl"], Value::Null, "null clears");
    assert_eq!(changed["id_token_signed_response_alg"], "EdDSA");
    assert!(changed.get("client_secret").is_none());
    let read = expect(
        call(&app, Method::GET, &path, Some(&token), None).await,
        200,
    )
    .await;
    assert_eq!(read["client_name"], "Shop (new)");

    // A change that breaks a rule changes nothing.
    assert_problem(
        call(
            &app,
            Method::PATCH,
            &path,
            Some(&token),
            Some(&json!({"redirect_uris": []})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let read = expect(
        call(&app, Method::GET, &path, Some(&token), None).await,
        200,
    )
    .await;
    assert_eq!(
        read["redirect_uris"],
        json!(["https://shop.example.com/cb2"])
    );

    let old = made["client_secret"].as_str().unwrap();
    let rotated = expect(
        call(
            &app,
            Method::POST,
            &format!("{path}/secret"),
            Some(&token),
            None,
        )
        .await,
        200,
    )
    .await;
    let new = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new, old);
    let stored = app
        .db
        .bytes("SELECT secret_hash FROM oauth_clients")
        .await
        .unwrap();
    assert_eq!(stored, Sha256::digest(new.as_bytes()).to_vec());
    assert_eq!(audited(&app, "admin.client_updated").await, 1);
    assert_eq!(audited(&app, "admin.client_secret_rotated").await, 1);
}

async fn a_deleted_client_is_gone_and_unknown_ids_are_not_found(b: Backend) {
    let (app, token) = admin_app(b).await;
    let made = register(&app, &token, &web_app()).await;
    let path = format!("{CLIENTS}/{}", made["client_id"].as_str().unwrap());
    expect(
        call(&app, Method::DELETE, &path, Some(&token), None).await,
        204,
    )
    .await;
    for method in [Method::GET, Method::DELETE, Method::PATCH] {
        let body = (method == Method::PATCH).then(|| json!({"first_party": true}));
        assert_problem(
            call(&app, method, &path, Some(&token), body.as_ref()).await,
            404,
            "not_found",
        )
        .await;
    }
    assert_problem(
        call(
            &app,
            Method::GET,
            &format!("{CLIENTS}/not-a-client"),
            Some(&token),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(app.db.count("oauth_clients").await, 0);
    assert_eq!(audited(&app, "admin.client_deleted").await, 1);
}

async fn only_admins_manage_clients(b: Backend) {
    let (app, token) = admin_app(b).await;
    let made = register(&app, &token, &web_app()).await;
    let one = format!("{CLIENTS}/{}", made["client_id"].as_str().unwrap());
    let secret = format!("{one}/secret");
    let user = app.user_with_tokens("user@example.com").await;
    let access = user["access_token"].as_str().unwrap();
    let patch = json!({"first_party": true});
    let routes: [(Method, &str, Option<&Value>); 6] = [
        (Method::GET, CLIENTS, None),
        (Method::POST, CLIENTS, Some(&made)),
        (Method::GET, &one, None),
        (Method::PATCH, &one, Some(&patch)),
        (Method::DELETE, &one, None),
        (Method::POST, &secret, None),
    ];
    for (method, path, body) in routes {
        assert_problem(
            call(&app, method.clone(), path, Some(access), body).await,
            403,
            "forbidden",
        )
        .await;
        assert_problem(
            call(&app, method, path, None, body).await,
            401,
            "missing_token",
        )
        .await;
    }
    // Nothing changed: the one client, as registered, with its first secret.
    let stored = app
        .db
        .bytes("SELECT secret_hash FROM oauth_clients")
        .await
        .unwrap();
    assert_eq!(
        stored,
        Sha256::digest(made["client_secret"].as_str().unwrap().as_bytes()).to_vec()
    );
    let read = expect(call(&app, Method::GET, &one, Some(&token), None).await, 200).await;
    assert_eq!(read["first_party"], false);
}

// ---------------------------------------------------------------------------------------------
// sesame clients …

async fn clients_cli(dir: &std::path::Path, url: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = sesame(dir);
    cmd.args(["--database-url", url, "clients"]).args(args);
    run(cmd, None).await
}

/// The command line, as written: JSON with `client_id` and, for a confidential client,
/// the secret; the client is then what the admin API shows.
async fn the_clients_commands_register_list_rotate_and_delete(b: Backend) {
    let db = TestDb::new(b).await;
    let dir = TempDir::new();
    let url = db.url.clone();
    let mut up = sesame(dir.path());
    up.args(["--database-url", &url, "migrate", "up"]);
    assert!(run(up, None).await.status.success());
    let out = clients_cli(
        dir.path(),
        &url,
        &[
            "create",
            "--name",
            "Shop",
            "--redirect-uri",
            "https://shop.example.com/callback",
            "--redirect-uri",
            "https://shop.example.com/callback2",
            "--first-party",
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--scope",
            "openid",
            "--scope",
            "email",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = made["client_id"].as_str().unwrap().to_owned();
    let secret = made["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(made["first_party"], true);
    assert_eq!(made["scope"], "openid email");
    assert_eq!(made["redirect_uris"].as_array().unwrap().len(), 2);

    let out = clients_cli(
        dir.path(),
        &url,
        &[
            "create",
            "--name",
            "Mobile",
            "--public",
            "--redirect-uri",
            "com.example.mobile:/cb",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let public: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(public.get("client_secret").is_none(), "{public}");

    // A refused registration names the rule and registers nothing.
    let out = clients_cli(
        dir.path(),
        &url,
        &[
            "create",
            "--name",
            "Bad",
            "--redirect-uri",
            "http://bad.example/cb",
        ],
    )
    .await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("invalid_redirect_uri"), "{stderr}");

    let out = clients_cli(dir.path(), &url, &["list"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(!text(&out.stdout).contains(&secret));

    let out = clients_cli(dir.path(), &url, &["rotate-secret", &id]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new, secret);
    let stored = db
        .bytes("SELECT secret_hash FROM oauth_clients WHERE name = 'Shop'")
        .await
        .unwrap();
    assert_eq!(stored, Sha256::digest(new.as_bytes()).to_vec());

    let out = clients_cli(dir.path(), &url, &["delete", &id]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = clients_cli(dir.path(), &url, &["delete", &id]).await;
    assert!(!out.status.success(), "deleted twice");

    // What is left is what an admin sees through the API.
    let app = spawn_on(db, &[], &BOOTSTRAP).await;
    let token = admin_token(&app).await;
    let all = expect(
        call(&app, Method::GET, CLIENTS, Some(&token), None).await,
        200,
    )
    .await;
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all[0]["client_name"], "Mobile");
    assert_eq!(audited(&app, "admin.client_created").await, 2);
    assert_eq!(audited(&app, "admin.client_secret_rotated").await, 1);
    assert_eq!(audited(&app, "admin.client_deleted").await, 1);
}

crate::on_every_backend!(
    a_confidential_client_gets_a_secret_shown_once_and_kept_hashed,
    a_public_client_has_no_secret_and_never_client_credentials,
    a_registration_that_breaks_the_rules_names_every_field_and_stores_nothing,
    a_client_is_changed_and_its_secret_rotated_with_the_old_one_gone,
    a_deleted_client_is_gone_and_unknown_ids_are_not_found,
    only_admins_manage_clients,
    the_clients_commands_register_list_rotate_and_delete,
);
