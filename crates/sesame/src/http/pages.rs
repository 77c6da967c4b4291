//! Server-rendered HTML pages at the paths emailed links point to, so every flow works with no
//! front end: one per [`Page`] (`/verify-email`, `/reset-password`, `/confirm-email`,
//! `/set-password`), plus [`NEW_LINK_PATH`], where a person whose link no longer works asks for
//! a new one. The linked paths are the domain's, which builds the links; [`routes`] registers
//! exactly those.
//!
//! Opening a link (GET) never consumes its token: the page shows a form that POSTs it. Every
//! page is in the visitor's language (see [`layout::Lang`]), in one shared frame with the
//! configured branding (see [`layout`]). No JavaScript, no external assets, a strict CSP,
//! `Referrer-Policy: no-referrer` so the token in the URL never leaks, framing denied, nothing
//! cached.
//!
//! Every error a page flow can meet has a deliberate answer: a password rule that failed is
//! named and the form shown again (422); a dead link offers a new one; being busy or rate
//! limited says when to come back; only our own failures are a 500 page. The pages decide no
//! rules themselves: the services and rate limits are the JSON API's.
//!
//! The passkey pages (`/passkeys`, `/sign-in`), which need the browser's WebAuthn API and so a
//! script, live in [`passkeys`]; the OpenID Connect authorization endpoint and its hosted
//! sign-in, second-factor and consent pages in [`authorize`], the end-session endpoint in
//! [`logout`]. They share the frame, the languages and the look.

pub mod authorize;
pub mod layout;
pub mod logout;
pub mod passkeys;

use super::extract::{first_bad_pair, Client};
use super::problem::ApiError;
use super::AppState;
use crate::mail::templates::escape_html;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, MethodRouter};
use axum::Router;
use layout::{with_retry_after, Frame, Lang};
pub use layout::{Branding, PageSettings};
use serde::Deserialize;
use sesame_domain::model::{has_disallowed_chars, ClientInfo, Email};
use sesame_domain::page::Page;
use sesame_domain::password::Password;
use sesame_domain::{AuthError, FieldError};

/// Where a person asks for a new link (GET shows the form, POST sends the link).
pub const NEW_LINK_PATH: &str = "/new-link";

/// Every path the link pages answer, for tests that visit each one (`/new-link` wants
/// `?kind=` one of [`NewLink::ALL`]'s tags). The passkey pages are
/// [`passkeys::PasskeyPage::ALL`].
#[must_use]
pub fn paths() -> Vec<&'static str> {
    Page::ALL
        .iter()
        .map(|p| p.path())
        .chain([NEW_LINK_PATH])
        .collect()
}

/// Every [`Page`] at its path, and the new-link form. The match is exhaustive, so a page the
/// domain links to cannot lack a route.
pub fn routes() -> Router<AppState> {
    fn handlers(page: Page) -> MethodRouter<AppState> {
        match page {
            Page::VerifyEmail => ButtonLink::VerifyEmail.routes(),
            Page::ConfirmEmail => ButtonLink::ConfirmEmail.routes(),
            Page::ResetPassword => PasswordLink::Reset.routes(),
            Page::SetPassword => PasswordLink::Invite.routes(),
        }
    }
    Page::ALL
        .into_iter()
        .fold(Router::new(), |router, p| {
            router.route(p.path(), handlers(p))
        })
        .route(NEW_LINK_PATH, get(new_link_page).post(new_link_submit))
        .route(
            authorize::AUTHORIZE_PATH,
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(
            logout::LOGOUT_PATH,
            get(logout::logout_get).post(logout::logout_post),
        )
        .merge(passkeys::routes())
}

fn frame<'a>(state: &'a AppState, lang: Lang) -> Frame<'a> {
    Frame::new(&state.pages, lang)
}

// --- answers every page can give ----------------------------------------------------------------

