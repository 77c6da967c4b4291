//! The OpenID Connect provider's records (migration 0010), for both backends: like
//! `sql_store.rs`, which includes it, this file is compiled once per backend. Authorization codes
//! are kept only as SHA-256 hashes; redeeming one and opening the session it issues are one
//! transaction decided by one conditional update. Consent is one row per user and client.

use super::{insert_audit, store_err, Backend, DbRow, Dialect};
use crate::storage::pool;
use async_trait::async_trait;
use sesame_domain::client::{ClientId, Scope};
use sesame_domain::clock::Timestamp;
use sesame_domain::mfa::Amr;
use sesame_domain::model::{SessionId, UserId};
use sesame_domain::oidc::{AuthCode, Consent};
use sesame_domain::store::{NewSession, ProviderStore};
use sesame_domain::token::TokenHash;
use sesame_domain::StoreError;
use sqlx::Row;

const CODE_COLS: &str =
    "code_hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, \
    auth_time, amr, created_at, expires_at, used_at, issued_session";

fn scopes(words: &str) -> Result<Vec<Scope>, sqlx::Error> {
    Scope::parse_list(words, "scope").map_err(|e| sqlx::Error::Decode(e.to_string().into()))
}

fn code_from_row(r: &DbRow) -> Result<AuthCode, sqlx::Error> {
    let hash: Vec<u8> = r.try_get("code_hash")?;
    let hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| sqlx::Error::Decode("a code hash that is not 32 bytes".into()))?;
    Ok(AuthCode {
        hash: TokenHash(hash),
        client_id: ClientId::from_uuid(r.try_get("client_id")?),
        user_id: UserId::from_uuid(r.try_get("user_id")?),
        redirect_uri: r.try_get("redirect_uri")?,
        scopes: scopes(&r.try_get::<String, _>("scope")?)?,
        nonce: r.try_get("nonce")?,
        code_challenge: r.try_get("code_challenge")?,
        auth_time: Dialect::read_time(r.try_get("auth_time")?)?,
        amr: Amr::from_stored(r.try_get::<&str, _>("amr")?),
        created_at: Dialect::read_time(r.try_get("created_at")?)?,
        expires_at: Dialect::read_time(r.try_get("expires_at")?)?,
        used_at: Dialect::read_opt_time(r.try_get("used_at")?)?,
        issued_session: r
            .try_get::<Option<uuid::Uuid>, _>("issued_session")?
            .map(SessionId::from_uuid),
    })
}

