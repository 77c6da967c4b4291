//! The happy path end to end: register → login → profile → refresh → logout.

use crate::helpers::{spawn_app, Backend, PASSWORD};
use serde_json::Value;

async fn register_login_profile_refresh_logout_works_end_to_end(b: Backend) {
    let app = spawn_app(b).await;
    let user = app.create_user("alice@example.com").await;
    assert_eq!(user["email"], "alice@example.com");
    let tokens = app.tokens("alice@example.com").await;
    let at = tokens["access_token"].as_str().unwrap();
    let me: Value = app.me(at).await.json().await.unwrap();
    assert_eq!(me["id"], user["id"]);
    let r = app.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    let renewed: Value = r.json().await.unwrap();
    assert_ne!(renewed["refresh_token"], tokens["refresh_token"]);
    let at2 = renewed["access_token"].as_str().unwrap();
    assert_eq!(app.me(at2).await.status(), 200);
    let r = app.post_json_auth("/api/v1/auth/logout", at2, None).await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.me(at2).await.status(), 401);
    assert_eq!(app.me(at).await.status(), 401);
    let _ = PASSWORD;
}

crate::on_every_backend!(register_login_profile_refresh_logout_works_end_to_end);