/// A page with a title and one paragraph.
fn message(f: &Frame<'_>, status: StatusCode, title: &str, text: &str, class: &str) -> Response {
    f.render(
        status,
        &f.t(title),
        None,
        &format!("<p class=\"{class}\">{}</p>", f.t(text)),
    )
}

/// 400: the link's token is missing, unknown, used, superseded or expired. Offers what can be
/// done instead: a new link of the same kind, or (for an email change, which needs the account's
/// password) signing in to the application.
fn invalid_link(f: &Frame<'_>, page: Page) -> Response {
    let mut body = format!("<p>{}</p>\n", f.t("page-invalid-text"));
    match NewLink::for_page(page) {
        Some(kind) => {
            body.push_str(&format!("<p>{}</p>\n", f.t("page-new-link-offer")));
            body.push_str(&new_link_form(f, kind, "", false));
        }
        None => {
            body.push_str(&format!(
                "<p>{}</p>",
                f.t_with("page-new-link-change-email", &[("product", f.product())])
            ));
            if let Some(url) = f.app_url() {
                body.push_str(&format!(
                    "\n<p><a id=\"app\" href=\"{}\">{}</a></p>",
                    escape_html(url),
                    f.t_with("page-sign-in-to-app", &[("product", f.product())])
                ));
            }
        }
    }
    f.render(
        StatusCode::BAD_REQUEST,
        &f.t("page-invalid-title"),
        None,
        &body,
    )
}

/// The answer to a failed service call, one arm per [`AuthError`] variant: no catch-all, so a
/// new variant needs a decision here. Validation of a new password is answered by the password
/// pages before this; anywhere else it, and the variants no page flow produces, are our bug.
fn failure(f: &Frame<'_>, page: Page, e: AuthError) -> Response {
    match e {
        AuthError::InvalidEmailToken => invalid_link(f, page),
        AuthError::EmailTaken => message(
            f,
            StatusCode::CONFLICT,
            "page-email-taken-title",
            "page-email-taken-text",
            "error",
        ),
        AuthError::Overloaded { retry_after_secs } => with_retry_after(
            message(
                f,
                StatusCode::SERVICE_UNAVAILABLE,
                "page-busy-title",
                "page-busy-text",
                "error",
            ),
            retry_after_secs,
        ),
        AuthError::TooManyAttempts { retry_after_secs } => too_many(f, retry_after_secs),
        AuthError::Unavailable(cause) => {
            tracing::error!(error = %cause, "page action failed: storage unavailable");
            with_retry_after(
                message(
                    f,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "page-busy-title",
                    "page-busy-text",
                    "error",
                ),
                5,
            )
        }
        AuthError::Internal(cause) => {
            tracing::error!(error = %cause, "page action failed");
            our_fault(f)
        }
        unexpected @ (AuthError::Validation(_)
        | AuthError::InvalidCredentials
        | AuthError::InvalidToken(_)
        | AuthError::InvalidRefreshToken
        | AuthError::UsernameTaken
        | AuthError::AccountDisabled
        | AuthError::EmailNotVerified
        | AuthError::Forbidden
        | AuthError::LastAdmin
        | AuthError::RoleExists
        | AuthError::BuiltInRole
        | AuthError::PublicClient
        | AuthError::InvalidClient
        | AuthError::UnauthorizedClient
        | AuthError::InvalidScope
        | AuthError::InvalidGrant(_)
        | AuthError::InvalidSecondFactor
        | AuthError::InvalidChallenge
        | AuthError::StepUpRequired { .. }
        | AuthError::MfaEnrolmentRequired
        | AuthError::NoSecondFactor
        | AuthError::PasskeysUnavailable
        | AuthError::NotFound) => {
            tracing::error!(error = %unexpected, "page action failed with an error no page flow expects");
            our_fault(f)
        }
    }
}

fn our_fault(f: &Frame<'_>) -> Response {
    message(
        f,
        StatusCode::INTERNAL_SERVER_ERROR,
        "page-error-title",
        "page-error-text",
        "error",
    )
}

