//! Passkeys over HTTP (issue 13): registering one, using it as the second factor after the
//! password, signing in with it alone, a cloned authenticator's counter regression, step-up
//! with a passkey, renaming and removing one, and the endpoints of a server that cannot be a
//! relying party.
//!
//! The tests play the browser with `webauthn-authenticator-rs`'s `SoftPasskey`, as the domain's
//! unit tests do: [`Phone`] runs the client-side checks at its origin, and adds what the soft
//! authenticator lacks: it refuses resident keys and returns no user handle, so the phone drops
//! the resident-key flag (after checking Sesame asked for it), remembers each credential's user
//! handle and, for an empty allow list, offers the credentials it holds, as a platform
//! authenticator's account picker does. The relying party is `example.com` served at
//! `https://auth.example.com` (explicit SESAME_WEBAUTHN_* settings); the HTTP requests
//! themselves go to the test server's loopback address, as a browser's `fetch` would go to
//! Sesame behind the origin.

use crate::helpers::text_field as s;
use crate::helpers::{assert_problem, Backend, TestApp, PASSWORD};
use crate::second_factor::{
    amr, app_with, assert_step_up, audited, call, claims, expect, factors, mails,
};
use reqwest::Method;
use serde_json::{json, Value};
use sesame_domain::clock::Clock as _;
use std::time::Duration;
use url::Url;
use webauthn_authenticator_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator as _;

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const ORIGIN: &str = "https://auth.example.com";
/// A sibling site under the same registrable domain: a browser lets it use the rp id
/// `example.com`, so Sesame must refuse what it collects.
const EVIL: &str = "https://evil.example.com";
const FACTORS: &str = "/api/v1/users/me/factors";
const REGISTER_OPTIONS: &str = "/api/v1/users/me/factors/passkeys/options";
const REGISTER: &str = "/api/v1/users/me/factors/passkeys";
const LOGIN_MFA: &str = "/api/v1/auth/login/mfa";
const LOGIN_OPTIONS: &str = "/api/v1/auth/passkey/options";
const LOGIN: &str = "/api/v1/auth/passkey/login";
const REAUTH: &str = "/api/v1/auth/reauthenticate";
const REAUTH_OPTIONS: &str = "/api/v1/auth/reauthenticate/passkey/options";

/// A server that is the relying party `example.com` for `https://auth.example.com`, plus `serve`
/// flags.
async fn app_with_passkeys(b: Backend, serve: &[&str]) -> TestApp {
    let mut flags = vec![
        "--webauthn-rp-id",
        "example.com",
        "--webauthn-origins",
        ORIGIN,
    ];
    flags.extend_from_slice(serve);
    app_with(b, &flags).await
}

async fn app(b: Backend) -> TestApp {
    app_with_passkeys(b, &[]).await
}

/// A browser at `origin` with a soft authenticator that holds resident keys (see the module
/// header).
struct Phone {
    origin: Url,
    authenticator: SoftPasskey,
    /// Each credential it made (`rawId`, base64url) with its user handle (base64url).
    resident: Vec<(Value, Value)>,
}

impl Phone {
    fn at(origin: &str) -> Self {
        Self {
            origin: Url::parse(origin).unwrap(),
            // `true`: it reports user verification as done (a fingerprint).
            authenticator: SoftPasskey::new(true),
            resident: Vec::new(),
        }
    }

    /// The same authenticator used from another site.
    fn moved_to(&mut self, origin: &str) -> Phone {
        let mut other = Phone::at(origin);
        std::mem::swap(&mut other.authenticator, &mut self.authenticator);
        other.resident.clone_from(&self.resident);
        other
    }

