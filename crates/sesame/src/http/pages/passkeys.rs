//! The two pages that use passkeys in the browser: [`PasskeyPage::Passkeys`] (`/passkeys`: sign
//! in with the password, and a second factor's code if the account has one, or with a passkey,
//! then add a passkey) and [`PasskeyPage::SignIn`] (`/sign-in`: passwordless sign-in with a
//! discoverable passkey), plus the one script both run ([`SCRIPT_PATH`]).
//!
//! WebAuthn exists only as a browser API, so unlike the link pages these run a script: a file
//! of this origin, admitted by the scripted CSP of [`layout`](super::layout), never inline code.
//! The script calls the same JSON endpoints any front end does (`/api/v1/auth/login`,
//! `/auth/login/mfa`, `/auth/passkey/*`, `/users/me/factors/passkeys*`) and keeps the tokens in
//! the page's memory only. The pages decide nothing: what is accepted is the API's to say, and
//! the script puts each refusal (a problem `code`, or the browser's DOMException) into the
//! page's words.
//!
//! Refuses: working without the script (the forms stay hidden and a `<noscript>` says why, so
//! a password can never be submitted as a query string), and any text that is not in the
//! page's language: every sentence the script may show is rendered into the page as data
//! (`#passkey-words`, a JSON block the browser does not execute).

use super::layout::{Frame, Lang};
use super::{frame, AppState};
use crate::i18n;
use crate::mail::templates::escape_html;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Where the pages' script is served.
pub const SCRIPT_PATH: &str = "/pages/passkeys.js";

const SCRIPT: &str = include_str!("passkeys.js");

/// The pages that run the passkey script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyPage {
    /// `/passkeys`: sign in, then add a passkey.
    Passkeys,
    /// `/sign-in`: sign in with a passkey alone.
    SignIn,
}

impl PasskeyPage {
    pub const ALL: [Self; 2] = [Self::Passkeys, Self::SignIn];

    #[must_use]
    pub fn path(self) -> &'static str {
        match self {
            Self::Passkeys => "/passkeys",
            Self::SignIn => "/sign-in",
        }
    }

    /// The message id of the page's title (its `h1`).
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Self::Passkeys => "page-passkeys-title",
            Self::SignIn => "page-signin-title",
        }
    }
}

/// The sentences the script shows, by message id: rendered into each page in its language.
/// `{email}` and `{name}` are filled in by the script.
pub const SCRIPT_WORDS: &[&str] = &[
    "page-passkey-working",
    "page-passkey-signed-in-as",
    "page-passkey-added",
    "page-passkey-error-credentials",
    "page-passkey-error-code",
    "page-passkey-error-expired",
    "page-passkey-error-disabled",
    "page-passkey-error-unverified",
    "page-passkey-error-too-many",
    "page-passkey-error-busy",
    "page-passkey-error-network",
    "page-passkey-error-signed-out",
    "page-passkey-error-name",
    "page-passkey-error-cancelled",
    "page-passkey-error-exists",
    "page-passkey-error-not-added",
    "page-passkey-error-origin",
    "page-passkey-error-unsupported",
    "page-passkey-error-insecure",
    "page-passkey-error-unknown-passkey",
    "page-passkey-error-other",
];

/// The two pages and their script.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PasskeyPage::Passkeys.path(), get(passkeys_page))
        .route(PasskeyPage::SignIn.path(), get(sign_in_page))
        .route(SCRIPT_PATH, get(script))
}

/// The script's words in `f`'s language, as a JSON data block (`#passkey-words`).
fn words(f: &Frame<'_>) -> String {
    let map: serde_json::Map<String, serde_json::Value> = SCRIPT_WORDS
        .iter()
        .map(|key| {
            let text = i18n::text_with(
                f.lang.locale,
                key,
                &[("email", "{email}"), ("name", "{name}")],
            );
            ((*key).to_owned(), serde_json::Value::String(text))
        })
        .collect();
    data_block("passkey-words", &serde_json::Value::Object(map))
}

/// `value` as a `<script type="application/json">` block, which the browser does not run (HTML
/// §4.12.1.2 "data block"). `<` is written as `\u003c`, so no text can end the element early.
fn data_block(id: &str, value: &serde_json::Value) -> String {
    let json = value.to_string().replace('<', "\\u003c");
    format!("<script id=\"{id}\" type=\"application/json\">{json}</script>")
}

/// What every passkey page says when the script does not run.
fn noscript(f: &Frame<'_>) -> String {
    format!(
        "<noscript><p class=\"error\">{}</p></noscript>",
        f.t("page-passkey-noscript")
    )
}

/// A paragraph (`id`, shown or `hidden`) with a link to the other page, keeping a `?lang=`
/// choice.
fn link(f: &Frame<'_>, id: &str, hidden: bool, to: PasskeyPage, words: &str) -> String {
    format!(
        "<p id=\"{id}\" class=\"other\"{hidden}><a href=\"{href}\">{text}</a></p>",
        hidden = if hidden { " hidden" } else { "" },
        href = escape_html(&f.action(to.path())),
        text = f.t(words),
    )
}