fn too_many(f: &Frame<'_>, retry_after_secs: u64) -> Response {
    let minutes = retry_after_secs.div_ceil(60).max(1).to_string();
    let resp = f.render(
        StatusCode::TOO_MANY_REQUESTS,
        &f.t("page-too-many-title"),
        None,
        &format!(
            "<p class=\"error\">{}</p>",
            f.t_with("page-too-many-text", &[("minutes", minutes.as_str())])
        ),
    );
    with_retry_after(resp, retry_after_secs)
}

/// Why a form body was refused.
enum FormError {
    /// A field holds NUL or another control character (the API's text rule, see
    /// `extract::first_bad_pair`).
    Characters,
    /// Not the expected fields.
    Shape,
}

fn form<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, FormError> {
    if first_bad_pair(body).is_some() {
        return Err(FormError::Characters);
    }
    serde_urlencoded::from_bytes(body).map_err(|_| FormError::Shape)
}

fn bad_characters(f: &Frame<'_>) -> Response {
    message(
        f,
        StatusCode::BAD_REQUEST,
        "page-invalid-chars-title",
        "page-invalid-chars-text",
        "error",
    )
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    token: String,
}

fn query_token(q: Result<Query<TokenQuery>, QueryRejection>) -> Option<String> {
    q.ok()
        .and_then(|Query(q)| q.token)
        .filter(|t| !t.trim().is_empty() && !has_disallowed_chars(t))
}

fn hidden_token(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"token\" value=\"{}\">",
        escape_html(token)
    )
}

// --- one-button links: verify email, confirm email change ----------------------------------------

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

    /// The prefix of this page's message ids in `pages.ftl`.
    fn words(self) -> &'static str {
        match self {
            Self::VerifyEmail => "page-verify",
            Self::ConfirmEmail => "page-confirm",
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
        get(move |State(state): State<AppState>, lang: Lang, q| button_page(self, state, lang, q))
            .post(
                move |State(state): State<AppState>,
                      lang: Lang,
                      Client(client): Client,
                      body: Bytes| button_submit(self, state, lang, client, body),
            )
    }
}

/// GET — a button that posts the link's token back.
async fn button_page(
    link: ButtonLink,
    state: AppState,
    lang: Lang,
    q: Result<Query<TokenQuery>, QueryRejection>,
) -> Response {
    let f = frame(&state, lang);
    let Some(token) = query_token(q) else {
        return invalid_link(&f, link.page());
    };
    let w = link.words();
    let body = format!(
        "<p>{intro}</p>\n<form method=\"post\" action=\"{action}\">{token}\
         <button id=\"submit\" type=\"submit\">{button}</button></form>",
        intro = f.t(&format!("{w}-intro")),
        action = escape_html(&f.action(link.page().path())),
        token = hidden_token(&token),
        button = f.t(&format!("{w}-button")),
    );
    f.render(StatusCode::OK, &f.t(&format!("{w}-title")), None, &body)
}

/// POST — consumes the token.
async fn button_submit(
    link: ButtonLink,
    state: AppState,
    lang: Lang,
    client: ClientInfo,
    body: Bytes,
) -> Response {
    let f = frame(&state, lang);
    let form = match form::<TokenForm>(&body) {
        Ok(form) => form,
        Err(FormError::Characters) => return bad_characters(&f),
        Err(FormError::Shape) => return invalid_link(&f, link.page()),
    };
    match link.consume(&state, &form.token, &client).await {
        Ok(()) => {
            let w = link.words();
            message(
                &f,
                StatusCode::OK,
                &format!("{w}-done-title"),
                &format!("{w}-done-text"),
                "ok",
            )
        }
        Err(e) => failure(&f, link.page(), e),
    }
}

// --- password links: reset, set the first password from an invite -------------------------------

/// The two emailed links whose page chooses a password with the token: a reset and an
/// invitation. Same form, same service call (`Account::reset_password`), their own words.
#[derive(Debug, Clone, Copy)]
enum PasswordLink {
    /// `/reset-password`: the link in a reset mail.
    Reset,
    /// `/set-password`: the link in an invitation.
    Invite,
}

