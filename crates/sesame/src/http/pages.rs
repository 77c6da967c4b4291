//! Small server-rendered HTML pages at the paths emailed links point to, so every flow works with
//! no front end: one per [`Page`] (`/verify-email`, `/reset-password`, `/confirm-email`). The
//! paths are the domain's, which builds the links; [`routes`] registers exactly those.
//!
//! Opening a link (GET) never consumes its token: the page shows a form that POSTs it. No
//! JavaScript, no external assets; a strict CSP (only the one inline stylesheet, by hash, and
//! forms posting back to this origin), `Referrer-Policy: no-referrer` so the token in the URL
//! never leaks, framing denied, nothing cached.

use super::extract::{first_bad_pair, Client};
use super::AppState;
use crate::mail::templates::escape_html;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use base64::Engine as _;
use serde::Deserialize;
use sesame_domain::model::{has_disallowed_chars, ClientInfo};
use sesame_domain::page::Page;
use sesame_domain::password::Password;
use sesame_domain::AuthError;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.5rem;box-sizing:border-box}\
button{margin-top:1rem;padding:.6rem 1.2rem}.error{color:#a00}.ok{color:#070}";

/// The page CSP: nothing but the one inline stylesheet (by hash) and same-origin form posts.
static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
});

/// Every [`Page`] at its path. The match is exhaustive, so a page the domain links to cannot
/// lack a route.
pub fn routes() -> Router<AppState> {
    fn handlers(page: Page) -> MethodRouter<AppState> {
        match page {
            Page::VerifyEmail => ButtonLink::VerifyEmail.routes(),
            Page::ResetPassword => get(reset_password_page).post(reset_password_submit),
            // An invitation's link: the reset form sets the first password (the token's purpose
            // tells the service which it is).
            Page::SetPassword => get(reset_password_page).post(reset_password_submit),
            Page::ConfirmEmail => ButtonLink::ConfirmEmail.routes(),
        }
    }
    Page::ALL.into_iter().fold(Router::new(), |router, p| {
        router.route(p.path(), handlers(p))
    })
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head>\n<body><h1>{t}</h1>\n{body}\n</body></html>\n",
        t = escape_html(title)
    );
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&CSP) {
        h.insert(CONTENT_SECURITY_POLICY, v);
    }
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn invalid_link() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "This link does not work",
        "<p class=\"error\">The link is invalid, was already used, was replaced by a newer one, or has expired. Ask for a new one.</p>",
    )
}

fn failure(e: &AuthError) -> Response {
    match e {
        AuthError::InvalidEmailToken => invalid_link(),
        AuthError::EmailTaken => page(
            StatusCode::CONFLICT,
            "Address already in use",
            "<p class=\"error\">Another account uses this address now, so it cannot become yours.</p>",
        ),
        AuthError::Overloaded { .. } => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again",
            "<p class=\"error\">The server is busy. Please try again in a moment.</p>",
        ),
        other => {
            tracing::error!(error = %other, "page action failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p class=\"error\">Something went wrong on our side. Please try again later.</p>",
            )
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    token: String,
}

#[derive(Debug, Deserialize)]
pub struct ResetForm {
    token: String,
    new_password: String,
    confirm_password: String,
}

/// Parses a form body. A field with NUL or another control character gets a 400 page saying so
/// (the same text rule as the API's, see `extract::first_bad_pair`); anything that is not the
/// expected form is an invalid link.
fn form<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Box<Response>> {
    if first_bad_pair(body).is_some() {
        return Err(Box::new(page(
            StatusCode::BAD_REQUEST,
            "Invalid characters",
            "<p class=\"error\">The form contained control characters, which are not allowed. Go back and try again.</p>",
        )));
    }
    serde_urlencoded::from_bytes(body).map_err(|_| Box::new(invalid_link()))
}

fn confirm_form(action: &str, token: &str, intro: &str, button: &str) -> String {
    format!(
        "<p>{intro}</p>\n<form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <button type=\"submit\">{button}</button></form>",
        token = escape_html(token)
    )
}

fn query_token(q: Result<Query<TokenQuery>, QueryRejection>) -> Option<String> {
    q.ok()
        .and_then(|Query(q)| q.token)
        .filter(|t| !t.trim().is_empty() && !has_disallowed_chars(t))
}

/// The two emailed links whose page is one button that consumes the token: the same handlers
/// serve both, with these words and this service call.
#[derive(Debug, Clone, Copy)]
enum ButtonLink {
    /// `/verify-email`: confirms the address of a new account.
    VerifyEmail,
    /// `/confirm-email`: completes a change of address.
    ConfirmEmail,
}

impl ButtonLink {
    fn page(self) -> Page {
        match self {
            Self::VerifyEmail => Page::VerifyEmail,
            Self::ConfirmEmail => Page::ConfirmEmail,
        }
    }

    /// The GET page's title, its text and the button's label.
    fn prompt(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::VerifyEmail => (
                "Confirm your email address",
                "Press the button to confirm your email address.",
                "Confirm my email address",
            ),
            Self::ConfirmEmail => (
                "Confirm your new email address",
                "Press the button to make this your account's email address.",
                "Confirm the new address",
            ),
        }
    }

    /// The title and text (HTML) once the token is consumed.
    fn done(self) -> (&'static str, &'static str) {
        match self {
            Self::VerifyEmail => (
                "Email address confirmed",
                "<p class=\"ok\">Thank you: your email address is confirmed. You can sign in now.</p>",
            ),
            Self::ConfirmEmail => (
                "Email address changed",
                "<p class=\"ok\">Your account now uses the new address.</p>",
            ),
        }
    }

    async fn consume(
        self,
        state: &AppState,
        token: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        match self {
            Self::VerifyEmail => state.account.verify_email(token, client).await,
            Self::ConfirmEmail => state.account.confirm_email_change(token, client).await,
        }
    }

    fn routes(self) -> MethodRouter<AppState> {
        get(move |q| button_page(self, q)).post(
            move |State(state): State<AppState>, Client(client): Client, body: Bytes| {
                button_submit(self, state, client, body)
            },
        )
    }
}

