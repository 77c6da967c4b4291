//! Second factors over HTTP (issue 13): enrolling an authenticator app (RFC 6238) and its
//! recovery codes, signing in with a second factor on `/auth/login` and on the RFC 6749 token
//! endpoint, wrong codes and the challenge's limits, step-up (`amr`, `auth_time`, RFC 9470's
//! `insufficient_user_authentication`), removing a factor, the operator's view and reset, the
//! `SESAME_MFA_REQUIRED` policy, the export and account deletion, and the secret sealed at rest.
//!
//! The tests play the authenticator app: codes come from the enrolment's base32 secret at the
//! server's clock (`app.clock`), which they move instead of sleeping. Mail goes to an SMTP port
//! nobody listens on, so every queued mail keeps its parameters in the outbox for the tests to
//! read.

use crate::helpers::text_field as s;
use crate::helpers::{assert_problem, spawn_app_with, Backend, TestApp, PASSWORD};
use crate::smtp::{free_port, smtp_url};
use base64::Engine as _;
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::Method;
use serde_json::{json, Value};
use sesame_domain::clock::Clock as _;
use sesame_domain::mfa::TotpSecret;
use std::time::Duration;

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const ADMIN: &str = "admin@example.com";
const NEW_PASSWORD: &str = "an entirely new passphrase";
/// One RFC 6238 time step.
const STEP: Duration = Duration::from_secs(30);
const FACTORS: &str = "/api/v1/users/me/factors";
const LOGIN_MFA: &str = "/api/v1/auth/login/mfa";
const REAUTH: &str = "/api/v1/auth/reauthenticate";
const RECOVERY_CODES: &str = "/api/v1/users/me/recovery-codes";
const ENROLMENT_AUDIENCE: &str = "urn:sesame:mfa-enrolment";
const MFA_GRANT: &str = "urn:sesame:params:oauth:grant-type:mfa";

/// A server with `serve` flags whose mail stays queued (see the module header).
pub(crate) async fn app_with(b: Backend, serve: &[&str]) -> TestApp {
    let smtp = smtp_url(free_port());
    let mut flags = vec!["--mail-transport", "smtp", "--smtp-url", smtp.as_str()];
    flags.extend_from_slice(serve);
    spawn_app_with(b, &[], &flags).await
}

async fn app(b: Backend) -> TestApp {
    app_with(b, &[]).await
}

/// A server with the bootstrap admin `ADMIN`, plus `serve` flags.
async fn admin_app(b: Backend, serve: &[&str]) -> TestApp {
    let mut flags = vec![
        "--bootstrap-admin-email",
        ADMIN,
        "--bootstrap-admin-password",
        PASSWORD,
    ];
    flags.extend_from_slice(serve);
    app_with(b, &flags).await
}

