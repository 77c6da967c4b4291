//! Every store method whose SQL reads the same on SQLite and PostgreSQL, written once. This file
//! is not a module of its own: `sqlite.rs` and `postgres.rs` each compile it (`#[path]`), so it
//! is built twice, over each backend's types, and the compiler checks both in every build.
//! Through `super::` it names what its backend module gives it: `Backend` (the store type),
//! `Db` (sqlx's database type) and `Dialect` (that backend's side of `dialect.rs`: how a
//! timestamp is stored, and the statements and fragments that cannot be written once).
//!
//! Why compile a file twice rather than write generic code: a body generic over
//! `sqlx::Database` needs a bound for every type it binds, decodes and executes on, spelled out
//! on each function; compiled per backend, the same bodies are ordinary sqlx code with concrete
//! types, which rustfmt, clippy and rust-analyzer read as such.
//!
//! SQL here uses `$N` placeholders (sqlx binds them by number on SQLite too) and `TRUE`/`FALSE`
//! (SQLite reads them as 1 and 0); timestamps are bound with `Dialect::time` and read with
//! `Dialect::read_time`. Enforces uniqueness and atomicity, no content rules.

// Compiled with these bodies, once per backend, like this file (`#[path]` is relative to this
// file's directory).
#[allow(clippy::duplicate_mod)]
#[path = "admin_sql.rs"]
mod admin_sql;

#[allow(clippy::duplicate_mod)]
#[path = "factor_sql.rs"]
mod factor_sql;

#[allow(clippy::duplicate_mod)]
#[path = "client_sql.rs"]
mod client_sql;

#[allow(clippy::duplicate_mod)]
#[path = "provider_sql.rs"]
mod provider_sql;

use super::{Backend, Db, Dialect};
use crate::storage::pool;
use crate::storage::{decode_mail, split_roles, store_err};
use admin_sql::Arg;
use async_trait::async_trait;
use sesame_domain::audit::{AuditEvent, AuditRecord};
use sesame_domain::client::{ClientId, Scope};
use sesame_domain::clock::Timestamp;
use sesame_domain::locale::Locale;
use sesame_domain::mail::{OutboundMail, QueuedMail};
use sesame_domain::model::{
    DisplayName, Email, LoginName, NewUser, ProfilePatch, RoleName, Session, SessionId, User,
    UserId, UserWithHash, Username,
};
use sesame_domain::seal::{KeyId, MaybeSealed, RowId, Sealed, SecretKind, StoredSecret};
use sesame_domain::store::{
    AdminOutcome, AdminStore, AdminUserChange, AuditQuery, AuditStore, ClientGrant,
    EmailTokenState, EmailTokenStore, KeyStore, LiveSession, LockoutKey, LoginThrottle,
    LoginThrottleStore, MailStore, NewEmailToken, NewSession, PasswordChange, RefreshTokenState,
    RoleInfo, SessionKind, SessionStore, Store, TokenEffect, TokenPurpose, UserFilter, UserQuery,
    UserStore,
};
use sesame_domain::token::{KeyRow, TokenHash};
use sesame_domain::StoreError;
use sqlx::Row;
use zeroize::Zeroizing;

type DbRow = <Db as sqlx::Database>::Row;
type Conn = <Db as sqlx::Database>::Connection;

const SESSION_COLS: &str = "s.id AS s_id, s.user_id AS s_user_id, s.created_at AS s_created_at, \
    s.last_used_at AS s_last_used_at, s.expires_at AS s_expires_at, s.revoked_at AS s_revoked_at, \
    s.ip AS s_ip, s.user_agent AS s_user_agent, s.auth_time AS s_auth_time, s.amr AS s_amr, \
    s.kind AS s_kind, s.client_id AS s_client_id, s.scope AS s_scope";

const USER_COLS: &str =
    "u.id, u.email, u.username, u.display_name, u.email_verified, u.is_active, u.locale, \
    u.created_at, u.updated_at, u.last_login_at, \
    (SELECT string_agg(r.role, ',') FROM user_roles r WHERE r.user_id = u.id) AS roles";

fn user_from_row(row: &DbRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: UserId::from_uuid(row.try_get("id")?),
        email: Email::from_stored(row.try_get("email")?),
        username: row
            .try_get::<Option<String>, _>("username")?
            .map(Username::from_stored),
        display_name: row
            .try_get::<Option<String>, _>("display_name")?
            .map(DisplayName::from_stored),
        email_verified: row.try_get("email_verified")?,
        is_active: row.try_get("is_active")?,
        roles: split_roles(row.try_get("roles")?),
        // Only `Locale::as_str` tags are ever written; a row edited by hand to another reads as
        // English rather than failing every request of its user.
        locale: Locale::from_tag(row.try_get("locale")?).unwrap_or_default(),
        created_at: Dialect::read_time(row.try_get("created_at")?)?,
        updated_at: Dialect::read_time(row.try_get("updated_at")?)?,
        last_login_at: Dialect::read_opt_time(row.try_get("last_login_at")?)?,
    })
}

fn audit_from_row(r: &DbRow) -> Result<AuditRecord, sqlx::Error> {
    Ok(AuditRecord {
        id: r.try_get("id")?,
        at: Dialect::read_time(r.try_get("occurred_at")?)?,
        kind: r.try_get("event")?,
        user_id: r
            .try_get::<Option<uuid::Uuid>, _>("user_id")?
            .map(UserId::from_uuid),
        actor_id: r
            .try_get::<Option<uuid::Uuid>, _>("actor_id")?
            .map(UserId::from_uuid),
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
        request_id: r.try_get("request_id")?,
        detail: serde_json::from_str(&r.try_get::<String, _>("detail")?)
            .unwrap_or(serde_json::Value::Null),
    })
}