impl PasswordLink {
    fn page(self) -> Page {
        match self {
            Self::Reset => Page::ResetPassword,
            Self::Invite => Page::SetPassword,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Self::Reset => "page-reset",
            Self::Invite => "page-set",
        }
    }

    fn routes(self) -> MethodRouter<AppState> {
        get(move |State(state): State<AppState>, lang: Lang, q| password_page(self, state, lang, q))
            .post(
                move |State(state): State<AppState>,
                      lang: Lang,
                      Client(client): Client,
                      body: Bytes| password_submit(self, state, lang, client, body),
            )
    }
}

/// The rules a new password must meet, as the pages list them before the user types and name
/// them when one fails. Each is the domain rule whose `FieldError` code is [`PasswordRule::code`]:
/// the length rules of `Password::parse_field` and the checks of `PasswordPolicy::check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRule {
    TooShort,
    TooLong,
    Common,
    ContainsEmail,
    ContainsUsername,
    TooWeak,
}

impl PasswordRule {
    pub const ALL: [Self; 6] = [
        Self::TooShort,
        Self::TooLong,
        Self::Common,
        Self::ContainsEmail,
        Self::ContainsUsername,
        Self::TooWeak,
    ];

    /// The domain's stable code for this rule.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::TooShort => "too_short",
            Self::TooLong => "too_long",
            Self::Common => "common_password",
            Self::ContainsEmail => "contains_email",
            Self::ContainsUsername => "contains_username",
            Self::TooWeak => "too_weak",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Whether the configured policy applies this rule (a minimum score of 0 turns the
    /// strength rule off).
    fn applies(self, min_score: u8) -> bool {
        self != Self::TooWeak || min_score > 0
    }

    fn args() -> [(&'static str, String); 2] {
        [
            ("min", Password::MIN_CHARS.to_string()),
            ("max", Password::MAX_BYTES.to_string()),
        ]
    }

    fn text(self, f: &Frame<'_>, kind: &str) -> String {
        let [(a, min), (b, max)] = Self::args();
        f.t_with(
            &format!("page-{kind}-{}", self.code()),
            &[(a, min.as_str()), (b, max.as_str())],
        )
    }
}

/// The first failed rule among `errors` and its sentence in the page's language. A code the
/// pages do not know (a rule added to the domain but not here) is still refused with a
/// localised sentence, never a 500.
fn rule_failed(f: &Frame<'_>, errors: &[FieldError]) -> (Option<PasswordRule>, String) {
    match errors.iter().find_map(|e| PasswordRule::from_code(e.code)) {
        Some(rule) => (Some(rule), rule.text(f, "error")),
        None => {
            tracing::warn!(codes = ?errors.iter().map(|e| e.code).collect::<Vec<_>>(), "a password rule the pages do not name");
            (None, f.t("page-error-password-other"))
        }
    }
}

/// What the password form says about the last attempt.
struct Attempt {
    rule: Option<PasswordRule>,
    /// The sentence for `#error`, HTML-escaped.
    message: String,
}

fn password_form(
    f: &Frame<'_>,
    link: PasswordLink,
    token: &str,
    attempt: Option<&Attempt>,
) -> String {
    let rules: String = PasswordRule::ALL
        .into_iter()
        .filter(|r| r.applies(f.settings().password_min_score))
        .map(|r| {
            let failed = attempt.is_some_and(|a| a.rule == Some(r));
            format!(
                "<li id=\"rule-{code}\" data-rule=\"{code}\"{class}>{text}</li>",
                code = r.code(),
                class = if failed { " class=\"failed\"" } else { "" },
                text = r.text(f, "rule"),
            )
        })
        .collect();
    let invalid = if attempt.is_some() {
        " aria-invalid=\"true\""
    } else {
        ""
    };
    let w = link.words();
    // The hidden `username` field: browsers and password managers expect an account-name field
    // in a form that sets a password (Chrome warns without one); the page does not know the
    // address behind the token, so the field is empty and ignored when posted.
    format!(
        "<p>{intro}</p>\n<form method=\"post\" action=\"{action}\">{token}\
         <input type=\"text\" name=\"username\" autocomplete=\"username\" hidden>\
         <label for=\"new_password\">{new}</label>\
         <div id=\"rules-box\"><p id=\"rules-heading\" class=\"rules-heading\">{heading}</p>\
         <ul id=\"rules\" class=\"rules\" aria-labelledby=\"rules-heading\">{rules}</ul></div>\
         <input id=\"new_password\" name=\"new_password\" type=\"password\" autocomplete=\"new-password\" \
         required minlength=\"{min}\" aria-describedby=\"rules-box error\"{invalid}>\
         <label for=\"confirm_password\">{repeat}</label>\
         <input id=\"confirm_password\" name=\"confirm_password\" type=\"password\" autocomplete=\"new-password\" \
         required minlength=\"{min}\">\
         <button id=\"submit\" type=\"submit\">{button}</button></form>",
        intro = f.t(&format!("{w}-intro")),
        action = escape_html(&f.action(link.page().path())),
        token = hidden_token(token),
        new = f.t("page-new-password"),
        min = Password::MIN_CHARS,
        heading = f.t("page-rules-heading"),
        repeat = f.t("page-confirm-password"),
        button = f.t(&format!("{w}-button")),
    )
}

/// The password form again after a refused attempt: 422, the failed rule named in `#error`.
fn refused(f: &Frame<'_>, link: PasswordLink, token: &str, attempt: &Attempt) -> Response {
    f.render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &f.t(&format!("{}-title", link.words())),
        Some(&attempt.message),
        &password_form(f, link, token, Some(attempt)),
    )
}

/// GET — the new-password form, the rules listed above it.
async fn password_page(
    link: PasswordLink,
    state: AppState,
    lang: Lang,
    q: Result<Query<TokenQuery>, QueryRejection>,
) -> Response {
    let f = frame(&state, lang);
    let Some(token) = query_token(q) else {
        return invalid_link(&f, link.page());
    };
    f.render(
        StatusCode::OK,
        &f.t(&format!("{}-title", link.words())),
        None,
        &password_form(&f, link, &token, None),
    )
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    token: String,
    new_password: String,
    confirm_password: String,
}

/// POST — sets the password with the token.
async fn password_submit(
    link: PasswordLink,
    state: AppState,
    lang: Lang,
    client: ClientInfo,
    body: Bytes,
) -> Response {
    let f = frame(&state, lang);
    let form = match form::<PasswordForm>(&body) {
        Ok(form) => form,
        Err(FormError::Characters) => return bad_characters(&f),
        Err(FormError::Shape) => return bad_form(&f),
    };
    if form.new_password != form.confirm_password {
        let attempt = Attempt {
            rule: None,
            message: f.t("page-passwords-differ"),
        };
        return refused(&f, link, &form.token, &attempt);
    }
    let password = match Password::parse_field(&form.new_password, "new_password") {
        Ok(p) => p,
        Err(e) => {
            let (rule, message) = rule_failed(&f, &[e]);
            return refused(&f, link, &form.token, &Attempt { rule, message });
        }
    };
    match state
        .account
        .reset_password(&form.token, &password, &client)
        .await
    {
        Ok(()) => {
            let w = link.words();
            message(
                &f,
                StatusCode::OK,
                &format!("{w}-done-title"),
                &format!("{w}-done-text"),
                "ok",
            )
        }
        Err(AuthError::Validation(errors)) => {
            let (rule, message) = rule_failed(&f, &errors);
            refused(&f, link, &form.token, &Attempt { rule, message })
        }
        Err(e) => failure(&f, link.page(), e),
    }
}

// --- "send me a new link" ------------------------------------------------------------------------

/// The kinds of link a person can ask for again without signing in, through the same service
/// call, rate limits and silent answer as the JSON endpoints
/// (`/api/v1/auth/verify-email/resend`, `/api/v1/auth/password/forgot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NewLink {
    /// A new verification link (an unverified account's).
    VerifyEmail,
    /// A new password-reset link (also what an expired invitation leads to).
    ResetPassword,
}

