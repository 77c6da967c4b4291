//! The frame every page shares: the document around a page's own content (language, title,
//! product name and logo, the `#error` live region, the link back to the application), the one
//! stylesheet (built once at startup with the accent colour) and the response headers that go
//! with it (CSP, `Content-Language`, `Vary: Accept-Language`, no caching, no referrer).
//!
//! Also which language a page speaks ([`Lang`]): `?lang=` if it names a supported one, else the
//! browser's `Accept-Language`, else the configured default.
//!
//! Refuses fonts and every asset from elsewhere: the CSP admits the stylesheet by its hash, the
//! configured logo by its exact URL, and nothing else. The link pages run no script at all; the
//! passkey pages (`pages::passkeys`), which need the browser's WebAuthn API, get a second policy
//! that adds this origin's own script file and calls to this origin's API ([`Frame::render_scripted`]),
//! never inline code. It does not choose any page's words; the handlers in `pages` do, through
//! `i18n`.

use super::super::AppState;
use crate::branding::{AccentColor, LogoUrl, ProductName};
use crate::i18n;
use crate::mail::templates::escape_html;
use axum::extract::FromRequestParts;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_LANGUAGE, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    RETRY_AFTER, VARY, X_FRAME_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sesame_domain::locale::Locale;
use sha2::{Digest, Sha256};

/// The stylesheet, with `__ACCENT__` and `__ON_ACCENT__` still to fill in.
const STYLE_TEMPLATE: &str = include_str!("style.css");

/// How the pages present the product, from the configuration.
#[derive(Debug, Clone)]
pub struct Branding {
    pub product_name: ProductName,
    pub logo_url: Option<LogoUrl>,
    pub accent: AccentColor,
    /// `SESAME_APP_URL`: where "back to the application" leads; no such link without it.
    pub app_url: Option<String>,
}

/// Everything the pages need from the configuration, prepared once at startup.
#[derive(Debug)]
pub struct PageSettings {
    branding: Branding,
    /// The language of a page whose request names none Sesame speaks.
    default_locale: Locale,
    /// The configured zxcvbn score (0 turns the strength rule off, so the pages do not list it).
    pub(super) password_min_score: u8,
    /// Where the pages are served (`https://auth.example.com`): the one origin a form may be
    /// posted from when the browser sends no Fetch Metadata.
    pub(super) public_origin: String,
    css: String,
    csp: HeaderValue,
    /// [`Self::csp`] plus this origin's scripts and API, for the passkey pages.
    csp_scripted: HeaderValue,
}

impl PageSettings {
    /// Builds the stylesheet and the CSP. `public_origin` (`https://auth.example.com`) is where
    /// the pages are served, against which a logo given as a path is resolved.
    #[must_use]
    pub fn new(
        branding: Branding,
        public_origin: &str,
        password_min_score: u8,
        default_locale: Locale,
    ) -> Self {
        let css = STYLE_TEMPLATE
            .trim_end()
            .replace("__ACCENT__", &branding.accent.hex())
            .replace("__ON_ACCENT__", &branding.accent.text_on().hex());
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(css.as_bytes()));
        // CSP Level 3: `default-src 'none'` refuses everything not named after it.
        let img = branding
            .logo_url
            .as_ref()
            .map(|l| format!("; img-src {}", l.csp_source(public_origin)))
            .unwrap_or_default();
        let csp = format!(
            "default-src 'none'; style-src 'sha256-{hash}'{img}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        );
        // The passkey pages' script is a file of this origin (served `nosniff`, so nothing of
        // this origin that is not JavaScript can run as a script) and talks to this origin's
        // API; Trusted Types (where the browser has them) refuse string-to-DOM sinks, which the
        // script never uses.
        let scripted = format!(
            "{csp}; script-src 'self'; connect-src 'self'; require-trusted-types-for 'script'"
        );
        // The logo's characters are checked when it is parsed, so this cannot fail; if it ever
        // did, the pages would go out under the stricter policy without the logo.
        let csp = HeaderValue::from_str(&csp).unwrap_or_else(|_| {
            HeaderValue::from_static(
                "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            )
        });
        let csp_scripted = HeaderValue::from_str(&scripted).unwrap_or_else(|_| {
            HeaderValue::from_static(
                "default-src 'none'; script-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'",
            )
        });
        Self {
            branding,
            default_locale,
            password_min_score,
            public_origin: public_origin.to_owned(),
            css,
            csp,
            csp_scripted,
        }
    }

    /// The page stylesheet, for tests that check its colours.
    #[must_use]
    pub fn css(&self) -> &str {
        &self.css
    }
}

/// The language a page is shown in, and whether the request chose it with `?lang=` (then the
/// page's forms carry it on, so the answer to a form speaks the same language).
#[derive(Debug, Clone, Copy)]
pub struct Lang {
    pub locale: Locale,
    overridden: bool,
}

impl FromRequestParts<AppState> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let chosen = parts.uri.query().and_then(|q| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                .unwrap_or_default()
                .into_iter()
                .find(|(k, _)| k == "lang")
                .and_then(|(_, v)| Locale::from_tag(&v))
        });
        if let Some(locale) = chosen {
            return Ok(Self {
                locale,
                overridden: true,
            });
        }
        // RFC 9110 §12.5.4; several header lines are one list (§5.3).
        let locale = i18n::negotiate_headers(&parts.headers).unwrap_or(state.pages.default_locale);
        Ok(Self {
            locale,
            overridden: false,
        })
    }
}