/// What the session is for; a client session's scope words were written from parsed scopes.
fn kind_from_row(row: &DbRow) -> Result<SessionKind, sqlx::Error> {
    let kind: String = row.try_get("s_kind")?;
    match kind.as_str() {
        "api" => Ok(SessionKind::Api),
        "browser" => Ok(SessionKind::Browser),
        "client" => {
            let client: Option<uuid::Uuid> = row.try_get("s_client_id")?;
            let scope: Option<String> = row.try_get("s_scope")?;
            let client = client.ok_or_else(|| {
                sqlx::Error::Decode("a client session without a client_id".into())
            })?;
            Ok(SessionKind::Client(ClientGrant {
                client_id: ClientId::from_uuid(client),
                scopes: Scope::parse_list(scope.as_deref().unwrap_or(""), "scope")
                    .map_err(|e| sqlx::Error::Decode(e.to_string().into()))?,
            }))
        }
        other => Err(sqlx::Error::Decode(
            format!("unknown session kind `{other}`").into(),
        )),
    }
}

fn session_from_row(row: &DbRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: SessionId::from_uuid(row.try_get("s_id")?),
        user_id: UserId::from_uuid(row.try_get("s_user_id")?),
        created_at: Dialect::read_time(row.try_get("s_created_at")?)?,
        last_used_at: Dialect::read_time(row.try_get("s_last_used_at")?)?,
        expires_at: Dialect::read_time(row.try_get("s_expires_at")?)?,
        revoked_at: Dialect::read_opt_time(row.try_get("s_revoked_at")?)?,
        ip: row.try_get("s_ip")?,
        user_agent: row.try_get("s_user_agent")?,
        // Sessions from before second factors count as password sign-ins when they began.
        auth_time: Dialect::read_opt_time(row.try_get("s_auth_time")?)?
            .map_or_else(|| Dialect::read_time(row.try_get("s_created_at")?), Ok)?,
        amr: sesame_domain::mfa::Amr::from_stored(row.try_get::<&str, _>("s_amr")?),
    })
}

impl Backend {
    #[must_use]
    pub fn pool(&self) -> &sqlx::Pool<Db> {
        &self.pool
    }

    pub(crate) async fn applied_migrations(&self) -> Result<Vec<i64>, sqlx::Error> {
        let exists = sqlx::query(Dialect::MIGRATIONS_TABLE_EXISTS)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            return Ok(Vec::new());
        }
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&self.pool)
            .await
    }

    async fn fetch_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.id = $1");
        sqlx::query(&sql)
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .and_then(|r| r.as_ref().map(user_from_row).transpose())
            .map_err(store_err)
    }
}

