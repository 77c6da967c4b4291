//! Second factors, recovery codes and challenges (issue 13), for both backends: like
//! `sql_store.rs`, which includes it, this file is compiled once per backend. Every write that
//! adds, removes or uses a factor takes its mail and audit event into the same transaction, and
//! every "use once" rule (a TOTP step, a recovery code, a challenge) is one conditional update,
//! so concurrent nodes cannot both accept the same answer.

use super::{insert_audit, insert_mails, store_err, Backend, DbRow, Dialect};
use crate::storage::pool;
use async_trait::async_trait;
use sesame_domain::clock::Timestamp;
use sesame_domain::mfa::{Factor, FactorId, FactorKind, FactorName, RecoveryHash, TotpStep};
use sesame_domain::model::{SessionId, UserId};
use sesame_domain::store::{
    ChallengePurpose, ChallengeState, ChallengeStore, FactorEffects, FactorSecret, FactorStore,
    NewChallenge, NewFactor, PasskeyRecord, TotpRecord,
};
use sesame_domain::token::TokenHash;
use sesame_domain::StoreError;
use sqlx::Row;

const FACTOR_COLS: &str = "id, user_id, kind, name, created_at, confirmed_at, last_used_at";

fn factor_from_row(r: &DbRow) -> Result<Factor, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    Ok(Factor {
        id: FactorId::from_uuid(r.try_get("id")?),
        user_id: UserId::from_uuid(r.try_get("user_id")?),
        kind: FactorKind::parse(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown factor kind {kind}").into()))?,
        name: FactorName::from_stored(r.try_get("name")?),
        created_at: Dialect::read_time(r.try_get("created_at")?)?,
        confirmed_at: Dialect::read_opt_time(r.try_get("confirmed_at")?)?,
        last_used_at: Dialect::read_opt_time(r.try_get("last_used_at")?)?,
    })
}

fn totp_from_row(r: &DbRow) -> Result<TotpRecord, sqlx::Error> {
    Ok(TotpRecord {
        factor: factor_from_row(r)?,
        secret: sesame_domain::seal::Sealed {
            key_id: sesame_domain::seal::KeyId::from_stored(
                r.try_get::<Option<String>, _>("secret_key_id")?
                    .unwrap_or_default(),
            ),
            bytes: r
                .try_get::<Option<Vec<u8>>, _>("secret_sealed")?
                .unwrap_or_default(),
        },
        last_step: r.try_get::<Option<i64>, _>("totp_last_step")?.map(TotpStep),
    })
}

fn passkey_from_row(r: &DbRow) -> Result<PasskeyRecord, sqlx::Error> {
    Ok(PasskeyRecord {
        factor: factor_from_row(r)?,
        credential_id: r
            .try_get::<Option<Vec<u8>>, _>("credential_id")?
            .unwrap_or_default(),
        credential: r
            .try_get::<Option<String>, _>("credential")?
            .unwrap_or_default(),
    })
}

/// Writes a change's mail and audit event on `conn`.
async fn write_effects(conn: &mut super::Conn, fx: &FactorEffects) -> Result<(), StoreError> {
    insert_mails(conn, fx.mails.iter()).await?;
    insert_audit(conn, &fx.audit).await
}

/// Replaces the user's recovery codes on `conn`.
async fn write_recovery_codes(
    conn: &mut super::Conn,
    user: UserId,
    codes: &[RecoveryHash],
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user.as_uuid())
        .execute(&mut *conn)
        .await
        .map_err(store_err)?;
    for c in codes {
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user.as_uuid())
        .bind(c.0.as_slice())
        .bind(Dialect::time(now))
        .execute(&mut *conn)
        .await
        .map_err(store_err)?;
    }
    Ok(())
}

#[async_trait]
impl FactorStore for Backend {
    async fn user_factors(&self, user: UserId) -> Result<Vec<Factor>, StoreError> {
        let sql = format!("SELECT {FACTOR_COLS} FROM mfa_factors WHERE user_id = $1 ORDER BY id");
        sqlx::query(&sql)
            .bind(user.as_uuid())
            .fetch_all(&self.pool)
            .await
            .and_then(|rows| rows.iter().map(factor_from_row).collect())
            .map_err(store_err)
    }