/// One page being answered: the settings and the language, with the helpers every page uses.
#[derive(Clone, Copy)]
pub struct Frame<'a> {
    settings: &'a PageSettings,
    pub lang: Lang,
}

impl<'a> Frame<'a> {
    #[must_use]
    pub fn new(settings: &'a PageSettings, lang: Lang) -> Self {
        Self { settings, lang }
    }

    pub fn settings(&self) -> &'a PageSettings {
        self.settings
    }

    /// The product name, as configured (not escaped).
    pub fn product(&self) -> &'a str {
        self.settings.branding.product_name.as_str()
    }

    /// `SESAME_APP_URL`, when set.
    pub fn app_url(&self) -> Option<&'a str> {
        self.settings.branding.app_url.as_deref()
    }

    /// Message `key` in this page's language, HTML-escaped.
    pub fn t(&self, key: &str) -> String {
        escape_html(&i18n::text(self.lang.locale, key))
    }

    /// Message `key` with arguments, HTML-escaped (arguments included).
    pub fn t_with(&self, key: &str, args: &[(&'static str, &str)]) -> String {
        escape_html(&i18n::text_with(self.lang.locale, key, args))
    }

    /// A form's `action` for `path`: the same path, keeping a `?lang=` choice.
    pub fn action(&self, path: &str) -> String {
        if self.lang.overridden {
            format!("{path}?lang={}", self.lang.locale.as_str())
        } else {
            path.to_owned()
        }
    }

    /// The whole page. `title`, `error` (the text of `#error`) and `body` are HTML: escaped
    /// text from [`Frame::t`], or markup built from it.
    pub fn render(
        &self,
        status: StatusCode,
        title: &str,
        error: Option<&str>,
        body: &str,
    ) -> Response {
        self.document(status, title, error, body, None)
    }

    /// A page that runs the script file at `script` (a path on this origin), under the CSP that
    /// admits it. `body` as for [`Frame::render`]; the page starts with an empty `#error`, which
    /// the script fills.
    pub fn render_scripted(
        &self,
        status: StatusCode,
        title: &str,
        body: &str,
        script: &str,
    ) -> Response {
        self.document(status, title, None, body, Some(script))
    }

    fn document(
        &self,
        status: StatusCode,
        title: &str,
        error: Option<&str>,
        body: &str,
        script: Option<&str>,
    ) -> Response {
        let product = escape_html(self.product());
        let logo = self
            .settings
            .branding
            .logo_url
            .as_ref()
            .map_or(String::new(), |l| {
                // Decorative: the product name follows as text.
                format!("<img src=\"{}\" alt=\"\">", escape_html(l.src()))
            });
        let error = error.unwrap_or_default();
        let footer = self.app_url().map_or(String::new(), |url| {
            format!(
                "<footer><a id=\"back\" href=\"{}\">{}</a></footer>\n",
                escape_html(url),
                self.t_with("page-back-to-app", &[("product", self.product())])
            )
        });
        let html = format!(
            "<!doctype html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta name=\"color-scheme\" content=\"light dark\">\
             <title>{title} – {product}</title><style>{css}</style>{script}</head>\n<body>\n\
             <header class=\"brand\">{logo}<span>{product}</span></header>\n\
             <main>\n<h1>{title}</h1>\n\
             <div id=\"error\" class=\"error\" role=\"alert\" aria-live=\"assertive\" aria-atomic=\"true\">{error}</div>\n\
             {body}\n</main>\n{footer}</body></html>\n",
            lang = self.lang.locale.as_str(),
            css = self.settings.css,
            script = script.map_or(String::new(), |src| format!(
                "<script src=\"{}\" defer></script>",
                escape_html(src)
            )),
        );
        let mut resp = (status, html).into_response();
        let h = resp.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        let csp = if script.is_some() {
            &self.settings.csp_scripted
        } else {
            &self.settings.csp
        };
        h.insert(CONTENT_SECURITY_POLICY, csp.clone());
        h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            CONTENT_LANGUAGE,
            HeaderValue::from_static(self.lang.locale.as_str()),
        );
        h.append(VARY, HeaderValue::from_static("accept-language"));
        resp
    }
}

