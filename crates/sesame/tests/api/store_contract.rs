//! The store contract, written once and run against every backend through the domain's traits:
//! uniqueness is reported as the right conflict, a refresh token is consumed exactly once even
//! under concurrency (and concurrent rotations of many sessions, batched together on SQLite, each
//! get their own outcome, a failing one rolled back alone), revoked sessions stop
//! authenticating, one primary signing key wins; an expired session cannot rotate and an
//! emailed token is consumed only unexpired and for its own purpose (the store refuses them
//! itself, whatever the service checked); outbox claims hold a lease that only its end lets
//! another worker take over, and a delivered message keeps no earlier error. An account-changing
//! write (`insert_user`, `change_password`, `consume_email_token`) records its audit event in
//! its own transaction: the row exists exactly when the change does.

use crate::helpers::{Backend, TestDb};
use futures::future::join_all;
use sesame::storage::Database;
use sesame_domain::audit::{AuditEvent, AuditKind};
use sesame_domain::clock::now;
use sesame_domain::error::Conflict;
use sesame_domain::mail::{Message, OutboundMail, PasswordChanged, VerifyEmail};
use sesame_domain::model::{
    ClientInfo, Email, LoginName, NewUser, ProfilePatch, Session, SessionId, UserId, Username,
};
use sesame_domain::seal::{EncryptionKey, Keyring, RowId, SecretKind};
use sesame_domain::store::{
    LockoutKey, NewEmailToken, NewSession, PasswordChange, Store, TokenEffect, TokenPurpose,
    UserFilter, UserQuery,
};
use sesame_domain::token::{random_secret, EmailToken, KeyRow, RefreshToken, StoredKey};
use sesame_domain::StoreError;
use std::sync::Arc;

async fn store(db: &TestDb) -> Arc<dyn Store> {
    let d = Database::connect(&db.url, 5).await.unwrap();
    d.migrate_up().await.unwrap();
    d.into_store()
}

fn new_user(email: &str, username: Option<&str>) -> NewUser {
    NewUser {
        id: UserId::new(),
        email: Email::parse(email).unwrap(),
        username: username.map(|u| Username::parse(u).unwrap()),
        display_name: None,
        password_hash: "$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHQ$aGFzaA".into(),
        email_verified: false,
        roles: vec![],
        locale: sesame_domain::locale::Locale::En,
        now: now(),
    }
}

async fn open_session(s: &dyn Store, user: UserId) -> (SessionId, RefreshToken, Vec<u8>) {
    let t = now();
    let token = RefreshToken::generate();
    let secret = random_secret();
    let session = Session {
        id: SessionId::new(),
        user_id: user,
        created_at: t,
        last_used_at: t,
        expires_at: t + chrono::Duration::days(1),
        revoked_at: None,
        ip: Some("127.0.0.1".into()),
        user_agent: Some("test".into()),
        auth_time: t,
        amr: sesame_domain::mfa::Amr::password(),
    };
    let id = session.id;
    s.create_session(&NewSession {
        session,
        kind: sesame_domain::store::SessionKind::Api,
        refresh_secret: secret.clone(),
        first_refresh_hash: token.hash(),
        audit: None,
    })
    .await
    .unwrap();
    (id, token, secret)
}

async fn duplicates_are_reported_as_the_conflict_they_are(b: Backend) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    s.insert_user(&new_user("a@example.com", Some("alpha")), None, None, None)
        .await
        .unwrap();
    let e = s
        .insert_user(&new_user("A@EXAMPLE.COM", None), None, None, None)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(Conflict::Email)), "{e:?}");
    let e = s
        .insert_user(&new_user("b@example.com", Some("ALPHA")), None, None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict(Conflict::Username)),
        "{e:?}"
    );
    // Several accounts without a username do not collide.
    s.insert_user(&new_user("c@example.com", None), None, None, None)
        .await
        .unwrap();
    s.insert_user(&new_user("d@example.com", None), None, None, None)
        .await
        .unwrap();
}

async fn users_are_found_by_normalized_email_or_username(b: Backend) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let u = s
        .insert_user(
            &new_user("Mixed@Example.com", Some("MixedCase")),
            None,
            None,
            None,
        )
        .await
        .unwrap();
    let by_email = s
        .user_for_login(&LoginName::parse("mixed@EXAMPLE.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_email.user.id, u.id);
    assert!(by_email.password_hash.starts_with("$argon2id$"));
    let by_name = s
        .user_for_login(&LoginName::parse("mixedcase").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_name.user.id, u.id);
    assert!(s
        .user_for_login(&LoginName::parse("nobody").unwrap())
        .await
        .unwrap()
        .is_none());
    let back = s.user_by_id(u.id).await.unwrap().unwrap();
    assert_eq!(
        back.created_at, u.created_at,
        "timestamps round-trip exactly"
    );
}

async fn a_profile_patch_changes_only_what_it_names(b: Backend) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let u = s
        .insert_user(&new_user("p@example.com", Some("before")), None, None, None)
        .await
        .unwrap();
    let patch = ProfilePatch {
        display_name: Some(Some(
            sesame_domain::model::DisplayName::parse("New Name").unwrap(),
        )),
        username: None,
        locale: None,
    };
    let after = s
        .update_profile(u.id, &patch, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.display_name.unwrap().as_str(), "New Name");
    assert_eq!(after.username.unwrap().as_str(), "before");
    let clear = ProfilePatch {
        display_name: None,
        username: Some(None),
        locale: None,
    };
    let after = s
        .update_profile(u.id, &clear, now())
        .await
        .unwrap()
        .unwrap();
    assert!(after.username.is_none());
    assert!(s
        .update_profile(UserId::new(), &clear, now())
        .await
        .unwrap()
        .is_none());
}

