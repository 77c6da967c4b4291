//! Access-token verification on Sesame's own protected endpoint (`GET /api/v1/users/me`): what a
//! token carries, that third parties can verify it from the JWKS alone, and every way a forged,
//! altered, expired or misdirected token is turned away with `401 invalid_token`.

use crate::helpers::{spawn_app, spawn_app_with, spawn_on, Backend, TestApp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::header::{CACHE_CONTROL, WWW_AUTHENTICATE};
use serde_json::{json, Value};
use sesame_domain::clock::Clock as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ISSUER: &str = "http://sesame.test";
const HS_SECRET: &str = "an-hs256-secret-of-at-least-32-bytes-for-tests";

/// A fixed Ed25519 key that Sesame never saw: PKCS#8 v1 around a 32-byte seed.
fn foreign_ed25519_der() -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&[7u8; 32]);
    der
}

fn now_secs() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Decodes one base64url JWT segment as JSON.
fn segment(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).expect("JWT segment");
    serde_json::from_slice(&B64.decode(part).expect("base64url segment")).expect("JSON segment")
}

fn header_of(token: &str) -> Value {
    segment(token, 0)
}

fn claims_of(token: &str) -> Value {
    segment(token, 1)
}

/// A token built by hand (any header, even `alg: none`), with the given signature segment.
fn hand_made(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        B64.encode(serde_json::to_vec(header).unwrap()),
        B64.encode(serde_json::to_vec(claims).unwrap())
    )
}

/// Claims that Sesame would accept for this user and session.
fn good_claims(sub: &Value, sid: &Value) -> Value {
    let now = now_secs();
    json!({
        "iss": ISSUER,
        "aud": "sesame",
        "sub": sub,
        "sid": sid,
        "iat": now,
        "exp": now + 300,
        "jti": uuid::Uuid::now_v7(),
        "roles": [],
    })
}

fn at_jwt_header(alg: Algorithm, kid: Option<&str>) -> Header {
    let mut h = Header::new(alg);
    h.typ = Some("at+jwt".to_owned());
    h.kid = kid.map(str::to_owned);
    h
}

/// Signs `claims` with Sesame's own Ed25519 key (read from the database) under `header`.
async fn sign_with_server_key(app: &TestApp, header: &Header, claims: &Value) -> String {
    let (der, _) = app.signing_key().await;
    jsonwebtoken::encode(header, claims, &EncodingKey::from_ed_der(&der)).unwrap()
}

/// A logged-in user: (access token, its claims).
async fn logged_in(app: &TestApp, email: &str) -> (String, Value) {
    let tokens = app.user_with_tokens(email).await;
    let at = tokens["access_token"].as_str().unwrap().to_owned();
    let claims = claims_of(&at);
    (at, claims)
}

/// Asserts `401 invalid_token` with `WWW-Authenticate: Bearer ..., error="invalid_token"`.
async fn assert_invalid_token(resp: reqwest::Response, what: &str) {
    assert_eq!(resp.status(), 401, "{what}: status");
    let www = resp
        .headers()
        .get(WWW_AUTHENTICATE)
        .unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"))
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        www.starts_with("Bearer") && www.contains("error=\"invalid_token\""),
        "{what}: WWW-Authenticate is {www}"
    );
    crate::helpers::assert_problem(resp, 401, "invalid_token").await;
}

