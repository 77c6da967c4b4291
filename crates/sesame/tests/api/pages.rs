//! The built-in pages emailed links open, over HTTP: a refused password names the rule and shows
//! the form again (issue 12, defect 1), the rules are listed before anyone types, every page
//! speaks the browser's language, a dead link offers a new one through the same rate limits and
//! silent answer as the JSON API, and the branding settings reach the page and its CSP. The
//! passkey pages speak the same languages in the same frame, and their CSP admits their one
//! script file and this origin's API, nothing inline.
//! (`browser.rs`-style checks of layout and keyboard use belong to the headless-browser suite.)

use crate::helpers::{spawn_app_with, Backend, TestApp, PASSWORD};
use crate::smtp::SmtpSink;
use base64::Engine as _;
use reqwest::header::{ACCEPT_LANGUAGE, CONTENT_TYPE};
use serde_json::json;
use sesame::http::pages::passkeys::{PasskeyPage, SCRIPT_PATH, SCRIPT_WORDS};
use sesame::i18n;
use sesame_domain::locale::Locale;
use sha2::{Digest, Sha256};

const ALICE: &str = "alice@example.com";
const GOOD: &str = "an entirely new passphrase";

async fn app_with_sink(b: Backend, extra: &[&str]) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let mut flags: Vec<&str> = sink.serve_flags().to_vec();
    flags.extend_from_slice(extra);
    let app = spawn_app_with(b, &[], &flags).await;
    (app, sink)
}

async fn post_form(
    app: &TestApp,
    path: &str,
    lang: Option<&str>,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(path))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap());
    if let Some(lang) = lang {
        req = req.header(ACCEPT_LANGUAGE, lang);
    }
    req.send().await.unwrap()
}