async fn a_refresh_token_is_consumed_exactly_once_under_concurrency(b: Backend) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let u = s
        .insert_user(&new_user("r@example.com", None), None, None, None)
        .await
        .unwrap();
    let (sid, token, secret) = open_session(s.as_ref(), u.id).await;
    let successor = token.successor(&secret);
    let t = now();
    let (old_hash, new_hash) = (token.hash(), successor.hash());
    let attempts = (0..8).map(|_| {
        s.rotate_refresh_token(&old_hash, &new_hash, sid, t, t + chrono::Duration::days(1))
    });
    let wins = join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .filter(|won| *won)
        .count();
    assert_eq!(wins, 1);
    let state = s.refresh_token_state(&token.hash()).await.unwrap().unwrap();
    assert!(state.used_at.is_some());
    let next = s
        .refresh_token_state(&successor.hash())
        .await
        .unwrap()
        .unwrap();
    assert!(next.used_at.is_none());
    assert_eq!(next.session.id, sid);
}

async fn concurrent_rotations_of_many_sessions_each_learn_their_own_outcome(b: Backend) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let u = s
        .insert_user(&new_user("many@example.com", None), None, None, None)
        .await
        .unwrap();
    let mut sessions = Vec::new();
    for _ in 0..24 {
        sessions.push(open_session(s.as_ref(), u.id).await);
    }
    // Every even session also gets a stale second attempt with the same token: exactly one of
    // each pair wins, and every odd session's single attempt wins.
    let t = now();
    let later = t + chrono::Duration::days(1);
    let hashes: Vec<_> = sessions
        .iter()
        .map(|(_, token, secret)| (token.hash(), token.successor(secret).hash()))
        .collect();
    let mut attempts = Vec::new();
    for (i, ((sid, _, _), (old, new))) in sessions.iter().zip(&hashes).enumerate() {
        let copies = if i % 2 == 0 { 2 } else { 1 };
        for _ in 0..copies {
            attempts.push((i, s.rotate_refresh_token(old, new, *sid, t, later)));
        }
    }
    let (who, futures): (Vec<usize>, Vec<_>) = attempts.into_iter().unzip();
    let results = join_all(futures).await;
    let mut wins = [0u32; 24];
    for (i, r) in who.into_iter().zip(results) {
        if r.unwrap() {
            wins[i] += 1;
        }
    }
    assert!(wins.iter().all(|w| *w == 1), "wins per session: {wins:?}");
    for (sid, token, secret) in &sessions {
        let next = s
            .refresh_token_state(&token.successor(secret).hash())
            .await
            .unwrap()
            .expect("each successor was stored");
        assert_eq!(next.session.id, *sid);
        assert!(next.used_at.is_none());
        assert!(next.session.expires_at >= later - chrono::Duration::seconds(1));
    }
}

async fn a_failing_rotation_neither_fails_nor_half_applies_its_neighbours(b: Backend) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let u = s
        .insert_user(&new_user("bad@example.com", None), None, None, None)
        .await
        .unwrap();
    let (good_sid, good, good_secret) = open_session(s.as_ref(), u.id).await;
    let (bad_sid, bad, _) = open_session(s.as_ref(), u.id).await;
    let t = now();
    let later = t + chrono::Duration::days(1);
    let (good_old, good_new) = (good.hash(), good.successor(&good_secret).hash());
    // The bad rotation's "successor" collides with the good session's current token: its insert
    // breaks the primary key.
    let (bad_old, bad_new) = (bad.hash(), good.hash());
    let (g, bd) = futures::join!(
        s.rotate_refresh_token(&good_old, &good_new, good_sid, t, later),
        s.rotate_refresh_token(&bad_old, &bad_new, bad_sid, t, later),
    );
    assert!(g.unwrap(), "the good rotation applied");
    assert!(bd.is_err(), "the bad rotation reports its failure");
    let bad_state = s.refresh_token_state(&bad.hash()).await.unwrap().unwrap();
    assert!(
        bad_state.used_at.is_none(),
        "the failed rotation left its token unused (rolled back, not half applied)"
    );
    assert!(s
        .refresh_token_state(&good_new)
        .await
        .unwrap()
        .is_some_and(|st| st.used_at.is_none()));
}