    async fn insert_factor(
        &self,
        factor: &NewFactor,
        confirmed: bool,
        effects: Option<&FactorEffects>,
        recovery: Option<&[RecoveryHash]>,
    ) -> Result<(), StoreError> {
        let (sealed, key_id, cred_id, cred) = match &factor.secret {
            FactorSecret::Totp(s) => (
                Some(s.bytes.clone()),
                Some(s.key_id.as_str().to_owned()),
                None,
                None,
            ),
            FactorSecret::Passkey {
                credential_id,
                credential,
            } => (
                None,
                None,
                Some(credential_id.clone()),
                Some(credential.clone()),
            ),
        };
        let kind = match &factor.secret {
            FactorSecret::Totp(_) => FactorKind::Totp,
            FactorSecret::Passkey { .. } => FactorKind::Passkey,
        };
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        sqlx::query(
            "INSERT INTO mfa_factors (id, user_id, kind, name, secret_sealed, secret_key_id, \
             credential_id, credential, created_at, confirmed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(factor.id.as_uuid())
        .bind(factor.user_id.as_uuid())
        .bind(kind.as_str())
        .bind(factor.name.as_str())
        .bind(sealed)
        .bind(key_id)
        .bind(cred_id)
        .bind(cred)
        .bind(Dialect::time(factor.created_at))
        .bind(confirmed.then(|| Dialect::time(factor.created_at)))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        if let Some(codes) = recovery {
            write_recovery_codes(&mut tx, factor.user_id, codes, factor.created_at).await?;
        }
        if let Some(fx) = effects {
            write_effects(&mut tx, fx).await?;
        }
        tx.commit().await.map_err(store_err)
    }

    async fn totp_factor(
        &self,
        user: UserId,
        id: FactorId,
    ) -> Result<Option<TotpRecord>, StoreError> {
        let sql = format!(
            "SELECT {FACTOR_COLS}, secret_sealed, secret_key_id, totp_last_step FROM mfa_factors \
             WHERE user_id = $1 AND id = $2 AND kind = 'totp'"
        );
        sqlx::query(&sql)
            .bind(user.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .and_then(|r| r.as_ref().map(totp_from_row).transpose())
            .map_err(store_err)
    }

    async fn active_totp_factors(&self, user: UserId) -> Result<Vec<TotpRecord>, StoreError> {
        let sql = format!(
            "SELECT {FACTOR_COLS}, secret_sealed, secret_key_id, totp_last_step FROM mfa_factors \
             WHERE user_id = $1 AND kind = 'totp' AND confirmed_at IS NOT NULL ORDER BY id"
        );
        sqlx::query(&sql)
            .bind(user.as_uuid())
            .fetch_all(&self.pool)
            .await
            .and_then(|rows| rows.iter().map(totp_from_row).collect())
            .map_err(store_err)
    }

    async fn use_totp_step(
        &self,
        id: FactorId,
        step: TotpStep,
        now: Timestamp,
        confirm: Option<&FactorEffects>,
        recovery: Option<&[RecoveryHash]>,
    ) -> Result<bool, StoreError> {
        // RFC 6238 §5.2: a step is accepted once. The step only moves forward, in one
        // conditional update; confirming needs a pending factor, signing in an active one.
        let sql = if confirm.is_some() {
            "UPDATE mfa_factors SET totp_last_step = $1, last_used_at = $2, confirmed_at = $2 \
             WHERE id = $3 AND kind = 'totp' AND confirmed_at IS NULL \
             AND (totp_last_step IS NULL OR totp_last_step < $1)"
        } else {
            "UPDATE mfa_factors SET totp_last_step = $1, last_used_at = $2 \
             WHERE id = $3 AND kind = 'totp' AND confirmed_at IS NOT NULL \
             AND (totp_last_step IS NULL OR totp_last_step < $1)"
        };
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        let n = sqlx::query(sql)
            .bind(step.0)
            .bind(Dialect::time(now))
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(store_err)?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        if let Some(fx) = confirm {
            if let (Some(codes), Some(user)) = (recovery, fx.audit.user_id) {
                write_recovery_codes(&mut tx, user, codes, now).await?;
            }
            write_effects(&mut tx, fx).await?;
        }
        tx.commit().await.map_err(store_err)?;
        Ok(true)
    }

    async fn user_passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {FACTOR_COLS}, credential_id, credential FROM mfa_factors \
             WHERE user_id = $1 AND kind = 'passkey' ORDER BY id"
        );
        sqlx::query(&sql)
            .bind(user.as_uuid())
            .fetch_all(&self.pool)
            .await
            .and_then(|rows| rows.iter().map(passkey_from_row).collect())
            .map_err(store_err)
    }