impl NewLink {
    /// What a dead link of `page` offers; `None` for an email change, which needs the
    /// account's password and so is asked for again in the application.
    #[must_use]
    pub fn for_page(page: Page) -> Option<Self> {
        match page {
            Page::VerifyEmail => Some(Self::VerifyEmail),
            Page::ResetPassword | Page::SetPassword => Some(Self::ResetPassword),
            Page::ConfirmEmail => None,
        }
    }

    pub const ALL: [Self; 2] = [Self::VerifyEmail, Self::ResetPassword];

    /// The `kind` the form posts (`/new-link?kind=…` shows the form for it).
    #[must_use]
    pub fn tag(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify-email",
            Self::ResetPassword => "reset-password",
        }
    }
}

fn new_link_form(f: &Frame<'_>, kind: NewLink, email: &str, invalid: bool) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"kind\" value=\"{kind}\">\
         <label for=\"email\">{label}</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" required \
         value=\"{email}\" aria-describedby=\"error\"{invalid}>\
         <button id=\"submit\" type=\"submit\">{button}</button></form>",
        action = escape_html(&f.action(NEW_LINK_PATH)),
        kind = kind.tag(),
        label = f.t("page-new-link-email"),
        email = escape_html(email),
        invalid = if invalid {
            " aria-invalid=\"true\""
        } else {
            ""
        },
        button = f.t("page-new-link-button"),
    )
}