async fn a_revoked_session_no_longer_authenticates_or_rotates(b: Backend) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let u = s
        .insert_user(&new_user("s@example.com", None), None, None, None)
        .await
        .unwrap();
    let (sid, token, secret) = open_session(s.as_ref(), u.id).await;
    let (other, _, _) = open_session(s.as_ref(), u.id).await;
    assert!(s
        .active_session_user(sid, u.id, now())
        .await
        .unwrap()
        .is_some());
    assert!(
        s.active_session_user(sid, UserId::new(), now())
            .await
            .unwrap()
            .is_none(),
        "session of another user"
    );
    assert!(s.revoke_session(sid, now()).await.unwrap());
    assert!(
        !s.revoke_session(sid, now()).await.unwrap(),
        "second revoke is a no-op"
    );
    assert!(s
        .active_session_user(sid, u.id, now())
        .await
        .unwrap()
        .is_none());
    assert!(s
        .active_session_user(other, u.id, now())
        .await
        .unwrap()
        .is_some());
    let t = now();
    let rotated = s
        .rotate_refresh_token(&token.hash(), &token.successor(&secret).hash(), sid, t, t)
        .await
        .unwrap();
    assert!(!rotated, "a revoked session's token cannot rotate");
    assert_eq!(s.revoke_user_sessions(u.id, now()).await.unwrap(), 1);
    assert!(s
        .active_session_user(other, u.id, now())
        .await
        .unwrap()
        .is_none());
}

async fn an_expired_session_no_longer_authenticates(b: Backend) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let u = s
        .insert_user(&new_user("e@example.com", None), None, None, None)
        .await
        .unwrap();
    let (sid, _, _) = open_session(s.as_ref(), u.id).await;
    let later = now() + chrono::Duration::days(2);
    assert!(s
        .active_session_user(sid, u.id, later)
        .await
        .unwrap()
        .is_none());
}

async fn exactly_one_primary_signing_key_is_stored(b: Backend) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let ring = Keyring::new(EncryptionKey::generate());
    let keys: Vec<KeyRow> = (0..4)
        .map(|_| StoredKey::generate_ed25519(now()).unwrap().seal(&ring))
        .collect();
    let wins = join_all(keys.iter().map(|k| s.insert_primary_signing_key(k))).await;
    assert_eq!(
        wins.into_iter().map(Result::unwrap).filter(|w| *w).count(),
        1
    );
    let stored = s.signing_keys().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].public_raw.len(), 32);
    assert_eq!(stored[0].private.key_id(), Some(ring.current.id()));
}

async fn a_secret_is_replaced_only_while_its_key_id_is_the_one_read(b: Backend) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let old = Keyring::new(EncryptionKey::generate());
    let new = Keyring::new(EncryptionKey::generate());
    let key = StoredKey::generate_ed25519(now()).unwrap();
    assert!(s.insert_primary_signing_key(&key.seal(&old)).await.unwrap());
    let kind = SecretKind::SigningKey;
    let listed = s.secrets(kind).await.unwrap();
    assert_eq!(listed.len(), 1);
    let row = listed[0].row.clone();
    assert_eq!(row, RowId::Text(key.kid.clone()));
    assert_eq!(listed[0].value.key_id(), Some(old.current.id()));
    let resealed = new.seal(&key.private_der, &kind.aad(&row));
    // A writer that read a different key id (here: a legacy plaintext row) loses.
    assert!(!s.replace_secret(kind, &row, None, &resealed).await.unwrap());
    assert!(s
        .replace_secret(kind, &row, Some(old.current.id()), &resealed)
        .await
        .unwrap());
    // The second of two writers that read the same old key id loses too.
    assert!(!s
        .replace_secret(kind, &row, Some(old.current.id()), &resealed)
        .await
        .unwrap());
    let stored = s.signing_keys().await.unwrap();
    assert_eq!(
        stored[0].open(&new).unwrap().private_der.as_slice(),
        key.private_der.as_slice()
    );
    assert!(stored[0].open(&old).is_err());
}

async fn an_expired_session_cannot_rotate(b: Backend) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let u = s
        .insert_user(&new_user("x@example.com", None), None, None, None)
        .await
        .unwrap();
    let (sid, token, secret) = open_session(s.as_ref(), u.id).await;
    let successor = token.successor(&secret);
    // `open_session` gives the session one day; two days later it is over.
    let later = now() + chrono::Duration::days(2);
    let rotated = s
        .rotate_refresh_token(
            &token.hash(),
            &successor.hash(),
            sid,
            later,
            later + chrono::Duration::days(1),
        )
        .await
        .unwrap();
    assert!(
        !rotated,
        "a rotation at a time past the session's expiry is refused"
    );
    let state = s.refresh_token_state(&token.hash()).await.unwrap().unwrap();
    assert!(state.used_at.is_none(), "the token was left unused");
    assert!(
        state.session.expires_at < later,
        "the session's expiry did not slide"
    );
    assert!(s
        .refresh_token_state(&successor.hash())
        .await
        .unwrap()
        .is_none());
    // The same rotation before the expiry applies.
    let t = now();
    assert!(s
        .rotate_refresh_token(&token.hash(), &successor.hash(), sid, t, later)
        .await
        .unwrap());
}

fn email_token_record(user: UserId, purpose: TokenPurpose) -> (EmailToken, NewEmailToken) {
    let token = EmailToken::generate();
    let t = now();
    let record = NewEmailToken {
        hash: token.hash(),
        user_id: user,
        purpose,
        new_email: (purpose == TokenPurpose::ChangeEmail)
            .then(|| Email::parse("new@example.com").unwrap()),
        created_at: t,
        expires_at: t + chrono::Duration::hours(1),
    };
    (token, record)
}