async fn jwks(app: &TestApp) -> Value {
    let r = app.get("/.well-known/jwks.json").await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn a_valid_access_token_opens_the_profile(b: Backend) {
    let app = spawn_app(b).await;
    let user = app.create_user("alice@example.com").await;
    let tokens = app.tokens("alice@example.com").await;
    let r = app.me(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["id"], user["id"]);
    assert_eq!(me["email"], "alice@example.com");
}

async fn access_tokens_carry_the_documented_header_and_claims(b: Backend) {
    let app = spawn_app(b).await;
    let user = app.create_user("alice@example.com").await;
    let before = now_secs();
    let first = app.tokens("alice@example.com").await;
    let second = app.tokens("alice@example.com").await;
    let at = first["access_token"].as_str().unwrap();

    let header = header_of(at);
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert_eq!(header["alg"], "EdDSA", "{header}");
    let (_, kid) = app.signing_key().await;
    assert_eq!(header["kid"], kid.as_str(), "{header}");

    let c = claims_of(at);
    assert_eq!(c["iss"], ISSUER, "{c}");
    assert_eq!(c["aud"], "sesame", "{c}");
    assert_eq!(c["sub"], user["id"], "{c}");
    assert!(
        uuid::Uuid::parse_str(c["sid"].as_str().unwrap()).is_ok(),
        "{c}"
    );
    assert!(
        uuid::Uuid::parse_str(c["jti"].as_str().unwrap()).is_ok(),
        "{c}"
    );
    assert_eq!(c["roles"], json!([]), "{c}");
    let iat = c["iat"].as_i64().unwrap();
    let exp = c["exp"].as_i64().unwrap();
    assert!(iat >= before && iat <= now_secs(), "iat {iat} not now");
    assert_eq!(first["expires_in"], 900, "default TTL is 15 minutes");
    assert_eq!(exp - iat, 900, "exp - iat matches expires_in");
    assert_eq!(first["token_type"], "Bearer");

    // Each login is its own session, and every token has its own id.
    let c2 = claims_of(second["access_token"].as_str().unwrap());
    assert_ne!(c2["sid"], c["sid"]);
    assert_ne!(c2["jti"], c["jti"]);
    assert_eq!(c2["sub"], c["sub"]);
}

async fn granted_roles_appear_in_the_token(b: Backend) {
    let app = spawn_app(b).await;
    let user = app.create_user("root@example.com").await;
    let id = uuid::Uuid::parse_str(user["id"].as_str().unwrap()).unwrap();
    let sql = match b {
        Backend::Sqlite => format!(
            "INSERT INTO user_roles (user_id, role, granted_at) VALUES (X'{}', 'admin', 0)",
            id.simple()
        ),
        Backend::Postgres => format!(
            "INSERT INTO user_roles (user_id, role, granted_at) VALUES ('{id}', 'admin', now())"
        ),
    };
    app.db.exec(&sql).await;
    let tokens = app.tokens("root@example.com").await;
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims_of(at)["roles"], json!(["admin"]));
    assert_eq!(app.me(at).await.status(), 200);
}

async fn an_access_token_verifies_with_a_standard_jwt_library_using_only_the_jwks(b: Backend) {
    let app = spawn_app(b).await;
    let (at, _) = logged_in(&app, "alice@example.com").await;

    let r = app.get("/.well-known/jwks.json").await;
    assert_eq!(r.status(), 200);
    let cache = r.headers().get(CACHE_CONTROL).map(|v| v.to_owned());
    assert!(
        cache.is_some_and(|v| v.to_str().unwrap().contains("max-age")),
        "the JWKS is cacheable"
    );
    let raw: Value = r.json().await.unwrap();
    for k in raw["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(
                k.get(private).is_none(),
                "private key material published: {k}"
            );
        }
        assert!(
            (k["kty"] == "OKP" && k["crv"] == "Ed25519")
                || (k["kty"] == "RSA" && k["alg"] == "RS256"),
            "only Ed25519 and RSA public keys: {k}"
        );
    }
    let set: JwkSet = serde_json::from_value(raw).unwrap();

    let kid = jsonwebtoken::decode_header(&at).unwrap().kid.unwrap();
    let jwk = set.find(&kid).expect("the token's kid is in the JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&["sesame"]);
    let data = jsonwebtoken::decode::<Value>(&at, &key, &v).expect("verifies from the JWKS");
    assert_eq!(data.claims["iss"], ISSUER);
    assert_eq!(data.header.typ.as_deref(), Some("at+jwt"));

    // The same library, told to expect someone else, refuses: the check above is real.
    let mut other = Validation::new(Algorithm::EdDSA);
    other.set_issuer(&["http://elsewhere.test"]);
    other.set_audience(&["sesame"]);
    assert!(jsonwebtoken::decode::<Value>(&at, &key, &other).is_err());
}

