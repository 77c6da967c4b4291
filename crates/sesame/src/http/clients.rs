//! The admin API of registered OAuth / OpenID Connect clients (`/api/v1/admin/clients`): list,
//! register, read, change, rotate the secret, delete. Fields take the client metadata names of
//! RFC 7591 §2 where one exists (`client_name`, `redirect_uris`, `grant_types`, `scope`,
//! `token_endpoint_auth_method`, `id_token_signed_response_alg`), so a registration reads as
//! integrators know it; `client_type`, `first_party` and the lifetimes are Sesame's own.
//!
//! Every handler takes [`AdminUser`] (401 without a token, 403 without the `admin` role); the
//! rules live in `sesame_domain::client` and `Admin`'s client methods. It shapes JSON; it decides
//! nothing.

use super::extract::{AdminUser, ApiJson, Client};
use super::problem::{ApiError, ApiResult, ProblemBody};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sesame_domain::client::{ClientId, ClientInput, ClientKind, ClientSecret, OAuthClient};
use sesame_domain::{AuthError, FieldError};
use utoipa::ToSchema;

/// A registered client (never its secret, but right after it was made).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ClientResponse {
    /// The public identifier (RFC 6749 §2.2).
    pub client_id: String,
    pub client_name: String,
    /// `confidential` (has a secret) or `public` (proves itself with PKCE alone).
    pub client_type: String,
    /// Present only in the answer that created it (registration, rotation): store it now, it is
    /// not shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// How the client authenticates at the token endpoint: `client_secret_basic` (or
    /// `client_secret_post`) for a confidential client, `none` for a public one.
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Space-delimited (RFC 6749 §3.3).
    #[schema(example = "openid email profile offline_access")]
    pub scope: String,
    /// Trusted by the operator: users are not asked for consent.
    pub first_party: bool,
    /// Seconds; `null`: the server's `SESAME_ACCESS_TOKEN_TTL`.
    pub access_token_ttl: Option<u64>,
    /// Seconds; `null`: the server's `SESAME_REFRESH_TOKEN_TTL`.
    pub refresh_token_ttl: Option<u64>,
    /// `RS256` or `EdDSA`.
    pub id_token_signed_response_alg: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Never prints the secret (a debug log line must not leak it).
impl std::fmt::Debug for ClientResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientResponse")
            .field("client_id", &self.client_id)
            .field("client_name", &self.client_name)
            .field("client_type", &self.client_type)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