    /// `navigator.credentials.create(options)`.
    fn create(&mut self, options: &Value) -> Value {
        let mut options = options.clone();
        let selection = &mut options["publicKey"]["authenticatorSelection"];
        assert_eq!(
            selection["residentKey"], "required",
            "a discoverable passkey"
        );
        assert_eq!(selection["userVerification"], "required", "{selection}");
        selection["requireResidentKey"] = false.into();
        let handle = options["publicKey"]["user"]["id"].clone();
        let options: CreationChallengeResponse =
            serde_json::from_value(options).expect("creation options");
        let credential = self
            .authenticator
            .do_registration(self.origin.clone(), options)
            .expect("the authenticator registers");
        let credential = serde_json::to_value(credential).unwrap();
        self.resident.push((credential["rawId"].clone(), handle));
        credential
    }

    /// `navigator.credentials.get(options)`.
    fn get(&mut self, options: &Value) -> Value {
        let mut options = options.clone();
        let discoverable = options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty);
        if discoverable {
            options["publicKey"]["allowCredentials"] = self
                .resident
                .iter()
                .map(|(id, _)| json!({ "type": "public-key", "id": id }))
                .collect();
        }
        let options: RequestChallengeResponse =
            serde_json::from_value(options).expect("request options");
        let assertion = self
            .authenticator
            .do_authentication(self.origin.clone(), options)
            .expect("the authenticator signs");
        let mut assertion = serde_json::to_value(assertion).unwrap();
        if discoverable {
            let handle = self
                .resident
                .iter()
                .find(|(id, _)| *id == assertion["rawId"])
                .map(|(_, h)| h.clone())
                .expect("a resident credential signed");
            assertion["response"]["userHandle"] = handle;
        }
        assertion
    }
}

