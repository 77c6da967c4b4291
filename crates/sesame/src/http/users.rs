//! The caller's own account under `/api/v1/users/me`: read it, change display name or username.

use super::auth::collect;
use super::dto::{UpdateMeRequest, UserResponse};
use super::extract::{ApiJson, CurrentUser, EnrollingUser};
use super::problem::{ApiResult, ProblemBody};
use super::AppState;
use axum::extract::State;
use axum::Json;
use sesame_domain::locale::Locale;
use sesame_domain::model::{DisplayName, ProfilePatch, Username};
use sesame_domain::{AuthError, FieldError};

/// The authenticated user.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The caller's account", body = UserResponse),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn get_me(EnrollingUser(who): EnrollingUser) -> Json<UserResponse> {
    Json(who.user.into())
}

/// Change the caller's display name, username and/or email language. Absent fields are left
/// alone; `null` clears (a name; the language is set, never cleared).
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, description = "The updated account", body = UserResponse),
        (status = 401, description = "`missing_token` or `invalid_token`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`username_taken`", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (its `errors` name the field: e.g. `unsupported_locale`) or `invalid_body`", body = ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn patch_me(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    ApiJson(req): ApiJson<UpdateMeRequest>,
) -> ApiResult<Json<UserResponse>> {
    let mut errs = Vec::new();
    let patch = profile_patch(&mut errs, req.display_name, req.username, req.locale);
    if !errs.is_empty() {
        return Err(AuthError::Validation(errs).into());
    }
    let user = state.account.update_profile(&who, patch).await?;
    Ok(Json(user.into()))
}

/// Parses a change of profile (absent: left alone; `null`: cleared), collecting failures like
/// [`collect`]; the caller's own and an admin's changes share it.
pub(crate) fn profile_patch(
    errors: &mut Vec<FieldError>,
    display_name: Option<Option<String>>,
    username: Option<Option<String>>,
    locale: Option<String>,
) -> ProfilePatch {
    ProfilePatch {
        display_name: display_name.map(|d| d.and_then(|d| collect(errors, DisplayName::parse(&d)))),
        username: username.map(|u| u.and_then(|u| collect(errors, Username::parse(&u)))),
        locale: locale.and_then(|l| collect(errors, Locale::parse(&l))),
    }
}