/// Adds `Retry-After` (RFC 9110 §10.2.3) to a 429 or 503 page.
pub fn with_retry_after(mut resp: Response, secs: u64) -> Response {
    resp.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(logo: Option<&str>, accent: &str) -> PageSettings {
        PageSettings::new(
            Branding {
                product_name: ProductName::parse("Acme").unwrap(),
                logo_url: logo.map(|l| LogoUrl::parse(l).unwrap()),
                accent: AccentColor::parse(accent).unwrap(),
                app_url: None,
            },
            "https://auth.example.com",
            3,
            Locale::En,
        )
    }

    fn csp(s: &PageSettings) -> String {
        s.csp.to_str().unwrap().to_owned()
    }

    #[test]
    fn the_csp_admits_the_stylesheet_by_hash_and_the_logo_exactly() {
        let plain = settings(None, AccentColor::DEFAULT);
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(plain.css()));
        assert_eq!(
            csp(&plain),
            format!("default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
        );
        let remote = settings(Some("https://cdn.example/logo.svg"), AccentColor::DEFAULT);
        assert!(
            csp(&remote).contains("; img-src https://cdn.example/logo.svg;"),
            "{}",
            csp(&remote)
        );
        let local = settings(Some("/static/logo.png"), AccentColor::DEFAULT);
        assert!(
            csp(&local).contains("; img-src https://auth.example.com/static/logo.png;"),
            "{}",
            csp(&local)
        );
    }

    #[test]
    fn the_scripted_csp_adds_only_this_origins_script_and_api_to_the_plain_one() {
        let s = settings(Some("https://cdn.example/logo.svg"), AccentColor::DEFAULT);
        let scripted = s.csp_scripted.to_str().unwrap();
        assert_eq!(
            scripted,
            format!(
                "{}; script-src 'self'; connect-src 'self'; require-trusted-types-for 'script'",
                csp(&s)
            )
        );
        assert!(
            !csp(&s).contains("script-src"),
            "the link pages run no script"
        );
    }

    #[test]
    fn the_stylesheet_carries_the_accent_and_its_text_colour() {
        let s = settings(None, "#ffd400");
        assert!(s.css().contains("--accent:#ffd400;--on-accent:#000000"));
        assert!(!s.css().contains("__"), "every placeholder filled");
    }

    /// `--name:#rrggbb` values in one block of the stylesheet.
    fn palette(block: &str) -> std::collections::HashMap<String, AccentColor> {
        block
            .split(['{', ';', '}'])
            .filter_map(|decl| decl.trim().strip_prefix("--"))
            .filter_map(|decl| decl.split_once(':'))
            .filter_map(|(k, v)| AccentColor::parse(v).ok().map(|c| (k.to_owned(), c)))
            .collect()
    }

    #[test]
    fn text_meets_wcag_aa_contrast_in_light_and_dark() {
        let css = settings(None, AccentColor::DEFAULT).css;
        let (light, dark) = css
            .split_once("@media (prefers-color-scheme:dark)")
            .unwrap();
        let light = palette(light);
        let mut dark_palette = light.clone();
        dark_palette.extend(palette(dark.split("}}").next().unwrap()));
        for (scheme, p) in [("light", &light), ("dark", &dark_palette)] {
            let pair = |fg: &str, bg: &str| crate::branding::contrast(p[fg], p[bg]);
            for (fg, bg, min) in [
                ("fg", "bg", 4.5),
                ("fg", "card", 4.5),
                ("muted", "card", 4.5),
                ("muted", "bg", 4.5),
                ("error-fg", "error-bg", 4.5),
                ("error-fg", "card", 4.5),
                ("ok-fg", "ok-bg", 4.5),
                // WCAG 2.1 §1.4.11: an input's edge against the card (the focus ring is `fg`).
                ("border", "card", 3.0),
            ] {
                let ratio = pair(fg, bg);
                assert!(ratio >= min, "{scheme}: {fg} on {bg} is {ratio:.2}");
            }
            assert!(pair("accent", "on-accent") >= 4.5, "{scheme}: button text");
        }
    }
}