#[derive(Debug, Deserialize)]
pub struct NewLinkQuery {
    kind: Option<NewLink>,
}

#[derive(Debug, Deserialize)]
pub struct NewLinkForm {
    kind: NewLink,
    email: String,
}

fn bad_form(f: &Frame<'_>) -> Response {
    message(
        f,
        StatusCode::BAD_REQUEST,
        "page-bad-form-title",
        "page-bad-form-text",
        "error",
    )
}

fn new_link_screen(
    f: &Frame<'_>,
    status: StatusCode,
    kind: NewLink,
    email: &str,
    error: Option<&str>,
) -> Response {
    let body = format!(
        "<p>{}</p>\n{}",
        f.t("page-new-link-offer"),
        new_link_form(f, kind, email, error.is_some())
    );
    f.render(status, &f.t("page-new-link-title"), error, &body)
}

/// GET /new-link?kind=verify-email|reset-password — the form on its own.
async fn new_link_page(
    State(state): State<AppState>,
    lang: Lang,
    q: Result<Query<NewLinkQuery>, QueryRejection>,
) -> Response {
    let f = frame(&state, lang);
    match q.ok().and_then(|Query(q)| q.kind) {
        Some(kind) => new_link_screen(&f, StatusCode::OK, kind, "", None),
        None => bad_form(&f),
    }
}

/// Whether the request may come from another site's page. The JSON endpoints cannot be posted
/// to from another site without CORS (they take only `application/json`); a form can, so
/// another site could make its visitors' browsers ask for links in their names. Fetch Metadata
/// decides when the browser sends it (`Sec-Fetch-Site`: only `same-origin`, or `none` for a
/// request the user made directly, pass; a sibling subdomain's `same-site` does not). Without
/// it, an `Origin` other than the pages' own is refused; `Origin: null` passes, because the
/// pages' own forms send it (their `Referrer-Policy: no-referrer` makes browsers hide the
/// origin, Fetch §3.1 "serializing a request origin"), and so does a request without either
/// header (not from a browser's form).
fn from_another_site(headers: &HeaderMap, public_origin: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.as_bytes();
        return !(site.eq_ignore_ascii_case(b"same-origin") || site.eq_ignore_ascii_case(b"none"));
    }
    headers.get(axum::http::header::ORIGIN).is_some_and(|o| {
        let o = o.as_bytes();
        !(o == b"null" || o.eq_ignore_ascii_case(public_origin.as_bytes()))
    })
}

