//! The admin API under `/api/v1/admin`: users (list, read, create, change, delete, unlock,
//! sessions), roles, and the audit trail. Every handler takes [`AdminUser`], so every route
//! answers 401 without a token and 403 without the `admin` role; the rules themselves live in
//! the domain (`sesame_domain::service::admin`).

use super::auth::{collect, optional_locale, optional_names};
use super::dto::{AuditEventResponse, SessionResponse, UserResponse};
use super::extract::{AdminUser, ApiJson, ApiQuery, Client};
use super::problem::{ApiError, ApiResult, ProblemBody};
use super::users::profile_patch;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sesame_domain::model::{Email, RoleName, UserId};
use sesame_domain::password::Password;
use sesame_domain::service::admin::{Invite, NewAccount};
use sesame_domain::store::{AdminUserChange, AuditQuery, UserFilter};
use sesame_domain::{AuthError, FieldError};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Cursors are opaque to clients: base64url of the last id seen.
fn encode_cursor(id: Uuid) -> String {
    B64.encode(id.as_bytes())
}

fn decode_cursor(raw: &str) -> Result<Uuid, ApiError> {
    B64.decode(raw)
        .ok()
        .and_then(|b| Uuid::from_slice(&b).ok())
        .ok_or_else(|| {
            FieldError::new(
                "cursor",
                "invalid",
                "the cursor is not one this API returned",
            )
            .into()
        })
}

pub(crate) fn user_id(raw: &str) -> Result<UserId, ApiError> {
    Uuid::parse_str(raw)
        .map(UserId::from_uuid)
        .map_err(|_| ApiError::Auth(AuthError::NotFound))
}

fn roles(raw: &[String], errs: &mut Vec<FieldError>) -> Vec<RoleName> {
    raw.iter()
        .filter_map(|r| {
            collect(
                errs,
                RoleName::parse(r).map_err(|mut e| {
                    e.field = "roles";
                    e
                }),
            )
        })
        .collect()
}

/// Page sizes of the listing endpoints, as documented (`minimum`/`maximum` of `limit`).
const PAGE_MIN: u32 = 1;
const PAGE_MAX: u32 = 200;
const PAGE_DEFAULT: u32 = 50;

