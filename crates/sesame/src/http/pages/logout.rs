//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the `end_session_endpoint`,
//! [`LOGOUT_PATH`], GET and POST.
//!
//! With a valid `id_token_hint` the browser's single-sign-on session and the client session the
//! hint names end at once; without one, a person is asked to confirm (a form protected like the
//! sign-in forms), so another site cannot sign people out by linking here. A
//! `post_logout_redirect_uri` is followed only when it is registered for the client the hint (or
//! `client_id`) names, exactly; otherwise nobody is redirected and the page says the person is
//! signed out.
//!
//! Refuses: deciding which sessions end (the provider service's).

use super::authorize::{sso_cookie_name, CSRF_COOKIE};
use super::layout::{Frame, Lang};
use super::{frame, from_another_site, our_fault};
use crate::http::cookies::{append, constant_time_eq, cookie, random_token};
use crate::http::extract::{first_bad_pair, Client};
use crate::http::AppState;
use crate::mail::templates::escape_html;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sesame_domain::model::ClientInfo;

/// The end-session endpoint.
pub const LOGOUT_PATH: &str = "/oauth2/logout";

/// The parameters read (OpenID Connect RP-Initiated Logout 1.0 §2).
#[derive(Debug, Default)]
struct LogoutRequest {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
    confirm: bool,
    csrf: Option<String>,
}

fn parse(pairs: Vec<(String, String)>) -> LogoutRequest {
    let mut r = LogoutRequest::default();
    for (k, v) in pairs {
        if v.is_empty() {
            continue;
        }
        match k.as_str() {
            "id_token_hint" => r.id_token_hint = Some(v),
            "post_logout_redirect_uri" => r.post_logout_redirect_uri = Some(v),
            "state" => r.state = Some(v),
            "client_id" => r.client_id = Some(v),
            "sesame_action" => r.confirm = v == "logout",
            "sesame_csrf" => r.csrf = Some(v),
            _ => {}
        }
    }
    r
}

pub async fn logout_get(
    State(state): State<AppState>,
    lang: Lang,
    Client(client): Client,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let f = frame(&state, lang);
    if first_bad_pair(query.as_bytes()).is_some() {
        return refused(&f);
    }
    let req = parse(serde_urlencoded::from_str(&query).unwrap_or_default());
    end(&state, f, &headers, req, client, false).await
}

pub async fn logout_post(
    State(state): State<AppState>,
    lang: Lang,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = frame(&state, lang);
    if first_bad_pair(&body).is_some() {
        return refused(&f);
    }
    let req = parse(serde_urlencoded::from_bytes(&body).unwrap_or_default());
    let confirmed = req.confirm
        && !from_another_site(&headers, &state.pages.public_origin)
        && match (cookie(&headers, CSRF_COOKIE), req.csrf.as_deref()) {
            (Some(c), Some(f)) => constant_time_eq(c.as_bytes(), f.as_bytes()),
            _ => false,
        };
    end(&state, f, &headers, req, client, confirmed).await
}