async fn a_token_with_a_tampered_payload_or_signature_is_rejected(b: Backend) {
    let app = spawn_app(b).await;
    let (at, claims) = logged_in(&app, "alice@example.com").await;
    assert_eq!(app.me(&at).await.status(), 200);
    let parts: Vec<&str> = at.split('.').collect();

    // Privilege escalation attempt: the same header and signature over a payload with a role.
    let mut escalated = claims.clone();
    escalated["roles"] = json!(["admin"]);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(serde_json::to_vec(&escalated).unwrap()),
        parts[2]
    );
    assert_invalid_token(app.me(&forged).await, "tampered payload").await;

    // A different signature over the original header and payload.
    let mut sig = B64.decode(parts[2]).unwrap();
    sig[0] ^= 0x01;
    let resigned = format!("{}.{}.{}", parts[0], parts[1], B64.encode(&sig));
    assert_invalid_token(app.me(&resigned).await, "flipped signature bit").await;

    // No signature at all.
    let stripped = format!("{}.{}.", parts[0], parts[1]);
    assert_invalid_token(app.me(&stripped).await, "stripped signature").await;
}

async fn a_token_signed_with_another_ed25519_key_is_rejected(b: Backend) {
    let app = spawn_app(b).await;
    let (_, claims) = logged_in(&app, "alice@example.com").await;
    let (_, kid) = app.signing_key().await;
    let good = good_claims(&claims["sub"], &claims["sid"]);
    let header = at_jwt_header(Algorithm::EdDSA, Some(&kid));
    let real = sign_with_server_key(&app, &header, &good).await;
    assert_eq!(app.me(&real).await.status(), 200, "control: server key");
    let foreign = jsonwebtoken::encode(
        &header,
        &good,
        &EncodingKey::from_ed_der(&foreign_ed25519_der()),
    )
    .unwrap();
    assert_invalid_token(app.me(&foreign).await, "foreign key, server kid").await;
}

async fn an_unsigned_alg_none_token_is_rejected(b: Backend) {
    let app = spawn_app(b).await;
    let (_, claims) = logged_in(&app, "alice@example.com").await;
    let (_, kid) = app.signing_key().await;
    let good = good_claims(&claims["sub"], &claims["sid"]);
    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": kid});
        for sig in ["", "AAAA"] {
            let t = hand_made(&header, &good, sig);
            assert_invalid_token(app.me(&t).await, &format!("alg {alg} sig {sig:?}")).await;
        }
    }
}

async fn an_hs256_token_keyed_with_the_servers_public_key_is_rejected(b: Backend) {
    let app = spawn_app(b).await;
    let (_, claims) = logged_in(&app, "alice@example.com").await;
    let set = jwks(&app).await;
    let jwk = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kty"] == "OKP")
        .unwrap();
    let kid = jwk["kid"].as_str().unwrap();
    let x = jwk["x"].as_str().unwrap();
    let raw_public = B64.decode(x).unwrap();
    assert_eq!(raw_public.len(), 32);
    let good = good_claims(&claims["sub"], &claims["sid"]);
    let header = at_jwt_header(Algorithm::HS256, Some(kid));
    // Algorithm confusion: a verifier that let the token pick its algorithm would check this
    // HMAC with the public key bytes it holds for the kid.
    for (what, secret) in [
        ("raw public key", raw_public.clone()),
        ("base64url public key", x.as_bytes().to_vec()),
    ] {
        let t = jsonwebtoken::encode(&header, &good, &EncodingKey::from_secret(&secret)).unwrap();
        assert_eq!(header_of(&t)["alg"], "HS256");
        assert_invalid_token(app.me(&t).await, what).await;
    }
}

async fn a_token_with_an_unknown_or_missing_kid_is_rejected(b: Backend) {
    let app = spawn_app(b).await;
    let (_, claims) = logged_in(&app, "alice@example.com").await;
    let (_, kid) = app.signing_key().await;
    let good = good_claims(&claims["sub"], &claims["sid"]);
    let control =
        sign_with_server_key(&app, &at_jwt_header(Algorithm::EdDSA, Some(&kid)), &good).await;
    assert_eq!(app.me(&control).await.status(), 200, "control: right kid");
    for (what, k) in [("unknown kid", Some("no-such-key")), ("missing kid", None)] {
        let t = sign_with_server_key(&app, &at_jwt_header(Algorithm::EdDSA, k), &good).await;
        assert_invalid_token(app.me(&t).await, what).await;
    }
}