async fn an_emailed_token_is_consumed_only_unexpired_and_for_its_own_purpose(b: Backend) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let u = s
        .insert_user(&new_user("m@example.com", None), None, None, None)
        .await
        .unwrap();
    let effects = [
        TokenEffect::VerifyEmail,
        TokenEffect::ResetPassword {
            password_hash: "$argon2id$v=19$m=256,t=1,p=1$bmV3c2FsdA$bmV3aGFzaA".into(),
        },
        TokenEffect::SetPassword {
            password_hash: "$argon2id$v=19$m=256,t=1,p=1$aW52aXRl$aW52aXRl".into(),
        },
        TokenEffect::ChangeEmail {
            new_email: Email::parse("new@example.com").unwrap(),
        },
    ];
    for purpose in [
        TokenPurpose::VerifyEmail,
        TokenPurpose::ResetPassword,
        TokenPurpose::SetPassword,
        TokenPurpose::ChangeEmail,
    ] {
        let (token, record) = email_token_record(u.id, purpose);
        s.issue_email_token(&record, false, &[]).await.unwrap();
        for effect in effects.iter().filter(|e| e.purpose() != purpose) {
            assert!(
                !s.consume_email_token(&token.hash(), u.id, now(), effect, &[], None)
                    .await
                    .unwrap(),
                "a {purpose:?} token does not consume as {effect:?}"
            );
        }
        let own = effects.iter().find(|e| e.purpose() == purpose).unwrap();
        let past_expiry = record.expires_at + chrono::Duration::seconds(1);
        assert!(
            !s.consume_email_token(&token.hash(), u.id, past_expiry, own, &[], None)
                .await
                .unwrap(),
            "a {purpose:?} token is not consumed after its expiry"
        );
        let state = s.email_token_state(&token.hash()).await.unwrap().unwrap();
        assert!(state.used_at.is_none(), "the refusals left it unused");
        assert!(
            s.consume_email_token(&token.hash(), u.id, now(), own, &[], None)
                .await
                .unwrap(),
            "a live {purpose:?} token is consumed for its own purpose"
        );
    }
    let after = s.user_by_id(u.id).await.unwrap().unwrap();
    assert!(after.email_verified);
    assert_eq!(after.email.as_str(), "new@example.com");
}

fn mail_to(to: &str) -> OutboundMail {
    OutboundMail::new(
        None,
        to,
        sesame_domain::locale::Locale::En,
        VerifyEmail {
            link: "x".into(),
            email: to.into(),
            expires_in: sesame_domain::mail::Lifetime::parse("1 hour").unwrap(),
        },
        now(),
    )
}

async fn a_users_locale_is_stored_and_changed_only_by_a_patch_naming_it(b: Backend) {
    use sesame_domain::locale::Locale;
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let mut new = new_user("loc@example.com", Some("loc"));
    new.locale = Locale::De;
    let u = s.insert_user(&new, None, None, None).await.unwrap();
    assert_eq!(u.locale, Locale::De);
    assert_eq!(
        s.user_by_id(u.id).await.unwrap().unwrap().locale,
        Locale::De
    );
    let rename = ProfilePatch {
        display_name: Some(None),
        username: None,
        locale: None,
    };
    let after = s
        .update_profile(u.id, &rename, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.locale,
        Locale::De,
        "a patch without a locale leaves it"
    );
    let relocate = ProfilePatch {
        display_name: None,
        username: None,
        locale: Some(Locale::Fr),
    };
    let after = s
        .update_profile(u.id, &relocate, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.locale, Locale::Fr);
    assert_eq!(after.username.unwrap().as_str(), "loc");
}

async fn queued_mail_keeps_its_language_and_mail_from_before_languages_has_none(b: Backend) {
    use sesame_domain::locale::Locale;
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let mut german = mail_to("de@example.com");
    german.locale = Locale::De;
    s.enqueue_mail(&[german]).await.unwrap();
    let t = now();
    let claimed = s
        .claim_mail(t, t + chrono::Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].locale, Some(Locale::De));
    s.mail_sent(claimed[0].id, now()).await.unwrap();

    // A row queued before the column existed holds NULL.
    s.enqueue_mail(&[mail_to("old@example.com")]).await.unwrap();
    db.exec("UPDATE mail_outbox SET locale = NULL WHERE recipient = 'old@example.com'")
        .await;
    let t = now();
    let claimed = s
        .claim_mail(t, t + chrono::Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].locale, None);
}