#[async_trait]
impl UserStore for Backend {
    async fn insert_user(
        &self,
        u: &NewUser,
        token: Option<&NewEmailToken>,
        mail: Option<&OutboundMail>,
        audit: Option<&AuditEvent>,
    ) -> Result<User, StoreError> {
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        sqlx::query(
            "INSERT INTO users (id, email, email_normalized, username, username_normalized, display_name, \
             password_hash, email_verified, is_active, locale, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE, $9, $10, $11)",
        )
        .bind(u.id.as_uuid())
        .bind(u.email.as_str())
        .bind(u.email.normalized())
        .bind(u.username.as_ref().map(Username::as_str))
        .bind(u.username.as_ref().map(Username::normalized))
        .bind(u.display_name.as_ref().map(DisplayName::as_str))
        .bind(&u.password_hash)
        .bind(u.email_verified)
        .bind(u.locale.as_str())
        .bind(Dialect::time(u.now))
        .bind(Dialect::time(u.now))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        for role in &u.roles {
            sqlx::query("INSERT INTO user_roles (user_id, role, granted_at) VALUES ($1, $2, $3)")
                .bind(u.id.as_uuid())
                .bind(role.as_str())
                .bind(Dialect::time(u.now))
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
        }
        if let Some(t) = token {
            insert_email_token(&mut tx, t).await?;
        }
        insert_mails(&mut tx, mail.into_iter()).await?;
        if let Some(e) = audit {
            insert_audit(&mut tx, e).await?;
        }
        tx.commit().await.map_err(store_err)?;
        let mut roles = u.roles.clone();
        roles.sort();
        Ok(User {
            id: u.id,
            email: u.email.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            email_verified: u.email_verified,
            is_active: true,
            roles,
            locale: u.locale,
            created_at: u.now,
            updated_at: u.now,
            last_login_at: None,
        })
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.fetch_user(id).await
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&self.writer)
            .await
            .map_err(store_err)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn change_password(
        &self,
        c: &PasswordChange,
        mail: &OutboundMail,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(&c.password_hash)
            .bind(Dialect::time(c.now))
            .bind(c.user_id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        // A password the user chose ends every link that could set another: reset links and an
        // invitation's set-password link alike.
        for purpose in [TokenPurpose::ResetPassword, TokenPurpose::SetPassword] {
            invalidate_tokens(&mut tx, c.user_id, purpose, c.now).await?;
        }
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL")
            .bind(Dialect::time(c.now))
            .bind(c.user_id.as_uuid())
            .bind(c.keep_session.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        sqlx::query("DELETE FROM refresh_tokens WHERE session_id = $1")
            .bind(c.keep_session.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(c.new_refresh_hash.0.as_slice())
        .bind(c.keep_session.as_uuid())
        .bind(Dialect::time(c.now))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?;
        sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
            .bind(Dialect::time(c.now))
            .bind(c.keep_session.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        insert_mails(&mut tx, std::iter::once(mail)).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(store_err)
    }

    async fn user_for_login(&self, name: &LoginName) -> Result<Option<UserWithHash>, StoreError> {
        let (col, key) = match name {
            LoginName::Email(e) => ("email_normalized", e.normalized()),
            LoginName::Username(u) => ("username_normalized", u.normalized()),
        };
        let sql = format!("SELECT {USER_COLS}, u.password_hash FROM users u WHERE u.{col} = $1");
        let row = sqlx::query(&sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        row.map(|r| {
            Ok(UserWithHash {
                user: user_from_row(&r)?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
        .map_err(store_err)
    }

    async fn update_profile(
        &self,
        id: UserId,
        patch: &ProfilePatch,
        now: Timestamp,
    ) -> Result<Option<User>, StoreError> {
        let set_name = patch.display_name.is_some();
        let name = patch.display_name.clone().flatten();
        let set_username = patch.username.is_some();
        let username = patch.username.clone().flatten();
        let done = sqlx::query(
            "UPDATE users SET \
             display_name = CASE WHEN $1 THEN $2 ELSE display_name END, \
             username = CASE WHEN $3 THEN $4 ELSE username END, \
             username_normalized = CASE WHEN $5 THEN $6 ELSE username_normalized END, \
             locale = COALESCE($9, locale), \
             updated_at = $7 WHERE id = $8",
        )
        .bind(set_name)
        .bind(name.as_ref().map(DisplayName::as_str))
        .bind(set_username)
        .bind(username.as_ref().map(Username::as_str))
        .bind(set_username)
        .bind(username.as_ref().map(Username::normalized))
        .bind(Dialect::time(now))
        .bind(id.as_uuid())
        .bind(patch.locale.map(Locale::as_str))
        .execute(&self.writer)
        .await
        .map_err(store_err)?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.fetch_user(id).await
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(Dialect::time(now))
            .bind(id.as_uuid())
            .execute(&self.writer)
            .await
            .map_err(store_err)?;
        Ok(())
    }
}

#[async_trait]
impl SessionStore for Backend {
    async fn create_session(&self, new: &NewSession) -> Result<(), StoreError> {
        Dialect::create_session(self, new).await
    }

    async fn active_session_user(
        &self,
        session: SessionId,
        user: UserId,
        now: Timestamp,
    ) -> Result<Option<LiveSession>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLS}, s.expires_at AS s_expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3 AND u.is_active = TRUE"
        );
        sqlx::query(&sql)
            .bind(session.as_uuid())
            .bind(user.as_uuid())
            .bind(Dialect::time(now))
            .fetch_optional(&self.pool)
            .await
            .and_then(|r| {
                r.as_ref()
                    .map(|r| {
                        Ok(LiveSession {
                            user: user_from_row(r)?,
                            expires_at: Dialect::read_time(r.try_get("s_expires_at")?)?,
                        })
                    })
                    .transpose()
            })
            .map_err(store_err)
    }

    async fn refresh_token_state(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshTokenState>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLS}, t.used_at, s.refresh_secret, {SESSION_COLS}, \
             EXISTS (SELECT 1 FROM mfa_factors f WHERE f.user_id = u.id AND f.confirmed_at IS NOT NULL) AS has_factor \
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id \
             WHERE t.token_hash = $1"
        );
        let row = sqlx::query(&sql)
            .bind(hash.0.as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        row.map(|r| {
            Ok(RefreshTokenState {
                session: session_from_row(&r)?,
                kind: kind_from_row(&r)?,
                refresh_secret: r.try_get("refresh_secret")?,
                used_at: Dialect::read_opt_time(r.try_get("used_at")?)?,
                user: user_from_row(&r)?,
                has_factor: r.try_get("has_factor")?,
            })
        })
        .transpose()
        .map_err(store_err)
    }

    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        new: &TokenHash,
        session: SessionId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        Dialect::rotate_refresh_token(self, old, new, session, now, expires_at).await
    }

    async fn reauthenticate_session(
        &self,
        session: SessionId,
        auth_time: Timestamp,
        amr: &sesame_domain::mfa::Amr,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        sqlx::query(
            "UPDATE sessions SET auth_time = $1, amr = $2 \
             WHERE id = $3 AND revoked_at IS NULL AND expires_at > $4",
        )
        .bind(Dialect::time(auth_time))
        .bind(amr.stored())
        .bind(session.as_uuid())
        .bind(Dialect::time(now))
        .execute(&self.writer)
        .await
        .map_err(store_err)
        .map(|r| r.rows_affected() > 0)
    }

    async fn revoke_session(&self, session: SessionId, now: Timestamp) -> Result<bool, StoreError> {
        let n =
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(Dialect::time(now))
                .bind(session.as_uuid())
                .execute(&self.writer)
                .await
                .map_err(store_err)?
                .rows_affected();
        Ok(n > 0)
    }

    async fn revoke_user_sessions(&self, user: UserId, now: Timestamp) -> Result<u64, StoreError> {
        let mut conn = self.writer.acquire().await.map_err(store_err)?;
        revoke_sessions_of(&mut conn, user, now).await
    }

    async fn user_sessions(
        &self,
        user: UserId,
        active_at: Option<Timestamp>,
    ) -> Result<Vec<Session>, StoreError> {
        let sql = match active_at {
            Some(_) => format!(
                "SELECT {SESSION_COLS} FROM sessions s WHERE s.user_id = $1 AND s.revoked_at IS NULL \
                 AND s.expires_at > $2 ORDER BY s.created_at DESC, s.id DESC"
            ),
            None => format!("SELECT {SESSION_COLS} FROM sessions s WHERE s.user_id = $1 ORDER BY s.created_at DESC, s.id DESC"),
        };
        let mut q = sqlx::query(&sql).bind(user.as_uuid());
        if let Some(t) = active_at {
            q = q.bind(Dialect::time(t));
        }
        let rows = q.fetch_all(&self.pool).await.map_err(store_err)?;
        rows.iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()
            .map_err(store_err)
    }

    async fn revoke_session_of(
        &self,
        user: UserId,
        session: SessionId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL AND expires_at > $4",
        )
        .bind(Dialect::time(now))
        .bind(session.as_uuid())
        .bind(user.as_uuid())
        .bind(Dialect::time(now))
        .execute(&self.writer)
        .await
        .map_err(store_err)?
        .rows_affected();
        Ok(n > 0)
    }
}

#[async_trait]
impl KeyStore for Backend {
    async fn signing_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, algorithm, private_der, key_id, public_raw, created_at FROM signing_keys \
             WHERE retired_at IS NULL ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        rows.iter()
            .map(|r| {
                Ok(KeyRow {
                    kid: r.try_get("kid")?,
                    algorithm: r.try_get("algorithm")?,
                    private: maybe_sealed(r.try_get("private_der")?, r.try_get("key_id")?),
                    public_raw: r.try_get("public_raw")?,
                    created_at: Dialect::read_time(r.try_get("created_at")?)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(store_err)
    }

    async fn insert_primary_signing_key(&self, key: &KeyRow) -> Result<bool, StoreError> {
        let (bytes, key_id) = stored_form(&key.private);
        let n = sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, private_der, key_id, public_raw, primary_for, created_at) \
             VALUES ($1, $2, $3, $4, $5, $2, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(bytes)
        .bind(key_id)
        .bind(&key.public_raw)
        .bind(Dialect::time(key.created_at))
        .execute(&self.writer)
        .await
        .map_err(store_err)?
        .rows_affected();
        Ok(n == 1)
    }

    async fn secrets(&self, kind: SecretKind) -> Result<Vec<StoredSecret>, StoreError> {
        let t = SecretTable::of(kind);
        let rows = sqlx::query(&format!(
            "SELECT {id} AS row_id, {value} AS sealed, {key} AS key_id FROM {table} WHERE {only} ORDER BY {id}",
            id = t.id,
            value = t.value,
            key = t.key_id,
            table = t.table,
            only = t.only,
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        rows.iter()
            .map(|r| {
                Ok(StoredSecret {
                    row: match t.id_type {
                        IdType::Text => RowId::Text(r.try_get("row_id")?),
                        IdType::Uuid => RowId::Uuid(r.try_get("row_id")?),
                    },
                    value: maybe_sealed(r.try_get("sealed")?, r.try_get("key_id")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(store_err)
    }

    async fn replace_secret(
        &self,
        kind: SecretKind,
        row: &RowId,
        expected: Option<&KeyId>,
        sealed: &Sealed,
    ) -> Result<bool, StoreError> {
        let t = SecretTable::of(kind);
        // `IS NOT DISTINCT FROM` (SQLite since 3.39) compares NULL with NULL as equal: the
        // legacy-row case.
        let sql = format!(
            "UPDATE {table} SET {value} = $1, {key} = $2 WHERE {id} = $3 AND {key} IS NOT DISTINCT FROM $4",
            table = t.table,
            value = t.value,
            key = t.key_id,
            id = t.id,
        );
        let q = sqlx::query(&sql)
            .bind(sealed.bytes.as_slice())
            .bind(sealed.key_id.as_str());
        let q = match row {
            RowId::Text(id) => q.bind(id.as_str()),
            RowId::Uuid(id) => q.bind(*id),
        };
        let n = q
            .bind(expected.map(KeyId::as_str))
            .execute(&self.writer)
            .await
            .map_err(store_err)?
            .rows_affected();
        Ok(n == 1)
    }
}

/// Where each kind of sealed value lives: the one place a new [`SecretKind`] is given its table.
/// The names are constants (never input), so formatting them into SQL is safe.
struct SecretTable {
    table: &'static str,
    id: &'static str,
    id_type: IdType,
    value: &'static str,
    key_id: &'static str,
    /// Rows of the table that hold no value of this kind (a passkey's factor row).
    only: &'static str,
}

enum IdType {
    Text,
    Uuid,
}

impl SecretTable {
    fn of(kind: SecretKind) -> Self {
        match kind {
            SecretKind::SigningKey => Self {
                table: "signing_keys",
                id: "kid",
                id_type: IdType::Text,
                value: "private_der",
                key_id: "key_id",
                only: "TRUE",
            },
            SecretKind::TotpSecret => Self {
                table: "mfa_factors",
                id: "id",
                id_type: IdType::Uuid,
                value: "secret_sealed",
                key_id: "secret_key_id",
                only: "kind = 'totp' AND secret_sealed IS NOT NULL",
            },
        }
    }
}

/// A stored value and its key id column as the domain's [`MaybeSealed`].
fn maybe_sealed(bytes: Vec<u8>, key_id: Option<String>) -> MaybeSealed {
    match key_id {
        Some(id) => MaybeSealed::Sealed(Sealed {
            key_id: KeyId::from_stored(id),
            bytes,
        }),
        None => MaybeSealed::Plain(Zeroizing::new(bytes)),
    }
}

/// The value column and key id column of `value`.
fn stored_form(value: &MaybeSealed) -> (&[u8], Option<&str>) {
    match value {
        MaybeSealed::Sealed(s) => (s.bytes.as_slice(), Some(s.key_id.as_str())),
        MaybeSealed::Plain(p) => (p.as_slice(), None),
    }
}

async fn insert_email_token(conn: &mut Conn, t: &NewEmailToken) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, new_email, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(t.hash.0.as_slice())
    .bind(t.user_id.as_uuid())
    .bind(t.purpose.as_str())
    .bind(t.new_email.as_ref().map(Email::as_str))
    .bind(Dialect::time(t.created_at))
    .bind(Dialect::time(t.expires_at))
    .execute(conn)
    .await
    .map_err(store_err)?;
    Ok(())
}

async fn insert_mails<'a>(
    conn: &mut Conn,
    mails: impl Iterator<Item = &'a OutboundMail>,
) -> Result<(), StoreError> {
    for m in mails {
        let params = serde_json::to_string(&m.params).map_err(StoreError::backend)?;
        sqlx::query(
            "INSERT INTO mail_outbox (id, user_id, recipient, kind, params, locale, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(m.id)
        .bind(m.user_id.map(|u| u.as_uuid()))
        .bind(&m.to)
        .bind(m.kind.as_str())
        .bind(params)
        .bind(m.locale.as_str())
        .bind(Dialect::time(m.created_at))
        .bind(Dialect::time(m.created_at))
        .execute(&mut *conn)
        .await
        .map_err(store_err)?;
    }
    Ok(())
}

/// Appends one audit event, on `conn` (inside the caller's transaction when it has one).
async fn insert_audit(conn: &mut Conn, e: &AuditEvent) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events (id, occurred_at, event, user_id, actor_id, ip, user_agent, request_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(e.id)
    .bind(Dialect::time(e.at))
    .bind(e.kind.as_str())
    .bind(e.user_id.map(|u| u.as_uuid()))
    .bind(e.actor_id.map(|u| u.as_uuid()))
    .bind(&e.ip)
    .bind(&e.user_agent)
    .bind(&e.request_id)
    .bind(e.detail.to_string())
    .execute(conn)
    .await
    .map_err(store_err)?;
    Ok(())
}

/// Makes every unused token of `purpose` of `user` unusable.
/// Ends every live session of `user` at `now`; the number ended.
async fn revoke_sessions_of(
    conn: &mut Conn,
    user: UserId,
    now: Timestamp,
) -> Result<u64, StoreError> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(Dialect::time(now))
        .bind(user.as_uuid())
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
        .map_err(store_err)
}

async fn invalidate_tokens(
    conn: &mut Conn,
    user: UserId,
    purpose: TokenPurpose,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
    )
    .bind(Dialect::time(now))
    .bind(user.as_uuid())
    .bind(purpose.as_str())
    .execute(conn)
    .await
    .map_err(store_err)?;
    Ok(())
}

#[async_trait]
impl EmailTokenStore for Backend {
    async fn issue_email_token(
        &self,
        token: &NewEmailToken,
        supersede: bool,
        mails: &[OutboundMail],
    ) -> Result<(), StoreError> {
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        if supersede {
            invalidate_tokens(&mut tx, token.user_id, token.purpose, token.created_at).await?;
        }
        insert_email_token(&mut tx, token).await?;
        insert_mails(&mut tx, mails.iter()).await?;
        tx.commit().await.map_err(store_err)
    }

    async fn enqueue_mail(&self, mails: &[OutboundMail]) -> Result<(), StoreError> {
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        insert_mails(&mut tx, mails.iter()).await?;
        tx.commit().await.map_err(store_err)
    }

    async fn email_token_state(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<EmailTokenState>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLS}, t.purpose, t.new_email, t.expires_at AS t_expires_at, t.used_at AS t_used_at \
             FROM email_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1"
        );
        let row = sqlx::query(&sql)
            .bind(hash.0.as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_err)?;
        row.map(|r| {
            let purpose: String = r.try_get("purpose")?;
            Ok(EmailTokenState {
                user: user_from_row(&r)?,
                purpose: TokenPurpose::parse(&purpose).ok_or_else(|| {
                    sqlx::Error::Decode(format!("unknown token purpose {purpose}").into())
                })?,
                new_email: r
                    .try_get::<Option<String>, _>("new_email")?
                    .map(Email::from_stored),
                expires_at: Dialect::read_time(r.try_get("t_expires_at")?)?,
                used_at: Dialect::read_opt_time(r.try_get("t_used_at")?)?,
            })
        })
        .transpose()
        .map_err(store_err)
    }

    async fn latest_email_token_at(
        &self,
        user: UserId,
        purpose: TokenPurpose,
    ) -> Result<Option<Timestamp>, StoreError> {
        let latest = sqlx::query_scalar(
            "SELECT MAX(created_at) FROM email_tokens WHERE user_id = $1 AND purpose = $2",
        )
        .bind(user.as_uuid())
        .bind(purpose.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(store_err)?;
        Dialect::read_opt_time(latest).map_err(store_err)
    }

    async fn consume_email_token(
        &self,
        hash: &TokenHash,
        user: UserId,
        now: Timestamp,
        effect: &TokenEffect,
        mails: &[OutboundMail],
        audit: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        let consumed = sqlx::query(
            "UPDATE email_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND user_id = $3 AND purpose = $4 AND used_at IS NULL AND expires_at > $5",
        )
        .bind(Dialect::time(now))
        .bind(hash.0.as_slice())
        .bind(user.as_uuid())
        .bind(effect.purpose().as_str())
        .bind(Dialect::time(now))
        .execute(&mut *tx)
        .await
        .map_err(store_err)?
        .rows_affected();
        if consumed != 1 {
            return Ok(false);
        }
        match effect {
            TokenEffect::VerifyEmail => {
                sqlx::query(
                    "UPDATE users SET email_verified = TRUE, updated_at = $1 WHERE id = $2",
                )
                .bind(Dialect::time(now))
                .bind(user.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
            }
            TokenEffect::ResetPassword { password_hash } => {
                sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                    .bind(password_hash)
                    .bind(Dialect::time(now))
                    .bind(user.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_err)?;
                for purpose in [TokenPurpose::ResetPassword, TokenPurpose::SetPassword] {
                    invalidate_tokens(&mut tx, user, purpose, now).await?;
                }
                revoke_sessions_of(&mut tx, user, now).await?;
            }
            TokenEffect::SetPassword { password_hash } => {
                sqlx::query(
                    "UPDATE users SET password_hash = $1, email_verified = TRUE, updated_at = $2 WHERE id = $3",
                )
                .bind(password_hash)
                .bind(Dialect::time(now))
                .bind(user.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
                for purpose in [TokenPurpose::ResetPassword, TokenPurpose::SetPassword] {
                    invalidate_tokens(&mut tx, user, purpose, now).await?;
                }
                revoke_sessions_of(&mut tx, user, now).await?;
            }
            TokenEffect::ChangeEmail { new_email } => {
                sqlx::query(
                    "UPDATE users SET email = $1, email_normalized = $2, email_verified = TRUE, updated_at = $3 WHERE id = $4",
                )
                .bind(new_email.as_str())
                .bind(new_email.normalized())
                .bind(Dialect::time(now))
                .bind(user.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
                for purpose in [
                    TokenPurpose::ChangeEmail,
                    TokenPurpose::ResetPassword,
                    TokenPurpose::VerifyEmail,
                    TokenPurpose::SetPassword,
                ] {
                    invalidate_tokens(&mut tx, user, purpose, now).await?;
                }
            }
        }
        insert_mails(&mut tx, mails.iter()).await?;
        if let Some(e) = audit {
            insert_audit(&mut tx, e).await?;
        }
        tx.commit().await.map_err(store_err)?;
        Ok(true)
    }
}

#[async_trait]
impl MailStore for Backend {
    async fn claim_mail(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let rows = sqlx::query(Dialect::CLAIM_MAIL)
            .bind(Dialect::time(lease_until))
            .bind(Dialect::time(now))
            .bind(Dialect::time(now))
            .bind(i64::from(limit))
            .fetch_all(&self.writer)
            .await
            .map_err(store_err)?;
        let mut claimed = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: uuid::Uuid = r.try_get("id").map_err(store_err)?;
            let attempts: i64 = r.try_get("attempts").map_err(store_err)?;
            match decode_mail(
                id,
                r.try_get("recipient").map_err(store_err)?,
                &r.try_get::<String, _>("kind").map_err(store_err)?,
                &r.try_get::<String, _>("params").map_err(store_err)?,
                r.try_get::<Option<String>, _>("locale")
                    .map_err(store_err)?
                    .as_deref(),
                attempts,
            ) {
                Ok(m) => claimed.push(m),
                Err(why) => {
                    tracing::error!(mail_id = %id, error = %why, "outbox row cannot be decoded; marked dead");
                    self.mail_failed(id, u32::try_from(attempts).unwrap_or(0), None, &why)
                        .await?;
                }
            }
        }
        Ok(claimed)
    }

    async fn mail_sent(&self, id: uuid::Uuid, now: Timestamp) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE mail_outbox SET status = 'sent', sent_at = $1, params = '{}', locked_until = NULL, \
             last_error = NULL, attempts = attempts + 1 WHERE id = $2",
        )
        .bind(Dialect::time(now))
        .bind(id)
        .execute(&self.writer)
        .await
        .map_err(store_err)?;
        Ok(())
    }

    async fn mail_failed(
        &self,
        id: uuid::Uuid,
        attempts: u32,
        retry_at: Option<Timestamp>,
        error: &str,
    ) -> Result<(), StoreError> {
        let q = match retry_at {
            Some(next) => sqlx::query(
                "UPDATE mail_outbox SET attempts = $1, next_attempt_at = $2, last_error = $3, locked_until = NULL WHERE id = $4",
            )
            .bind(i64::from(attempts))
            .bind(Dialect::time(next))
            .bind(error)
            .bind(id),
            None => sqlx::query(
                "UPDATE mail_outbox SET status = 'dead', attempts = $1, last_error = $2, params = '{}', locked_until = NULL \
                 WHERE id = $3",
            )
            .bind(i64::from(attempts))
            .bind(error)
            .bind(id),
        };
        q.execute(&self.writer).await.map_err(store_err)?;
        Ok(())
    }
}

#[async_trait]
impl AuditStore for Backend {
    async fn record_audit(&self, e: &AuditEvent) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await.map_err(store_err)?;
        insert_audit(&mut conn, e).await
    }

    async fn user_audit(&self, user: UserId, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, occurred_at, event, user_id, actor_id, ip, user_agent, request_id, detail \
             FROM audit_events WHERE user_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2",
        )
        .bind(user.as_uuid())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        rows.iter()
            .map(audit_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(store_err)
    }
}

#[async_trait]
impl LoginThrottleStore for Backend {
    async fn login_throttle(&self, key: &LockoutKey) -> Result<Option<LoginThrottle>, StoreError> {
        let row = sqlx::query(
            "SELECT failures, locked_until FROM login_throttle WHERE throttle_key = $1",
        )
        .bind(key.stored())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_err)?;
        row.map(|r| {
            Ok(LoginThrottle {
                failures: u32::try_from(r.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX),
                locked_until: Dialect::read_opt_time(r.try_get("locked_until")?)?,
            })
        })
        .transpose()
        .map_err(store_err)
    }

    async fn record_login_failure(
        &self,
        key: &LockoutKey,
        now: Timestamp,
    ) -> Result<u32, StoreError> {
        let failures: i64 = sqlx::query_scalar(
            "INSERT INTO login_throttle (throttle_key, account_id, failures, last_failure_at) \
             VALUES ($1, $2, 1, $3) \
             ON CONFLICT (throttle_key) DO UPDATE SET failures = login_throttle.failures + 1, \
             last_failure_at = excluded.last_failure_at RETURNING failures",
        )
        .bind(key.stored())
        .bind(key.account().map(|u| u.as_uuid()))
        .bind(Dialect::time(now))
        .fetch_one(&self.writer)
        .await
        .map_err(store_err)?;
        Ok(u32::try_from(failures).unwrap_or(u32::MAX))
    }

    async fn lock_login(&self, key: &LockoutKey, until: Timestamp) -> Result<(), StoreError> {
        sqlx::query("UPDATE login_throttle SET locked_until = $1 WHERE throttle_key = $2")
            .bind(Dialect::time(until))
            .bind(key.stored())
            .execute(&self.writer)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn clear_login_failures(&self, key: &LockoutKey) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_throttle WHERE throttle_key = $1")
            .bind(key.stored())
            .execute(&self.writer)
            .await
            .map_err(store_err)?;
        Ok(())
    }

    async fn prune_login_failures(&self, before: Timestamp) -> Result<u64, StoreError> {
        sqlx::query(
            "DELETE FROM login_throttle WHERE last_failure_at < $1 AND (locked_until IS NULL OR locked_until < $2)",
        )
        .bind(Dialect::time(before))
        .bind(Dialect::time(before))
        .execute(&self.writer)
        .await
        .map(|r| r.rows_affected())
        .map_err(store_err)
    }
}

/// Binds the arguments of a built admin query, in order.
fn bind_args<'q>(
    mut q: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>,
    args: &'q [Arg],
) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>> {
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s.as_str()),
            Arg::Bool(b) => q.bind(*b),
            Arg::Uuid(u) => q.bind(*u),
            Arg::Time(t) => q.bind(Dialect::time(*t)),
            Arg::Int(i) => q.bind(*i),
        };
    }
    q
}

/// Active admins, inside a transaction.
async fn active_admins(conn: &mut Conn) -> Result<i64, StoreError> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u JOIN user_roles r ON r.user_id = u.id \
         WHERE r.role = 'admin' AND u.is_active = TRUE",
    )
    .fetch_one(conn)
    .await
    .map_err(store_err)
}

/// Whether `id` is an active admin, inside a transaction.
async fn is_active_admin(conn: &mut Conn, id: UserId) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u JOIN user_roles r ON r.user_id = u.id \
         WHERE u.id = $1 AND r.role = 'admin' AND u.is_active = TRUE",
    )
    .bind(id.as_uuid())
    .fetch_one(conn)
    .await
    .map_err(store_err)?;
    Ok(n > 0)
}