/// GET /passkeys — sign in (password, then a code when asked, or a passkey), then add a
/// passkey. Every form starts hidden; the script shows the first one.
async fn passkeys_page(State(state): State<AppState>, lang: Lang) -> Response {
    let f = frame(&state, lang);
    let page = PasskeyPage::Passkeys;
    let body = format!(
        "{words}\n<p>{intro}</p>\n{noscript}\n\
         <p id=\"status\" role=\"status\" aria-live=\"polite\" hidden></p>\n\
         <form id=\"password-form\" hidden>\
         <label for=\"email\">{email}</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required aria-describedby=\"error\">\
         <label for=\"password\">{password}</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required aria-describedby=\"error\">\
         <button id=\"sign-in\" type=\"submit\">{sign_in}</button>\
         <button id=\"use-passkey\" class=\"secondary\" type=\"button\">{use_passkey}</button>\
         </form>\n\
         <form id=\"code-form\" hidden>\
         <p>{code_intro}</p>\
         <label for=\"code\">{code}</label>\
         <input id=\"code\" name=\"code\" type=\"text\" autocomplete=\"one-time-code\" autocapitalize=\"none\" spellcheck=\"false\" required aria-describedby=\"error\">\
         <button id=\"verify\" type=\"submit\">{verify}</button>\
         <button id=\"code-use-passkey\" class=\"secondary\" type=\"button\">{use_passkey}</button>\
         </form>\n\
         <form id=\"add-form\" hidden>\
         <p id=\"signed-in\"></p>\
         <p>{add_intro}</p>\
         <label for=\"name\">{name}</label>\
         <input id=\"name\" name=\"name\" type=\"text\" autocomplete=\"off\" required aria-describedby=\"error\">\
         <button id=\"add\" type=\"submit\">{add}</button>\
         </form>\n\
         <div id=\"recovery\" hidden><p>{recovery}</p><ol id=\"recovery-codes\" class=\"codes\"></ol></div>\n\
         {other}",
        words = words(&f),
        intro = f.t("page-passkeys-intro"),
        noscript = noscript(&f),
        email = f.t("page-passkeys-email"),
        password = f.t("page-passkeys-password"),
        sign_in = f.t("page-passkeys-sign-in-button"),
        use_passkey = f.t("page-passkeys-use-passkey"),
        code_intro = f.t("page-passkeys-code-intro"),
        code = f.t("page-passkeys-code"),
        verify = f.t("page-passkeys-code-button"),
        add_intro = f.t("page-passkeys-add-intro"),
        name = f.t("page-passkeys-name"),
        add = f.t("page-passkeys-add-button"),
        recovery = f.t("page-passkeys-recovery"),
        // Shown once a passkey is added.
        other = link(&f, "try-it", true, PasskeyPage::SignIn, "page-passkeys-try-it"),
    );
    f.render_scripted(StatusCode::OK, &f.t(page.title()), &body, SCRIPT_PATH)
}

/// GET /sign-in — one button that signs in with a passkey. The button starts hidden; the script
/// shows it where the browser can use passkeys.
async fn sign_in_page(State(state): State<AppState>, lang: Lang) -> Response {
    let f = frame(&state, lang);
    let page = PasskeyPage::SignIn;
    let body = format!(
        "{words}\n<p>{intro}</p>\n{noscript}\n\
         <p id=\"status\" role=\"status\" aria-live=\"polite\" hidden></p>\n\
         <button id=\"passkey-sign-in\" type=\"button\" hidden>{button}</button>\n\
         {other}",
        words = words(&f),
        intro = f.t("page-signin-intro"),
        noscript = noscript(&f),
        button = f.t("page-signin-button"),
        other = link(
            &f,
            "to-passkeys",
            false,
            PasskeyPage::Passkeys,
            "page-signin-to-passkeys"
        ),
    );
    f.render_scripted(StatusCode::OK, &f.t(page.title()), &body, SCRIPT_PATH)
}

/// GET /pages/passkeys.js — the script, revalidated on every use so an upgrade takes effect at
/// once (it is small). `nosniff` comes with every response (`security::security_headers`).
async fn script() -> Response {
    let mut resp = (StatusCode::OK, SCRIPT).into_response();
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_domain::locale::Locale;

    #[test]
    fn the_script_uses_only_words_the_page_gives_it() {
        // Every `'page-passkey-…'` literal in the script is one the page renders.
        let used: Vec<&str> = SCRIPT
            .split('\'')
            .filter(|s| s.starts_with("page-passkey-"))
            .collect();
        assert!(used.len() > 10, "the script names its words: {used:?}");
        for key in used {
            assert!(SCRIPT_WORDS.contains(&key), "{key} is not in SCRIPT_WORDS");
        }
    }

    #[test]
    fn every_script_word_is_translated_and_keeps_its_placeholders() {
        for locale in Locale::ALL {
            for key in SCRIPT_WORDS {
                let text =
                    i18n::text_with(locale, key, &[("email", "{email}"), ("name", "{name}")]);
                assert!(!text.is_empty() && text != *key, "{locale}: {key}");
            }
            let signed_in =
                i18n::text_with(locale, "page-passkey-signed-in-as", &[("email", "{email}")]);
            assert!(signed_in.contains("{email}"), "{locale}: {signed_in}");
            let added = i18n::text_with(locale, "page-passkey-added", &[("name", "{name}")]);
            assert!(added.contains("{name}"), "{locale}: {added}");
        }
    }

    #[test]
    fn no_word_can_end_its_data_block_early() {
        let text = "</script><script>alert(1)</script>";
        let block = data_block("w", &serde_json::json!({ "k": text }));
        let inner = block
            .strip_prefix("<script id=\"w\" type=\"application/json\">")
            .and_then(|b| b.strip_suffix("</script>"))
            .unwrap();
        assert!(!inner.contains('<'), "{block}");
        let back: serde_json::Value = serde_json::from_str(inner).unwrap();
        assert_eq!(back["k"], text);
    }
}