async fn a_delivered_mail_keeps_no_earlier_error(b: Backend) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    s.enqueue_mail(&[mail_to("e@example.com")]).await.unwrap();
    let t = now();
    let claimed = s
        .claim_mail(t, t + chrono::Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let id = claimed[0].id;
    s.mail_failed(id, 1, Some(t), "451 try again later")
        .await
        .unwrap();
    let error = db.text("SELECT last_error FROM mail_outbox").await.unwrap();
    assert_eq!(error, "451 try again later");
    let again = s
        .claim_mail(now(), now() + chrono::Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    s.mail_sent(id, now()).await.unwrap();
    assert_eq!(
        db.text("SELECT status FROM mail_outbox").await.as_deref(),
        Some("sent")
    );
    let error: Option<String> = db
        .text("SELECT COALESCE(last_error, 'NULL') FROM mail_outbox")
        .await;
    assert_eq!(
        error.as_deref(),
        Some("NULL"),
        "the old error is cleared once sent"
    );
}

async fn queued_mail_is_claimed_as_its_typed_message_and_a_row_missing_a_field_dies_naming_it(
    b: Backend,
) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    s.enqueue_mail(&[mail_to("e@example.com"), mail_to("f@example.com")])
        .await
        .unwrap();
    // What the outbox held when parameters were string pairs: a sorted JSON map of strings.
    db.exec(
        r#"UPDATE mail_outbox SET params = '{"email":"e@example.com","expires_in":"1 hour","link":"x"}' WHERE recipient = 'e@example.com'"#,
    )
    .await;
    db.exec(
        r#"UPDATE mail_outbox SET params = '{"email":"f@example.com","expires_in":"1 hour"}' WHERE recipient = 'f@example.com'"#,
    )
    .await;
    let t = now();
    let claimed = s
        .claim_mail(t, t + chrono::Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "only the whole message is handed out");
    assert_eq!(claimed[0].to, "e@example.com");
    assert_eq!(
        claimed[0].params,
        Message::VerifyEmail(VerifyEmail {
            email: "e@example.com".into(),
            expires_in: sesame_domain::mail::Lifetime::parse("1 hour").unwrap(),
            link: "x".into(),
        })
    );
    let dead = |column: &'static str| {
        let db = &db;
        async move {
            db.text(&format!(
                "SELECT {column} FROM mail_outbox WHERE recipient = 'f@example.com'"
            ))
            .await
        }
    };
    assert_eq!(dead("status").await.as_deref(), Some("dead"));
    let error = dead("last_error").await.unwrap();
    assert!(
        error.contains("verify_email") && error.contains("link"),
        "{error}"
    );
}