/// One request, with a bearer token and a JSON body if given.
pub(crate) async fn call(
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

/// Asserts the status and returns the JSON body (`Null` when empty).
pub(crate) async fn expect(r: reqwest::Response, status: u16) -> Value {
    let got = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

/// The claims of a JWT (its payload decoded; the signature is the server's business).
pub(crate) fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// The `amr` claim of an access token, as strings.
pub(crate) fn amr(jwt: &str) -> Vec<String> {
    claims(jwt)["amr"]
        .as_array()
        .unwrap_or_else(|| panic!("no amr in {}", claims(jwt)))
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect()
}

/// The authenticator app the tests play (the browser tests play it too).
pub(crate) struct Authenticator(TotpSecret);

impl Authenticator {
    fn from_base32(secret: &str) -> Self {
        let bytes = totp_rs::Secret::try_from_base32(secret)
            .expect("the secret is base32")
            .as_bytes()
            .to_vec();
        Self(TotpSecret::from_bytes(bytes))
    }

    /// The code the app shows at the server's current time.
    pub(crate) fn code(&self, app: &TestApp) -> String {
        self.0.code_at(app.clock.now())
    }

    /// A code of the next time step, after moving the server's clock there: never a step
    /// used before.
    pub(crate) fn fresh_code(&self, app: &TestApp) -> String {
        app.clock.advance(STEP);
        self.code(app)
    }

    /// Six digits that match no step of the window the server accepts now.
    pub(crate) fn wrong_code(&self, app: &TestApp) -> String {
        let now = app.clock.now();
        let window: Vec<String> = [-30, 0, 30]
            .iter()
            .map(|d| self.0.code_at(now + chrono::Duration::seconds(*d)))
            .collect();
        (0..)
            .map(|n: u32| format!("{:06}", (123_456 + n * 7_919) % 1_000_000))
            .find(|c| !window.contains(c))
            .unwrap()
    }
}

/// Moves the server's clock to one second into the next time step, so a code computed now
/// stays in its step while the request travels.
fn align_to_step(app: &TestApp) {
    let into = app.clock.now().timestamp().rem_euclid(30);
    app.clock
        .advance(Duration::from_secs(u64::try_from(30 - into + 1).unwrap()));
}

/// An authenticator app enrolled and confirmed on the caller's account.
pub(crate) struct Enrolled {
    pub(crate) factor_id: String,
    pub(crate) secret: String,
    pub(crate) app: Authenticator,
    pub(crate) recovery_codes: Vec<String>,
}

/// Starts an authenticator app enrolment; returns the 201 body.
async fn start_totp(app: &TestApp, access: &str, body: Value) -> Value {
    expect(
        call(
            app,
            Method::POST,
            &format!("{FACTORS}/totp"),
            Some(access),
            Some(&body),
        )
        .await,
        201,
    )
    .await
}

async fn confirm(app: &TestApp, access: &str, id: &str, code: &str) -> reqwest::Response {
    call(
        app,
        Method::POST,
        &format!("{FACTORS}/totp/{id}/confirm"),
        Some(access),
        Some(&json!({ "code": code })),
    )
    .await
}

/// Enrols and confirms an authenticator app for the caller of `access`.
async fn enrol(app: &TestApp, access: &str) -> Enrolled {
    let started = start_totp(app, access, json!({ "name": "Phone" })).await;
    let secret = s(&started, "secret");
    let factor_id = s(&started["factor"], "id");
    let auth = Authenticator::from_base32(&secret);
    let confirmed = expect(confirm(app, access, &factor_id, &auth.code(app)).await, 200).await;
    let recovery_codes = confirmed["recovery_codes"]
        .as_array()
        .unwrap_or_else(|| panic!("recovery codes with the first factor: {confirmed}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    Enrolled {
        factor_id,
        secret,
        app: auth,
        recovery_codes,
    }
}

/// Registers `email`, signs in with the password and enrols an authenticator app. Returns the
/// (password-only) tokens of that sign-in and the enrolment.
pub(crate) async fn user_with_factor(app: &TestApp, email: &str) -> (Value, Enrolled) {
    let tokens = app.user_with_tokens(email).await;
    let enrolled = enrol(app, &s(&tokens, "access_token")).await;
    (tokens, enrolled)
}

/// The `mfa_token` a correct password answers for an account with a factor.
async fn mfa_token(app: &TestApp, email: &str) -> String {
    let body = expect(app.login(email, PASSWORD).await, 200).await;
    assert_eq!(body["mfa_required"], true, "{body}");
    s(&body, "mfa_token")
}

async fn login_mfa(app: &TestApp, mfa_token: &str, answer: Value) -> reqwest::Response {
    let mut body = json!({ "mfa_token": mfa_token });
    for (k, v) in answer.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.post_json(LOGIN_MFA, &body).await
}

/// Signs `email` in with the password and a fresh code; returns the token response.
async fn sign_in_with_code(app: &TestApp, email: &str, auth: &Authenticator) -> Value {
    let token = mfa_token(app, email).await;
    let code = auth.fresh_code(app);
    expect(login_mfa(app, &token, json!({ "code": code })).await, 200).await
}

async fn reauthenticate(app: &TestApp, access: &str, body: Value) -> reqwest::Response {
    call(app, Method::POST, REAUTH, Some(access), Some(&body)).await
}

pub(crate) async fn factors(app: &TestApp, access: &str) -> Value {
    expect(app.get_auth(FACTORS, access).await, 200).await
}

async fn change_password(app: &TestApp, access: &str, current: &str) -> reqwest::Response {
    app.post_json_auth(
        "/api/v1/users/me/password",
        access,
        Some(&json!({ "current_password": current, "new_password": NEW_PASSWORD })),
    )
    .await
}

/// Asserts RFC 9470's step-up refusal: 401 `insufficient_user_authentication`, with the same
/// error and a `max_age` in `WWW-Authenticate`. Returns that header.
pub(crate) async fn assert_step_up(r: reqwest::Response) -> String {
    let www = r
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_problem(r, 401, "insufficient_user_authentication").await;
    assert!(
        www.starts_with("Bearer ") && www.contains("error=\"insufficient_user_authentication\""),
        "{www}"
    );
    assert!(www.contains("max_age="), "{www}");
    www
}

/// Queued mails of `kind` to `recipient`.
pub(crate) async fn mails(app: &TestApp, kind: &str, recipient: &str) -> usize {
    app.db
        .count(&format!(
            "mail_outbox WHERE kind = '{kind}' AND recipient = '{recipient}'"
        ))
        .await
}

/// The template parameters of the newest mail of `kind` to `recipient`.
async fn mail_params(app: &TestApp, kind: &str, recipient: &str) -> Value {
    let text = app
        .db
        .text(&format!(
            "SELECT params FROM mail_outbox WHERE kind = '{kind}' AND recipient = '{recipient}' \
             ORDER BY created_at DESC"
        ))
        .await
        .unwrap_or_else(|| panic!("no {kind} mail to {recipient}"));
    serde_json::from_str(&text).unwrap()
}

pub(crate) async fn audited(app: &TestApp, event: &str) -> usize {
    app.db
        .count(&format!("audit_events WHERE event = '{event}'"))
        .await
}

// ---------------------------------------------------------------------------------------------
// 1. Enrolment

async fn an_authenticator_app_is_active_only_after_its_first_code_is_confirmed(b: Backend) {
    let app = app(b).await;
    let tokens = app.user_with_tokens(ALICE).await;
    let access = s(&tokens, "access_token");

    let started = start_totp(&app, &access, json!({ "name": "Phone" })).await;
    let secret = s(&started, "secret");
    let uri = s(&started, "otpauth_uri");
    let id = s(&started["factor"], "id");
    assert!(
        totp_rs::Secret::try_from_base32(&secret).is_ok(),
        "{secret}"
    );
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(s(&started, "qr_svg").contains("<svg"), "{started}");
    assert_eq!(started["factor"]["type"], "totp");
    assert_eq!(started["factor"]["name"], "Phone");
    assert_eq!(started["factor"]["active"], false);
    assert!(started["factor"]["confirmed_at"].is_null(), "{started}");

    // Pending: listed as inactive, and the password alone still signs in.
    let listed = factors(&app, &access).await;
    assert_eq!(listed["factors"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["factors"][0]["active"], false);
    assert_eq!(listed["recovery_codes_left"], 0);
    let plain = expect(app.login(ALICE, PASSWORD).await, 200).await;
    assert!(plain["access_token"].is_string(), "{plain}");

    let auth = Authenticator::from_base32(&secret);
    assert_problem(
        confirm(&app, &access, &id, &auth.wrong_code(&app)).await,
        401,
        "invalid_second_factor",
    )
    .await;
    assert_eq!(factors(&app, &access).await["factors"][0]["active"], false);

    let confirmed = expect(confirm(&app, &access, &id, &auth.code(&app)).await, 200).await;
    assert_eq!(confirmed["factor"]["active"], true, "{confirmed}");
    assert!(confirmed["factor"]["confirmed_at"].is_string());
    let codes: Vec<&str> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 10, "{confirmed}");
    let mut distinct = codes.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "no two recovery codes alike");

    // An active factor is not confirmed again.
    assert_problem(
        confirm(&app, &access, &id, &auth.fresh_code(&app)).await,
        404,
        "not_found",
    )
    .await;

    let r = app.get_auth(FACTORS, &access).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains(&secret) && !text.contains("secret"),
        "the list never shows a secret: {text}"
    );
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed["factors"].as_array().unwrap().len(), 1);
    assert_eq!(listed["factors"][0]["id"], id.as_str());
    assert_eq!(listed["factors"][0]["type"], "totp");
    assert_eq!(listed["factors"][0]["active"], true);
    assert_eq!(listed["recovery_codes_left"], 10);
    assert_eq!(mails(&app, "factor_added", ALICE).await, 1);
    assert_eq!(audited(&app, "mfa.factor_added").await, 1);
}