/// Serializes the transactions that can change who is an admin, so two concurrent demotions
/// cannot both see the other admin and leave none: it runs right after `Dialect::admin_lock`
/// (PostgreSQL's advisory lock) and writes, which on SQLite takes the database's write lock.
async fn admin_guard(conn: &mut Conn, id: UserId, now: Timestamp) -> Result<bool, StoreError> {
    let n = sqlx::query("UPDATE users SET updated_at = $1 WHERE id = $2")
        .bind(Dialect::time(now))
        .bind(id.as_uuid())
        .execute(conn)
        .await
        .map_err(store_err)?
        .rows_affected();
    Ok(n == 1)
}

#[async_trait]
impl AdminStore for Backend {
    async fn list_users(&self, q: &UserQuery) -> Result<Vec<User>, StoreError> {
        let built = admin_sql::list_users(q, USER_COLS);
        let rows = bind_args(sqlx::query(&built.sql), &built.args)
            .fetch_all(&self.pool)
            .await
            .map_err(store_err)?;
        rows.iter()
            .map(user_from_row)
            .collect::<Result<_, _>>()
            .map_err(store_err)
    }

    async fn count_users(&self, filter: &UserFilter, now: Timestamp) -> Result<u64, StoreError> {
        let built = admin_sql::count_users(filter, now);
        let row = bind_args(sqlx::query(&built.sql), &built.args)
            .fetch_one(&self.pool)
            .await
            .map_err(store_err)?;
        let n: i64 = row.try_get(0).map_err(store_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn admin_update_user(
        &self,
        id: UserId,
        change: &AdminUserChange,
        now: Timestamp,
    ) -> Result<AdminOutcome<User>, StoreError> {
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        Dialect::admin_lock(&mut tx).await?;
        if !admin_guard(&mut tx, id, now).await? {
            return Ok(AdminOutcome::NotFound);
        }
        let was_admin = is_active_admin(&mut tx, id).await?;
        if let Some(active) = change.is_active {
            sqlx::query("UPDATE users SET is_active = $1 WHERE id = $2")
                .bind(active)
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
            if !active {
                revoke_sessions_of(&mut tx, id, now).await?;
            }
        }
        if let Some(verified) = change.email_verified {
            sqlx::query("UPDATE users SET email_verified = $1 WHERE id = $2")
                .bind(verified)
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
        }
        if let Some(name) = &change.profile.display_name {
            sqlx::query("UPDATE users SET display_name = $1 WHERE id = $2")
                .bind(name.as_ref().map(DisplayName::as_str))
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
        }
        if let Some(locale) = change.profile.locale {
            sqlx::query("UPDATE users SET locale = $1 WHERE id = $2")
                .bind(locale.as_str())
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
        }
        if let Some(username) = &change.profile.username {
            sqlx::query("UPDATE users SET username = $1, username_normalized = $2 WHERE id = $3")
                .bind(username.as_ref().map(Username::as_str))
                .bind(username.as_ref().map(Username::normalized))
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
        }
        if let Some(roles) = &change.roles {
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(store_err)?;
            for role in roles {
                let inserted = sqlx::query(
                    "INSERT INTO user_roles (user_id, role, granted_at) VALUES ($1, $2, $3)",
                )
                .bind(id.as_uuid())
                .bind(role.as_str())
                .bind(Dialect::time(now))
                .execute(&mut *tx)
                .await;
                match inserted {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                        return Ok(AdminOutcome::UnknownRole);
                    }
                    Err(e) => return Err(store_err(e)),
                }
            }
        }
        if was_admin && active_admins(&mut tx).await? == 0 {
            return Ok(AdminOutcome::LastAdmin);
        }
        let sql = format!("SELECT {USER_COLS} FROM users u WHERE u.id = $1");
        let row = sqlx::query(&sql)
            .bind(id.as_uuid())
            .fetch_one(&mut *tx)
            .await
            .map_err(store_err)?;
        let user = user_from_row(&row).map_err(store_err)?;
        tx.commit().await.map_err(store_err)?;
        Ok(AdminOutcome::Done(user))
    }

    async fn admin_delete_user(
        &self,
        id: UserId,
        now: Timestamp,
    ) -> Result<AdminOutcome<()>, StoreError> {
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        Dialect::admin_lock(&mut tx).await?;
        if !admin_guard(&mut tx, id, now).await? {
            return Ok(AdminOutcome::NotFound);
        }
        let was_admin = is_active_admin(&mut tx, id).await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(store_err)?;
        if was_admin && active_admins(&mut tx).await? == 0 {
            return Ok(AdminOutcome::LastAdmin);
        }
        tx.commit().await.map_err(store_err)?;
        Ok(AdminOutcome::Done(()))
    }

    async fn count_active_admins(&self) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(store_err)?;
        let n = active_admins(&mut conn).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn list_roles(&self) -> Result<Vec<RoleInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.name, r.description, r.built_in, r.created_at, \
             (SELECT COUNT(*) FROM user_roles ur WHERE ur.role = r.name) AS users \
             FROM roles r ORDER BY r.name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(store_err)?;
        rows.iter()
            .map(|r| {
                Ok(RoleInfo {
                    name: RoleName::from_stored(r.try_get("name")?),
                    description: r.try_get("description")?,
                    built_in: r.try_get("built_in")?,
                    created_at: Dialect::read_time(r.try_get("created_at")?)?,
                    users: u64::try_from(r.try_get::<i64, _>("users")?).unwrap_or(0),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(store_err)
    }

    async fn create_role(
        &self,
        name: &RoleName,
        description: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "INSERT INTO roles (name, description, built_in, created_at) VALUES ($1, $2, FALSE, $3) ON CONFLICT DO NOTHING",
        )
        .bind(name.as_str())
        .bind(description)
        .bind(Dialect::time(now))
        .execute(&self.writer)
        .await
        .map_err(store_err)?
        .rows_affected();
        Ok(n == 1)
    }

    async fn delete_role(&self, name: &RoleName) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM roles WHERE name = $1 AND built_in = FALSE")
            .bind(name.as_str())
            .execute(&self.writer)
            .await
            .map_err(store_err)?
            .rows_affected();
        Ok(n == 1)
    }

    async fn query_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let built = admin_sql::audit(q);
        let rows = bind_args(sqlx::query(&built.sql), &built.args)
            .fetch_all(&self.pool)
            .await
            .map_err(store_err)?;
        rows.iter()
            .map(audit_from_row)
            .collect::<Result<_, _>>()
            .map_err(store_err)
    }

    async fn bulk_insert_users(&self, users: &[NewUser]) -> Result<(), StoreError> {
        let mut tx = pool::begin(&self.writer).await.map_err(store_err)?;
        for chunk in users.chunks(500) {
            let mut qb: sqlx::QueryBuilder<Db> = sqlx::QueryBuilder::new(
                "INSERT INTO users (id, email, email_normalized, username, username_normalized, display_name, \
                 password_hash, email_verified, is_active, locale, created_at, updated_at) ",
            );
            qb.push_values(chunk, |mut b, u| {
                b.push_bind(u.id.as_uuid())
                    .push_bind(u.email.as_str().to_owned())
                    .push_bind(u.email.normalized().to_owned())
                    .push_bind(u.username.as_ref().map(|n| n.as_str().to_owned()))
                    .push_bind(u.username.as_ref().map(|n| n.normalized().to_owned()))
                    .push_bind(u.display_name.as_ref().map(|n| n.as_str().to_owned()))
                    .push_bind(u.password_hash.clone())
                    .push_bind(u.email_verified)
                    .push_bind(true)
                    .push_bind(u.locale.as_str())
                    .push_bind(Dialect::time(u.now))
                    .push_bind(Dialect::time(u.now));
            });
            qb.build().execute(&mut *tx).await.map_err(store_err)?;
        }
        tx.commit().await.map_err(store_err)
    }
}

#[async_trait]
impl Store for Backend {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.writer)
            .await
            .map(|_| ())
            .map_err(store_err)
    }

    fn backend(&self) -> &'static str {
        Dialect::NAME
    }
}