async fn a_claimed_mail_is_taken_over_only_once_its_lease_has_ended(b: Backend) {
    let db = TestDb::new(b).await;
    // Two nodes: two stores on one database.
    let first = store(&db).await;
    let second = store(&db).await;
    first
        .enqueue_mail(&[mail_to("a@example.com"), mail_to("b@example.com")])
        .await
        .unwrap();
    let t = now();
    let lease = chrono::Duration::seconds(60);
    let claimed = first.claim_mail(t, t + lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    // The first node "crashes": it never reports an outcome. While its lease runs, no one else
    // gets the mail.
    for at in [
        t,
        t + chrono::Duration::seconds(1),
        t + lease - chrono::Duration::milliseconds(1),
    ] {
        assert!(
            second
                .claim_mail(at, at + lease, 10)
                .await
                .unwrap()
                .is_empty(),
            "claimed by another node at {at} while the lease runs"
        );
    }
    // Once it has ended, the other node takes both over, exactly once.
    let at = t + lease;
    let taken = second.claim_mail(at, at + lease, 10).await.unwrap();
    let mut ids: Vec<_> = taken.iter().map(|m| m.id).collect();
    let mut before: Vec<_> = claimed.iter().map(|m| m.id).collect();
    ids.sort();
    before.sort();
    assert_eq!(ids, before, "the same messages are taken over");
    assert!(first
        .claim_mail(at, at + lease, 10)
        .await
        .unwrap()
        .is_empty());
    for m in &taken {
        second.mail_sent(m.id, at).await.unwrap();
    }
    let later = at + lease + lease;
    assert!(
        first
            .claim_mail(later, later + lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "a sent message is never claimed again"
    );
}

fn event(kind: AuditKind, user: Option<UserId>) -> AuditEvent {
    AuditEvent::new(
        kind,
        user,
        &ClientInfo::default(),
        serde_json::json!({}),
        now(),
    )
}

/// The stored event names of `user`'s audit trail, oldest first.
async fn trail(s: &dyn Store, user: UserId) -> Vec<String> {
    let mut kinds: Vec<String> = s
        .user_audit(user, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    kinds.reverse();
    kinds
}

async fn a_registration_is_recorded_with_the_account_and_a_refused_one_leaves_no_record(
    b: Backend,
) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let first = new_user("audit@example.com", Some("audited"));
    let u = s
        .insert_user(
            &first,
            None,
            None,
            Some(&event(AuditKind::UserRegistered, Some(first.id))),
        )
        .await
        .unwrap();
    assert_eq!(trail(s.as_ref(), u.id).await, ["user.registered"]);
    for dup in [
        new_user("AUDIT@example.com", None),
        new_user("other@example.com", Some("AUDITED")),
    ] {
        let e = s
            .insert_user(
                &dup,
                None,
                None,
                Some(&event(AuditKind::UserRegistered, Some(dup.id))),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
        assert!(
            trail(s.as_ref(), dup.id).await.is_empty(),
            "a refused registration leaves no user.registered row"
        );
    }
    // A failing audit write (here: an event id already taken) fails the insert: no account
    // without its trail entry.
    let mut reused = event(AuditKind::UserRegistered, None);
    reused.id = s.user_audit(u.id, 1).await.unwrap()[0].id;
    let orphan = new_user("orphan@example.com", None);
    reused.user_id = Some(orphan.id);
    assert!(s
        .insert_user(&orphan, None, None, Some(&reused))
        .await
        .is_err());
    assert!(s.user_by_id(orphan.id).await.unwrap().is_none());
    assert!(s
        .user_for_login(&LoginName::parse("orphan@example.com").unwrap())
        .await
        .unwrap()
        .is_none());
}

async fn a_password_change_is_recorded_with_the_change_and_a_failed_one_leaves_no_record(
    b: Backend,
) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let u = s
        .insert_user(&new_user("pw@example.com", None), None, None, None)
        .await
        .unwrap();
    let (sid, _, _) = open_session(s.as_ref(), u.id).await;
    let change = |hash: &str| PasswordChange {
        user_id: u.id,
        password_hash: hash.into(),
        keep_session: sid,
        new_refresh_hash: RefreshToken::generate().hash(),
        now: now(),
    };
    let hash_of = |s: Arc<dyn Store>| async move {
        s.user_for_login(&LoginName::parse("pw@example.com").unwrap())
            .await
            .unwrap()
            .unwrap()
            .password_hash
    };
    let mail = OutboundMail::new(
        Some(u.id),
        "pw@example.com",
        sesame_domain::locale::Locale::En,
        PasswordChanged {
            email: "pw@example.com".into(),
        },
        now(),
    );
    let changed = event(AuditKind::PasswordChanged, Some(u.id));
    s.change_password(&change("$argon2id$first"), &mail, &changed)
        .await
        .unwrap();
    assert_eq!(trail(s.as_ref(), u.id).await, ["password.changed"]);
    assert_eq!(hash_of(s.clone()).await, "$argon2id$first");

    // A change that fails (its notice's id is taken) records nothing.
    let e = s
        .change_password(
            &change("$argon2id$second"),
            &mail,
            &event(AuditKind::PasswordChanged, Some(u.id)),
        )
        .await;
    assert!(e.is_err());
    assert_eq!(trail(s.as_ref(), u.id).await, ["password.changed"]);
    assert_eq!(hash_of(s.clone()).await, "$argon2id$first");

    // A failing audit write (its id is taken) fails the change: no change without its record.
    let fresh_mail = OutboundMail::new(
        Some(u.id),
        "pw@example.com",
        sesame_domain::locale::Locale::En,
        PasswordChanged {
            email: "pw@example.com".into(),
        },
        now(),
    );
    let e = s
        .change_password(&change("$argon2id$third"), &fresh_mail, &changed)
        .await;
    assert!(e.is_err());
    assert_eq!(trail(s.as_ref(), u.id).await, ["password.changed"]);
    assert_eq!(hash_of(s.clone()).await, "$argon2id$first");
}

async fn a_consumed_emailed_token_is_recorded_with_its_effect_and_a_refused_one_leaves_no_record(
    b: Backend,
) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let u = s
        .insert_user(&new_user("tok@example.com", None), None, None, None)
        .await
        .unwrap();
    let other = s
        .insert_user(&new_user("new@example.com", None), None, None, None)
        .await
        .unwrap();
    // Refused: another purpose, then expired; nothing recorded.
    let (token, record) = email_token_record(u.id, TokenPurpose::VerifyEmail);
    s.issue_email_token(&record, false, &[]).await.unwrap();
    let verified = event(AuditKind::EmailVerified, Some(u.id));
    let reset = TokenEffect::ResetPassword {
        password_hash: "$argon2id$reset".into(),
    };
    assert!(!s
        .consume_email_token(&token.hash(), u.id, now(), &reset, &[], Some(&verified))
        .await
        .unwrap());
    let late = record.expires_at + chrono::Duration::seconds(1);
    assert!(!s
        .consume_email_token(
            &token.hash(),
            u.id,
            late,
            &TokenEffect::VerifyEmail,
            &[],
            Some(&verified)
        )
        .await
        .unwrap());
    assert!(trail(s.as_ref(), u.id).await.is_empty());
    // Consumed: the row comes with the effect.
    assert!(s
        .consume_email_token(
            &token.hash(),
            u.id,
            now(),
            &TokenEffect::VerifyEmail,
            &[],
            Some(&verified)
        )
        .await
        .unwrap());
    assert_eq!(trail(s.as_ref(), u.id).await, ["email.verified"]);
    // An email change that collides with another account fails: no email_change.confirmed row.
    let (token, record) = email_token_record(u.id, TokenPurpose::ChangeEmail);
    s.issue_email_token(&record, false, &[]).await.unwrap();
    let e = s
        .consume_email_token(
            &token.hash(),
            u.id,
            now(),
            &TokenEffect::ChangeEmail {
                new_email: Email::parse("new@example.com").unwrap(),
            },
            &[],
            Some(&event(AuditKind::EmailChangeConfirmed, Some(u.id))),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(Conflict::Email)), "{e:?}");
    assert_eq!(trail(s.as_ref(), u.id).await, ["email.verified"]);
    assert!(trail(s.as_ref(), other.id).await.is_empty());
}

/// The admin list's `locked` filter at `at`: the ids it returns, in order.
async fn locked_ids(s: &dyn Store, locked: bool, at: chrono::DateTime<chrono::Utc>) -> Vec<UserId> {
    let q = UserQuery {
        filter: UserFilter {
            locked: Some(locked),
            ..UserFilter::default()
        },
        after: None,
        limit: 10,
        now: at,
    };
    s.list_users(&q)
        .await
        .unwrap()
        .iter()
        .map(|u| u.id)
        .collect()
}