async fn get_page(app: &TestApp, path: &str, lang: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    if let Some(lang) = lang {
        req = req.header(ACCEPT_LANGUAGE, lang);
    }
    req.send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// The text of `#error` (the aria-live region).
fn error_region(html: &str) -> &str {
    let start = html
        .find("<div id=\"error\"")
        .unwrap_or_else(|| panic!("no #error in {html}"));
    let open_end = start + html[start..].find('>').unwrap() + 1;
    let close = open_end + html[open_end..].find("</div>").unwrap();
    &html[open_end..close]
}

/// `s` as the pages write it into HTML.
fn escaped(s: &str) -> String {
    sesame::mail::templates::escape_html(s)
}

fn sentence(locale: Locale, key: &str) -> String {
    escaped(&i18n::text_with(
        locale,
        key,
        &[("min", "8"), ("max", "256")],
    ))
}

/// A reset token for alice, registered with a username, from the reset mail.
async fn reset_token(app: &TestApp, sink: &SmtpSink) -> String {
    let r = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": ALICE, "password": PASSWORD, "username": "wonderbird"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(app.forgot_password(ALICE).await.status(), 202);
    let m = sink.wait_for_mail_to(ALICE, 2).await;
    m.token()
}

// --- defect 1: a refused password is a 422 naming the rule, never a 500 ---------------------------

async fn a_password_that_breaks_a_rule_is_refused_naming_the_rule_and_the_form_returns(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    let token = reset_token(&app, &sink).await;
    let too_long = "x".repeat(300);
    for path in ["/reset-password", "/set-password"] {
        for (password, code) in [
            ("password1", "common_password"),
            ("aaaaaaaaaaaa", "too_weak"),
            ("alice in wonderland forever", "contains_email"),
            ("wonderbird flies at dawn", "contains_username"),
            ("short", "too_short"),
            (too_long.as_str(), "too_long"),
        ] {
            let r = post_form(
                &app,
                path,
                None,
                &[
                    ("token", &token),
                    ("new_password", password),
                    ("confirm_password", password),
                ],
            )
            .await;
            assert_eq!(r.status(), 422, "{path} {code}");
            let html = r.text().await.unwrap();
            assert_eq!(
                error_region(&html),
                sentence(Locale::En, &format!("page-error-{code}")),
                "{path}: {password:?} names the rule {code}"
            );
            assert!(
                html.contains(&format!(
                    "id=\"rule-{code}\" data-rule=\"{code}\" class=\"failed\""
                )),
                "{path}: the failed rule is marked in the list: {html}"
            );
            assert!(
                html.contains(&format!("name=\"token\" value=\"{token}\""))
                    && html.contains("id=\"new_password\""),
                "{path}: the form is there to try again: {html}"
            );
        }
    }
    // The refusals did not use up the link: a good password is taken.
    let r = post_form(
        &app,
        "/reset-password",
        None,
        &[
            ("token", &token),
            ("new_password", GOOD),
            ("confirm_password", GOOD),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.login(ALICE, GOOD).await.status(), 200);
}

async fn a_refusal_is_in_the_pages_language(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    let token = reset_token(&app, &sink).await;
    for locale in Locale::ALL {
        let r = post_form(
            &app,
            "/reset-password",
            Some(locale.as_str()),
            &[
                ("token", &token),
                ("new_password", "password1"),
                ("confirm_password", "password1"),
            ],
        )
        .await;
        assert_eq!(r.status(), 422);
        assert_eq!(
            header(&r, "content-language").as_deref(),
            Some(locale.as_str())
        );
        let html = r.text().await.unwrap();
        assert_eq!(
            error_region(&html),
            sentence(locale, "page-error-common_password"),
            "{locale}"
        );
    }
    let r = post_form(
        &app,
        "/reset-password",
        Some("de"),
        &[
            ("token", &token),
            ("new_password", GOOD),
            ("confirm_password", "something else entirely"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert_eq!(
        error_region(&html),
        sentence(Locale::De, "page-passwords-differ")
    );
}

// --- the rules before typing, the page ids the browser suite uses ---------------------------------

async fn the_password_pages_list_the_rules_before_anyone_types(b: Backend) {
    let app = spawn_app_with(b, &[], &[]).await;
    for (path, title) in [
        ("/reset-password", "page-reset-title"),
        ("/set-password", "page-set-title"),
    ] {
        let r = get_page(&app, &format!("{path}?token=abc"), None).await;
        assert_eq!(r.status(), 200, "{path}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&format!("<h1>{}</h1>", sentence(Locale::En, title))),
            "{path}: {html}"
        );
        for code in [
            "too_short",
            "too_long",
            "common_password",
            "contains_email",
            "contains_username",
            "too_weak",
        ] {
            let rule = sentence(Locale::En, &format!("page-rule-{code}"));
            assert!(
                html.contains(&format!("data-rule=\"{code}\">{rule}</li>")),
                "{path}: rule {code} listed: {html}"
            );
        }
        for needle in [
            "<label for=\"new_password\">",
            "<input id=\"new_password\" name=\"new_password\" type=\"password\"",
            "<label for=\"confirm_password\">",
            "<input id=\"confirm_password\" name=\"confirm_password\" type=\"password\"",
            "<button id=\"submit\" type=\"submit\">",
            "<div id=\"error\" class=\"error\" role=\"alert\" aria-live=\"assertive\"",
            "have at least 8 characters",
        ] {
            assert!(html.contains(needle), "{path}: `{needle}` in {html}");
        }
        assert!(!html.contains("<script"), "{path}: no script");
        assert_eq!(error_region(&html), "", "{path}: no error before trying");
    }
    assert!(
        get_page(&app, "/set-password?token=abc", None)
            .await
            .text()
            .await
            .unwrap()
            .contains("Welcome — choose your password"),
        "the invitation page has its own words"
    );
}

async fn without_a_strength_rule_the_pages_do_not_list_one(b: Backend) {
    let app = spawn_app_with(b, &[], &["--password-min-score", "0"]).await;
    let html = get_page(&app, "/reset-password?token=abc", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-rule=\"common_password\""), "{html}");
    assert!(!html.contains("data-rule=\"too_weak\""), "{html}");
}

async fn the_set_password_page_sets_the_password_with_its_own_words(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    let token = reset_token(&app, &sink).await;
    let r = post_form(
        &app,
        "/set-password",
        None,
        &[
            ("token", &token),
            ("new_password", GOOD),
            ("confirm_password", GOOD),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&sentence(Locale::En, "page-set-done-title")),
        "{html}"
    );
    assert_eq!(app.login(ALICE, GOOD).await.status(), 200);
}

// --- languages ------------------------------------------------------------------------------------

async fn every_page_speaks_the_browsers_language_and_says_so(b: Backend) {
    let app = spawn_app_with(b, &[], &[]).await;
    let pages = [
        ("/verify-email?token=abc", "page-verify-title"),
        ("/confirm-email?token=abc", "page-confirm-title"),
        ("/reset-password?token=abc", "page-reset-title"),
        ("/set-password?token=abc", "page-set-title"),
        ("/new-link?kind=verify-email", "page-new-link-title"),
    ];
    assert_eq!(
        pages.len(),
        sesame::http::pages::paths().len(),
        "every page is visited"
    );
    for (path, title) in pages {
        for (accept, expect) in [
            (None, Locale::En),
            (Some("de-DE,de;q=0.9,en;q=0.5"), Locale::De),
            (Some("fr-CA"), Locale::Fr),
            (Some("it, es;q=0.8"), Locale::Es),
            (Some("it, pt"), Locale::En),
        ] {
            let r = get_page(&app, path, accept).await;
            assert_eq!(r.status(), 200, "{path}");
            assert_eq!(
                header(&r, "content-language").as_deref(),
                Some(expect.as_str()),
                "{path} {accept:?}"
            );
            let vary = r
                .headers()
                .get_all("vary")
                .iter()
                .map(|v| v.to_str().unwrap().to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join(",");
            assert!(vary.contains("accept-language"), "{path}: Vary: {vary}");
            let html = r.text().await.unwrap();
            assert!(
                html.contains(&format!("<html lang=\"{expect}\">")),
                "{path} {accept:?}: {html}"
            );
            assert!(
                html.contains(&format!("<h1>{}</h1>", sentence(expect, title))),
                "{path} {accept:?}: {html}"
            );
        }
    }
    // `?lang=` wins over the header, and the page's form keeps it.
    let r = get_page(&app, "/reset-password?token=abc&lang=fr", Some("de")).await;
    assert_eq!(header(&r, "content-language").as_deref(), Some("fr"));
    let html = r.text().await.unwrap();
    assert!(
        html.contains("action=\"/reset-password?lang=fr\""),
        "{html}"
    );
}

/// A browser that names no language Sesame speaks gets the operator's default, not English.
async fn without_a_language_the_browser_asks_for_pages_speak_the_default_locale(b: Backend) {
    let app = spawn_app_with(b, &[], &["--default-locale", "es"]).await;
    for accept in [None, Some("it, pt;q=0.5")] {
        let r = get_page(&app, "/reset-password?token=abc", accept).await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            header(&r, "content-language").as_deref(),
            Some("es"),
            "{accept:?}"
        );
        let html = r.text().await.unwrap();
        assert!(html.contains("<html lang=\"es\">"), "{accept:?}: {html}");
    }
    // A language it does speak still wins over the default.
    let r = get_page(&app, "/reset-password?token=abc", Some("de")).await;
    assert_eq!(header(&r, "content-language").as_deref(), Some("de"));
}

// --- a dead link, and a new one -------------------------------------------------------------------

async fn a_dead_link_offers_a_new_link_of_its_own_kind(b: Backend) {
    let app = spawn_app_with(b, &[], &["--app-url", "https://app.example"]).await;
    for (path, kind) in [
        ("/verify-email", "verify-email"),
        ("/reset-password", "reset-password"),
        ("/set-password", "reset-password"),
    ] {
        let r = get_page(&app, path, None).await;
        assert_eq!(r.status(), 400, "{path} without a token");
        let html = r.text().await.unwrap();
        for needle in [
            "<form method=\"post\" action=\"/new-link\">".to_owned(),
            format!("<input type=\"hidden\" name=\"kind\" value=\"{kind}\">"),
            "<label for=\"email\">".to_owned(),
            "<input id=\"email\" name=\"email\" type=\"email\"".to_owned(),
            "<button id=\"submit\" type=\"submit\">".to_owned(),
        ] {
            assert!(html.contains(&needle), "{path}: `{needle}` in {html}");
        }
        // The same offer after a used or unknown token is posted.
        let fields: &[(&str, &str)] = if path == "/verify-email" {
            &[("token", "no-such-token")]
        } else {
            &[
                ("token", "no-such-token"),
                ("new_password", GOOD),
                ("confirm_password", GOOD),
            ]
        };
        let r = post_form(&app, path, None, fields).await;
        assert_eq!(r.status(), 400, "{path}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&format!("name=\"kind\" value=\"{kind}\"")),
            "{path}: {html}"
        );
    }
    // An email change needs the password, so its page sends the user to the application.
    let r = get_page(&app, "/confirm-email", None).await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(!html.contains("action=\"/new-link\""), "{html}");
    assert!(
        html.contains("<a id=\"app\" href=\"https://app.example\">Sign in to Sesame</a>"),
        "{html}"
    );
    assert!(
        html.contains("<a id=\"back\" href=\"https://app.example\">Back to Sesame</a>"),
        "the shared footer links back: {html}"
    );
}

/// The page after asking for a link, with the address taken out.
async fn answer_without(r: reqwest::Response, address: &str) -> (u16, String) {
    let status = r.status().as_u16();
    let html = r.text().await.unwrap().replace(address, "ADDRESS");
    (status, html)
}

async fn a_new_link_is_sent_and_the_answer_is_the_same_whether_or_not_the_account_exists(
    b: Backend,
) {
    let (app, sink) = app_with_sink(
        b,
        &[
            "--require-verified-email",
            "true",
            "--verify-resend-interval",
            "1s",
        ],
    )
    .await;
    app.create_user(ALICE).await;
    sink.wait_for_mail_to(ALICE, 1).await;
    app.clock.advance(std::time::Duration::from_secs(5));

    for kind in ["verify-email", "reset-password"] {
        let known = post_form(&app, "/new-link", None, &[("kind", kind), ("email", ALICE)]).await;
        let unknown = post_form(
            &app,
            "/new-link",
            None,
            &[("kind", kind), ("email", "nobody@example.com")],
        )
        .await;
        let known = answer_without(known, ALICE).await;
        let unknown = answer_without(unknown, "nobody@example.com").await;
        assert_eq!(known.0, 200, "{kind}: {}", known.1);
        assert_eq!(known, unknown, "{kind}: the answer does not tell");
        assert!(
            known
                .1
                .contains(&sentence(Locale::En, "page-new-link-sent-title")),
            "{}",
            known.1
        );
    }
    // The two requests' mails are sent in the background, in either order.
    sink.wait_for_mail_to(ALICE, 3).await;
    let links: Vec<String> = sink
        .messages_to(ALICE)
        .iter()
        .map(crate::smtp::Mail::expect_link)
        .collect();
    let kinds = |page: &str| links.iter().filter(|l| l.contains(page)).count();
    assert_eq!(
        (
            kinds("/verify-email?token="),
            kinds("/reset-password?token=")
        ),
        (2, 1),
        "a second verification link and a reset link: {links:?}"
    );
    let verify = sink
        .messages_to(ALICE)
        .into_iter()
        .rev()
        .find(|m| m.expect_link().contains("/verify-email?token="))
        .unwrap();
    assert!(sink.messages_to("nobody@example.com").is_empty());

    // The new verification link works.
    let r = post_form(&app, "/verify-email", None, &[("token", &verify.token())]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.login(ALICE, PASSWORD).await.status(), 200);
}

async fn the_new_link_form_refuses_what_is_not_an_address(b: Backend) {
    let app = spawn_app_with(b, &[], &[]).await;
    let r = post_form(
        &app,
        "/new-link",
        Some("es"),
        &[("kind", "reset-password"), ("email", "not-an-address")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert_eq!(
        error_region(&html),
        sentence(Locale::Es, "page-new-link-bad-email")
    );
    assert!(
        html.contains("value=\"not-an-address\" aria-describedby=\"error\" aria-invalid=\"true\""),
        "the address is kept to correct: {html}"
    );
    let r = post_form(
        &app,
        "/new-link",
        None,
        &[("kind", "teleport"), ("email", ALICE)],
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = get_page(&app, "/new-link", None).await;
    assert_eq!(r.status(), 400, "a new link of no kind");
}

async fn the_new_link_form_is_rate_limited_like_the_json_endpoints(b: Backend) {
    let app = spawn_app_with(
        b,
        &[],
        &["--rate-forgot-email", "1/1h", "--rate-resend-email", "1/1h"],
    )
    .await;
    for (kind, json_path) in [
        ("reset-password", "/api/v1/auth/password/forgot"),
        ("verify-email", "/api/v1/auth/verify-email/resend"),
    ] {
        let fields = [("kind", kind), ("email", ALICE)];
        assert_eq!(
            post_form(&app, "/new-link", None, &fields).await.status(),
            200
        );
        let r = post_form(&app, "/new-link", Some("fr"), &fields).await;
        assert_eq!(r.status(), 429, "{kind}");
        let retry: u64 = header(&r, "retry-after").unwrap().parse().unwrap();
        assert!(retry >= 1, "{kind}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&sentence(Locale::Fr, "page-too-many-title")),
            "{html}"
        );
        // One quota, whichever door the request comes through.
        let r = app.post_json(json_path, &json!({ "email": ALICE })).await;
        assert_eq!(r.status(), 429, "{json_path} shares the page's quota");
    }
}

async fn another_site_cannot_ask_for_links_in_its_visitors_names(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    app.create_user(ALICE).await;
    sink.wait_for_mail_to(ALICE, 1).await;
    let send = |site: &'static str| {
        app.client
            .post(app.url("/new-link"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", site)
            .body("kind=reset-password&email=alice%40example.com")
            .send()
    };
    let r = send("cross-site").await.unwrap();
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&sentence(Locale::En, "page-cross-site-title")),
        "{html}"
    );
    // A sibling subdomain is another site's page too.
    assert_eq!(send("same-site").await.unwrap().status(), 403);
    // Without Fetch Metadata, the Origin decides: another one is refused.
    let by_origin = |origin: &'static str| {
        app.client
            .post(app.url("/new-link"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("origin", origin)
            .body("kind=reset-password&email=alice%40example.com")
            .send()
    };
    assert_eq!(
        by_origin("https://evil.example").await.unwrap().status(),
        403
    );
    // The page's own form (same-origin) goes through, and only it sends mail.
    assert_eq!(send("same-origin").await.unwrap().status(), 200);
    sink.wait_for_mail_to(ALICE, 2).await;
    assert_eq!(
        app.db
            .count("mail_outbox WHERE kind = 'password_reset'")
            .await,
        1,
        "one reset mail: the refused request queued none"
    );
}

// --- branding and the CSP -------------------------------------------------------------------------

fn csp_directive(csp: &str, name: &str) -> Option<String> {
    csp.split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix(name).map(|v| v.trim().to_owned()))
}

fn inline_style(html: &str) -> &str {
    let start = html.find("<style>").unwrap() + "<style>".len();
    let end = html.find("</style>").unwrap();
    &html[start..end]
}

async fn branding_reaches_the_page_and_the_csp_admits_exactly_the_logo(b: Backend) {
    let app = spawn_app_with(
        b,
        &[],
        &[
            "--product-name",
            "Acme <ID>",
            "--logo-url",
            "https://cdn.example/brand/logo.svg",
            "--accent-color",
            "#FFD400",
        ],
    )
    .await;
    for path in sesame::http::pages::paths() {
        let r = get_page(&app, path, None).await;
        let csp = header(&r, "content-security-policy").unwrap();
        assert_eq!(
            csp_directive(&csp, "default-src").as_deref(),
            Some("'none'")
        );
        assert_eq!(
            csp_directive(&csp, "img-src").as_deref(),
            Some("https://cdn.example/brand/logo.svg"),
            "{path}: {csp}"
        );
        assert_eq!(csp_directive(&csp, "script-src"), None, "{path}: no script");
        let html = r.text().await.unwrap();
        let hash = base64::engine::general_purpose::STANDARD
            .encode(Sha256::digest(inline_style(&html).as_bytes()));
        assert_eq!(
            csp_directive(&csp, "style-src"),
            Some(format!("'sha256-{hash}'")),
            "{path}: the inline stylesheet, by hash"
        );
        assert!(
            inline_style(&html).contains("--accent:#ffd400;--on-accent:#000000"),
            "a light accent gets black button text"
        );
        assert!(
            html.contains(
                "<header class=\"brand\"><img src=\"https://cdn.example/brand/logo.svg\" alt=\"\"><span>Acme &lt;ID&gt;</span></header>"
            ),
            "{path}: {html}"
        );
        assert!(!html.contains("<script"), "{path}");
        assert!(!html.contains("<a id=\"back\""), "no app URL, no link back");
    }
    // Without a logo, no image is admitted at all.
    let plain = spawn_app_with(b, &[], &[]).await;
    let r = get_page(&plain, "/verify-email?token=abc", None).await;
    let csp = header(&r, "content-security-policy").unwrap();
    assert_eq!(csp_directive(&csp, "img-src"), None, "{csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains("<span>Sesame</span>"), "the default name");
    assert!(!html.contains("<img"), "{html}");
    assert!(
        !html.contains("src=") && !html.contains("<link") && !html.contains("url("),
        "nothing to fetch: {html}"
    );
}

// --- the passkey pages ----------------------------------------------------------------------------

/// The opening tags of every `<script>` element in `html`.
fn script_tags(html: &str) -> Vec<&str> {
    html.match_indices("<script")
        .map(|(i, _)| &html[i..=i + html[i..].find('>').unwrap()])
        .collect()
}

/// An attribute named `on…` (an inline event handler, which the CSP would refuse) in `html`.
fn inline_handler(html: &str) -> Option<&str> {
    html.match_indices(" on")
        .map(|(i, _)| &html[i + 1..])
        .find(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
            name.len() > 2 && rest[name.len()..].starts_with('=')
        })
}

/// The words the page hands its script (`#passkey-words`).
fn script_words(html: &str) -> serde_json::Value {
    let open = "<script id=\"passkey-words\" type=\"application/json\">";
    let start = html
        .find(open)
        .unwrap_or_else(|| panic!("no words in {html}"))
        + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

async fn the_passkey_pages_speak_the_browsers_language_and_run_only_their_own_script(b: Backend) {
    let app = spawn_app_with(b, &[], &[]).await;
    for page in PasskeyPage::ALL {
        let path = page.path();
        for locale in Locale::ALL {
            let r = get_page(&app, path, Some(locale.as_str())).await;
            assert_eq!(r.status(), 200, "{path}");
            assert_eq!(
                header(&r, "content-language").as_deref(),
                Some(locale.as_str()),
                "{path}"
            );
            assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
            assert_eq!(
                header(&r, "referrer-policy").as_deref(),
                Some("no-referrer")
            );
            let csp = header(&r, "content-security-policy").unwrap();
            for (directive, value) in [
                ("default-src", "'none'"),
                ("script-src", "'self'"),
                ("connect-src", "'self'"),
                ("form-action", "'self'"),
                ("base-uri", "'none'"),
                ("frame-ancestors", "'none'"),
                ("require-trusted-types-for", "'script'"),
            ] {
                assert_eq!(
                    csp_directive(&csp, directive).as_deref(),
                    Some(value),
                    "{path}: {csp}"
                );
            }
            let html = r.text().await.unwrap();
            let hash = base64::engine::general_purpose::STANDARD
                .encode(Sha256::digest(inline_style(&html).as_bytes()));
            assert_eq!(
                csp_directive(&csp, "style-src"),
                Some(format!("'sha256-{hash}'")),
                "{path}: the same stylesheet as every page, by hash"
            );
            assert!(
                html.contains(&format!("<html lang=\"{locale}\">")),
                "{path}"
            );
            assert!(
                html.contains(&format!("<h1>{}</h1>", sentence(locale, page.title()))),
                "{path} {locale}: {html}"
            );
            assert_eq!(
                script_tags(&html),
                [
                    format!("<script src=\"{SCRIPT_PATH}\" defer>"),
                    "<script id=\"passkey-words\" type=\"application/json\">".to_owned(),
                ],
                "{path}: the script file and the words, nothing inline"
            );
            assert_eq!(inline_handler(&html), None, "{path}");
            let words = script_words(&html);
            for key in SCRIPT_WORDS {
                let expected =
                    i18n::text_with(locale, key, &[("email", "{email}"), ("name", "{name}")]);
                assert_eq!(words[*key], expected.as_str(), "{path} {locale}: {key}");
            }
            assert!(
                html.contains(&format!(
                    "<noscript><p class=\"error\">{}</p></noscript>",
                    sentence(locale, "page-passkey-noscript")
                )),
                "{path}: says what it needs without a script"
            );
        }
    }
    // `?lang=` wins over the header, and the link to the other page keeps it.
    let r = get_page(&app, "/sign-in?lang=fr", Some("de")).await;
    assert_eq!(header(&r, "content-language").as_deref(), Some("fr"));
    let html = r.text().await.unwrap();
    assert!(html.contains("href=\"/passkeys?lang=fr\""), "{html}");
}

async fn the_passkey_script_is_served_as_javascript_of_this_origin_that_stores_nothing(b: Backend) {
    let app = spawn_app_with(b, &[], &[]).await;
    let r = get_page(&app, SCRIPT_PATH, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        header(&r, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    let js = r.text().await.unwrap();
    for needed in ["navigator.credentials.create", "navigator.credentials.get"] {
        assert!(js.contains(needed), "{needed}");
    }
    for refused in [
        "localStorage.",
        "sessionStorage.",
        "document.cookie",
        "innerHTML",
        "eval(",
        "http://",
        "https://",
    ] {
        assert!(!js.contains(refused), "the script uses {refused}");
    }
    // The link pages run no script: their CSP still has no script-src.
    let r = get_page(&app, "/reset-password?token=abc", None).await;
    let csp = header(&r, "content-security-policy").unwrap();
    assert_eq!(csp_directive(&csp, "script-src"), None, "{csp}");
}

crate::on_every_backend!(
    a_password_that_breaks_a_rule_is_refused_naming_the_rule_and_the_form_returns,
    a_refusal_is_in_the_pages_language,
    the_password_pages_list_the_rules_before_anyone_types,
    without_a_strength_rule_the_pages_do_not_list_one,
    the_set_password_page_sets_the_password_with_its_own_words,
    every_page_speaks_the_browsers_language_and_says_so,
    without_a_language_the_browser_asks_for_pages_speak_the_default_locale,
    a_dead_link_offers_a_new_link_of_its_own_kind,
    a_new_link_is_sent_and_the_answer_is_the_same_whether_or_not_the_account_exists,
    the_new_link_form_refuses_what_is_not_an_address,
    the_new_link_form_is_rate_limited_like_the_json_endpoints,
    another_site_cannot_ask_for_links_in_its_visitors_names,
    branding_reaches_the_page_and_the_csp_admits_exactly_the_logo,
    the_passkey_pages_speak_the_browsers_language_and_run_only_their_own_script,
    the_passkey_script_is_served_as_javascript_of_this_origin_that_stores_nothing,
);

#[test]
fn a_bad_branding_setting_stops_startup_naming_it() {
    use clap::Parser;
    for (flag, value, name) in [
        ("--accent-color", "blue", "SESAME_ACCENT_COLOR"),
        ("--accent-color", "#12345", "SESAME_ACCENT_COLOR"),
        (
            "--logo-url",
            "http://cdn.example/logo.svg",
            "SESAME_LOGO_URL",
        ),
        ("--logo-url", "/logo.svg; script-src *", "SESAME_LOGO_URL"),
        ("--product-name", " ", "SESAME_PRODUCT_NAME"),
    ] {
        let err = sesame::cli::Cli::try_parse_from(["sesame", "serve", flag, value])
            .err()
            .unwrap_or_else(|| panic!("{flag} {value:?} accepted"));
        assert!(err.to_string().contains(name), "{flag} {value:?}: {err}");
    }
}