/// Alice's claims, signed with the server's key, open the profile (the control); with `claim` set
/// to each of `bad`, or without it, they do not.
async fn assert_claim_is_checked(app: &TestApp, claim: &str, bad: &[Value]) {
    let (_, claims) = logged_in(app, "alice@example.com").await;
    let (_, kid) = app.signing_key().await;
    let header = at_jwt_header(Algorithm::EdDSA, Some(&kid));
    let good = good_claims(&claims["sub"], &claims["sid"]);
    let control = sign_with_server_key(app, &header, &good).await;
    assert_eq!(app.me(&control).await.status(), 200, "control");
    for value in bad {
        let mut c = good.clone();
        c[claim] = value.clone();
        let t = sign_with_server_key(app, &header, &c).await;
        assert_invalid_token(app.me(&t).await, &format!("{claim} {value}")).await;
    }
    let mut c = good.clone();
    c.as_object_mut().unwrap().remove(claim);
    let t = sign_with_server_key(app, &header, &c).await;
    assert_invalid_token(app.me(&t).await, &format!("no {claim}")).await;
}

async fn a_token_from_another_issuer_is_rejected(b: Backend) {
    let app = spawn_app(b).await;
    assert_claim_is_checked(
        &app,
        "iss",
        &[
            json!("http://evil.test"),
            json!("https://sesame.test"),
            json!("http://sesame.test/"),
            json!(""),
        ],
    )
    .await;
}

async fn a_token_for_another_audience_is_rejected(b: Backend) {
    let app = spawn_app(b).await;
    assert_claim_is_checked(
        &app,
        "aud",
        &[json!("billing"), json!("Sesame"), json!(["billing"])],
    )
    .await;
}

async fn a_token_expired_beyond_the_leeway_is_rejected(b: Backend) {
    // Default leeway: 5 s.
    let app = spawn_app(b).await;
    let (_, claims) = logged_in(&app, "alice@example.com").await;
    let (_, kid) = app.signing_key().await;
    let header = at_jwt_header(Algorithm::EdDSA, Some(&kid));
    let now = now_secs();
    for ago in [60, 3600] {
        let mut c = good_claims(&claims["sub"], &claims["sid"]);
        c["iat"] = json!(now - ago - 900);
        c["exp"] = json!(now - ago);
        let t = sign_with_server_key(&app, &header, &c).await;
        assert_invalid_token(app.me(&t).await, &format!("expired {ago}s ago")).await;
    }
    let mut c = good_claims(&claims["sub"], &claims["sid"]);
    c.as_object_mut().unwrap().remove("exp");
    let t = sign_with_server_key(&app, &header, &c).await;
    assert_invalid_token(app.me(&t).await, "no exp").await;
}

async fn a_token_expired_within_the_leeway_is_still_accepted(b: Backend) {
    let app = spawn_app_with(b, &[], &["--jwt-leeway", "30s"]).await;
    let (_, claims) = logged_in(&app, "alice@example.com").await;
    let (_, kid) = app.signing_key().await;
    let header = at_jwt_header(Algorithm::EdDSA, Some(&kid));
    let now = now_secs();
    let mut c = good_claims(&claims["sub"], &claims["sid"]);
    c["iat"] = json!(now - 910);
    c["exp"] = json!(now - 10);
    let t = sign_with_server_key(&app, &header, &c).await;
    assert_eq!(app.me(&t).await.status(), 200, "10 s past exp, 30 s leeway");
    c["exp"] = json!(now - 90);
    let t = sign_with_server_key(&app, &header, &c).await;
    assert_invalid_token(app.me(&t).await, "90 s past exp, 30 s leeway").await;
}

async fn an_issued_token_stops_working_when_its_ttl_runs_out(b: Backend) {
    let app = spawn_app_with(b, &[], &["--access-token-ttl", "1s", "--jwt-leeway", "0s"]).await;
    let tokens = app.user_with_tokens("alice@example.com").await;
    assert_eq!(tokens["expires_in"], 1);
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.me(at).await.status(), 200, "fresh token");
    // Verification compares whole seconds: move the server's clock past `exp`.
    let exp = u64::try_from(claims_of(at)["exp"].as_i64().unwrap()).unwrap();
    let expired_at = UNIX_EPOCH + Duration::from_secs(exp + 1) + Duration::from_millis(20);
    let server_now = SystemTime::from(app.clock.now());
    if let Ok(wait) = expired_at.duration_since(server_now) {
        app.clock.advance(wait);
    }
    assert_invalid_token(app.me(at).await, "token past its TTL").await;
}