async fn end(
    state: &AppState,
    f: Frame<'_>,
    headers: &HeaderMap,
    req: LogoutRequest,
    client: ClientInfo,
    confirmed: bool,
) -> Response {
    let provider = &state.provider;
    let hint = match req.id_token_hint.as_deref() {
        Some(h) => match provider.read_id_token_hint(h) {
            Ok(claims) => Some(claims),
            Err(_) => return refused(&f),
        },
        None => None,
    };
    // The client: the hint's audience, which `client_id` must agree with (§2).
    let hint_aud = hint
        .as_ref()
        .and_then(|h| h["aud"].as_str().map(str::to_owned));
    let client_id = match (hint_aud, req.client_id.clone()) {
        (Some(a), Some(c)) if a != c => return refused(&f),
        (Some(a), _) => Some(a),
        (None, c) => c,
    };
    let registered = match &client_id {
        Some(id) => match provider.client(id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "logout: client lookup failed");
                return our_fault(&f);
            }
        },
        None => None,
    };
    // Only a URI registered for that client, exactly (§3); else nobody is sent anywhere.
    let redirect = match &req.post_logout_redirect_uri {
        Some(uri) => match &registered {
            Some(c)
                if c.settings
                    .post_logout_redirect_uris
                    .iter()
                    .any(|r| r.as_str() == uri) =>
            {
                Some(uri.clone())
            }
            _ => return refused(&f),
        },
        None => None,
    };
    let browser = match cookie(headers, sso_cookie_name(state)) {
        Some(token) => match provider.browser_session(token).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "logout: browser session lookup failed");
                return our_fault(&f);
            }
        },
        None => None,
    };
    // A hint ends this browser's session without asking only when it is this browser's user's
    // own: anyone can hold some valid ID token (their own), and must not sign others out by
    // linking here with it.
    let hint_is_the_browsers = match (&browser, &hint) {
        (Some(b), Some(h)) => h["sub"].as_str() == Some(b.user.id.to_string().as_str()),
        _ => false,
    };
    let asks = match (&browser, &hint) {
        (Some(_), _) => !hint_is_the_browsers,
        (None, None) => true,
        (None, Some(_)) => false,
    };
    if asks && !confirmed {
        return confirm_page(state, &f, &req, headers);
    }
    if let Err(e) = provider
        .end_session(browser.as_ref(), hint.as_ref(), &client)
        .await
    {
        tracing::error!(error = %e, "logout failed");
        return our_fault(&f);
    }
    let mut resp = match redirect {
        Some(uri) => {
            let Ok(mut url) = url::Url::parse(&uri) else {
                return our_fault(&f);
            };
            if let Some(s) = &req.state {
                url.query_pairs_mut().append_pair("state", s);
            }
            let mut resp = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(url.as_str()) {
                resp.headers_mut().insert(LOCATION, v);
            }
            resp.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        None => f.render(
            StatusCode::OK,
            &f.t("logout-done-title"),
            None,
            &format!(
                "<p class=\"ok\">{}</p>",
                f.t_with("logout-done-text", &[("product", f.product())])
            ),
        ),
    };
    let clear = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        sso_cookie_name(state),
        if state.http.hsts { "; Secure" } else { "" }
    );
    append(&mut resp, &clear);
    resp
}

/// Asks the person to confirm, in a form that posts the request back with a CSRF token.
fn confirm_page(
    state: &AppState,
    f: &Frame<'_>,
    req: &LogoutRequest,
    headers: &HeaderMap,
) -> Response {
    let existing = cookie(headers, CSRF_COOKIE).map(str::to_owned);
    let csrf = existing.clone().unwrap_or_else(random_token::<32>);
    let mut hidden = String::new();
    for (k, v) in [
        ("id_token_hint", &req.id_token_hint),
        ("post_logout_redirect_uri", &req.post_logout_redirect_uri),
        ("state", &req.state),
        ("client_id", &req.client_id),
    ] {
        if let Some(v) = v {
            hidden.push_str(&format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">",
                escape_html(v)
            ));
        }
    }
    let body = format!(
        "<p>{text}</p>\n<form method=\"post\" action=\"{action}\">{hidden}\
         <input type=\"hidden\" name=\"sesame_action\" value=\"logout\">\
         <input type=\"hidden\" name=\"sesame_csrf\" value=\"{csrf}\">\
         <button id=\"submit\" type=\"submit\">{button}</button></form>",
        text = f.t_with("logout-confirm-text", &[("product", f.product())]),
        action = escape_html(&f.action(LOGOUT_PATH)),
        csrf = escape_html(&csrf),
        button = f.t("logout-button"),
    );
    let mut resp = f.render(StatusCode::OK, &f.t("logout-title"), None, &body);
    if existing.is_none() {
        let set = format!(
            "{CSRF_COOKIE}={csrf}; Path={LOGOUT_PATH}; HttpOnly; SameSite=Strict{}",
            if state.http.hsts { "; Secure" } else { "" }
        );
        append(&mut resp, &set);
    }
    resp
}

/// 400: an invalid hint, a client mismatch, or an unregistered redirect URI. Nobody is
/// redirected and nothing ends.
fn refused(f: &Frame<'_>) -> Response {
    f.render(
        StatusCode::BAD_REQUEST,
        &f.t("logout-refused-title"),
        None,
        &format!("<p class=\"error\">{}</p>", f.t("logout-refused-text")),
    )
}