/// The page size asked for, or the default; outside 1–200 a `limit` field error (the document
/// promises that range, so a value outside it is refused rather than silently clamped).
fn page_limit(raw: Option<u64>, errs: &mut Vec<FieldError>) -> u32 {
    match raw {
        None => PAGE_DEFAULT,
        Some(n) => match u32::try_from(n) {
            Ok(n) if (PAGE_MIN..=PAGE_MAX).contains(&n) => n,
            _ => {
                errs.push(FieldError::new(
                    "limit",
                    "out_of_range",
                    "limit is a page size from 1 to 200",
                ));
                PAGE_DEFAULT
            }
        },
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersParams {
    /// Page size, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Case-insensitive prefix of the email or the username.
    pub q: Option<String>,
    /// Only users holding this role.
    pub role: Option<String>,
    pub email_verified: Option<bool>,
    pub is_active: Option<bool>,
    /// Only users whose sign-in is paused by the lockout (or only those not paused).
    pub locked: Option<bool>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Also count every matching user (costs a full count).
    pub include_total: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserListResponse {
    pub users: Vec<UserResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// With `include_total=true`: how many users match the filters.
    pub total: Option<u64>,
}

/// List users: keyset pagination in creation order, with filters.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(ListUsersParams),
    responses(
        (status = 200, description = "A page of users", body = UserListResponse),
        (status = 400, description = "`invalid_query`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: not an admin", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: bad cursor or role", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn list_users(
    AdminUser(admin): AdminUser,
    ApiQuery(p): ApiQuery<ListUsersParams>,
) -> ApiResult<Json<UserListResponse>> {
    let mut errs = Vec::new();
    let limit = page_limit(p.limit, &mut errs);
    let role = p
        .role
        .as_deref()
        .and_then(|r| collect(&mut errs, RoleName::parse(r)));
    if !errs.is_empty() {
        return Err(AuthError::Validation(errs).into());
    }
    let after = p
        .cursor
        .as_deref()
        .map(decode_cursor)
        .transpose()?
        .map(UserId::from_uuid);
    let filter = UserFilter {
        prefix: p
            .q
            .map(|q| q.trim().to_lowercase())
            .filter(|q| !q.is_empty()),
        role,
        email_verified: p.email_verified,
        is_active: p.is_active,
        locked: p.locked,
        created_after: p.created_after,
        created_before: p.created_before,
    };
    let page = admin
        .list_users(filter, after, limit, p.include_total.unwrap_or(false))
        .await?;
    Ok(Json(UserListResponse {
        users: page.users.into_iter().map(UserResponse::from).collect(),
        next_cursor: page.next_cursor.map(|id| encode_cursor(id.as_uuid())),
        total: page.total,
    }))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/admin/users/{id}", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserResponse),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn get_user(
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<UserResponse>> {
    Ok(Json(admin.get_user(user_id(&id)?).await?.into()))
}

/// What to email a created user.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InviteKind {
    Verification,
    SetPassword,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: String,
    /// Omit to have the user choose one through an emailed link (`invite: "set_password"`).
    pub password: Option<String>,
    pub username: Option<String>,
    pub display_name: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub email_verified: bool,
    /// `set_password` emails an invitation to choose a password (`SESAME_INVITE_TOKEN_TTL`);
    /// `verification` a verification link.
    pub invite: Option<InviteKind>,
    /// The language of the user's emails: `en`, `de`, `fr` or `es` (a region such as `de-AT`
    /// is its language); anything else is refused with `unsupported_locale`.
    /// Absent: `SESAME_DEFAULT_LOCALE`.
    #[schema(example = "de")]
    pub locale: Option<String>,
}

/// Create a user, optionally emailing a verification or set-password link.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserResponse),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken` or `username_taken`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (password policy, unknown role, missing password without set-password invite)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`: password hashing is saturated; see Retry-After", body = ProblemBody, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry can succeed (RFC 9110 §10.2.3)"))),
    ))]
pub async fn create_user(
    AdminUser(admin): AdminUser,
    Client(client): Client,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> ApiResult<Response> {
    let mut errs = Vec::new();
    let email = collect(&mut errs, Email::parse(&req.email));
    let password = req
        .password
        .as_deref()
        .and_then(|p| collect(&mut errs, Password::parse(p)));
    let (username, display_name) = optional_names(
        &mut errs,
        req.username.as_deref(),
        req.display_name.as_deref(),
    );
    let roles = roles(&req.roles, &mut errs);
    let locale = optional_locale(&mut errs, req.locale.as_deref());
    let invite = req.invite.map(|i| match i {
        InviteKind::Verification => Invite::Verification,
        InviteKind::SetPassword => Invite::SetPassword,
    });
    if req.password.is_none() && invite != Some(Invite::SetPassword) {
        errs.push(FieldError::new(
            "password",
            "required",
            "give a password, or invite the user with \"set_password\"",
        ));
    }
    let (Some(email), true) = (email, errs.is_empty()) else {
        return Err(AuthError::Validation(errs).into());
    };
    let user = admin
        .create_user(
            &client,
            NewAccount {
                email,
                username,
                display_name,
                password,
                roles,
                email_verified: req.email_verified,
                invite,
                locale,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(UserResponse::from(user))).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUserRequest {
    /// `false` deactivates: every session ends at once and login is refused.
    pub is_active: Option<bool>,
    pub email_verified: Option<bool>,
    #[serde(default, deserialize_with = "super::dto::present")]
    #[schema(value_type = Option<String>, nullable)]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::dto::present")]
    #[schema(value_type = Option<String>, nullable)]
    pub username: Option<Option<String>>,
    /// Replaces the user's roles (effective in tokens at the next refresh, for admin powers at once).
    pub roles: Option<Vec<String>>,
    /// The language of the user's emails: `en`, `de`, `fr` or `es` (a region such as `de-AT`
    /// is its language); anything else is refused with `unsupported_locale`.
    #[schema(example = "de")]
    pub locale: Option<String>,
}

/// Change a user.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    request_body = PatchUserRequest,
    responses(
        (status = 200, description = "The changed user", body = UserResponse),
        (status = 401, description = "`missing_token`, `invalid_token`, or `insufficient_user_authentication`: the sign-in is older than `SESAME_REAUTH_MAX_AGE` or did not use the account's second factor; re-authenticate at `/api/v1/auth/reauthenticate` (see `WWW-Authenticate`, RFC 9470)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin` or `username_taken`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (unknown role, bad value)", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn patch_user(
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PatchUserRequest>,
) -> ApiResult<Json<UserResponse>> {
    let id = user_id(&id)?;
    let mut errs = Vec::new();
    let change = AdminUserChange {
        is_active: req.is_active,
        email_verified: req.email_verified,
        profile: profile_patch(&mut errs, req.display_name, req.username, req.locale),
        roles: req.roles.as_deref().map(|r| roles(r, &mut errs)),
    };
    if !errs.is_empty() {
        return Err(AuthError::Validation(errs).into());
    }
    let user = admin.update_user(&client, id, change).await?;
    Ok(Json(user.into()))
}

/// Delete a user and everything tied to it.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn delete_user(
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    admin.delete_user(&client, user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Clear a user's login pause.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/unlock", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Unlocked"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn unlock_user(
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    admin.unlock(&client, user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevokedResponse {
    pub sessions_ended: u64,
}

/// End every session of a user.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/revoke-sessions", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Sessions ended", body = RevokedResponse),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn revoke_sessions(
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> ApiResult<Json<RevokedResponse>> {
    let n = admin.revoke_sessions(&client, user_id(&id)?).await?;
    Ok(Json(RevokedResponse { sessions_ended: n }))
}

/// A user's live sessions.
#[utoipa::path(get, path = "/api/v1/admin/users/{id}/sessions", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Live sessions", body = [SessionResponse]),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn user_sessions(
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<SessionResponse>>> {
    let sessions = admin.user_sessions(user_id(&id)?).await?;
    let current = admin.caller_session();
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionResponse::new(s, current))
            .collect(),
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleResponse {
    pub name: String,
    pub description: String,
    pub built_in: bool,
    pub created_at: DateTime<Utc>,
    /// How many users hold it.
    pub users: u64,
}

impl From<sesame_domain::store::RoleInfo> for RoleResponse {
    fn from(r: sesame_domain::store::RoleInfo) -> Self {
        Self {
            name: r.name.as_str().to_owned(),
            description: r.description,
            built_in: r.built_in,
            created_at: r.created_at,
            users: r.users,
        }
    }
}

/// Every role.
#[utoipa::path(get, path = "/api/v1/admin/roles", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "Roles", body = [RoleResponse]),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn list_roles(AdminUser(admin): AdminUser) -> ApiResult<Json<Vec<RoleResponse>>> {
    Ok(Json(
        admin
            .roles()
            .await?
            .into_iter()
            .map(RoleResponse::from)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleRequest {
    /// 1 to 64 of a-z, 0-9, `_`, `-`, `:`.
    #[schema(example = "billing:read")]
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// Create a role.
#[utoipa::path(post, path = "/api/v1/admin/roles", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateRoleRequest,
    responses(
        (status = 201, description = "Created", body = RoleResponse),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`role_exists`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn create_role(
    AdminUser(admin): AdminUser,
    Client(client): Client,
    ApiJson(req): ApiJson<CreateRoleRequest>,
) -> ApiResult<Response> {
    let name = RoleName::parse(&req.name).map_err(|mut e| {
        e.field = "name";
        e
    })?;
    if req.description.chars().count() > 500 {
        return Err(FieldError::new(
            "description",
            "too_long",
            "a description has at most 500 characters",
        )
        .into());
    }
    let role = admin
        .create_role(&client, name, req.description.trim())
        .await?;
    Ok((StatusCode::CREATED, Json(RoleResponse::from(role))).into_response())
}

/// Delete a custom role (its grants go with it).
#[utoipa::path(delete, path = "/api/v1/admin/roles/{name}", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("name" = String, Path, description = "Role name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`built_in_role`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn delete_role(
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let name = RoleName::parse(&name).map_err(|_| ApiError::Auth(AuthError::NotFound))?;
    admin.delete_role(&client, name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Page size, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Events about this user.
    pub user_id: Option<Uuid>,
    /// Event name, e.g. `login.failed`.
    pub event: Option<String>,
    /// From this time (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Until this time (exclusive).
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditListResponse {
    pub events: Vec<AuditEventResponse>,
    pub next_cursor: Option<String>,
}

/// The audit trail, newest first.
#[utoipa::path(get, path = "/api/v1/admin/audit-events", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(AuditParams),
    responses(
        (status = 200, description = "A page of events", body = AuditListResponse),
        (status = 400, description = "`invalid_query`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn audit_events(
    AdminUser(admin): AdminUser,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<Json<AuditListResponse>> {
    let mut errs = Vec::new();
    let limit = page_limit(p.limit, &mut errs);
    if !errs.is_empty() {
        return Err(AuthError::Validation(errs).into());
    }
    let before = p.cursor.as_deref().map(decode_cursor).transpose()?;
    let (events, next) = admin
        .audit_events(AuditQuery {
            user: p.user_id.map(UserId::from_uuid),
            event: p.event,
            from: p.from,
            to: p.to,
            before,
            limit,
        })
        .await?;
    Ok(Json(AuditListResponse {
        events: events.into_iter().map(Into::into).collect(),
        next_cursor: next.map(encode_cursor),
    }))
}