/// `POST` with a bearer token and a JSON body, if given.
async fn post(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> reqwest::Response {
    call(app, Method::POST, path, token, body).await
}

/// Registers a passkey named `name` made by `phone` for the caller of `access`; returns the
/// 201 body.
async fn register_passkey(app: &TestApp, access: &str, phone: &mut Phone, name: &str) -> Value {
    let started = expect(post(app, REGISTER_OPTIONS, Some(access), None).await, 200).await;
    let credential = phone.create(&started["options"]);
    let body = json!({
        "registration_id": s(&started, "registration_id"),
        "name": name,
        "credential": credential,
    });
    expect(post(app, REGISTER, Some(access), Some(&body)).await, 201).await
}

/// Registers `email` with a passkey on a new phone; returns the password sign-in's tokens, the
/// registration's answer and the phone.
async fn user_with_passkey(app: &TestApp, email: &str) -> (Value, Value, Phone) {
    let tokens = app.user_with_tokens(email).await;
    let mut phone = Phone::at(ORIGIN);
    let registered = register_passkey(app, &s(&tokens, "access_token"), &mut phone, "Phone").await;
    (tokens, registered, phone)
}

/// A passwordless sign-in ceremony: its `flow_id` and the options for the phone.
async fn passwordless_options(app: &TestApp) -> (String, Value) {
    let started = expect(post(app, LOGIN_OPTIONS, None, None).await, 200).await;
    (s(&started, "flow_id"), started["options"].clone())
}

async fn passwordless(app: &TestApp, flow_id: &str, credential: &Value) -> reqwest::Response {
    let body = json!({ "flow_id": flow_id, "credential": credential });
    post(app, LOGIN, None, Some(&body)).await
}

/// Signs in with `phone` alone; returns the token pair.
async fn sign_in_with_passkey(app: &TestApp, phone: &mut Phone) -> Value {
    let (flow, options) = passwordless_options(app).await;
    let credential = phone.get(&options);
    expect(passwordless(app, &flow, &credential).await, 200).await
}

/// The `mfa_required` answer to `email`'s correct password.
async fn mfa_challenge(app: &TestApp, email: &str) -> Value {
    let body = expect(app.login(email, PASSWORD).await, 200).await;
    assert_eq!(body["mfa_required"], true, "{body}");
    body
}

async fn login_mfa(app: &TestApp, mfa_token: &str, credential: &Value) -> reqwest::Response {
    let body = json!({ "mfa_token": mfa_token, "credential": credential });
    app.post_json(LOGIN_MFA, &body).await
}

fn has_all(methods: &[String], wanted: &[&str]) {
    for m in wanted {
        assert!(methods.iter().any(|x| x == m), "{m} in {methods:?}");
    }
}

/// `login.failed` events whose detail names `reason`.
async fn failed_logins(app: &TestApp, reason: &str) -> usize {
    app.db
        .count(&format!(
            "audit_events WHERE event = 'login.failed' AND detail LIKE '%\"{reason}\"%'"
        ))
        .await
}

// ---------------------------------------------------------------------------------------------
// 1. Registration

async fn a_passkey_registers_with_its_name_and_the_first_one_brings_recovery_codes(b: Backend) {
    let app = app(b).await;
    let tokens = app.user_with_tokens(ALICE).await;
    let access = s(&tokens, "access_token");

    // Without a token there is no ceremony.
    assert_problem(
        post(&app, REGISTER_OPTIONS, None, None).await,
        401,
        "missing_token",
    )
    .await;

    let started = expect(post(&app, REGISTER_OPTIONS, Some(&access), None).await, 200).await;
    assert!(started["expires_in"].as_u64().unwrap() > 0, "{started}");
    assert_eq!(started["options"]["publicKey"]["rp"]["id"], "example.com");
    let mut phone = Phone::at(ORIGIN);
    let credential = phone.create(&started["options"]);
    let registration_id = s(&started, "registration_id");
    let body = json!({
        "registration_id": registration_id,
        "name": "Work laptop",
        "credential": credential,
    });
    let registered = expect(post(&app, REGISTER, Some(&access), Some(&body)).await, 201).await;
    assert_eq!(registered["factor"]["type"], "passkey", "{registered}");
    assert_eq!(registered["factor"]["name"], "Work laptop");
    assert_eq!(registered["factor"]["active"], true);
    let codes = registered["recovery_codes"]
        .as_array()
        .unwrap_or_else(|| panic!("recovery codes with the first factor: {registered}"));
    assert_eq!(codes.len(), 10, "{registered}");

    let listed = factors(&app, &access).await;
    assert_eq!(listed["factors"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["factors"][0]["id"], registered["factor"]["id"]);
    assert_eq!(listed["factors"][0]["type"], "passkey");
    assert_eq!(listed["factors"][0]["name"], "Work laptop");
    assert_eq!(listed["recovery_codes_left"], 10);
    assert_eq!(mails(&app, "factor_added", ALICE).await, 1);
    assert_eq!(audited(&app, "mfa.factor_added").await, 1);

    // The ceremony is single use.
    assert_problem(
        post(&app, REGISTER, Some(&access), Some(&body)).await,
        401,
        "invalid_challenge",
    )
    .await;
    assert_eq!(
        factors(&app, &access).await["factors"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn a_registration_id_is_its_users_own(b: Backend) {
    let app = app(b).await;
    let alice = s(&app.user_with_tokens(ALICE).await, "access_token");
    let bob = s(&app.user_with_tokens(BOB).await, "access_token");

    let started = expect(post(&app, REGISTER_OPTIONS, Some(&alice), None).await, 200).await;
    let mut phone = Phone::at(ORIGIN);
    let body = json!({
        "registration_id": s(&started, "registration_id"),
        "credential": phone.create(&started["options"]),
    });
    assert_problem(
        post(&app, REGISTER, Some(&bob), Some(&body)).await,
        401,
        "invalid_challenge",
    )
    .await;
    assert!(factors(&app, &bob).await["factors"]
        .as_array()
        .unwrap()
        .is_empty());
    // Bob's attempt did not spend it: Alice finishes her own ceremony.
    let registered = expect(post(&app, REGISTER, Some(&alice), Some(&body)).await, 201).await;
    assert_eq!(registered["factor"]["name"], "Passkey", "the default name");
}

// ---------------------------------------------------------------------------------------------
// 2. Second factor after the password

async fn a_password_sign_in_completes_with_the_passkey(b: Backend) {
    let app = app(b).await;
    let (_, _, mut phone) = user_with_passkey(&app, ALICE).await;

    let challenge = mfa_challenge(&app, ALICE).await;
    assert!(challenge.get("access_token").is_none(), "{challenge}");
    let methods = challenge["methods"].as_array().unwrap();
    assert!(methods.contains(&json!("passkey")), "{challenge}");
    assert!(methods.contains(&json!("recovery_code")), "{challenge}");
    let options = &challenge["passkey_options"];
    assert!(options["publicKey"]["challenge"].is_string(), "{challenge}");
    assert_eq!(options["publicKey"]["userVerification"], "required");

    let credential = phone.get(options);
    let pair = expect(
        login_mfa(&app, &s(&challenge, "mfa_token"), &credential).await,
        200,
    )
    .await;
    let access = s(&pair, "access_token");
    assert!(pair["refresh_token"].is_string(), "{pair}");
    has_all(&amr(&access), &["pwd", "hwk", "user", "mfa"]);
    assert_eq!(expect(app.me(&access).await, 200).await["email"], ALICE);
    let listed = factors(&app, &access).await;
    assert!(listed["factors"][0]["last_used_at"].is_string(), "{listed}");

    // The answer is spent with its challenge.
    assert_problem(
        login_mfa(&app, &s(&challenge, "mfa_token"), &credential).await,
        401,
        "invalid_challenge",
    )
    .await;
}

/// The token endpoint's mfa grant cannot carry a WebAuthn assertion, so its `mfa_required` answer
/// does not offer the passkey (it once did); the same `mfa_token` completes with the passkey at
/// `/auth/login/mfa`.
async fn the_token_endpoint_does_not_offer_the_passkey_its_grant_cannot_take(b: Backend) {
    let app = app(b).await;
    let (_, _, mut phone) = user_with_passkey(&app, ALICE).await;
    let refused = expect(app.password_grant(ALICE, PASSWORD).await, 403).await;
    assert_eq!(refused["error"], "mfa_required", "{refused}");
    assert_eq!(refused["methods"], json!(["recovery_code"]), "{refused}");
    // The browser route still offers it, for a fresh challenge.
    let challenge = mfa_challenge(&app, ALICE).await;
    let credential = phone.get(&challenge["passkey_options"]);
    expect(
        login_mfa(&app, &s(&challenge, "mfa_token"), &credential).await,
        200,
    )
    .await;
}

async fn a_garbage_credential_is_a_wrong_second_factor_and_counts(b: Backend) {
    let app = app(b).await;
    let (_, _, mut phone) = user_with_passkey(&app, ALICE).await;
    let garbage = json!({ "id": "AQ", "rawId": "AQ", "type": "public-key", "response": {} });

    let challenge = mfa_challenge(&app, ALICE).await;
    let token = s(&challenge, "mfa_token");
    assert_problem(
        login_mfa(&app, &token, &garbage).await,
        401,
        "invalid_second_factor",
    )
    .await;
    assert_eq!(app.db.stored_failures("user:%").await, Some(1));
    assert_eq!(failed_logins(&app, "invalid_second_factor").await, 1);
    // Four more and the challenge is dead, though the phone's answer is right.
    for _ in 0..4 {
        assert_problem(
            login_mfa(&app, &token, &json!({ "junk": true })).await,
            401,
            "invalid_second_factor",
        )
        .await;
    }
    let credential = phone.get(&challenge["passkey_options"]);
    assert_problem(
        login_mfa(&app, &token, &credential).await,
        401,
        "invalid_challenge",
    )
    .await;
    // A new challenge takes a new answer.
    let challenge = mfa_challenge(&app, ALICE).await;
    let credential = phone.get(&challenge["passkey_options"]);
    expect(
        login_mfa(&app, &s(&challenge, "mfa_token"), &credential).await,
        200,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// 3. Passwordless

async fn a_passkey_alone_signs_in_its_own_user(b: Backend) {
    let app = app(b).await;
    let (_, _, mut alice_phone) = user_with_passkey(&app, ALICE).await;
    let (_, _, mut bob_phone) = user_with_passkey(&app, BOB).await;

    let (flow, options) = passwordless_options(&app).await;
    assert_eq!(
        options["publicKey"]["allowCredentials"],
        json!([]),
        "{options}"
    );
    assert_eq!(options["publicKey"]["userVerification"], "required");
    let credential = bob_phone.get(&options);
    let pair = expect(passwordless(&app, &flow, &credential).await, 200).await;
    let access = s(&pair, "access_token");
    assert!(pair["refresh_token"].is_string(), "{pair}");
    let methods = amr(&access);
    has_all(&methods, &["hwk", "user", "mfa"]);
    assert!(!methods.contains(&"pwd".to_owned()), "{methods:?}");
    assert_eq!(expect(app.me(&access).await, 200).await["email"], BOB);

    // The ceremony is single use, even with a fresh answer to it.
    let again = bob_phone.get(&options);
    assert_problem(
        passwordless(&app, &flow, &again).await,
        401,
        "invalid_challenge",
    )
    .await;

    let alice = sign_in_with_passkey(&app, &mut alice_phone).await;
    assert_eq!(
        expect(app.me(&s(&alice, "access_token")).await, 200).await["email"],
        ALICE
    );
}

async fn a_passkey_answer_collected_by_another_origin_is_refused(b: Backend) {
    let app = app(b).await;
    let (_, _, mut phone) = user_with_passkey(&app, ALICE).await;

    let mut phished = phone.moved_to(EVIL);
    let (flow, options) = passwordless_options(&app).await;
    let credential = phished.get(&options);
    assert_problem(
        passwordless(&app, &flow, &credential).await,
        401,
        "invalid_second_factor",
    )
    .await;
    assert_eq!(failed_logins(&app, "invalid_passkey").await, 1);

    // As a second factor too.
    let challenge = mfa_challenge(&app, ALICE).await;
    let credential = phished.get(&challenge["passkey_options"]);
    assert_problem(
        login_mfa(&app, &s(&challenge, "mfa_token"), &credential).await,
        401,
        "invalid_second_factor",
    )
    .await;

    // The same authenticator at the right origin still signs in.
    let mut home = phished.moved_to(ORIGIN);
    sign_in_with_passkey(&app, &mut home).await;
}

// ---------------------------------------------------------------------------------------------
// 4. A cloned authenticator

/// `SoftPasskey` cannot be copied (no `Clone`, private state), so the clone's answer is made the
/// only way a copy's can be told apart: the copy signs with the counter it was copied at, which
/// the original has since moved past. The "clone" answers a ceremony before the original signs
/// another and is sent after the original's was accepted; the server sees exactly what a copy
/// taken before that sign-in would send: a counter at or below the stored one.
async fn a_cloned_authenticators_counter_regression_is_refused_and_audited(b: Backend) {
    let app = app(b).await;
    let (_, _, mut phone) = user_with_passkey(&app, ALICE).await;

    // Passwordless.
    let (clone_flow, clone_options) = passwordless_options(&app).await;
    let cloned = phone.get(&clone_options);
    sign_in_with_passkey(&app, &mut phone).await;
    assert_problem(
        passwordless(&app, &clone_flow, &cloned).await,
        401,
        "invalid_second_factor",
    )
    .await;
    assert_eq!(failed_logins(&app, "passkey_counter_regression").await, 1);

    // After a password.
    let for_clone = mfa_challenge(&app, ALICE).await;
    let cloned = phone.get(&for_clone["passkey_options"]);
    let for_original = mfa_challenge(&app, ALICE).await;
    let original = phone.get(&for_original["passkey_options"]);
    expect(
        login_mfa(&app, &s(&for_original, "mfa_token"), &original).await,
        200,
    )
    .await;
    assert_problem(
        login_mfa(&app, &s(&for_clone, "mfa_token"), &cloned).await,
        401,
        "invalid_second_factor",
    )
    .await;
    assert_eq!(failed_logins(&app, "passkey_counter_regression").await, 2);

    // The original goes on.
    sign_in_with_passkey(&app, &mut phone).await;
}

// ---------------------------------------------------------------------------------------------
// 5. Step-up

async fn a_stale_session_steps_up_with_the_passkey_alone(b: Backend) {
    let app = app_with_passkeys(b, &["--reauth-max-age", "5m"]).await;
    let (_, registered, mut phone) = user_with_passkey(&app, ALICE).await;
    let factor = format!("{FACTORS}/{}", s(&registered["factor"], "id"));
    let pair = sign_in_with_passkey(&app, &mut phone).await;
    let access = s(&pair, "access_token");

    app.clock.advance(Duration::from_secs(6 * 60));
    assert_step_up(call(&app, Method::DELETE, &factor, Some(&access), None).await).await;

    let started = expect(post(&app, REAUTH_OPTIONS, Some(&access), None).await, 200).await;
    let credential = phone.get(&started["options"]);
    let flow = s(&started, "flow_id");
    let body = json!({ "flow_id": flow, "credential": credential });
    let stepped = expect(post(&app, REAUTH, Some(&access), Some(&body)).await, 200).await;
    let fresh = s(&stepped, "access_token");
    has_all(&amr(&fresh), &["hwk", "user", "mfa"]);
    let auth_time = claims(&fresh)["auth_time"].as_i64().expect("auth_time");
    assert!(
        app.clock.now().timestamp() - auth_time < 60,
        "a fresh auth_time: {auth_time}"
    );
    // The flow is spent.
    assert_problem(
        post(&app, REAUTH, Some(&access), Some(&body)).await,
        401,
        "invalid_challenge",
    )
    .await;

    let r = call(&app, Method::DELETE, &factor, Some(&fresh), None).await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
}

async fn a_passkey_step_up_needs_a_passkey_and_its_own_session(b: Backend) {
    let app = app(b).await;
    let plain = s(&app.user_with_tokens(BOB).await, "access_token");
    assert_problem(
        post(&app, REAUTH_OPTIONS, Some(&plain), None).await,
        409,
        "no_second_factor",
    )
    .await;

    let (tokens, _, mut phone) = user_with_passkey(&app, ALICE).await;
    let other_session = s(
        &sign_in_with_passkey(&app, &mut phone).await,
        "access_token",
    );
    let started = expect(
        post(
            &app,
            REAUTH_OPTIONS,
            Some(&s(&tokens, "access_token")),
            None,
        )
        .await,
        200,
    )
    .await;
    let body = json!({
        "flow_id": s(&started, "flow_id"),
        "credential": phone.get(&started["options"]),
    });
    assert_problem(
        post(&app, REAUTH, Some(&other_session), Some(&body)).await,
        401,
        "invalid_challenge",
    )
    .await;
    expect(
        post(&app, REAUTH, Some(&s(&tokens, "access_token")), Some(&body)).await,
        200,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// 6. Rename and delete

async fn a_passkey_is_renamed_and_deleting_the_last_factor_ends_the_second_step(b: Backend) {
    let app = app(b).await;
    let (tokens, registered, mut phone) = user_with_passkey(&app, ALICE).await;
    let access = s(&tokens, "access_token");
    let factor = format!("{FACTORS}/{}", s(&registered["factor"], "id"));

    // A password-only session steps up with the passkey before removing it.
    assert_step_up(call(&app, Method::DELETE, &factor, Some(&access), None).await).await;
    let started = expect(post(&app, REAUTH_OPTIONS, Some(&access), None).await, 200).await;
    let body = json!({
        "flow_id": s(&started, "flow_id"),
        "credential": phone.get(&started["options"]),
    });
    let stepped = s(
        &expect(post(&app, REAUTH, Some(&access), Some(&body)).await, 200).await,
        "access_token",
    );

    let renamed = expect(
        call(
            &app,
            Method::PATCH,
            &factor,
            Some(&stepped),
            Some(&json!({ "name": "Old phone" })),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(renamed["name"], "Old phone", "{renamed}");
    assert_eq!(renamed["type"], "passkey");
    assert_eq!(
        factors(&app, &stepped).await["factors"][0]["name"],
        "Old phone"
    );
    assert_eq!(audited(&app, "mfa.factor_renamed").await, 1);

    let r = call(&app, Method::DELETE, &factor, Some(&stepped), None).await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let listed = factors(&app, &stepped).await;
    assert!(listed["factors"].as_array().unwrap().is_empty(), "{listed}");
    assert_eq!(listed["recovery_codes_left"], 0, "{listed}");
    assert_eq!(mails(&app, "factor_removed", ALICE).await, 1);

    // The password alone signs in again, and the removed passkey does not.
    let plain = expect(app.login(ALICE, PASSWORD).await, 200).await;
    assert!(plain["access_token"].is_string(), "{plain}");
    assert!(plain.get("mfa_required").is_none(), "{plain}");
    let (flow, options) = passwordless_options(&app).await;
    let credential = phone.get(&options);
    assert_problem(
        passwordless(&app, &flow, &credential).await,
        401,
        "invalid_second_factor",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// 7. No relying party

/// The test servers' public URL, `http://sesame.test`, is plain http off localhost: browsers
/// refuse WebAuthn there, so without SESAME_WEBAUTHN_* settings Sesame is no relying party.
async fn without_a_relying_party_the_passkey_endpoints_answer_passkeys_unavailable(b: Backend) {
    let app = app_with(b, &[]).await;
    let access = s(&app.user_with_tokens(ALICE).await, "access_token");
    let ceremony = json!({ "flow_id": "x", "credential": {} });
    let register = json!({ "registration_id": "x", "credential": {} });
    for (path, token, body) in [
        (REGISTER_OPTIONS, Some(access.as_str()), None),
        (REGISTER, Some(access.as_str()), Some(&register)),
        (LOGIN_OPTIONS, None, None),
        (LOGIN, None, Some(&ceremony)),
        (REAUTH_OPTIONS, Some(access.as_str()), None),
    ] {
        let r = post(&app, path, token, body).await;
        let problem = assert_problem(r, 404, "passkeys_unavailable").await;
        assert!(problem["title"].is_string(), "{path}: {problem}");
    }
    // A password sign-in offers no passkey.
    let plain = expect(app.login(ALICE, PASSWORD).await, 200).await;
    assert!(plain["access_token"].is_string(), "{plain}");
}

crate::on_every_backend!(
    the_token_endpoint_does_not_offer_the_passkey_its_grant_cannot_take,
    a_passkey_registers_with_its_name_and_the_first_one_brings_recovery_codes,
    a_registration_id_is_its_users_own,
    a_password_sign_in_completes_with_the_passkey,
    a_garbage_credential_is_a_wrong_second_factor_and_counts,
    a_passkey_alone_signs_in_its_own_user,
    a_passkey_answer_collected_by_another_origin_is_refused,
    a_cloned_authenticators_counter_regression_is_refused_and_audited,
    a_stale_session_steps_up_with_the_passkey_alone,
    a_passkey_step_up_needs_a_passkey_and_its_own_session,
    a_passkey_is_renamed_and_deleting_the_last_factor_ends_the_second_step,
    without_a_relying_party_the_passkey_endpoints_answer_passkeys_unavailable,
);