async fn a_token_whose_typ_is_not_at_jwt_is_rejected(b: Backend) {
    let app = spawn_app(b).await;
    let (_, claims) = logged_in(&app, "alice@example.com").await;
    let (_, kid) = app.signing_key().await;
    let good = good_claims(&claims["sub"], &claims["sid"]);
    for typ in [Some("JWT"), Some("rt+jwt"), Some("id_token"), None] {
        let mut h = at_jwt_header(Algorithm::EdDSA, Some(&kid));
        h.typ = typ.map(str::to_owned);
        let t = sign_with_server_key(&app, &h, &good).await;
        assert_invalid_token(app.me(&t).await, &format!("typ {typ:?}")).await;
    }
}

async fn a_refresh_token_presented_as_an_access_token_is_rejected(b: Backend) {
    let app = spawn_app(b).await;
    let tokens = app.user_with_tokens("alice@example.com").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    assert_invalid_token(app.me(rt).await, "refresh token as bearer").await;
    // The refresh token was not consumed by the attempt.
    assert_eq!(app.refresh(rt).await.status(), 200);
}

async fn garbage_bearer_tokens_are_rejected(b: Backend) {
    let app = spawn_app(b).await;
    let long = "x".repeat(4000);
    for junk in [
        "garbage",
        "a.b.c",
        "a.b",
        "eyJhbGciOiJFZERTQSJ9",
        "eyJhbGciOiJFZERTQSJ9.e30.e30.e30",
        "....",
        "null",
        long.as_str(),
    ] {
        assert_invalid_token(app.me(junk).await, junk).await;
    }
}

async fn a_request_without_a_bearer_token_gets_missing_token(b: Backend) {
    let app = spawn_app(b).await;
    let tokens = app.user_with_tokens("alice@example.com").await;
    let at = tokens["access_token"].as_str().unwrap();
    let plain = app.get("/api/v1/users/me").await;
    let basic = app
        .client
        .get(app.url("/api/v1/users/me"))
        .header("authorization", format!("Basic {at}"))
        .send()
        .await
        .unwrap();
    for (what, r) in [("no header", plain), ("Basic scheme", basic)] {
        assert_eq!(
            r.headers()
                .get(WWW_AUTHENTICATE)
                .map(|v| v.to_str().unwrap().to_owned())
                .as_deref(),
            Some("Bearer realm=\"sesame\""),
            "{what}"
        );
        crate::helpers::assert_problem(r, 401, "missing_token").await;
    }
}

async fn a_validly_signed_token_for_a_session_that_is_not_the_callers_is_rejected(b: Backend) {
    let app = spawn_app(b).await;
    let (_, alice) = logged_in(&app, "alice@example.com").await;
    let (_, bob) = logged_in(&app, "bob@example.com").await;
    let (_, kid) = app.signing_key().await;
    let header = at_jwt_header(Algorithm::EdDSA, Some(&kid));
    let control =
        sign_with_server_key(&app, &header, &good_claims(&alice["sub"], &alice["sid"])).await;
    assert_eq!(app.me(&control).await.status(), 200, "control");
    let cases = [
        (
            "unknown session",
            good_claims(&alice["sub"], &json!(uuid::Uuid::now_v7())),
        ),
        ("bob's session", good_claims(&alice["sub"], &bob["sid"])),
        (
            "unknown user",
            good_claims(&json!(uuid::Uuid::now_v7()), &alice["sid"]),
        ),
    ];
    for (what, c) in cases {
        let t = sign_with_server_key(&app, &header, &c).await;
        assert_invalid_token(app.me(&t).await, what).await;
    }
}

async fn hs256_mode_signs_with_hs256_and_publishes_no_keys(b: Backend) {
    let app = spawn_app_with(
        b,
        &[],
        &["--jwt-algorithm", "HS256", "--secret-key", HS_SECRET],
    )
    .await;
    let user = app.create_user("alice@example.com").await;
    let tokens = app.tokens("alice@example.com").await;
    let at = tokens["access_token"].as_str().unwrap();
    let h = header_of(at);
    assert_eq!(h["alg"], "HS256", "{h}");
    assert_eq!(h["typ"], "at+jwt", "{h}");
    assert!(h["kid"].is_string(), "{h}");
    let r = app.me(at).await;
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["id"], user["id"]);
    // The shared secret is never published: only the ID-token keys (RS256 and EdDSA) are, and
    // none of them is the access tokens' key.
    let published = jwks(&app).await;
    let keys = published["keys"].as_array().unwrap();
    assert!(
        keys.iter()
            .all(|k| k["kty"] != "oct" && k["kid"] != h["kid"]),
        "{published}"
    );
    let mut algs: Vec<&str> = keys.iter().filter_map(|k| k["alg"].as_str()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["EdDSA", "RS256"]);

    // A verifier holding the shared secret accepts it.
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&["sesame"]);
    let key = DecodingKey::from_secret(HS_SECRET.as_bytes());
    assert!(jsonwebtoken::decode::<Value>(at, &key, &v).is_ok());
}

