//! Secrets at rest (issue 13): the Ed25519 signing key is stored sealed under the application
//! encryption key, so the database alone signs nothing; where that key comes from (configured,
//! or generated beside a SQLite database), what a wrong or missing key says at startup, legacy
//! plaintext rows sealed at startup, and rotation with `sesame keys reencrypt`.

use crate::helpers::{
    build_app, run, sesame, spawn_app, spawn_on, spawn_without_key, start, text,
    try_build_without_key, Backend, TempDir, TestApp, TestDb, TEST_ENCRYPTION_KEY,
};
use crate::{on_db_connection, on_every_backend};
use sesame_domain::seal::EncryptionKey;

/// A second key, for rotation and for the wrong-key start.
const OTHER_KEY: &str = "b3RoZXIgdGVzdCBlbmNyeXB0aW9uIGtleSwgMzIgYnk=";

/// The AlgorithmIdentifier of an Ed25519 PKCS#8 key (OID 1.3.101.112), at offset 5.
const ED25519_ALGORITHM: [u8; 7] = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];

fn key_id(base64: &str) -> String {
    EncryptionKey::from_base64(base64).unwrap().id().to_string()
}

/// A signed-in user's access token.
async fn access_token(app: &TestApp, email: &str) -> String {
    app.user_with_tokens(email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn assert_token_verifies(app: &TestApp, token: &str) {
    let r = app.me(token).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// The stored private key bytes and key id of the primary signing key.
async fn stored_key(db: &TestDb) -> (Vec<u8>, Option<String>) {
    let bytes = db
        .bytes("SELECT private_der FROM signing_keys WHERE algorithm = 'EdDSA' ORDER BY created_at LIMIT 1")
        .await
        .expect("a signing key");
    let key_id = db
        .text("SELECT COALESCE(key_id, '') FROM signing_keys WHERE algorithm = 'EdDSA' ORDER BY created_at LIMIT 1")
        .await
        .filter(|id| !id.is_empty());
    (bytes, key_id)
}

async fn the_stored_signing_key_is_sealed_and_tokens_still_verify(b: Backend) {
    let app = spawn_app(b).await;
    let token = access_token(&app, "a@example.com").await;
    assert_token_verifies(&app, &token).await;
    let (stored, stored_key_id) = stored_key(&app.db).await;
    assert_eq!(stored_key_id, Some(key_id(TEST_ENCRYPTION_KEY)));
    let (der, _) = app.signing_key().await;
    // PKCS#8 of an Ed25519 key: SEQUENCE, version, the AlgorithmIdentifier, then the 32-byte
    // seed as an OCTET STRING in an OCTET STRING (offset 16).
    assert_eq!(der[5..12], ED25519_ALGORITHM, "{der:02x?}");
    assert_ne!(
        stored[5..12],
        ED25519_ALGORITHM,
        "the stored bytes are a PKCS#8 key"
    );
    let seed = &der[16..48];
    assert!(
        !stored.windows(32).any(|w| w == seed),
        "the stored bytes contain the private seed"
    );
}

async fn a_restart_with_another_key_fails_naming_the_key_id_and_the_setting(b: Backend) {
    let app = spawn_app(b).await;
    let db = app.stop().await;
    let Err(e) = try_build_without_key(&db.url, &["--encryption-key", OTHER_KEY]).await else {
        panic!("a server with the wrong encryption key started");
    };
    let e = e.to_string();
    assert!(e.contains(&key_id(TEST_ENCRYPTION_KEY)), "{e}");
    assert!(e.contains("SESAME_ENCRYPTION_KEY"), "{e}");
    assert!(
        !e.contains(OTHER_KEY) && !e.contains(TEST_ENCRYPTION_KEY),
        "{e}"
    );
}

async fn a_legacy_plaintext_signing_key_is_sealed_at_startup(b: Backend) {
    let app = spawn_app(b).await;
    let token = access_token(&app, "a@example.com").await;
    let (der, kid) = app.signing_key().await;
    let db = app.stop().await;
    // The row as a release before sealing wrote it.
    on_db_connection!(db, |c| {
        sqlx::query("UPDATE signing_keys SET private_der = $1, key_id = NULL WHERE kid = $2")
            .bind(&der)
            .bind(&kid)
            .execute(&mut c)
            .await
            .unwrap();
    });
    assert_eq!(stored_key(&db).await, (der.clone(), None));
    // Two nodes start on it at once: both come up, and the row is sealed once.
    let other = db.share();
    let (one, two) = tokio::join!(build_app(&db, &[], &[]), build_app(&other, &[], &[]));
    let one = start(db, one).await;
    let two = start(other, two).await;
    assert_token_verifies(&one, &token).await;
    assert_token_verifies(&two, &token).await;
    let (stored, stored_key_id) = stored_key(&one.db).await;
    assert_eq!(stored_key_id, Some(key_id(TEST_ENCRYPTION_KEY)));
    assert_ne!(stored, der);
    assert_eq!(one.signing_key().await, (der, kid));
    assert_eq!(
        one.db.count("signing_keys WHERE algorithm = 'EdDSA'").await,
        1
    );
    assert_eq!(
        one.db.count("signing_keys WHERE algorithm = 'RS256'").await,
        1,
        "one node's RSA key wins"
    );
}

/// Runs `sesame keys reencrypt` on `db` with these keys and returns its standard output.
async fn reencrypt(db: &TestDb, key: &str, previous: &str) -> String {
    let dir = TempDir::new();
    let mut cmd = sesame(dir.path());
    cmd.env("SESAME_DATABASE_URL", &db.url)
        .env("SESAME_ENCRYPTION_KEY", key)
        .env("SESAME_ENCRYPTION_PREVIOUS_KEYS", previous)
        .args(["keys", "reencrypt"]);
    let out = run(cmd, None).await;
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains(key) && !all.contains(previous), "{all}");
    text(&out.stdout)
}

async fn a_rotated_key_keeps_old_tokens_valid_after_reencrypt(b: Backend) {
    let app = spawn_app(b).await;
    let token = access_token(&app, "a@example.com").await;
    let (der, kid) = app.signing_key().await;
    let db = app.stop().await;

    let out = reencrypt(&db, OTHER_KEY, TEST_ENCRYPTION_KEY).await;
    assert!(
        out.contains(&format!("current encryption key: {}", key_id(OTHER_KEY))),
        "{out}"
    );
    assert!(
        out.contains("signing keys: 2 re-sealed, 0 already current"),
        "{out}"
    );
    assert_eq!(stored_key(&db).await.1, Some(key_id(OTHER_KEY)));
    // Idempotent.
    let again = reencrypt(&db, OTHER_KEY, TEST_ENCRYPTION_KEY).await;
    assert!(
        again.contains("signing keys: 0 re-sealed, 2 already current"),
        "{again}"
    );

    // The old key alone no longer opens it; the new one alone does, and old tokens verify.
    let Err(e) = try_build_without_key(&db.url, &["--encryption-key", TEST_ENCRYPTION_KEY]).await
    else {
        panic!("the retired key still opened the signing key");
    };
    assert!(e.to_string().contains(&key_id(OTHER_KEY)), "{e}");
    let app = spawn_on(db, &[], &["--encryption-key", OTHER_KEY]).await;
    assert_token_verifies(&app, &token).await;
    // The same signing key, not a new one.
    let (sealed, _) = stored_key(&app.db).await;
    let ring = sesame_domain::seal::Keyring::new(EncryptionKey::from_base64(OTHER_KEY).unwrap());
    let row = sesame_domain::seal::RowId::Text(kid);
    let opened = ring
        .open(
            &sesame_domain::seal::Sealed {
                key_id: ring.current.id().clone(),
                bytes: sealed,
            },
            &sesame_domain::seal::SecretKind::SigningKey.aad(&row),
        )
        .unwrap();
    assert_eq!(opened.as_slice(), der.as_slice());
}

async fn a_previous_key_still_opens_before_reencrypt(b: Backend) {
    let app = spawn_app(b).await;
    let token = access_token(&app, "a@example.com").await;
    let db = app.stop().await;
    let app = spawn_on(
        db,
        &[],
        &[
            "--encryption-key",
            OTHER_KEY,
            "--encryption-previous-keys",
            TEST_ENCRYPTION_KEY,
        ],
    )
    .await;
    assert_token_verifies(&app, &token).await;
    let fresh = access_token(&app, "b@example.com").await;
    assert_token_verifies(&app, &fresh).await;
}

async fn malformed_keys_are_refused_naming_the_setting_not_the_value(b: Backend) {
    let db = TestDb::new(b).await;
    for (serve, setting) in [
        (
            &["--encryption-key", "c2VjcmV0LXZhbHVlLXRvby1zaG9ydA=="][..],
            "SESAME_ENCRYPTION_KEY",
        ),
        (
            &["--encryption-key", "not*base64*secret-value"][..],
            "SESAME_ENCRYPTION_KEY",
        ),
        (
            &[
                "--encryption-key",
                TEST_ENCRYPTION_KEY,
                "--encryption-previous-keys",
                "c2VjcmV0LXZhbHVlLXRvby1zaG9ydA==",
            ][..],
            "SESAME_ENCRYPTION_PREVIOUS_KEYS",
        ),
    ] {
        let Err(e) = try_build_without_key(&db.url, serve).await else {
            panic!("{serve:?} was accepted");
        };
        let e = e.to_string();
        assert!(e.contains(setting), "{e}");
        assert!(e.contains("32 bytes") || e.contains("base64"), "{e}");
        assert!(
            !e.contains("c2VjcmV0") && !e.contains("secret-value"),
            "the value was printed: {e}"
        );
    }
}

on_every_backend!(
    the_stored_signing_key_is_sealed_and_tokens_still_verify,
    a_restart_with_another_key_fails_naming_the_key_id_and_the_setting,
    a_legacy_plaintext_signing_key_is_sealed_at_startup,
    a_rotated_key_keeps_old_tokens_valid_after_reencrypt,
    a_previous_key_still_opens_before_reencrypt,
    malformed_keys_are_refused_naming_the_setting_not_the_value,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sqlite_start_writes_a_key_file_that_a_restart_reuses() {
    let db = TestDb::new(Backend::Sqlite).await;
    let key_file = db.sqlite_file().unwrap().with_extension("key");
    assert!(!key_file.exists());
    let app = spawn_without_key(db, &[]).await;
    let written = std::fs::read_to_string(&key_file).expect("the key file was written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    assert_eq!(
        stored_key(&app.db).await.1,
        Some(key_id(written.trim())),
        "the signing key is sealed under the generated key"
    );
    let token = access_token(&app, "a@example.com").await;
    let db = app.stop().await;
    let app = spawn_without_key(db, &[]).await;
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), written);
    assert_token_verifies(&app, &token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_without_a_key_refuses_to_start_explaining_the_setting() {
    let db = TestDb::new(Backend::Postgres).await;
    let Err(e) = try_build_without_key(&db.url, &[]).await else {
        panic!("started on PostgreSQL without an encryption key");
    };
    let e = e.to_string();
    assert!(e.contains("SESAME_ENCRYPTION_KEY"), "{e}");
    assert!(e.contains("PostgreSQL"), "{e}");
    assert!(e.contains("openssl rand -base64 32"), "{e}");
    // HS256 tokens need no signing key, but TOTP secrets are sealed too: still refused (an HS256
    // server once started without a key and answered a TOTP enrolment with a 500).
    let hs = try_build_without_key(
        &db.url,
        &[
            "--jwt-algorithm",
            "HS256",
            "--secret-key",
            "an HS256 secret of at least thirty-two bytes",
        ],
    )
    .await;
    let Err(hs) = hs else {
        panic!("started on PostgreSQL with HS256 and no encryption key");
    };
    assert!(hs.to_string().contains("SESAME_ENCRYPTION_KEY"), "{hs}");
}
