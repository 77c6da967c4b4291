//! Registered OAuth / OpenID Connect clients (issue 14), for both backends: like `sql_store.rs`,
//! which includes it, this file is compiled once per backend. Every change writes its audit event
//! in the same transaction. Redirect URIs are stored as a JSON array, grants and scopes as the
//! space-delimited words the protocol uses; only values the domain parsed are written.

use super::{insert_audit, store_err, Backend, DbRow, Dialect};
use crate::storage::pool;
use async_trait::async_trait;
use sesame_domain::audit::AuditEvent;
use sesame_domain::client::{
    ClientId, ClientKind, ClientName, ClientSecretHash, ClientSettings, GrantType, IdTokenAlg,
    OAuthClient, RedirectUri, Scope,
};
use sesame_domain::clock::Timestamp;
use sesame_domain::store::ClientStore;
use sesame_domain::StoreError;
use sqlx::Row;
use std::time::Duration;

const CLIENT_COLS: &str = "id, name, kind, secret_hash, redirect_uris, post_logout_redirect_uris, \
    grants, scopes, first_party, access_token_ttl_secs, refresh_token_ttl_secs, id_token_alg, \
    created_at, updated_at";

fn decode(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("unknown {what} `{value}` in oauth_clients").into())
}

fn uris(json: &str) -> Result<Vec<RedirectUri>, sqlx::Error> {
    let list: Vec<String> =
        serde_json::from_str(json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(list.into_iter().map(RedirectUri::from_stored).collect())
}

fn uris_json(list: &[RedirectUri]) -> String {
    serde_json::Value::from(list.iter().map(RedirectUri::as_str).collect::<Vec<_>>()).to_string()
}

fn words<T>(s: &str, what: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, sqlx::Error> {
    s.split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| parse(w).ok_or_else(|| decode(what, w)))
        .collect()
}

fn ttl(secs: Option<i64>) -> Option<Duration> {
    secs.and_then(|s| u64::try_from(s).ok())
        .map(Duration::from_secs)
}

fn ttl_secs(d: Option<Duration>) -> Option<i64> {
    d.and_then(|d| i64::try_from(d.as_secs()).ok())
}

fn client_from_row(r: &DbRow) -> Result<OAuthClient, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    let alg: String = r.try_get("id_token_alg")?;
    let secret: Option<Vec<u8>> = r.try_get("secret_hash")?;
    Ok(OAuthClient {
        id: ClientId::from_uuid(r.try_get("id")?),
        kind: ClientKind::parse(&kind).ok_or_else(|| decode("client kind", &kind))?,
        settings: ClientSettings {
            name: ClientName::from_stored(r.try_get("name")?),
            redirect_uris: uris(&r.try_get::<String, _>("redirect_uris")?)?,
            post_logout_redirect_uris: uris(&r.try_get::<String, _>("post_logout_redirect_uris")?)?,
            grants: words(
                &r.try_get::<String, _>("grants")?,
                "grant",
                GrantType::parse,
            )?,
            scopes: words(&r.try_get::<String, _>("scopes")?, "scope", Scope::parse)?,
            first_party: r.try_get("first_party")?,
            access_token_ttl: ttl(r.try_get("access_token_ttl_secs")?),
            refresh_token_ttl: ttl(r.try_get("refresh_token_ttl_secs")?),
            id_token_alg: IdTokenAlg::parse(&alg).ok_or_else(|| decode("algorithm", &alg))?,
        },
        secret_hash: match secret {
            Some(b) => Some(
                ClientSecretHash::from_stored(&b)
                    .ok_or_else(|| decode("secret hash of length", &b.len().to_string()))?,
            ),
            None => None,
        },
        created_at: Dialect::read_time(r.try_get("created_at")?)?,
        updated_at: Dialect::read_time(r.try_get("updated_at")?)?,
    })
}

/// Ends a change of `changed` rows: nothing to record when no client was changed (the
/// transaction rolls back as it drops), else its audit event, then the commit.
async fn audited(
    mut tx: sqlx::Transaction<'static, super::Db>,
    changed: u64,
    audit: &AuditEvent,
) -> Result<bool, StoreError> {
    if changed == 0 {
        return Ok(false);
    }
    insert_audit(&mut tx, audit).await?;
    tx.commit().await.map_err(store_err)?;
    Ok(true)
}