async fn the_otpauth_uri_gives_an_authenticator_app_the_same_codes(b: Backend) {
    let app = app(b).await;
    let tokens = app.user_with_tokens(ALICE).await;
    let started = start_totp(&app, &s(&tokens, "access_token"), json!({})).await;
    let uri = s(&started, "otpauth_uri");
    let scanned = totp_rs::Totp::from_url(&uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
    assert_eq!(scanned.issuer(), Some("Sesame"), "{uri}");
    assert_eq!(scanned.account_name(), ALICE, "{uri}");
    assert_eq!(
        scanned.secret().to_base32(),
        s(&started, "secret"),
        "the URI carries the secret shown"
    );
    assert_eq!(started["factor"]["name"], "Authenticator app");
    let typed = Authenticator::from_base32(&s(&started, "secret"));
    let now = app.clock.now();
    for offset in [0, 30, 90, 3600] {
        let t = now + chrono::Duration::seconds(offset);
        assert_eq!(
            scanned
                .generate(u64::try_from(t.timestamp()).unwrap())
                .to_string(),
            typed.0.code_at(t),
            "at +{offset}s"
        );
    }
    // And the scanned app's code is what the server accepts.
    let code = scanned
        .generate(u64::try_from(app.clock.now().timestamp()).unwrap())
        .to_string();
    let id = s(&started["factor"], "id");
    expect(
        confirm(&app, &s(&tokens, "access_token"), &id, &code).await,
        200,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// 2. Sign-in with an authenticator app

async fn a_password_alone_gets_a_challenge_and_the_code_completes_the_sign_in(b: Backend) {
    let app = app(b).await;
    let (_, enrolled) = user_with_factor(&app, ALICE).await;
    let auth = &enrolled.app;

    let body = expect(app.login(ALICE, PASSWORD).await, 200).await;
    assert_eq!(body["mfa_required"], true, "{body}");
    assert!(body.get("access_token").is_none(), "no tokens yet: {body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]), "{body}");
    assert!(body["expires_in"].as_u64().unwrap() > 0, "{body}");
    let token = s(&body, "mfa_token");
    assert_eq!(audited(&app, "mfa.challenged").await, 1);

    // Neither or both answers are a validation error, not a wrong factor.
    assert_problem(
        login_mfa(&app, &token, json!({})).await,
        422,
        "validation_failed",
    )
    .await;
    let code = auth.fresh_code(&app);
    let before = app.clock.now().timestamp();
    let pair = expect(login_mfa(&app, &token, json!({ "code": code })).await, 200).await;
    let access = s(&pair, "access_token");
    assert!(pair["refresh_token"].is_string(), "{pair}");
    let methods = amr(&access);
    for m in ["pwd", "otp", "mfa"] {
        assert!(methods.iter().any(|x| x == m), "{m} in {methods:?}");
    }
    let auth_time = claims(&access)["auth_time"].as_i64().expect("auth_time");
    assert!(
        (before..=app.clock.now().timestamp()).contains(&auth_time),
        "auth_time {auth_time} is the moment of the sign-in ({before})"
    );
    assert_eq!(expect(app.me(&access).await, 200).await["email"], ALICE);

    // The same code again, in a new sign-in inside its window: a replay.
    let again = mfa_token(&app, ALICE).await;
    assert_problem(
        login_mfa(&app, &again, json!({ "code": code })).await,
        401,
        "invalid_second_factor",
    )
    .await;
}

async fn a_code_one_step_old_is_accepted_and_two_steps_old_is_not(b: Backend) {
    let app = app(b).await;
    let (_, enrolled) = user_with_factor(&app, ALICE).await;
    let auth = &enrolled.app;

    align_to_step(&app);
    let stale = auth.code(&app);
    app.clock.advance(2 * STEP);
    let token = mfa_token(&app, ALICE).await;
    assert_problem(
        login_mfa(&app, &token, json!({ "code": stale })).await,
        401,
        "invalid_second_factor",
    )
    .await;

    align_to_step(&app);
    let late = auth.code(&app);
    app.clock.advance(STEP);
    let token = mfa_token(&app, ALICE).await;
    let pair = expect(login_mfa(&app, &token, json!({ "code": late })).await, 200).await;
    assert!(pair["access_token"].is_string());
}

// ---------------------------------------------------------------------------------------------
// 3. Recovery codes

async fn a_recovery_code_signs_in_once_and_is_mailed_and_audited(b: Backend) {
    let app = app(b).await;
    let (_, enrolled) = user_with_factor(&app, ALICE).await;
    let code = &enrolled.recovery_codes[0];

    let token = mfa_token(&app, ALICE).await;
    let pair = expect(
        login_mfa(&app, &token, json!({ "recovery_code": code })).await,
        200,
    )
    .await;
    let access = s(&pair, "access_token");
    let methods = amr(&access);
    assert!(
        methods.contains(&"otp".to_owned()) && methods.contains(&"mfa".to_owned()),
        "{methods:?}"
    );
    assert_eq!(factors(&app, &access).await["recovery_codes_left"], 9);
    assert_eq!(mails(&app, "recovery_code_used", ALICE).await, 1);
    assert_eq!(
        mail_params(&app, "recovery_code_used", ALICE).await["codes_left"],
        "9"
    );
    assert_eq!(audited(&app, "mfa.recovery_code_used").await, 1);

    // Spent.
    let token = mfa_token(&app, ALICE).await;
    assert_problem(
        login_mfa(&app, &token, json!({ "recovery_code": code })).await,
        401,
        "invalid_second_factor",
    )
    .await;
    assert_eq!(factors(&app, &access).await["recovery_codes_left"], 9);
    assert_eq!(mails(&app, "recovery_code_used", ALICE).await, 1);

    // Another one, typed carelessly (lower case, spaces for dashes), still works once.
    let typed = enrolled.recovery_codes[1].to_lowercase().replace('-', " ");
    let token = mfa_token(&app, ALICE).await;
    expect(
        login_mfa(&app, &token, json!({ "recovery_code": typed })).await,
        200,
    )
    .await;
    assert_eq!(factors(&app, &access).await["recovery_codes_left"], 8);
}

// ---------------------------------------------------------------------------------------------
// 4. Wrong answers and the challenge's limits

async fn wrong_codes_count_toward_the_sign_in_pause(b: Backend) {
    let app = app_with(b, &["--lockout-threshold", "3"]).await;
    let (_, enrolled) = user_with_factor(&app, ALICE).await;
    let auth = &enrolled.app;

    let token = mfa_token(&app, ALICE).await;
    for _ in 0..3 {
        assert_problem(
            login_mfa(&app, &token, json!({ "code": auth.wrong_code(&app) })).await,
            401,
            "invalid_second_factor",
        )
        .await;
    }
    assert_eq!(app.db.stored_failures("user:%").await, Some(3));
    // Paused: the right code, and then the right password, are refused alike.
    assert_problem(
        login_mfa(&app, &token, json!({ "code": auth.fresh_code(&app) })).await,
        429,
        "rate_limited",
    )
    .await;
    assert_problem(app.login(ALICE, PASSWORD).await, 429, "rate_limited").await;
}

/// A thief with the password must not guess codes a few at a time, signing in with the
/// password again before each pause: the password alone does not reset the count of wrong codes.
async fn a_correct_password_between_wrong_codes_does_not_reset_their_count(b: Backend) {
    let app = app_with(b, &["--lockout-threshold", "3"]).await;
    let (_, enrolled) = user_with_factor(&app, ALICE).await;
    let auth = &enrolled.app;

    let first = mfa_token(&app, ALICE).await;
    for _ in 0..2 {
        assert_problem(
            login_mfa(&app, &first, json!({ "code": auth.wrong_code(&app) })).await,
            401,
            "invalid_second_factor",
        )
        .await;
    }
    // The password again: a new challenge, and the two wrong codes still count.
    let second = mfa_token(&app, ALICE).await;
    assert_eq!(app.db.stored_failures("user:%").await, Some(2));
    assert_problem(
        login_mfa(&app, &second, json!({ "code": auth.wrong_code(&app) })).await,
        401,
        "invalid_second_factor",
    )
    .await;
    assert_eq!(app.db.stored_failures("user:%").await, Some(3));
    assert_problem(
        login_mfa(&app, &second, json!({ "code": auth.fresh_code(&app) })).await,
        429,
        "rate_limited",
    )
    .await;
}

async fn a_challenge_dies_after_five_wrong_answers(b: Backend) {
    let app = app(b).await;
    let (_, enrolled) = user_with_factor(&app, ALICE).await;
    let auth = &enrolled.app;

    let token = mfa_token(&app, ALICE).await;
    for _ in 0..5 {
        assert_problem(
            login_mfa(&app, &token, json!({ "code": auth.wrong_code(&app) })).await,
            401,
            "invalid_second_factor",
        )
        .await;
    }
    let code = auth.fresh_code(&app);
    assert_problem(
        login_mfa(&app, &token, json!({ "code": code })).await,
        401,
        "invalid_challenge",
    )
    .await;
    // The code itself was good: a new challenge takes it.
    let token = mfa_token(&app, ALICE).await;
    expect(login_mfa(&app, &token, json!({ "code": code })).await, 200).await;
}

async fn an_expired_challenge_is_refused(b: Backend) {
    let app = app_with(b, &["--mfa-challenge-ttl", "1m"]).await;
    let (_, enrolled) = user_with_factor(&app, ALICE).await;
    let body = expect(app.login(ALICE, PASSWORD).await, 200).await;
    assert_eq!(body["expires_in"], 60, "{body}");
    app.clock.advance(Duration::from_secs(61));
    let code = enrolled.app.fresh_code(&app);
    assert_problem(
        login_mfa(&app, &s(&body, "mfa_token"), json!({ "code": code })).await,
        401,
        "invalid_challenge",
    )
    .await;
}

async fn a_challenge_is_used_once(b: Backend) {
    let app = app(b).await;
    let (_, enrolled) = user_with_factor(&app, ALICE).await;
    let token = mfa_token(&app, ALICE).await;
    let code = enrolled.app.fresh_code(&app);
    expect(login_mfa(&app, &token, json!({ "code": code })).await, 200).await;
    let next = enrolled.app.fresh_code(&app);
    assert_problem(
        login_mfa(&app, &token, json!({ "code": next })).await,
        401,
        "invalid_challenge",
    )
    .await;
    assert_problem(
        login_mfa(&app, "not-a-challenge", json!({ "code": next })).await,
        401,
        "invalid_challenge",
    )
    .await;
}

async fn a_known_device_completes_its_second_factor_while_strangers_keep_the_account_paused(
    b: Backend,
) {
    let app = app_with(b, &["--lockout-threshold", "3"]).await;
    let (_, enrolled) = user_with_factor(&app, ALICE).await;
    // The owner's device signed in once with both factors and keeps its device token.
    let first = sign_in_with_code(&app, ALICE, &enrolled.app).await;
    let device = s(&first, "device_token");
    // A stranger pauses the account's shared key with wrong passwords.
    for _ in 0..3 {
        assert_problem(
            app.login(ALICE, "a stranger's guess").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    assert_problem(app.login(ALICE, PASSWORD).await, 429, "rate_limited").await;

    // The known device is not paused: neither its password step nor its second factor.
    let body = expect(
        app.post_json(
            "/api/v1/auth/login",
            &json!({ "email": ALICE, "password": PASSWORD, "device_token": device }),
        )
        .await,
        200,
    )
    .await;
    let token = s(&body, "mfa_token");
    let code = enrolled.app.fresh_code(&app);
    let pair = expect(login_mfa(&app, &token, json!({ "code": code })).await, 200).await;
    assert!(pair["access_token"].is_string(), "{pair}");
    // The stranger is still paused.
    assert_problem(app.login(ALICE, PASSWORD).await, 429, "rate_limited").await;
}

// ---------------------------------------------------------------------------------------------
// 5. The token endpoint

async fn token_grant(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/token"))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn the_token_endpoint_answers_mfa_required_and_the_mfa_grant_completes_it(b: Backend) {
    let app = app(b).await;
    let (_, enrolled) = user_with_factor(&app, ALICE).await;
    let auth = &enrolled.app;

    let r = app.password_grant(ALICE, PASSWORD).await;
    let refused = expect(r, 403).await;
    assert_eq!(refused["error"], "mfa_required", "{refused}");
    assert!(refused.get("access_token").is_none(), "{refused}");
    assert_eq!(refused["methods"], json!(["totp", "recovery_code"]));
    assert!(refused["expires_in"].as_u64().unwrap() > 0);
    let token = s(&refused, "mfa_token");

    let wrong = auth.wrong_code(&app);
    let r = token_grant(
        &app,
        &[
            ("grant_type", MFA_GRANT),
            ("mfa_token", &token),
            ("otp", &wrong),
        ],
    )
    .await;
    assert_eq!(expect(r, 400).await["error"], "invalid_grant");

    let code = auth.fresh_code(&app);
    let r = token_grant(
        &app,
        &[
            ("grant_type", MFA_GRANT),
            ("mfa_token", &token),
            ("otp", &code),
        ],
    )
    .await;
    assert_eq!(
        r.headers().get("cache-control").unwrap(),
        "no-store",
        "RFC 6749 §5.1"
    );
    let granted = expect(r, 200).await;
    assert_eq!(granted["token_type"], "Bearer", "{granted}");
    assert!(granted["expires_in"].as_u64().unwrap() > 0, "{granted}");
    assert!(granted["refresh_token"].is_string(), "{granted}");
    let access = s(&granted, "access_token");
    assert!(amr(&access).contains(&"mfa".to_owned()));
    assert_eq!(expect(app.me(&access).await, 200).await["email"], ALICE);

    // The challenge was used; and a recovery code works on the grant too.
    let r = token_grant(
        &app,
        &[
            ("grant_type", MFA_GRANT),
            ("mfa_token", &token),
            ("otp", &code),
        ],
    )
    .await;
    assert_eq!(expect(r, 400).await["error"], "invalid_grant");
    let token = s(
        &expect(app.password_grant(ALICE, PASSWORD).await, 403).await,
        "mfa_token",
    );
    let r = token_grant(
        &app,
        &[
            ("grant_type", MFA_GRANT),
            ("mfa_token", &token),
            ("recovery_code", &enrolled.recovery_codes[0]),
        ],
    )
    .await;
    expect(r, 200).await;
}

// ---------------------------------------------------------------------------------------------
// 6. Step-up

async fn with_a_factor_sensitive_operations_need_a_step_up_with_the_second_factor(b: Backend) {
    let app = app(b).await;
    // The enrolment happened in a password-only session: its tokens do not prove the factor.
    let (tokens, enrolled) = user_with_factor(&app, ALICE).await;
    let access = s(&tokens, "access_token");
    let factor = format!("{FACTORS}/{}", enrolled.factor_id);

    let www = assert_step_up(change_password(&app, &access, PASSWORD).await).await;
    assert!(
        www.contains("max_age=600"),
        "the default SESAME_REAUTH_MAX_AGE: {www}"
    );
    assert_step_up(call(&app, Method::DELETE, &factor, Some(&access), None).await).await;
    assert_step_up(app.post_json_auth(RECOVERY_CODES, &access, None).await).await;
    assert_step_up(
        call(
            &app,
            Method::POST,
            &format!("{FACTORS}/totp"),
            Some(&access),
            Some(&json!({})),
        )
        .await,
    )
    .await;
    assert_step_up(
        call(
            &app,
            Method::DELETE,
            "/api/v1/users/me",
            Some(&access),
            Some(&json!({ "password": PASSWORD })),
        )
        .await,
    )
    .await;

    // The password alone does not step up an account with a factor; a wrong code neither.
    assert_problem(
        reauthenticate(&app, &access, json!({ "password": PASSWORD })).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        reauthenticate(
            &app,
            &access,
            json!({ "password": PASSWORD, "code": enrolled.app.wrong_code(&app) }),
        )
        .await,
        401,
        "invalid_second_factor",
    )
    .await;

    let code = enrolled.app.fresh_code(&app);
    let stepped = expect(
        reauthenticate(&app, &access, json!({ "password": PASSWORD, "code": code })).await,
        200,
    )
    .await;
    assert_eq!(stepped["token_type"], "Bearer");
    let strong = s(&stepped, "access_token");
    assert_eq!(
        claims(&strong)["sid"],
        claims(&access)["sid"],
        "same session"
    );
    assert!(
        amr(&strong).contains(&"mfa".to_owned()),
        "{:?}",
        amr(&strong)
    );
    assert!(claims(&strong)["auth_time"].as_i64() > claims(&access)["auth_time"].as_i64());
    assert_eq!(audited(&app, "session.reauthenticated").await, 1);

    // New recovery codes: the old set stops working.
    let fresh = expect(app.post_json_auth(RECOVERY_CODES, &strong, None).await, 200).await;
    assert_eq!(fresh["recovery_codes"].as_array().unwrap().len(), 10);
    let token = mfa_token(&app, ALICE).await;
    assert_problem(
        login_mfa(
            &app,
            &token,
            json!({ "recovery_code": enrolled.recovery_codes[0] }),
        )
        .await,
        401,
        "invalid_second_factor",
    )
    .await;
    let token = mfa_token(&app, ALICE).await;
    expect(
        login_mfa(
            &app,
            &token,
            json!({ "recovery_code": fresh["recovery_codes"][0] }),
        )
        .await,
        200,
    )
    .await;

    // A refresh keeps the stepped-up session's amr and auth_time.
    let refreshed = expect(app.refresh(&s(&tokens, "refresh_token")).await, 200).await;
    let refreshed_access = s(&refreshed, "access_token");
    assert_eq!(amr(&refreshed_access), amr(&strong));
    assert_eq!(
        claims(&refreshed_access)["auth_time"],
        claims(&strong)["auth_time"]
    );

    expect(change_password(&app, &strong, PASSWORD).await, 200).await;
}

async fn a_two_factor_session_older_than_the_reauth_max_age_steps_up_again(b: Backend) {
    let app = app_with(b, &["--reauth-max-age", "5m"]).await;
    let (_, enrolled) = user_with_factor(&app, ALICE).await;
    let pair = sign_in_with_code(&app, ALICE, &enrolled.app).await;
    let access = s(&pair, "access_token");
    // Fresh and with both factors: allowed at once.
    let fresh = expect(app.post_json_auth(RECOVERY_CODES, &access, None).await, 200).await;
    assert_eq!(fresh["recovery_codes"].as_array().unwrap().len(), 10);

    app.clock.advance(Duration::from_secs(5 * 60 + 1));
    // A refresh gives a live access token, but not a fresh authentication.
    let refreshed = expect(app.refresh(&s(&pair, "refresh_token")).await, 200).await;
    let stale = s(&refreshed, "access_token");
    assert_eq!(claims(&stale)["auth_time"], claims(&access)["auth_time"]);
    assert!(amr(&stale).contains(&"mfa".to_owned()));
    let www = assert_step_up(app.post_json_auth(RECOVERY_CODES, &stale, None).await).await;
    assert!(www.contains("max_age=300"), "{www}");

    let code = enrolled.app.fresh_code(&app);
    let stepped = expect(
        reauthenticate(&app, &stale, json!({ "password": PASSWORD, "code": code })).await,
        200,
    )
    .await;
    expect(
        app.post_json_auth(RECOVERY_CODES, &s(&stepped, "access_token"), None)
            .await,
        200,
    )
    .await;
}

async fn without_a_factor_a_stale_session_steps_up_with_the_password_alone(b: Backend) {
    let app = app_with(b, &["--reauth-max-age", "5m"]).await;
    let tokens = app.user_with_tokens(ALICE).await;
    let first = s(&tokens, "access_token");
    assert_eq!(amr(&first), vec!["pwd".to_owned()]);

    app.clock.advance(Duration::from_secs(5 * 60 + 1));
    let refreshed = expect(app.refresh(&s(&tokens, "refresh_token")).await, 200).await;
    let stale = s(&refreshed, "access_token");
    assert_eq!(
        claims(&stale)["auth_time"],
        claims(&first)["auth_time"],
        "a refresh is not an authentication"
    );
    assert_step_up(change_password(&app, &stale, PASSWORD).await).await;

    assert_problem(
        reauthenticate(&app, &stale, json!({ "password": "not the password" })).await,
        422,
        "validation_failed",
    )
    .await;
    let stepped = expect(
        reauthenticate(&app, &stale, json!({ "password": PASSWORD })).await,
        200,
    )
    .await;
    let fresh = s(&stepped, "access_token");
    assert_eq!(amr(&fresh), vec!["pwd".to_owned()]);
    expect(change_password(&app, &fresh, PASSWORD).await, 200).await;
    expect(app.login(ALICE, NEW_PASSWORD).await, 200).await;
}

async fn an_admin_role_change_needs_a_recent_authentication(b: Backend) {
    let app = admin_app(b, &["--reauth-max-age", "5m"]).await;
    let bob = app.create_user(BOB).await;
    let path = format!("/api/v1/admin/users/{}", s(&bob, "id"));
    let admin = app.tokens(ADMIN).await;
    app.clock.advance(Duration::from_secs(5 * 60 + 1));
    let refreshed = expect(app.refresh(&s(&admin, "refresh_token")).await, 200).await;
    let stale = s(&refreshed, "access_token");

    let roles = json!({ "roles": ["admin"] });
    assert_step_up(call(&app, Method::PATCH, &path, Some(&stale), Some(&roles)).await).await;
    // Other changes are not sensitive.
    expect(
        call(
            &app,
            Method::PATCH,
            &path,
            Some(&stale),
            Some(&json!({ "display_name": "Bob" })),
        )
        .await,
        200,
    )
    .await;

    let stepped = expect(
        reauthenticate(&app, &stale, json!({ "password": PASSWORD })).await,
        200,
    )
    .await;
    let changed = expect(
        call(
            &app,
            Method::PATCH,
            &path,
            Some(&s(&stepped, "access_token")),
            Some(&roles),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(changed["roles"], json!(["admin"]), "{changed}");
}

// ---------------------------------------------------------------------------------------------
// 7. Removing a factor

async fn removing_the_factor_after_a_step_up_ends_the_second_step_and_its_recovery_codes(
    b: Backend,
) {
    let app = app(b).await;
    let (_, enrolled) = user_with_factor(&app, ALICE).await;
    let pair = sign_in_with_code(&app, ALICE, &enrolled.app).await;
    let access = s(&pair, "access_token");
    assert_eq!(app.db.count("recovery_codes").await, 10);

    let factor = format!("{FACTORS}/{}", enrolled.factor_id);
    expect(
        call(&app, Method::DELETE, &factor, Some(&access), None).await,
        204,
    )
    .await;
    assert_eq!(mails(&app, "factor_removed", ALICE).await, 1);
    assert_eq!(
        mail_params(&app, "factor_removed", ALICE).await["by_admin"],
        "no"
    );
    assert_eq!(audited(&app, "mfa.factor_removed").await, 1);

    let listed = factors(&app, &access).await;
    assert_eq!(listed["factors"], json!([]), "{listed}");
    assert_eq!(listed["recovery_codes_left"], 0);
    assert_eq!(app.db.count("recovery_codes").await, 0);
    assert_eq!(app.db.count("mfa_factors").await, 0);

    let plain = expect(app.login(ALICE, PASSWORD).await, 200).await;
    assert!(plain.get("mfa_required").is_none(), "{plain}");
    assert_eq!(amr(&s(&plain, "access_token")), vec!["pwd".to_owned()]);
    assert_problem(
        call(&app, Method::DELETE, &factor, Some(&access), None).await,
        404,
        "not_found",
    )
    .await;
    // Without a factor there are no recovery codes to renew.
    assert_problem(
        app.post_json_auth(RECOVERY_CODES, &access, None).await,
        409,
        "no_second_factor",
    )
    .await;
}

async fn a_pending_enrolment_is_abandoned_without_a_step_up_or_mail(b: Backend) {
    let app = app(b).await;
    let tokens = app.user_with_tokens(ALICE).await;
    let access = s(&tokens, "access_token");
    let started = start_totp(&app, &access, json!({})).await;
    let factor = format!("{FACTORS}/{}", s(&started["factor"], "id"));
    app.clock.advance(Duration::from_secs(3600));
    let refreshed = expect(app.refresh(&s(&tokens, "refresh_token")).await, 200).await;
    expect(
        call(
            &app,
            Method::DELETE,
            &factor,
            Some(&s(&refreshed, "access_token")),
            None,
        )
        .await,
        204,
    )
    .await;
    assert_eq!(app.db.count("mfa_factors").await, 0);
    assert_eq!(mails(&app, "factor_removed", ALICE).await, 0);
}

// ---------------------------------------------------------------------------------------------
// 8. The operator's view and reset

async fn an_admin_sees_and_resets_a_users_factors(b: Backend) {
    let app = admin_app(b, &[]).await;
    let (alice, enrolled) = user_with_factor(&app, ALICE).await;
    let alice_id = s(&alice["user"], "id");
    let path = format!("/api/v1/admin/users/{alice_id}/factors");
    let admin = app.tokens(ADMIN).await;
    let admin_access = s(&admin, "access_token");

    let r = app.get_auth(&path, &admin_access).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains(&enrolled.secret) && !text.contains("secret"),
        "{text}"
    );
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed["factors"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["factors"][0]["type"], "totp");
    assert_eq!(listed["factors"][0]["name"], "Phone");
    assert_eq!(listed["factors"][0]["active"], true);
    assert_eq!(listed["recovery_codes_left"], 10);

    // Not for anyone else.
    let alice_access = s(&alice, "access_token");
    assert_problem(app.get_auth(&path, &alice_access).await, 403, "forbidden").await;
    assert_problem(
        call(&app, Method::DELETE, &path, Some(&alice_access), None).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get_auth(
            &format!("/api/v1/admin/users/{}/factors", uuid::Uuid::now_v7()),
            &admin_access,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(app.db.count("mfa_factors").await, 1);

    expect(
        call(&app, Method::DELETE, &path, Some(&admin_access), None).await,
        204,
    )
    .await;
    assert_eq!(mails(&app, "factor_removed", ALICE).await, 1);
    assert_eq!(
        mail_params(&app, "factor_removed", ALICE).await["by_admin"],
        "yes"
    );
    assert_eq!(
        app.db
            .count("audit_events WHERE event = 'admin.factors_reset' AND actor_id IS NOT NULL")
            .await,
        1
    );
    let listed = expect(app.get_auth(&path, &admin_access).await, 200).await;
    assert_eq!(listed["factors"], json!([]));
    assert_eq!(listed["recovery_codes_left"], 0);

    let plain = expect(app.login(ALICE, PASSWORD).await, 200).await;
    assert!(plain["access_token"].is_string(), "no second step: {plain}");
}

// ---------------------------------------------------------------------------------------------
// 9. Policy

async fn under_mfa_required_all_an_account_without_a_factor_may_only_enrol(b: Backend) {
    let app = app_with(b, &["--mfa-required", "all"]).await;
    app.create_user(ALICE).await;
    let tokens = app.tokens(ALICE).await;
    let access = s(&tokens, "access_token");
    assert_eq!(claims(&access)["aud"], ENROLMENT_AUDIENCE);

    expect(app.me(&access).await, 200).await;
    assert_problem(
        app.get_auth("/api/v1/users/me/sessions", &access).await,
        403,
        "mfa_enrolment_required",
    )
    .await;
    assert_problem(
        app.get_auth("/api/v1/users/me/export", &access).await,
        403,
        "mfa_enrolment_required",
    )
    .await;

    let enrolled = enrol(&app, &access).await;
    assert_eq!(enrolled.recovery_codes.len(), 10);
    // The token in hand stays limited; the next refresh is not.
    assert_problem(
        app.get_auth("/api/v1/users/me/sessions", &access).await,
        403,
        "mfa_enrolment_required",
    )
    .await;
    let refreshed = expect(app.refresh(&s(&tokens, "refresh_token")).await, 200).await;
    let full = s(&refreshed, "access_token");
    assert_ne!(claims(&full)["aud"], ENROLMENT_AUDIENCE);
    expect(app.get_auth("/api/v1/users/me/sessions", &full).await, 200).await;

    // From now on the account signs in with its factor, unrestricted.
    let pair = sign_in_with_code(&app, ALICE, &enrolled.app).await;
    assert_ne!(claims(&s(&pair, "access_token"))["aud"], ENROLMENT_AUDIENCE);
}

async fn under_mfa_required_admins_only_an_admin_without_a_factor_is_limited(b: Backend) {
    let app = admin_app(b, &["--mfa-required", "admins"]).await;
    let admin = s(&app.tokens(ADMIN).await, "access_token");
    assert_eq!(claims(&admin)["aud"], ENROLMENT_AUDIENCE);
    assert_problem(
        app.get_auth("/api/v1/admin/users", &admin).await,
        403,
        "mfa_enrolment_required",
    )
    .await;

    let bob = app.user_with_tokens(BOB).await;
    let bob_access = s(&bob, "access_token");
    assert_ne!(claims(&bob_access)["aud"], ENROLMENT_AUDIENCE);
    expect(
        app.get_auth("/api/v1/users/me/sessions", &bob_access).await,
        200,
    )
    .await;

    let enrolled = enrol(&app, &admin).await;
    let pair = sign_in_with_code(&app, ADMIN, &enrolled.app).await;
    let full = s(&pair, "access_token");
    assert_ne!(claims(&full)["aud"], ENROLMENT_AUDIENCE);
    expect(app.get_auth("/api/v1/admin/users", &full).await, 200).await;
}

// ---------------------------------------------------------------------------------------------
// 10. Export and deletion

async fn the_export_lists_factors_without_secrets_and_deletion_removes_them(b: Backend) {
    let app = app(b).await;
    let (_, enrolled) = user_with_factor(&app, ALICE).await;
    let pair = sign_in_with_code(&app, ALICE, &enrolled.app).await;
    let access = s(&pair, "access_token");

    let r = app.get_auth("/api/v1/users/me/export", &access).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains(&enrolled.secret) && !text.contains("secret"),
        "{text}"
    );
    assert!(
        !text.contains(&enrolled.recovery_codes[0]),
        "no recovery code in the export"
    );
    let export: Value = serde_json::from_str(&text).unwrap();
    let listed = export["factors"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{export}");
    assert_eq!(listed[0]["type"], "totp");
    assert_eq!(listed[0]["name"], "Phone");
    assert!(listed[0]["created_at"].is_string(), "{export}");
    assert!(listed[0]["last_used_at"].is_string(), "{export}");

    assert_eq!(app.db.count("mfa_factors").await, 1);
    assert_eq!(app.db.count("recovery_codes").await, 10);
    expect(
        call(
            &app,
            Method::DELETE,
            "/api/v1/users/me",
            Some(&access),
            Some(&json!({ "password": PASSWORD })),
        )
        .await,
        204,
    )
    .await;
    assert_eq!(app.db.count("mfa_factors").await, 0);
    assert_eq!(app.db.count("recovery_codes").await, 0);
}

// ---------------------------------------------------------------------------------------------
// 11. At rest

async fn the_authenticator_secret_is_stored_sealed(b: Backend) {
    let app = app(b).await;
    let (_, enrolled) = user_with_factor(&app, ALICE).await;
    let plain = totp_rs::Secret::try_from_base32(&enrolled.secret)
        .unwrap()
        .as_bytes()
        .to_vec();
    let sealed = app
        .db
        .bytes("SELECT secret_sealed FROM mfa_factors")
        .await
        .expect("a sealed secret");
    assert!(sealed.len() > plain.len(), "an AEAD adds a nonce and a tag");
    assert!(
        !sealed.windows(plain.len()).any(|w| w == plain.as_slice()),
        "the plaintext secret is not in the stored value"
    );
    assert!(
        !sealed
            .windows(enrolled.secret.len())
            .any(|w| w == enrolled.secret.as_bytes()),
        "nor its base32 text"
    );
    assert!(app
        .db
        .text("SELECT secret_key_id FROM mfa_factors")
        .await
        .is_some_and(|k| !k.is_empty()));
}

crate::on_every_backend!(
    a_correct_password_between_wrong_codes_does_not_reset_their_count,
    an_authenticator_app_is_active_only_after_its_first_code_is_confirmed,
    the_otpauth_uri_gives_an_authenticator_app_the_same_codes,
    a_password_alone_gets_a_challenge_and_the_code_completes_the_sign_in,
    a_code_one_step_old_is_accepted_and_two_steps_old_is_not,
    a_recovery_code_signs_in_once_and_is_mailed_and_audited,
    wrong_codes_count_toward_the_sign_in_pause,
    a_challenge_dies_after_five_wrong_answers,
    an_expired_challenge_is_refused,
    a_known_device_completes_its_second_factor_while_strangers_keep_the_account_paused,
    a_challenge_is_used_once,
    the_token_endpoint_answers_mfa_required_and_the_mfa_grant_completes_it,
    with_a_factor_sensitive_operations_need_a_step_up_with_the_second_factor,
    a_two_factor_session_older_than_the_reauth_max_age_steps_up_again,
    without_a_factor_a_stale_session_steps_up_with_the_password_alone,
    an_admin_role_change_needs_a_recent_authentication,
    removing_the_factor_after_a_step_up_ends_the_second_step_and_its_recovery_codes,
    a_pending_enrolment_is_abandoned_without_a_step_up_or_mail,
    an_admin_sees_and_resets_a_users_factors,
    under_mfa_required_all_an_account_without_a_factor_may_only_enrol,
    under_mfa_required_admins_only_an_admin_without_a_factor_is_limited,
    the_export_lists_factors_without_secrets_and_deletion_removes_them,
    the_authenticator_secret_is_stored_sealed,
);
