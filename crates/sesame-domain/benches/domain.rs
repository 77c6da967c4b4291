//! Micro-benchmarks of the domain's hot spots: access-token signing and verification (EdDSA and
//! HS256; verification both in full and from the cache of verified tokens), refresh-token hashing
//! and successor derivation, argon2id hashing and verification with the default (OWASP)
//! parameters, and a passkey assertion check (issue 13's budget: at most 2 ms of CPU).
//! `cargo bench -p sesame-domain`.
//!
//! These are guardrails against regressions, not the performance targets: those are measured
//! end to end by `sesame-bench`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ed25519_dalek::{Signer as _, Verifier as _};
use sesame_domain::clock::now;
use sesame_domain::model::{Email, RoleName, SessionId, User, UserId};
use sesame_domain::password::{HashParams, Password, PasswordHasher};
use sesame_domain::token::{RefreshToken, StoredKey, TokenIssuer, TokenSettings};
use std::hint::black_box;
use std::time::Duration;

fn settings() -> TokenSettings {
    TokenSettings {
        issuer: "http://127.0.0.1:8080".into(),
        audience: "sesame".into(),
        access_ttl: Duration::from_secs(900),
        leeway: Duration::from_secs(5),
    }
}

fn user() -> User {
    let t = now();
    User {
        id: UserId::new(),
        email: Email::parse("alice@example.com").expect("a valid address"),
        username: None,
        display_name: None,
        email_verified: true,
        is_active: true,
        roles: vec![RoleName::admin()],
        locale: sesame_domain::locale::Locale::En,
        created_at: t,
        updated_at: t,
        last_login_at: None,
    }
}

fn tokens(c: &mut Criterion) {
    let key = StoredKey::generate_ed25519(now()).expect("an Ed25519 key");
    let issuers = [
        (
            "EdDSA",
            TokenIssuer::ed25519(&[key], settings()).expect("an issuer"),
        ),
        (
            "HS256",
            TokenIssuer::hs256(b"0123456789abcdef0123456789abcdef-bench", settings()),
        ),
    ];
    let user = user();
    let session = SessionId::new();
    let mut g = c.benchmark_group("access_token");
    for (name, issuer) in &issuers {
        g.bench_function(format!("sign/{name}"), |b| {
            b.iter(|| {
                issuer
                    .issue(black_box(&user), session, now())
                    .expect("signed")
            });
        });
        // Full verification: a fresh token every iteration, so none is ever a cache hit (issuing
        // happens outside the timing; `iter_batched` keeps the batch small).
        g.bench_function(format!("verify/{name}"), |b| {
            b.iter_batched(
                || issuer.issue(&user, session, now()).expect("signed"),
                |token| issuer.verify(black_box(&token)).expect("valid"),
                BatchSize::SmallInput,
            );
        });
        // The same token again and again: every call after the first is a cache hit.
        let token = issuer.issue(&user, session, now()).expect("signed");
        g.bench_function(format!("verify_cached/{name}"), |b| {
            b.iter(|| issuer.verify(black_box(&token)).expect("valid"));
        });
    }
    g.finish();

    // What the signature alone costs with keys parsed once, for comparison: the EdDSA issuer
    // signs with a key parsed once, but jsonwebtoken (which verifies) decompresses the verifying
    // key on every call.
    let mut g = c.benchmark_group("ed25519_dalek_parsed_key");
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let message = issuers[0].1.issue(&user, session, now()).expect("signed");
    let message = message.as_bytes();
    let signature = key.sign(message);
    let verifying = key.verifying_key();
    g.bench_function("sign", |b| b.iter(|| key.sign(black_box(message))));
    g.bench_function("verify", |b| {
        b.iter(|| {
            verifying
                .verify(black_box(message), &signature)
                .expect("valid")
        });
    });
    g.finish();

    let mut g = c.benchmark_group("refresh_token");
    let token = RefreshToken::generate();
    let secret = sesame_domain::token::random_secret();
    g.bench_function("generate", |b| b.iter(RefreshToken::generate));
    g.bench_function("hash", |b| b.iter(|| black_box(&token).hash()));
    g.bench_function("successor", |b| {
        b.iter(|| black_box(&token).successor(black_box(&secret)));
    });
    g.finish();
}

