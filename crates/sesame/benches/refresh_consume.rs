//! Micro-benchmark of the refresh-token consume path against a real SQLite store (a temporary
//! file, migrated): `rotate_refresh_token` alone (the one conditional update plus the successor's
//! insert and the session slide, in one transaction), and the state lookup followed by the
//! rotation, which is what `SignIn::refresh` asks of the store per request.
//! `cargo bench -p sesame --bench refresh_consume`.
//!
//! Each iteration consumes the current token of one long chain, as a client refreshing would.

use criterion::{criterion_group, criterion_main, Criterion};
use sesame::storage::Database;
use sesame_domain::clock::now;
use sesame_domain::model::{Email, NewUser, Session, SessionId, UserId};
use sesame_domain::store::{NewSession, Store};
use sesame_domain::token::{random_secret, RefreshToken};
use std::sync::Arc;

struct Chain {
    store: Arc<dyn Store>,
    session: SessionId,
    secret: Vec<u8>,
    current: RefreshToken,
}

impl Chain {
    async fn open(url: &str) -> Self {
        let db = Database::connect(url, 4).await.expect("open the database");
        db.migrate_up().await.expect("migrate");
        let store = db.into_store();
        let t = now();
        let user = store
            .insert_user(
                &NewUser {
                    id: UserId::new(),
                    email: Email::parse("bench@example.com").expect("a valid address"),
                    username: None,
                    display_name: None,
                    password_hash:
                        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
                    email_verified: true,
                    roles: Vec::new(),
                    locale: sesame_domain::locale::Locale::En,
                    now: t,
                },
                None,
                None,
                None,
            )
            .await
            .expect("insert a user");
        let session = Session {
            id: SessionId::new(),
            user_id: user.id,
            created_at: t,
            last_used_at: t,
            expires_at: t + chrono::Duration::days(30),
            revoked_at: None,
            ip: Some("127.0.0.1".into()),
            user_agent: Some("criterion".into()),
            auth_time: t,
            amr: sesame_domain::mfa::Amr::password(),
        };
        let (secret, current) = (random_secret(), RefreshToken::generate());
        store
            .create_session(&NewSession {
                session: session.clone(),
                kind: sesame_domain::store::SessionKind::Api,
                refresh_secret: secret.clone(),
                first_refresh_hash: current.hash(),
                audit: None,
            })
            .await
            .expect("open a session");
        Self {
            store,
            session: session.id,
            secret,
            current,
        }
    }

    /// Consumes the current token and moves to its successor; with `lookup`, reads the token's
    /// state first as the service does.
    async fn step(&mut self, lookup: bool) {
        let hash = self.current.hash();
        if lookup {
            let state = self
                .store
                .refresh_token_state(&hash)
                .await
                .expect("read the token")
                .expect("the token exists");
            assert!(state.used_at.is_none());
        }
        let next = self.current.successor(&self.secret);
        let t = now();
        let rotated = self
            .store
            .rotate_refresh_token(
                &hash,
                &next.hash(),
                self.session,
                t,
                t + chrono::Duration::days(30),
            )
            .await
            .expect("rotate");
        assert!(rotated, "a live token rotates");
        self.current = next;
    }
}

fn refresh_consume(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = std::env::temp_dir().join(format!("sesame-criterion-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let mut chain = runtime.block_on(Chain::open(&url));
    let mut g = c.benchmark_group("refresh_consume_sqlite");
    g.bench_function("rotate_refresh_token", |b| {
        b.iter(|| runtime.block_on(chain.step(false)));
    });
    g.bench_function("state_then_rotate", |b| {
        b.iter(|| runtime.block_on(chain.step(true)));
    });
    g.finish();
    drop(chain);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, refresh_consume);
criterion_main!(benches);