impl ClientResponse {
    /// The answer for `c`, with its secret when it was just made.
    #[must_use]
    pub fn new(c: &OAuthClient, secret: Option<&ClientSecret>) -> Self {
        let s = &c.settings;
        let strings = |l: &[sesame_domain::client::RedirectUri]| {
            l.iter().map(|u| u.as_str().to_owned()).collect()
        };
        Self {
            client_id: c.id.to_string(),
            client_name: s.name.as_str().to_owned(),
            client_type: c.kind.as_str().to_owned(),
            client_secret: secret.map(|x| x.reveal().to_owned()),
            token_endpoint_auth_method: match c.kind {
                ClientKind::Confidential => "client_secret_basic",
                ClientKind::Public => "none",
            }
            .to_owned(),
            redirect_uris: strings(&s.redirect_uris),
            post_logout_redirect_uris: strings(&s.post_logout_redirect_uris),
            grant_types: s.grants.iter().map(|g| g.as_str().to_owned()).collect(),
            scope: sesame_domain::client::Scope::join(&s.scopes),
            first_party: s.first_party,
            access_token_ttl: s.access_token_ttl.map(|d| d.as_secs()),
            refresh_token_ttl: s.refresh_token_ttl.map(|d| d.as_secs()),
            id_token_signed_response_alg: s.id_token_alg.as_str().to_owned(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A new client. Grant types default to `authorization_code` and `refresh_token`, the scope to
/// `openid email profile offline_access`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientRequest {
    /// 1–100 characters; shown to users on the consent page.
    #[schema(min_length = 1, max_length = 100)]
    pub client_name: String,
    /// `confidential` (default) or `public`.
    pub client_type: Option<String>,
    /// Exact URIs (https; http only on loopback; a reversed-domain scheme for native apps).
    /// Required with `authorization_code`.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials` (confidential only),
    /// `password`.
    pub grant_types: Option<Vec<String>>,
    /// Space-delimited: `openid`, `email`, `profile`, `offline_access`.
    pub scope: Option<String>,
    #[serde(default)]
    pub first_party: bool,
    /// Seconds, 60–86400.
    pub access_token_ttl: Option<u64>,
    /// Seconds, 300–31536000.
    pub refresh_token_ttl: Option<u64>,
    /// `RS256` (default) or `EdDSA`.
    pub id_token_signed_response_alg: Option<String>,
}

/// A change to a client: absent fields stay; `null` clears a lifetime override. The type and the
/// secret do not change here (see the secret rotation).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchClientRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub client_name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scope: Option<String>,
    pub first_party: Option<bool>,
    #[serde(default, deserialize_with = "super::dto::present")]
    #[schema(value_type = Option<u64>, nullable)]
    pub access_token_ttl: Option<Option<u64>>,
    #[serde(default, deserialize_with = "super::dto::present")]
    #[schema(value_type = Option<u64>, nullable)]
    pub refresh_token_ttl: Option<Option<u64>>,
    pub id_token_signed_response_alg: Option<String>,
}

fn scope_words(raw: &str) -> Vec<String> {
    raw.split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A `client_id` from the path: one that cannot be ours is simply not found.
fn client_id(raw: &str) -> Result<ClientId, ApiError> {
    ClientId::parse(raw).ok_or(ApiError::Auth(AuthError::NotFound))
}

/// Every registered client, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/clients", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "Clients", body = [ClientResponse]),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn list_clients(AdminUser(admin): AdminUser) -> ApiResult<Json<Vec<ClientResponse>>> {
    let clients = admin.clients().await?;
    Ok(Json(
        clients
            .iter()
            .map(|c| ClientResponse::new(c, None))
            .collect(),
    ))
}

/// Register a client. A confidential client's `client_secret` is in this answer only.
#[utoipa::path(post, path = "/api/v1/admin/clients", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateClientRequest,
    responses(
        (status = 201, description = "Registered", body = ClientResponse),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: e.g. `redirect_uris` / `invalid_redirect_uri`, `grant_types` / `public_client`, `scope` / `unknown_scope`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn create_client(
    AdminUser(admin): AdminUser,
    Client(client): Client,
    ApiJson(req): ApiJson<CreateClientRequest>,
) -> ApiResult<Response> {
    let kind = match req.client_type.as_deref() {
        None => Ok(ClientKind::Confidential),
        Some(k) => ClientKind::parse(k)
            .ok_or_else(|| FieldError::new("client_type", "invalid", "confidential or public")),
    };
    let input = ClientInput {
        name: req.client_name,
        redirect_uris: req.redirect_uris,
        post_logout_redirect_uris: req.post_logout_redirect_uris,
        grants: req.grant_types,
        scopes: req.scope.as_deref().map(scope_words),
        first_party: req.first_party,
        access_token_ttl: req.access_token_ttl,
        refresh_token_ttl: req.refresh_token_ttl,
        id_token_alg: req.id_token_signed_response_alg,
    };
    let (kind, settings) = match (kind, input.parse()) {
        (Ok(k), Ok(s)) => (k, s),
        (k, s) => {
            let mut errs = k.err().into_iter().collect::<Vec<_>>();
            errs.extend(s.err().into_iter().flatten());
            return Err(AuthError::Validation(errs).into());
        }
    };
    let (c, secret) = admin.create_client(&client, kind, settings).await?;
    Ok((
        StatusCode::CREATED,
        super::no_store(Json(ClientResponse::new(&c, secret.as_ref()))),
    )
        .into_response())
}

/// One client.
#[utoipa::path(get, path = "/api/v1/admin/clients/{id}", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = String, Path, description = "The `client_id`")),
    responses(
        (status = 200, description = "The client", body = ClientResponse),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn get_client(
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<ClientResponse>> {
    let c = admin.client(client_id(&id)?).await?;
    Ok(Json(ClientResponse::new(&c, None)))
}

/// Change a client's registration.
#[utoipa::path(patch, path = "/api/v1/admin/clients/{id}", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = String, Path, description = "The `client_id`")),
    request_body = PatchClientRequest,
    responses(
        (status = 200, description = "Changed", body = ClientResponse),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, as for registration", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn patch_client(
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PatchClientRequest>,
) -> ApiResult<Json<ClientResponse>> {
    let id = client_id(&id)?;
    let current = admin.client(id).await?;
    let mut input = ClientInput::of(&current.settings);
    if let Some(v) = req.client_name {
        input.name = v;
    }
    if let Some(v) = req.redirect_uris {
        input.redirect_uris = v;
    }
    if let Some(v) = req.post_logout_redirect_uris {
        input.post_logout_redirect_uris = v;
    }
    if let Some(v) = req.grant_types {
        input.grants = Some(v);
    }
    if let Some(v) = req.scope {
        input.scopes = Some(scope_words(&v));
    }
    if let Some(v) = req.first_party {
        input.first_party = v;
    }
    if let Some(v) = req.access_token_ttl {
        input.access_token_ttl = v;
    }
    if let Some(v) = req.refresh_token_ttl {
        input.refresh_token_ttl = v;
    }
    if let Some(v) = req.id_token_signed_response_alg {
        input.id_token_alg = Some(v);
    }
    let settings = input.parse().map_err(AuthError::Validation)?;
    let c = admin.update_client(&client, id, settings).await?;
    Ok(Json(ClientResponse::new(&c, None)))
}

/// Give a confidential client a new secret (in this answer only); the old one stops working at
/// once.
#[utoipa::path(post, path = "/api/v1/admin/clients/{id}/secret", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = String, Path, description = "The `client_id`")),
    responses(
        (status = 200, description = "The client with its new `client_secret`", body = ClientResponse),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`public_client`: a public client has no secret", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn rotate_client_secret(
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (c, secret) = admin.rotate_client_secret(&client, client_id(&id)?).await?;
    Ok(super::no_store(Json(ClientResponse::new(&c, Some(&secret)))).into_response())
}

/// Delete a client.
#[utoipa::path(delete, path = "/api/v1/admin/clients/{id}", tag = "admin",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = String, Path, description = "The `client_id`")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn delete_client(
    AdminUser(admin): AdminUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    admin.delete_client(&client, client_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