fn passwords(c: &mut Criterion) {
    let hasher = PasswordHasher::new(HashParams::default(), 1, 1).expect("valid parameters");
    let password = Password::parse("correct horse battery staple").expect("a valid password");
    let stored = hasher.hash_blocking(&password).expect("hashed");
    let mut g = c.benchmark_group("argon2id_owasp");
    // Each call takes tens of milliseconds: fewer, longer samples.
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("hash", |b| {
        b.iter(|| hasher.hash_blocking(black_box(&password)).expect("hashed"));
    });
    g.bench_function("verify", |b| {
        b.iter(|| {
            assert!(
                hasher
                    .verify_blocking(black_box(&password), &stored)
                    .matches
            );
        });
    });
    g.finish();
}

/// One second-factor assertion checked again and again: parse the browser's JSON, the stored
/// state and the stored passkey, verify the ES256 signature, the challenge, origin, rp id hash,
/// flags and counter, and serialise the updated passkey — all `finish_second_factor` does. The
/// answer is made once by the software authenticator, outside the timing.
fn passkeys(c: &mut Criterion) {
    use sesame_domain::passkey::{PasskeyRp, PasskeyUser};
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_authenticator_rs::WebauthnAuthenticator;

    let origin = url::Url::parse("https://auth.example.com").expect("a URL");
    let rp = PasskeyRp::new("example.com", std::slice::from_ref(&origin), "Sesame")
        .expect("a relying party");
    // `true`: the authenticator reports user verification, which Sesame requires.
    let mut authenticator = SoftPasskey::new(true);
    let user = uuid::Uuid::new_v4();
    let registration = rp
        .start_registration(
            PasskeyUser {
                id: user,
                name: "alice",
                display_name: "Alice",
            },
            &[],
        )
        .expect("starts");
    // The soft authenticator keeps no resident keys and refuses options that demand one.
    let mut options = registration.options;
    options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = false.into();
    let created = authenticator
        .do_registration(
            origin.clone(),
            serde_json::from_value(options).expect("options"),
        )
        .expect("registers");
    let stored = rp
        .finish_registration(
            &registration.state,
            user,
            &serde_json::to_value(created).expect("JSON"),
        )
        .expect("registered");
    let keys = [stored];
    let ceremony = rp.start_second_factor(user, &keys).expect("starts");
    let answer = authenticator
        .do_authentication(
            origin,
            serde_json::from_value(ceremony.options).expect("options"),
        )
        .expect("signs");
    let answer = serde_json::to_value(answer).expect("JSON");

    let mut g = c.benchmark_group("passkey");
    g.bench_function("assertion_check", |b| {
        b.iter(|| {
            rp.finish_second_factor(&ceremony.state, user, black_box(&answer), &keys)
                .expect("accepted")
        });
    });
    g.finish();
}

/// The CPU a TOTP sign-in completion spends on the code itself: open the sealed secret
/// (XChaCha20-Poly1305) and check the code against the three steps of the window (HMAC-SHA-1
/// each, compared in constant time). Compare with `argon2id_owasp/verify`: the rest of a
/// completion is a few indexed reads and writes, the same as a password sign-in's.
fn totp(c: &mut Criterion) {
    use sesame_domain::mfa::TotpSecret;
    use sesame_domain::seal::{EncryptionKey, Keyring};

    let ring = Keyring::new(EncryptionKey::generate());
    let secret = TotpSecret::generate();
    let sealed = ring.seal(secret.as_bytes(), b"totp:bench");
    let at = sesame_domain::clock::now();
    let code = secret.code_at(at);
    let mut g = c.benchmark_group("totp");
    g.bench_function("open_and_check", |b| {
        b.iter(|| {
            let plain = ring.open(black_box(&sealed), b"totp:bench").expect("opens");
            let s = TotpSecret::from_bytes(plain.to_vec());
            assert!(s.check(black_box(&code), at, None).is_some());
        });
    });
    g.finish();
}

criterion_group!(benches, tokens, passwords, passkeys, totp);
criterion_main!(benches);