#[async_trait]
impl ProviderStore for Backend {
    async fn insert_code(&self, c: &AuthCode) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO authorization_codes ({CODE_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL)"
        );
        sqlx::query(&sql)
            .bind(c.hash.0.as_slice())
            .bind(c.client_id.as_uuid())
            .bind(c.user_id.as_uuid())
            .bind(&c.redirect_uri)
            .bind(Scope::join(&c.scopes))
            .bind(&c.nonce)
            .bind(&c.code_challenge)
            .bind(Dialect::time(c.auth_time))
            .bind(c.amr.stored())
            .bind(Dialect::time(c.created_at))
            .bind(Dialect::time(c.expires_at))
            .execute(&self.writer)
            .await
            .map(|_| ())
            .map_err(store_err)
    }

    async fn code(&self, hash: &TokenHash) -> Result<Option<AuthCode>, StoreError> {
        let sql = format!("SELECT {CODE_COLS} FROM authorization_codes WHERE code_hash = $1");
        sqlx::query(&sql)
            .bind(hash.0.as_slice())
            .fetch_optional(&self.pool)
            .await
            .and_then(|row| row.as_ref().map(code_from_row).transpose())
            .map_err(store_err)
    }

    async fn burn_code(&self, hash: &TokenHash, now: Timestamp) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE authorization_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL",
        )
        .bind(hash.0.as_slice())
        .bind(Dialect::time(now))
        .execute(&self.writer)
        .await
        .map(|_| ())
        .map_err(store_err)
    }

    async fn redeem_code(
        &self,
        hash: &TokenHash,
        now: Timestamp,
        new: &NewSession,
    ) -> Result<bool, StoreError> {
        let s = &new.session;
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        let claimed = sqlx::query(
            "UPDATE authorization_codes SET used_at = $2 \
             WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(hash.0.as_slice())
        .bind(Dialect::time(now))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?
        .rows_affected();
        if claimed != 1 {
            // Dropping the transaction rolls it back: nothing was written.
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO sessions (id, user_id, refresh_secret, created_at, last_used_at, expires_at, \
             ip, user_agent, auth_time, amr, kind, client_id, scope) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(s.id.as_uuid())
        .bind(s.user_id.as_uuid())
        .bind(&new.refresh_secret)
        .bind(Dialect::time(s.created_at))
        .bind(Dialect::time(s.expires_at))
        .bind(&s.ip)
        .bind(&s.user_agent)
        .bind(Dialect::time(s.auth_time))
        .bind(s.amr.stored())
        .bind(new.kind.as_str())
        .bind(new.kind.grant().map(|g| g.client_id.as_uuid()))
        .bind(new.kind.grant().map(|g| Scope::join(&g.scopes)))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(new.first_refresh_hash.0.as_slice())
        .bind(s.id.as_uuid())
        .bind(Dialect::time(s.created_at))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        sqlx::query("UPDATE authorization_codes SET issued_session = $2 WHERE code_hash = $1")
            .bind(hash.0.as_slice())
            .bind(s.id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        if let Some(audit) = &new.audit {
            insert_audit(&mut tx, audit).await?;
        }
        tx.commit().await.map_err(store_err)?;
        Ok(true)
    }

    async fn prune_codes(&self, before: Timestamp) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM authorization_codes WHERE expires_at < $1")
            .bind(Dialect::time(before))
            .execute(&self.writer)
            .await
            .map(|r| r.rows_affected())
            .map_err(store_err)
    }

    async fn consent(&self, user: UserId, client: ClientId) -> Result<Option<Consent>, StoreError> {
        sqlx::query("SELECT scope, granted_at FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user.as_uuid())
            .bind(client.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .and_then(|row| {
                row.map(|r| {
                    Ok(Consent {
                        user_id: user,
                        client_id: client,
                        scopes: scopes(&r.try_get::<String, _>("scope")?)?,
                        granted_at: Dialect::read_time(r.try_get("granted_at")?)?,
                    })
                })
                .transpose()
            })
            .map_err(store_err)
    }

    async fn user_consents(&self, user: UserId) -> Result<Vec<(Consent, String)>, StoreError> {
        sqlx::query(
            "SELECT c.client_id, c.scope, c.granted_at, o.name FROM consents c \
             JOIN oauth_clients o ON o.id = c.client_id WHERE c.user_id = $1 \
             ORDER BY c.granted_at DESC, c.client_id",
        )
        .bind(user.as_uuid())
        .fetch_all(&self.pool)
        .await
        .and_then(|rows| {
            rows.iter()
                .map(|r| {
                    Ok((
                        Consent {
                            user_id: user,
                            client_id: ClientId::from_uuid(r.try_get("client_id")?),
                            scopes: scopes(&r.try_get::<String, _>("scope")?)?,
                            granted_at: Dialect::read_time(r.try_get("granted_at")?)?,
                        },
                        r.try_get("name")?,
                    ))
                })
                .collect()
        })
        .map_err(store_err)
    }

    async fn revoke_consent(
        &self,
        user: UserId,
        client: ClientId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        let consents = sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user.as_uuid())
            .bind(client.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(store_err)?
            .rows_affected();
        // Codes issued in the last minute must not open a session after the withdrawal.
        sqlx::query(
            "DELETE FROM authorization_codes WHERE user_id = $1 AND client_id = $2 AND used_at IS NULL",
        )
        .bind(user.as_uuid())
        .bind(client.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        let sessions = sqlx::query(
            "UPDATE sessions SET revoked_at = $3 \
             WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL",
        )
        .bind(user.as_uuid())
        .bind(client.as_uuid())
        .bind(Dialect::time(now))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?
        .rows_affected();
        tx.commit().await.map_err(store_err)?;
        Ok(consents + sessions > 0)
    }

    async fn grant_consent(&self, c: &Consent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
        )
        .bind(c.user_id.as_uuid())
        .bind(c.client_id.as_uuid())
        .bind(Scope::join(&c.scopes))
        .bind(Dialect::time(c.granted_at))
        .execute(&self.writer)
        .await
        .map(|_| ())
        .map_err(store_err)
    }
}