/// POST /new-link — asks for the link and answers the same whether or not an account needs one.
async fn new_link_submit(
    State(state): State<AppState>,
    lang: Lang,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = frame(&state, lang);
    if from_another_site(&headers, &state.pages.public_origin) {
        return message(
            &f,
            StatusCode::FORBIDDEN,
            "page-cross-site-title",
            "page-cross-site-text",
            "error",
        );
    }
    let form = match form::<NewLinkForm>(&body) {
        Ok(form) => form,
        Err(FormError::Characters) => return bad_characters(&f),
        Err(FormError::Shape) => return bad_form(&f),
    };
    let Ok(email) = Email::parse(&form.email) else {
        let error = f.t("page-new-link-bad-email");
        return new_link_screen(
            &f,
            StatusCode::UNPROCESSABLE_ENTITY,
            form.kind,
            &form.email,
            Some(&error),
        );
    };
    let limited = match form.kind {
        NewLink::VerifyEmail => state.limits.resend(client.ip, &email).await,
        NewLink::ResetPassword => state.limits.forgot(client.ip, &email).await,
    };
    match limited {
        Ok(()) => {}
        Err(ApiError::Auth(e)) => return failure(&f, Page::ResetPassword, e),
        // The limiter answers nothing else; anything that is not a decision is ours.
        Err(other) => {
            tracing::error!(error = %other, "new-link rate limit check failed");
            return our_fault(&f);
        }
    }
    let shown = email.as_str().to_owned();
    let account = state.account.clone();
    // As the JSON endpoints do: the work (and any failure) happens after the answer, so the
    // answer's timing does not tell whether the account exists.
    match form.kind {
        NewLink::VerifyEmail => super::account::in_background("verification resend", async move {
            account.resend_verification(&email).await
        }),
        NewLink::ResetPassword => {
            super::account::in_background("password reset request", async move {
                account.forgot_password(&email, &client).await
            });
        }
    }
    f.render(
        StatusCode::OK,
        &f.t("page-new-link-sent-title"),
        None,
        &format!(
            "<p class=\"ok\">{}</p>",
            f.t_with("page-new-link-sent-text", &[("email", shown.as_str())])
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_password_code_is_a_rule_the_pages_name() {
        use sesame_domain::model::Email;
        use sesame_domain::policy::PasswordPolicy;
        let email = Email::parse("alice@example.com").unwrap();
        let policy = PasswordPolicy::default();
        let code = |pw: &str| match Password::parse_field(pw, "p") {
            Err(e) => e.code,
            Ok(p) => policy
                .check(&p, &email, None, "p")
                .err()
                .map_or("ok", |e| e.code),
        };
        for (pw, rule) in [
            ("short", PasswordRule::TooShort),
            (&"x".repeat(300), PasswordRule::TooLong),
            ("password1", PasswordRule::Common),
            ("alice-likes-long-walks", PasswordRule::ContainsEmail),
            ("aaaaaaaaaaaa", PasswordRule::TooWeak),
        ] {
            assert_eq!(code(pw), rule.code(), "{pw}");
            assert_eq!(PasswordRule::from_code(rule.code()), Some(rule));
        }
    }

    #[test]
    fn the_strength_rule_is_listed_only_when_the_policy_has_one() {
        assert!(!PasswordRule::TooWeak.applies(0));
        assert!(PasswordRule::TooWeak.applies(3));
        assert!(PasswordRule::Common.applies(0));
    }

    #[test]
    fn every_dead_link_but_an_email_change_offers_a_new_one() {
        for page in Page::ALL {
            let offer = NewLink::for_page(page);
            assert_eq!(offer.is_none(), page == Page::ConfirmEmail, "{page:?}");
        }
    }
}