/// GET — a button that posts the link's token back.
async fn button_page(link: ButtonLink, q: Result<Query<TokenQuery>, QueryRejection>) -> Response {
    let Some(token) = query_token(q) else {
        return invalid_link();
    };
    let (title, intro, button) = link.prompt();
    page(
        StatusCode::OK,
        title,
        &confirm_form(link.page().path(), &token, intro, button),
    )
}

/// POST — consumes the token.
async fn button_submit(
    link: ButtonLink,
    state: AppState,
    client: ClientInfo,
    body: Bytes,
) -> Response {
    let f = match form::<TokenForm>(&body) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    match link.consume(&state, &f.token, &client).await {
        Ok(()) => {
            let (title, text) = link.done();
            page(StatusCode::OK, title, text)
        }
        Err(e) => failure(&e),
    }
}

fn reset_form(token: &str, error: Option<&str>) -> String {
    let error = error.map_or(String::new(), |e| {
        format!("<p class=\"error\">{}</p>", escape_html(e))
    });
    format!(
        "{error}<form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <label for=\"new_password\">New password (at least 8 characters)</label>\
         <input id=\"new_password\" name=\"new_password\" type=\"password\" autocomplete=\"new-password\" required minlength=\"8\">\
         <label for=\"confirm_password\">Repeat it</label>\
         <input id=\"confirm_password\" name=\"confirm_password\" type=\"password\" autocomplete=\"new-password\" required minlength=\"8\">\
         <button type=\"submit\">Set the new password</button></form>",
        action = Page::ResetPassword.path(),
        token = escape_html(token)
    )
}

/// GET /reset-password?token=… — the new-password form.
pub async fn reset_password_page(q: Result<Query<TokenQuery>, QueryRejection>) -> Response {
    let Some(token) = query_token(q) else {
        return invalid_link();
    };
    page(
        StatusCode::OK,
        "Choose a new password",
        &reset_form(&token, None),
    )
}

/// POST /reset-password — sets the password with the token.
pub async fn reset_password_submit(
    State(state): State<AppState>,
    Client(client): Client,
    body: Bytes,
) -> Response {
    let f = match form::<ResetForm>(&body) {
        Ok(f) => f,
        Err(resp) => return *resp,
    };
    if f.new_password != f.confirm_password {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose a new password",
            &reset_form(&f.token, Some("The two passwords differ.")),
        );
    }
    let password = match Password::parse_field(&f.new_password, "new_password") {
        Ok(p) => p,
        Err(e) => {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Choose a new password",
                &reset_form(&f.token, Some(&e.message)),
            )
        }
    };
    match state.account.reset_password(&f.token, &password, &client).await {
        Ok(()) => page(StatusCode::OK, "Password changed", "<p class=\"ok\">Your password is changed and every session was signed out. You can sign in with the new password.</p>"),
        Err(e) => failure(&e),
    }
}