async fn only_a_paused_account_key_lists_its_account_as_locked(b: Backend) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let (a, r, c) = (
        new_user("a@example.com", None),
        new_user("r@example.com", None),
        new_user("c@example.com", None),
    );
    for u in [&a, &r, &c] {
        s.insert_user(u, None, None, None).await.unwrap();
    }
    let t = now();
    let until = t + chrono::Duration::minutes(5);
    // Paused: the account's shared key, a re-entry key and a name key.
    for key in [
        LockoutKey::Account(a.id),
        LockoutKey::Reauth(r.id),
        LockoutKey::Name("c@example.com".into()),
    ] {
        s.record_login_failure(&key, t).await.unwrap();
        s.lock_login(&key, until).await.unwrap();
    }
    // Counted but not paused.
    s.record_login_failure(&LockoutKey::Account(c.id), t)
        .await
        .unwrap();

    assert_eq!(locked_ids(s.as_ref(), true, t).await, vec![a.id]);
    assert_eq!(locked_ids(s.as_ref(), false, t).await, vec![r.id, c.id]);
    assert!(
        locked_ids(s.as_ref(), true, until).await.is_empty(),
        "a pause that has ended is not a lock"
    );
    s.clear_login_failures(&LockoutKey::Account(a.id))
        .await
        .unwrap();
    assert!(locked_ids(s.as_ref(), true, t).await.is_empty());
}

async fn a_pause_stored_before_the_account_column_existed_still_lists_its_account(b: Backend) {
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let a = new_user("a@example.com", None);
    s.insert_user(&a, None, None, None).await.unwrap();
    s.insert_user(&new_user("b@example.com", None), None, None, None)
        .await
        .unwrap();
    let migrations = Database::connect(&db.url, 1).await.unwrap();
    // Back to the schema before `login_throttle.account_id`, with a paused account key written
    // the way that version wrote it.
    migrations.migrate_down(Some(4)).await.unwrap();
    let t = now();
    let hex = a.id.as_uuid().simple();
    let (at, until) = match b {
        Backend::Sqlite => (
            t.timestamp_millis().to_string(),
            (t + chrono::Duration::hours(1))
                .timestamp_millis()
                .to_string(),
        ),
        Backend::Postgres => ("now()".to_owned(), "now() + interval '1 hour'".to_owned()),
    };
    db.exec(&format!(
        "INSERT INTO login_throttle (throttle_key, failures, last_failure_at, locked_until) \
         VALUES ('user:{hex}', 5, {at}, {until})"
    ))
    .await;
    migrations.migrate_up().await.unwrap();
    assert_eq!(locked_ids(s.as_ref(), true, t).await, vec![a.id]);
}

/// Two uses of one passkey checked against the same stored counter (a cloned authenticator
/// racing the original) cannot both be recorded: the update is conditional on the credential it
/// was checked against.
async fn a_passkey_use_is_recorded_only_against_the_credential_it_was_checked_with(b: Backend) {
    use sesame_domain::mfa::{FactorId, FactorName};
    use sesame_domain::store::{FactorSecret, NewFactor};
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let user = new_user("pk@example.com", None);
    s.insert_user(&user, None, None, None).await.unwrap();
    let id = FactorId::new();
    s.insert_factor(
        &NewFactor {
            id,
            user_id: user.id,
            name: FactorName::parse("Key").unwrap(),
            created_at: now(),
            secret: FactorSecret::Passkey {
                credential_id: vec![1, 2, 3],
                credential: "counter 1".into(),
            },
        },
        true,
        None,
        None,
    )
    .await
    .unwrap();
    assert!(s
        .passkey_used(id, "counter 1", "counter 2", now())
        .await
        .unwrap());
    // The racing use read counter 1 too: refused, and counter 2 stays.
    assert!(!s
        .passkey_used(id, "counter 1", "counter 2 (clone)", now())
        .await
        .unwrap());
    let stored = s.passkey_by_credential(&[1, 2, 3]).await.unwrap().unwrap();
    assert_eq!(stored.credential, "counter 2");
}