async fn hs256_mode_rejects_tokens_signed_with_another_secret_or_algorithm(b: Backend) {
    let app = spawn_app_with(
        b,
        &[],
        &["--jwt-algorithm", "HS256", "--secret-key", HS_SECRET],
    )
    .await;
    let (at, claims) = logged_in(&app, "alice@example.com").await;
    let kid = header_of(&at)["kid"].as_str().unwrap().to_owned();
    let good = good_claims(&claims["sub"], &claims["sid"]);
    let header = at_jwt_header(Algorithm::HS256, Some(&kid));
    let control = jsonwebtoken::encode(
        &header,
        &good,
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        app.me(&control).await.status(),
        200,
        "control: right secret"
    );
    let other = jsonwebtoken::encode(
        &header,
        &good,
        &EncodingKey::from_secret(b"another-secret-that-is-also-32-bytes-long!"),
    )
    .unwrap();
    assert_invalid_token(app.me(&other).await, "HS256 with another secret").await;
    let ed = jsonwebtoken::encode(
        &at_jwt_header(Algorithm::EdDSA, Some(&kid)),
        &good,
        &EncodingKey::from_ed_der(&foreign_ed25519_der()),
    )
    .unwrap();
    assert_invalid_token(app.me(&ed).await, "EdDSA token in HS256 mode").await;
}

async fn the_signing_key_and_its_tokens_survive_a_restart(b: Backend) {
    let app = spawn_app(b).await;
    let tokens = app.user_with_tokens("alice@example.com").await;
    let at = tokens["access_token"].as_str().unwrap().to_owned();
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(app.me(&at).await.status(), 200);
    let kids_before = jwks(&app).await["keys"].clone();
    assert_eq!(
        kids_before.as_array().unwrap().len(),
        2,
        "the Ed25519 key and the RSA key of RS256 ID tokens"
    );

    let db = app.stop().await;
    let app = spawn_on(db, &[], &[]).await;
    assert_eq!(
        jwks(&app).await["keys"],
        kids_before,
        "same key after restart"
    );
    assert_eq!(app.me(&at).await.status(), 200, "old access token");
    let r = app.refresh(&rt).await;
    assert_eq!(r.status(), 200, "old refresh token");
    let renewed: Value = r.json().await.unwrap();
    assert_eq!(
        header_of(renewed["access_token"].as_str().unwrap())["kid"],
        header_of(&at)["kid"]
    );
}

crate::on_every_backend!(
    a_valid_access_token_opens_the_profile,
    access_tokens_carry_the_documented_header_and_claims,
    granted_roles_appear_in_the_token,
    an_access_token_verifies_with_a_standard_jwt_library_using_only_the_jwks,
    a_token_with_a_tampered_payload_or_signature_is_rejected,
    a_token_signed_with_another_ed25519_key_is_rejected,
    an_unsigned_alg_none_token_is_rejected,
    an_hs256_token_keyed_with_the_servers_public_key_is_rejected,
    a_token_with_an_unknown_or_missing_kid_is_rejected,
    a_token_from_another_issuer_is_rejected,
    a_token_for_another_audience_is_rejected,
    a_token_expired_beyond_the_leeway_is_rejected,
    a_token_expired_within_the_leeway_is_still_accepted,
    an_issued_token_stops_working_when_its_ttl_runs_out,
    a_token_whose_typ_is_not_at_jwt_is_rejected,
    a_refresh_token_presented_as_an_access_token_is_rejected,
    garbage_bearer_tokens_are_rejected,
    a_request_without_a_bearer_token_gets_missing_token,
    a_validly_signed_token_for_a_session_that_is_not_the_callers_is_rejected,
    hs256_mode_signs_with_hs256_and_publishes_no_keys,
    hs256_mode_rejects_tokens_signed_with_another_secret_or_algorithm,
    the_signing_key_and_its_tokens_survive_a_restart,
);