    async fn passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {FACTOR_COLS}, credential_id, credential FROM mfa_factors \
             WHERE credential_id = $1 AND kind = 'passkey'"
        );
        sqlx::query(&sql)
            .bind(credential_id)
            .fetch_optional(&self.pool)
            .await
            .and_then(|r| r.as_ref().map(passkey_from_row).transpose())
            .map_err(store_err)
    }

    async fn passkey_used(
        &self,
        id: FactorId,
        previous: &str,
        credential: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        sqlx::query(
            "UPDATE mfa_factors SET credential = $1, last_used_at = $2 \
             WHERE id = $3 AND credential = $4",
        )
        .bind(credential)
        .bind(Dialect::time(now))
        .bind(id.as_uuid())
        .bind(previous)
        .execute(&self.writer)
        .await
        .map_err(store_err)
        .map(|r| r.rows_affected() == 1)
    }

    async fn rename_factor(
        &self,
        user: UserId,
        id: FactorId,
        name: &FactorName,
    ) -> Result<bool, StoreError> {
        sqlx::query("UPDATE mfa_factors SET name = $1 WHERE user_id = $2 AND id = $3")
            .bind(name.as_str())
            .bind(user.as_uuid())
            .bind(id.as_uuid())
            .execute(&self.writer)
            .await
            .map_err(store_err)
            .map(|r| r.rows_affected() > 0)
    }

    async fn delete_factors(
        &self,
        user: UserId,
        id: Option<FactorId>,
        effects: &FactorEffects,
    ) -> Result<u64, StoreError> {
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        let deleted = match id {
            Some(id) => sqlx::query("DELETE FROM mfa_factors WHERE user_id = $1 AND id = $2")
                .bind(user.as_uuid())
                .bind(id.as_uuid()),
            None => sqlx::query("DELETE FROM mfa_factors WHERE user_id = $1").bind(user.as_uuid()),
        }
        .execute(&mut *tx)
        .await
        .map_err(store_err)?
        .rows_affected();
        // Recovery codes stand in for a factor: with no active factor left they go too.
        sqlx::query(
            "DELETE FROM recovery_codes WHERE user_id = $1 AND NOT EXISTS \
             (SELECT 1 FROM mfa_factors f WHERE f.user_id = $1 AND f.confirmed_at IS NOT NULL)",
        )
        .bind(user.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        if deleted > 0 {
            write_effects(&mut tx, effects).await?;
        }
        tx.commit().await.map_err(store_err)?;
        Ok(deleted)
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        codes: &[RecoveryHash],
        now: Timestamp,
        effects: &FactorEffects,
    ) -> Result<(), StoreError> {
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        write_recovery_codes(&mut tx, user, codes, now).await?;
        write_effects(&mut tx, effects).await?;
        tx.commit().await.map_err(store_err)
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        code: &RecoveryHash,
        now: Timestamp,
        effects: &FactorEffects,
    ) -> Result<bool, StoreError> {
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        let n = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 \
             WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(Dialect::time(now))
        .bind(user.as_uuid())
        .bind(code.0.as_slice())
        .execute(&mut *tx)
        .await
        .map_err(store_err)?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        write_effects(&mut tx, effects).await?;
        tx.commit().await.map_err(store_err)?;
        Ok(true)
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user.as_uuid())
        .fetch_one(&self.pool)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(store_err)?;
        Ok(u32::try_from(n).unwrap_or(0))
    }
}

#[async_trait]
impl ChallengeStore for Backend {
    async fn insert_challenge(&self, c: &NewChallenge) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mfa_challenges (token_hash, user_id, purpose, session_id, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(c.hash.0.as_slice())
        .bind(c.user_id.map(|u| u.as_uuid()))
        .bind(c.purpose.as_str())
        .bind(c.session_id.map(|s| s.as_uuid()))
        .bind(&c.state)
        .bind(Dialect::time(c.created_at))
        .bind(Dialect::time(c.expires_at))
        .execute(&self.writer)
        .await
        .map_err(store_err)
        .map(|_| ())
    }

    async fn challenge(&self, hash: &TokenHash) -> Result<Option<ChallengeState>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, purpose, session_id, state, failures, expires_at, used_at \
             FROM mfa_challenges WHERE token_hash = $1",
        )
        .bind(hash.0.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err)?;
        row.map(|r| {
            let purpose: String = r.try_get("purpose")?;
            Ok(ChallengeState {
                user_id: r
                    .try_get::<Option<uuid::Uuid>, _>("user_id")?
                    .map(UserId::from_uuid),
                purpose: ChallengePurpose::parse(&purpose).ok_or_else(|| {
                    sqlx::Error::Decode(format!("unknown challenge purpose {purpose}").into())
                })?,
                session_id: r
                    .try_get::<Option<uuid::Uuid>, _>("session_id")?
                    .map(SessionId::from_uuid),
                state: r.try_get("state")?,
                failures: u32::try_from(r.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX),
                expires_at: Dialect::read_time(r.try_get("expires_at")?)?,
                used_at: Dialect::read_opt_time(r.try_get("used_at")?)?,
            })
        })
        .transpose()
        .map_err(store_err)
    }

    async fn fail_challenge(&self, hash: &TokenHash) -> Result<u32, StoreError> {
        let n: i64 = sqlx::query(
            "UPDATE mfa_challenges SET failures = failures + 1 WHERE token_hash = $1 RETURNING failures",
        )
        .bind(hash.0.as_slice())
        .fetch_optional(&self.writer)
        .await
        .map_err(store_err)?
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(store_err)?
        .unwrap_or(0);
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn consume_challenge(
        &self,
        hash: &TokenHash,
        now: Timestamp,
        max_failures: u32,
    ) -> Result<bool, StoreError> {
        sqlx::query(
            "UPDATE mfa_challenges SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL \
             AND expires_at > $1 AND failures < $3",
        )
        .bind(Dialect::time(now))
        .bind(hash.0.as_slice())
        .bind(i64::from(max_failures))
        .execute(&self.writer)
        .await
        .map_err(store_err)
        .map(|r| r.rows_affected() > 0)
    }

    async fn prune_challenges(&self, before: Timestamp) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM mfa_challenges WHERE expires_at < $1")
            .bind(Dialect::time(before))
            .execute(&self.writer)
            .await
            .map_err(store_err)
            .map(|r| r.rows_affected())
    }
}