fn grant_words(g: &[GrantType]) -> String {
    g.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(" ")
}

#[async_trait]
impl ClientStore for Backend {
    async fn list_clients(&self) -> Result<Vec<OAuthClient>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLS} FROM oauth_clients ORDER BY id");
        sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .and_then(|rows| rows.iter().map(client_from_row).collect())
            .map_err(store_err)
    }

    async fn client(&self, id: ClientId) -> Result<Option<OAuthClient>, StoreError> {
        let sql = format!("SELECT {CLIENT_COLS} FROM oauth_clients WHERE id = $1");
        sqlx::query(&sql)
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .and_then(|row| row.as_ref().map(client_from_row).transpose())
            .map_err(store_err)
    }

    async fn insert_client(&self, c: &OAuthClient, audit: &AuditEvent) -> Result<(), StoreError> {
        let s = &c.settings;
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        sqlx::query(
            "INSERT INTO oauth_clients (id, name, kind, secret_hash, redirect_uris, \
             post_logout_redirect_uris, grants, scopes, first_party, access_token_ttl_secs, \
             refresh_token_ttl_secs, id_token_alg, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(c.id.as_uuid())
        .bind(s.name.as_str())
        .bind(c.kind.as_str())
        .bind(c.secret_hash.as_ref().map(|h| h.as_bytes().to_vec()))
        .bind(uris_json(&s.redirect_uris))
        .bind(uris_json(&s.post_logout_redirect_uris))
        .bind(grant_words(&s.grants))
        .bind(Scope::join(&s.scopes))
        .bind(s.first_party)
        .bind(ttl_secs(s.access_token_ttl))
        .bind(ttl_secs(s.refresh_token_ttl))
        .bind(s.id_token_alg.as_str())
        .bind(Dialect::time(c.created_at))
        .bind(Dialect::time(c.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(store_err)
    }

    async fn update_client(
        &self,
        id: ClientId,
        s: &ClientSettings,
        now: Timestamp,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        let n = sqlx::query(
            "UPDATE oauth_clients SET name = $2, redirect_uris = $3, post_logout_redirect_uris = $4, \
             grants = $5, scopes = $6, first_party = $7, access_token_ttl_secs = $8, \
             refresh_token_ttl_secs = $9, id_token_alg = $10, updated_at = $11 WHERE id = $1",
        )
        .bind(id.as_uuid())
        .bind(s.name.as_str())
        .bind(uris_json(&s.redirect_uris))
        .bind(uris_json(&s.post_logout_redirect_uris))
        .bind(grant_words(&s.grants))
        .bind(Scope::join(&s.scopes))
        .bind(s.first_party)
        .bind(ttl_secs(s.access_token_ttl))
        .bind(ttl_secs(s.refresh_token_ttl))
        .bind(s.id_token_alg.as_str())
        .bind(Dialect::time(now))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?
        .rows_affected();
        audited(tx, n, audit).await
    }

    async fn set_client_secret(
        &self,
        id: ClientId,
        secret: &ClientSecretHash,
        now: Timestamp,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        let n = sqlx::query(
            "UPDATE oauth_clients SET secret_hash = $2, updated_at = $3 \
             WHERE id = $1 AND kind = 'confidential'",
        )
        .bind(id.as_uuid())
        .bind(secret.as_bytes().to_vec())
        .bind(Dialect::time(now))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?
        .rows_affected();
        audited(tx, n, audit).await
    }

    async fn delete_client(&self, id: ClientId, audit: &AuditEvent) -> Result<bool, StoreError> {
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        // The client's sessions end with it (`sessions.client_id` has no foreign key).
        sqlx::query(
            "UPDATE sessions SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL",
        )
        .bind(id.as_uuid())
        .bind(Dialect::time(audit.at))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        let n = sqlx::query("DELETE FROM oauth_clients WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(store_err)?
            .rows_affected();
        audited(tx, n, audit).await
    }
}