/// A client comes back as it was stored, field for field; a settings change keeps the secret;
/// a new secret changes only the secret, and only a confidential client's; an unknown client is
/// neither changed nor deleted, and leaves no audit event.
async fn a_client_round_trips_and_each_change_touches_only_its_part(b: Backend) {
    use sesame_domain::client::{
        ClientId, ClientInput, ClientKind, ClientSecret, IdTokenAlg, OAuthClient,
    };
    use std::time::Duration;
    let db = TestDb::new(b).await;
    let s = store(&db).await;
    let settings = ClientInput {
        name: "Shop".into(),
        redirect_uris: vec![
            "https://shop.example/cb".into(),
            "com.example.shop:/cb".into(),
        ],
        post_logout_redirect_uris: vec!["https://shop.example/".into()],
        grants: Some(vec!["authorization_code".into(), "refresh_token".into()]),
        scopes: Some(vec!["openid".into(), "email".into()]),
        first_party: true,
        access_token_ttl: Some(600),
        refresh_token_ttl: Some(86_400),
        id_token_alg: Some("EdDSA".into()),
    }
    .parse()
    .unwrap();
    let secret = ClientSecret::generate();
    let t = now();
    let client = OAuthClient {
        id: ClientId::new(),
        kind: ClientKind::Confidential,
        settings,
        secret_hash: Some(secret.hash()),
        created_at: t,
        updated_at: t,
    };
    let event = |kind| {
        AuditEvent::new(
            kind,
            None,
            &ClientInfo::default(),
            serde_json::json!({}),
            now(),
        )
    };
    s.insert_client(&client, &event(AuditKind::AdminClientCreated))
        .await
        .unwrap();
    let back = s.client(client.id).await.unwrap().unwrap();
    let st = &back.settings;
    assert_eq!(back.kind, ClientKind::Confidential);
    assert_eq!(st.name.as_str(), "Shop");
    assert_eq!(st.redirect_uris, client.settings.redirect_uris);
    assert_eq!(
        st.post_logout_redirect_uris,
        client.settings.post_logout_redirect_uris
    );
    assert_eq!(st.grants, client.settings.grants);
    assert_eq!(st.scopes, client.settings.scopes);
    assert!(st.first_party);
    assert_eq!(st.access_token_ttl, Some(Duration::from_secs(600)));
    assert_eq!(st.refresh_token_ttl, Some(Duration::from_secs(86_400)));
    assert_eq!(st.id_token_alg, IdTokenAlg::EdDsa);
    assert!(back.secret_hash.as_ref().unwrap().verifies(secret.reveal()));

    let mut changed = client.settings.clone();
    changed.first_party = false;
    changed.access_token_ttl = None;
    assert!(s
        .update_client(
            client.id,
            &changed,
            now(),
            &event(AuditKind::AdminClientUpdated)
        )
        .await
        .unwrap());
    let back = s.client(client.id).await.unwrap().unwrap();
    assert!(!back.settings.first_party);
    assert_eq!(back.settings.access_token_ttl, None);
    assert!(
        back.secret_hash.as_ref().unwrap().verifies(secret.reveal()),
        "the secret stays"
    );

    let new = ClientSecret::generate();
    assert!(s
        .set_client_secret(
            client.id,
            &new.hash(),
            now(),
            &event(AuditKind::AdminClientSecretRotated)
        )
        .await
        .unwrap());
    let back = s.client(client.id).await.unwrap().unwrap();
    assert!(back.secret_hash.as_ref().unwrap().verifies(new.reveal()));
    assert!(!back.secret_hash.as_ref().unwrap().verifies(secret.reveal()));
    assert!(!back.settings.first_party, "the settings stay");

    let unknown = ClientId::new();
    assert!(!s
        .update_client(
            unknown,
            &changed,
            now(),
            &event(AuditKind::AdminClientUpdated)
        )
        .await
        .unwrap());
    assert!(!s
        .set_client_secret(
            unknown,
            &new.hash(),
            now(),
            &event(AuditKind::AdminClientSecretRotated)
        )
        .await
        .unwrap());
    assert!(!s
        .delete_client(unknown, &event(AuditKind::AdminClientDeleted))
        .await
        .unwrap());
    assert_eq!(
        db.count("audit_events").await,
        3,
        "one event per change made"
    );

    // A public client has no secret to replace.
    let public = OAuthClient {
        id: ClientId::new(),
        kind: ClientKind::Public,
        secret_hash: None,
        ..client.clone()
    };
    s.insert_client(&public, &event(AuditKind::AdminClientCreated))
        .await
        .unwrap();
    assert!(!s
        .set_client_secret(
            public.id,
            &new.hash(),
            now(),
            &event(AuditKind::AdminClientSecretRotated)
        )
        .await
        .unwrap());
    assert!(s
        .client(public.id)
        .await
        .unwrap()
        .unwrap()
        .secret_hash
        .is_none());
    assert!(s
        .delete_client(client.id, &event(AuditKind::AdminClientDeleted))
        .await
        .unwrap());
    assert_eq!(s.list_clients().await.unwrap().len(), 1);
}

crate::on_every_backend!(
    a_client_round_trips_and_each_change_touches_only_its_part,
    a_passkey_use_is_recorded_only_against_the_credential_it_was_checked_with,
    a_users_locale_is_stored_and_changed_only_by_a_patch_naming_it,
    queued_mail_keeps_its_language_and_mail_from_before_languages_has_none,
    only_a_paused_account_key_lists_its_account_as_locked,
    a_pause_stored_before_the_account_column_existed_still_lists_its_account,
    duplicates_are_reported_as_the_conflict_they_are,
    a_registration_is_recorded_with_the_account_and_a_refused_one_leaves_no_record,
    a_password_change_is_recorded_with_the_change_and_a_failed_one_leaves_no_record,
    a_consumed_emailed_token_is_recorded_with_its_effect_and_a_refused_one_leaves_no_record,
    users_are_found_by_normalized_email_or_username,
    a_profile_patch_changes_only_what_it_names,
    a_refresh_token_is_consumed_exactly_once_under_concurrency,
    concurrent_rotations_of_many_sessions_each_learn_their_own_outcome,
    a_failing_rotation_neither_fails_nor_half_applies_its_neighbours,
    a_revoked_session_no_longer_authenticates_or_rotates,
    an_expired_session_no_longer_authenticates,
    exactly_one_primary_signing_key_is_stored,
    a_secret_is_replaced_only_while_its_key_id_is_the_one_read,
    an_expired_session_cannot_rotate,
    an_emailed_token_is_consumed_only_unexpired_and_for_its_own_purpose,
    a_delivered_mail_keeps_no_earlier_error,
    queued_mail_is_claimed_as_its_typed_message_and_a_row_missing_a_field_dies_naming_it,
    a_claimed_mail_is_taken_over_only_once_its_lease_has_ended,
);
