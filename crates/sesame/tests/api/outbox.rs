//! The outbox across nodes: two workers delivering one outbox (two stores on one database, as
//! two server processes would be) send every message exactly once.
//!
//! What a crashed node leaves behind (a claimed message nobody reports on) is in the store
//! contract (`a_claimed_mail_is_taken_over_only_once_its_lease_has_ended`); the delivery
//! outcomes through a real SMTP server are in `email.rs`.

use crate::helpers::{Backend, TestDb};
use async_trait::async_trait;
use sesame::storage::Database;
use sesame_domain::mail::{
    DeliveryError, MailTransport, OutboundMail, PasswordChanged, QueuedMail,
};
use sesame_domain::outbox::{OutboxSettings, OutboxWorker};
use sesame_domain::store::Store;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

async fn node(db: &TestDb) -> Arc<dyn Store> {
    let d = Database::connect(&db.url, 5).await.unwrap();
    d.migrate_up().await.unwrap();
    d.into_store()
}

/// Records every delivery, by message id and node; each send takes a moment, as SMTP would,
/// so the two nodes' claims overlap.
struct Recorder {
    node: &'static str,
    sent: Arc<Mutex<Vec<(uuid::Uuid, &'static str)>>>,
}

#[async_trait]
impl MailTransport for Recorder {
    async fn send(&self, mail: &QueuedMail) -> Result<(), DeliveryError> {
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.sent.lock().unwrap().push((mail.id, self.node));
        Ok(())
    }
}

fn worker(
    store: Arc<dyn Store>,
    node: &'static str,
    sent: &Arc<Mutex<Vec<(uuid::Uuid, &'static str)>>>,
) -> OutboxWorker {
    OutboxWorker::new(
        store,
        Arc::new(Recorder {
            node,
            sent: Arc::clone(sent),
        }),
        Arc::new(Notify::new()),
        OutboxSettings {
            poll_interval: Duration::from_millis(5),
            base_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(10),
            max_attempts: 3,
            lease: Duration::from_secs(60),
            batch: 5,
        },
    )
}

async fn two_nodes_delivering_one_outbox_send_each_message_exactly_once(b: Backend) {
    const MAILS: usize = 120;
    let db = TestDb::new(b).await;
    let (a, c) = (node(&db).await, node(&db).await);
    let mails: Vec<OutboundMail> = (0..MAILS)
        .map(|i| {
            let to = format!("user{i}@example.com");
            OutboundMail::new(
                None,
                &to,
                sesame_domain::locale::Locale::En,
                PasswordChanged { email: to.clone() },
                sesame_domain::clock::now(),
            )
        })
        .collect();
    a.enqueue_mail(&mails).await.unwrap();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let (wa, wc) = (worker(a, "a", &sent), worker(c, "c", &sent));
    // Both nodes drain the outbox at once, batch after batch, until neither finds due mail.
    let drain = |w: OutboxWorker| async move {
        let mut total = 0;
        loop {
            match w.deliver_due().await.unwrap() {
                0 => return total,
                n => total += n,
            }
        }
    };
    let (na, nc) = tokio::join!(drain(wa), drain(wc));
    let sent = sent.lock().unwrap().clone();
    let mut per_id: BTreeMap<uuid::Uuid, Vec<&str>> = BTreeMap::new();
    for (id, who) in &sent {
        per_id.entry(*id).or_default().push(who);
    }
    let twice: Vec<_> = per_id.iter().filter(|(_, w)| w.len() > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    assert_eq!(per_id.len(), MAILS, "every message was sent");
    assert_eq!(na + nc, MAILS, "attempts: node a {na}, node c {nc}");
    assert_eq!(
        db.text(
            "SELECT CAST(COUNT(*) AS TEXT) FROM mail_outbox WHERE status = 'sent' AND attempts = 1"
        )
        .await
        .as_deref(),
        Some(MAILS.to_string().as_str())
    );
}

crate::on_every_backend!(two_nodes_delivering_one_outbox_send_each_message_exactly_once);
