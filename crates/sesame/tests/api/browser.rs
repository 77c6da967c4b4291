//! The pages emailed links open, tested in a real browser (headless Chromium, see `chromium.rs`):
//! every page in every language, at phone and desktop widths, light and dark, renders, makes no
//! external request and logs no error; and every form works end to end, from the mailed link to
//! what the API then reports.
//!
//! These run on SQLite only. What they add over the HTTP page tests in `pages.rs` (which run on
//! both backends) is the browser's view: rendering, requests, console, form handling. None of it
//! depends on the database, and a PostgreSQL run would double the slowest tests of the suite for
//! no coverage.
//!
//! The passkey pages (`/passkeys`, `/sign-in`) join the matrix, and one scenario registers a
//! passkey and signs in with it alone through them, with Chromium's virtual WebAuthn
//! authenticator standing in for a person's device.
//!
//! With `SESAME_SCREENSHOTS_DIR` set, the matrix also writes a PNG of every English page at each
//! width and scheme (`<page>-<width>-<scheme>.png`); `scripts/screenshots.sh` fills
//! `docs/screenshots/` that way.

use crate::chromium::{Chromium, Load, Scheme, Tab};
use crate::helpers::{spawn_app_with, text_field, Backend, TestApp, PASSWORD};
use crate::smtp::SmtpSink;
use serde_json::Value;
use sesame::http::pages::passkeys::PasskeyPage;
use sesame::i18n;
use sesame_domain::locale::Locale;
use sesame_domain::page::Page;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The languages the matrix shows every page in, by `Accept-Language`; `<html lang>` must be the
/// one asked for.
const PAGE_LANGUAGES: &[Locale] = &Locale::ALL;

/// Phone and desktop, in CSS pixels.
const WIDTHS: [u32; 2] = [375, 1280];

/// The directory the matrix writes screenshots of the English pages to, when set.
const SCREENSHOTS_ENV: &str = "SESAME_SCREENSHOTS_DIR";

/// A password that passes every rule, for the forms.
const NEW_PASSWORD: &str = "an entirely new passphrase";

/// A password the policy refuses: one of the most common passwords (NIST SP 800-63B §3.1.1.2
/// has verifiers refuse those), long enough to pass the browser's `minlength`.
const COMMON_PASSWORD: &str = "password1";

/// The page states the matrix shows besides the one each emailed link opens ([`Page::ALL`],
/// reached through [`mailed_link`]): a name (for failure messages and screenshot files) and
/// the path that shows it. Adding a state is one line.
const OTHER_STATES: &[(&str, &str)] = &[
    // A link with its token cut off: the "this link does not work" page.
    ("invalid-link", "/verify-email"),
    // The "send me a new link" form on its own.
    ("new-link", "/new-link?kind=reset-password"),
    // The passkey pages as they open: the password form, and the one button.
    ("passkeys", "/passkeys"),
    ("sign-in", "/sign-in"),
    // The OpenID Connect pages: a request from no registered client (the error page that never
    // redirects), and the end-session endpoint asking to confirm, and refusing a bad hint.
    (
        "authorize-error",
        "/oauth2/authorize?client_id=nobody&response_type=code",
    ),
    ("logout-confirm", "/oauth2/logout"),
    ("logout-refused", "/oauth2/logout?id_token_hint=not-a-token"),
];

/// The bootstrap admin every server here has, to send invitations.
const ADMIN_EMAIL: &str = "admin@example.com";

/// A server that mails through SMTP to a sink the test reads, and that sink.
async fn app_with_sink(extra: &[&str]) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let mut flags: Vec<&str> = sink.serve_flags().to_vec();
    flags.extend_from_slice(&[
        "--bootstrap-admin-email",
        ADMIN_EMAIL,
        "--bootstrap-admin-password",
        PASSWORD,
    ]);
    flags.extend_from_slice(extra);
    let app = spawn_app_with(Backend::Sqlite, &[], &flags).await;
    (app, sink)
}

/// `http://127.0.0.1:port`, the only origin a page may load from.
fn origin(app: &TestApp) -> String {
    app.url("")
}

/// The path and query of a mailed link (links carry the configured public URL; the test opens
/// them on the test server).
fn path_of(link: &str) -> String {
    let after_scheme = link.split_once("://").map_or(link, |(_, rest)| rest);
    after_scheme[after_scheme.find('/').unwrap_or(after_scheme.len())..].to_owned()
}

/// Waits for a mail to `address` with a link to `page` (to any page when `None`), and returns
/// the link's path and query.
async fn wait_for_link(sink: &SmtpSink, address: &str, page: Option<Page>) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let prefix = page.map(|p| format!("{}?", p.path()));
    loop {
        let found = sink
            .messages_to(address)
            .iter()
            .filter_map(crate::smtp::Mail::link)
            .map(|l| path_of(&l))
            .find(|p| prefix.as_ref().is_none_or(|prefix| p.starts_with(prefix)));
        if let Some(path) = found {
            return path;
        }
        assert!(
            Instant::now() < deadline,
            "no mail to {address} with a link to {prefix:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The admin invites `invited@example.com` to choose a password; returns the mailed link's
/// path and query (to `page` when given).
async fn invitation_link(app: &TestApp, sink: &SmtpSink, page: Option<Page>) -> String {
    let admin = app.tokens(ADMIN_EMAIL).await;
    let r = app
        .post_json_auth(
            "/api/v1/admin/users",
            &text_field(&admin, "access_token"),
            Some(&serde_json::json!({ "email": "invited@example.com", "invite": "set_password" })),
        )
        .await;
    assert_eq!(r.status(), 201, "the invitation");
    wait_for_link(sink, "invited@example.com", page).await
}

/// Does what makes Sesame mail a link to `page`, for a user made for it, and returns the link's
/// path. The match is exhaustive: a new page does not compile until the browser tests can reach
/// it (the set-password page of an invitation: `invitation_link(app, sink, Some(page))`).
async fn mailed_link(app: &TestApp, sink: &SmtpSink, page: Page) -> String {
    match page {
        Page::SetPassword => invitation_link(app, sink, Some(page)).await,
        Page::VerifyEmail => {
            app.create_user("verify@example.com").await;
            wait_for_link(sink, "verify@example.com", Some(page)).await
        }
        Page::ResetPassword => {
            app.create_user("reset@example.com").await;
            assert_eq!(app.forgot_password("reset@example.com").await.status(), 202);
            wait_for_link(sink, "reset@example.com", Some(page)).await
        }
        Page::ConfirmEmail => {
            let t = app.user_with_tokens("change@example.com").await;
            let r = app
                .change_email(
                    &text_field(&t, "access_token"),
                    "changed@example.com",
                    PASSWORD,
                )
                .await;
            assert_eq!(r.status(), 202);
            wait_for_link(sink, "changed@example.com", Some(page)).await
        }
    }
}

/// A page name for messages and files: its path without the slash.
fn page_name(page: Page) -> &'static str {
    page.path().trim_start_matches('/')
}

// --- the harness itself ------------------------------------------------------------------------

/// A page that breaks both rules the matrix checks: it loads an image from another origin
/// (another port on the loopback address, where nothing listens: no traffic leaves the machine)
/// and its inline script violates its own CSP.
fn bad_page(foreign_origin: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><title>bad</title></head><body><h1>Bad</h1>\
         <img src=\"{foreign_origin}/x.png\" alt=\"\"><script>document.title = 'ran'</script>\
         </body></html>"
    )
}

/// A one-page server for the harness's own test.
struct BadPageServer {
    origin: String,
    /// The origin the page loads its image from.
    foreign: String,
    /// The head of every request received, lower-cased.
    heads: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

/// Serves [`bad_page`] with a CSP that forbids scripts, to every connection, until aborted.
async fn serve_bad_page() -> BadPageServer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let foreign = format!("http://127.0.0.1:{}", crate::smtp::free_port());
    let body = bad_page(&foreign);
    let heads: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
    let seen = std::sync::Arc::clone(&heads);
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n\
                 content-security-policy: script-src 'none'\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            let seen = std::sync::Arc::clone(&seen);
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_lowercase();
                seen.lock().unwrap().push(head);
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    BadPageServer {
        origin,
        foreign,
        heads,
        task,
    }
}

/// The checks below would pass vacuously if the recorder heard nothing: on a page that loads
/// from another origin and violates its CSP, it must see both, and `assert_clean` must fail.
/// And the language a tab asks for must reach the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_harness_sees_foreign_requests_and_csp_violations() {
    let server = serve_bad_page().await;
    let (origin, foreign) = (&server.origin, &server.foreign);
    let chromium = Chromium::launch().await;
    chromium
        .run(async {
            let mut tab = chromium.tab().await;
            tab.accept_language("de").await;
            let load = tab.open(&format!("{origin}/")).await;
            let heads = server.heads.lock().unwrap().clone();
            assert!(
                heads
                    .iter()
                    .any(|h| h.contains("\r\naccept-language: de\r\n")),
                "the page was asked for in German: {heads:?}"
            );
            assert_eq!(load.status, Some(200));
            assert!(
                load.requests
                    .iter()
                    .any(|u| u.starts_with(foreign.as_str())),
                "the image request was recorded: {:?}",
                load.requests
            );
            assert!(
                load.errors
                    .iter()
                    .any(|e| e.contains("Content Security Policy")),
                "the CSP violation was recorded: {:?}",
                load.errors
            );
            let outcome = std::panic::catch_unwind(|| load.assert_clean(origin, "bad page"));
            assert!(outcome.is_err(), "assert_clean refuses the bad page");
        })
        .await;
    server.task.abort();
}

/// The hosted sign-in page of a registered client's authorization request (a path).
async fn hosted_sign_in(app: &TestApp) -> String {
    let admin = app.tokens(ADMIN_EMAIL).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = serde_json::json!({
        "client_name": "Shop",
        "client_type": "public",
        "redirect_uris": ["https://shop.example.com/callback"],
    });
    let r = app
        .client
        .post(app.url("/api/v1/admin/clients"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let client: serde_json::Value = r.json().await.unwrap();
    format!(
        "/oauth2/authorize?client_id={}&redirect_uri=https%3A%2F%2Fshop.example.com%2Fcallback\
         &response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
         &code_challenge_method=S256&state=s",
        client["client_id"].as_str().unwrap()
    )
}

// --- the matrix --------------------------------------------------------------------------------

/// Shows `path` in every width and scheme in `language` and checks each view; writes
/// screenshots of English views to `shots` when set.
async fn check_views(
    tab: &mut Tab,
    app: &TestApp,
    name: &str,
    path: &str,
    language: Locale,
    shots: Option<&PathBuf>,
) {
    for width in WIDTHS {
        for scheme in Scheme::ALL {
            let what = format!("{name} ({language}, {width} px, {})", scheme.as_str());
            tab.view(width, scheme).await;
            let load: Load = tab.open(&app.url(path)).await;
            load.assert_clean(&origin(app), &what);
            load.assert_renders(&what);
            assert_eq!(load.shown.lang, language.as_str(), "{what}: <html lang>");
            // The emulation took: the page was laid out at this width and in this scheme.
            assert_eq!(
                load.shown.inner_width,
                i64::from(width),
                "{what}: innerWidth"
            );
            assert_eq!(
                load.shown.dark,
                scheme == Scheme::Dark,
                "{what}: color scheme"
            );
            if let (Some(dir), Locale::En) = (shots, language) {
                let file = dir.join(format!("{name}-{width}-{}.png", scheme.as_str()));
                tab.screenshot(&file).await;
            }
        }
    }
}

/// Every page, in every language, at phone and desktop width, light and dark: it renders (a
/// visible `h1`, no sideways overflow), loads nothing from elsewhere, logs no error, and says
/// which language it is in. One browser and one tab serve the whole matrix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_cleanly_in_every_language_width_and_scheme() {
    let (app, sink) = app_with_sink(&[]).await;
    let mut pages = Vec::new();
    for page in Page::ALL {
        pages.push((
            page_name(page).to_owned(),
            mailed_link(&app, &sink, page).await,
        ));
    }
    pages.extend(
        OTHER_STATES
            .iter()
            .map(|(name, path)| ((*name).to_owned(), (*path).to_owned())),
    );
    pages.push(("authorize-sign-in".to_owned(), hosted_sign_in(&app).await));
    let shots = std::env::var_os(SCREENSHOTS_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    if let Some(dir) = &shots {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("{SCREENSHOTS_ENV}={}: {e}", dir.display()));
    }

    let chromium = Chromium::launch().await;
    chromium
        .run(async {
            let mut tab = chromium.tab().await;
            for &language in PAGE_LANGUAGES {
                tab.accept_language(language.as_str()).await;
                for (name, path) in &pages {
                    check_views(&mut tab, &app, name, path, language, shots.as_ref()).await;
                }
            }
        })
        .await;
}

// --- the forms, end to end ---------------------------------------------------------------------

/// Asserts that a form's answer is a success page: served 200, clean, with a visible heading
/// other than the form's, and no password field left.
async fn assert_success_page(tab: &Tab, load: &Load, form: &Load, origin: &str, what: &str) {
    load.assert_clean(origin, what);
    load.assert_renders(what);
    assert_eq!(load.status, Some(200), "{what}: {}", load.shown.text);
    assert_ne!(
        load.shown.h1, form.shown.h1,
        "{what}: the page after the form says something else than the form"
    );
    let fields: usize = tab
        .eval("document.querySelectorAll('input[type=password]').length")
        .await;
    assert_eq!(fields, 0, "{what}: {}", load.shown.text);
}

/// The visible text of the page's error region (`role=alert`, `aria-live` or `.error`), if
/// one has text.
async fn error_text(tab: &Tab) -> Option<String> {
    tab.eval(
        "(() => { for (const e of document.querySelectorAll('[role=alert], [aria-live], .error')) {
           const t = e.innerText.trim(); if (t) return t; } return null; })()",
    )
    .await
}

/// The verification link, opened in the browser: one press of the button confirms the address,
/// and the API then says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verification_link_confirms_the_address_in_the_browser() {
    let (app, sink) = app_with_sink(&["--require-verified-email", "true"]).await;
    let path = mailed_link(&app, &sink, Page::VerifyEmail).await;
    let origin = origin(&app);
    let chromium = Chromium::launch().await;
    chromium
        .run(async {
            let mut tab = chromium.tab().await;
            let form = tab.open(&app.url(&path)).await;
            form.assert_clean(&origin, "verify page");
            form.assert_renders("verify page");
            assert_eq!(form.status, Some(200));
            let r = app.login("verify@example.com", PASSWORD).await;
            assert_eq!(r.status(), 403, "opening the link alone verifies nothing");

            let done = tab.click_and_wait("button[type=submit]").await;
            assert_success_page(&tab, &done, &form, &origin, "verified page").await;
        })
        .await;
    let r = app.login("verify@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["user"]["email_verified"], true, "{t}");
}

/// The reset link, opened in the browser: typing a new password twice and submitting sets it;
/// the API then signs in with the new password and not the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reset_link_sets_a_new_password_typed_in_the_browser() {
    let (app, sink) = app_with_sink(&[]).await;
    let path = mailed_link(&app, &sink, Page::ResetPassword).await;
    let origin = origin(&app);
    let chromium = Chromium::launch().await;
    chromium
        .run(async {
            let mut tab = chromium.tab().await;
            let form = tab.open(&app.url(&path)).await;
            form.assert_clean(&origin, "reset page");
            form.assert_renders("reset page");
            tab.type_into("#new_password", NEW_PASSWORD).await;
            tab.type_into("#confirm_password", NEW_PASSWORD).await;
            let done = tab.click_and_wait("button[type=submit]").await;
            assert_success_page(&tab, &done, &form, &origin, "password changed page").await;
        })
        .await;
    assert_eq!(
        app.login("reset@example.com", NEW_PASSWORD).await.status(),
        200
    );
    assert_eq!(app.login("reset@example.com", PASSWORD).await.status(), 401);
}

/// A password the policy refuses, typed on the reset page: the page says why (a 422 with its
/// error region filled, not a server error), keeps the form, and the next, acceptable password
/// typed into it works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_password_on_the_reset_page_is_explained_and_the_form_stays_usable() {
    let (app, sink) = app_with_sink(&[]).await;
    let path = mailed_link(&app, &sink, Page::ResetPassword).await;
    let origin = origin(&app);
    let chromium = Chromium::launch().await;
    chromium
        .run(async {
            let mut tab = chromium.tab().await;
            let form = tab.open(&app.url(&path)).await;
            tab.type_into("#new_password", COMMON_PASSWORD).await;
            tab.type_into("#confirm_password", COMMON_PASSWORD).await;
            let refused = tab.click_and_wait("button[type=submit]").await;
            refused.assert_clean(&origin, "refused password");
            refused.assert_renders("refused password");
            assert_eq!(
                refused.status,
                Some(422),
                "a refused password is the user's to fix: {}",
                refused.shown.text
            );
            let error = error_text(&tab).await;
            assert!(
                error.is_some(),
                "the page says what is wrong: {}",
                refused.shown.text
            );

            tab.type_into("#new_password", NEW_PASSWORD).await;
            tab.type_into("#confirm_password", NEW_PASSWORD).await;
            let done = tab.click_and_wait("button[type=submit]").await;
            assert_success_page(&tab, &done, &form, &origin, "password changed page").await;
        })
        .await;
    assert_eq!(
        app.login("reset@example.com", NEW_PASSWORD).await.status(),
        200
    );
}

/// The link mailed to a new address, opened in the browser: one press of the button moves the
/// account to it, and the API then shows the new address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_email_change_link_moves_the_account_in_the_browser() {
    let (app, sink) = app_with_sink(&[]).await;
    let path = mailed_link(&app, &sink, Page::ConfirmEmail).await;
    let origin = origin(&app);
    let chromium = Chromium::launch().await;
    chromium
        .run(async {
            let mut tab = chromium.tab().await;
            let form = tab.open(&app.url(&path)).await;
            form.assert_clean(&origin, "confirm page");
            form.assert_renders("confirm page");
            let done = tab.click_and_wait("button[type=submit]").await;
            assert_success_page(&tab, &done, &form, &origin, "address changed page").await;
        })
        .await;
    let t = app.tokens("changed@example.com").await;
    assert_eq!(t["user"]["email"], "changed@example.com", "{t}");
    assert_eq!(
        app.login("change@example.com", PASSWORD).await.status(),
        401
    );
}

/// An admin's invitation, opened in the browser: the invited user types a first password twice
/// and submits; the API then signs them in with it. (Whichever page the invitation links to:
/// today the reset page, a page of its own once invitations have one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_link_lets_the_invited_user_choose_a_password_in_the_browser() {
    let (app, sink) = app_with_sink(&[]).await;
    let path = invitation_link(&app, &sink, Some(Page::SetPassword)).await;
    let origin = origin(&app);
    let chromium = Chromium::launch().await;
    chromium
        .run(async {
            let mut tab = chromium.tab().await;
            let form = tab.open(&app.url(&path)).await;
            form.assert_clean(&origin, "invitation page");
            form.assert_renders("invitation page");
            tab.type_into("#new_password", NEW_PASSWORD).await;
            tab.type_into("#confirm_password", NEW_PASSWORD).await;
            let done = tab.click_and_wait("button[type=submit]").await;
            assert_success_page(&tab, &done, &form, &origin, "password chosen page").await;
        })
        .await;
    assert_eq!(
        app.login("invited@example.com", NEW_PASSWORD)
            .await
            .status(),
        200
    );
}

/// A reset link that no longer works (here: already used), opened in the browser: submitting
/// its form says so and offers a new link; typing the address there mails a fresh link, which
/// then sets the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_reset_link_offers_a_new_one_that_works_in_the_browser() {
    let (app, sink) = app_with_sink(&[]).await;
    let path = mailed_link(&app, &sink, Page::ResetPassword).await;
    let token = crate::smtp::token_of(&path).expect("a token in the link");
    let r = app
        .post_json(
            "/api/v1/auth/password/reset",
            &serde_json::json!({ "token": token, "new_password": "the first new passphrase" }),
        )
        .await;
    assert_eq!(r.status(), 204, "the link is used once through the API");
    let origin = origin(&app);
    let chromium = Chromium::launch().await;
    chromium
        .run(async {
            let mut tab = chromium.tab().await;
            tab.open(&app.url(&path)).await;
            tab.type_into("#new_password", NEW_PASSWORD).await;
            tab.type_into("#confirm_password", NEW_PASSWORD).await;
            let dead = tab.click_and_wait("button[type=submit]").await;
            dead.assert_clean(&origin, "dead link page");
            dead.assert_renders("dead link page");
            assert_eq!(dead.status, Some(400), "{}", dead.shown.text);

            tab.type_into("#email", "reset@example.com").await;
            let sent = tab.click_and_wait("button[type=submit]").await;
            sent.assert_clean(&origin, "new link sent page");
            sent.assert_renders("new link sent page");
            assert_eq!(sent.status, Some(200), "{}", sent.shown.text);
        })
        .await;

    let fresh = wait_for_fresh_link(&sink, "reset@example.com", &path).await;
    let chromium = Chromium::launch().await;
    chromium
        .run(async {
            let mut tab = chromium.tab().await;
            let form = tab.open(&app.url(&fresh)).await;
            tab.type_into("#new_password", NEW_PASSWORD).await;
            tab.type_into("#confirm_password", NEW_PASSWORD).await;
            let done = tab.click_and_wait("button[type=submit]").await;
            assert_success_page(&tab, &done, &form, &origin, "password changed page").await;
        })
        .await;
    assert_eq!(
        app.login("reset@example.com", NEW_PASSWORD).await.status(),
        200
    );
}

/// Waits for a second reset link to `address`, other than `old`, and returns its path.
async fn wait_for_fresh_link(sink: &SmtpSink, address: &str, old: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fresh = sink
            .messages_to(address)
            .iter()
            .filter_map(crate::smtp::Mail::link)
            .map(|l| path_of(&l))
            .find(|p| p.starts_with("/reset-password?") && p != old);
        if let Some(path) = fresh {
            return path;
        }
        assert!(Instant::now() < deadline, "no new reset link to {address}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// --- passkeys ----------------------------------------------------------------------------------

/// A server whose public URL is the address the browser opens, `http://localhost:<port>`:
/// WebAuthn binds a passkey to its relying party (here `localhost`, which Sesame derives from the
/// public URL) and the browser refuses a ceremony whose page is on another host; `localhost` is
/// a secure context over plain http (W3C Secure Contexts §3.1), where WebAuthn is available.
/// Returns the server and that origin.
async fn passkey_app() -> (TestApp, String) {
    let port = crate::smtp::free_port();
    let listen = format!("127.0.0.1:{port}");
    let public = format!("http://localhost:{port}");
    let app = spawn_app_with(
        Backend::Sqlite,
        &[],
        &["--listen", &listen, "--public-url", &public],
    )
    .await;
    (app, public)
}

/// A JavaScript expression: the element `selector` exists and is shown (not inside `hidden`).
fn shown(selector: &str) -> String {
    let selector = serde_json::to_string(selector).expect("a string serializes");
    format!(
        "(() => {{ const e = document.querySelector({selector}); \
         return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0; }})()"
    )
}

/// The text of the page's element `id`.
async fn text_of(tab: &Tab, id: &str) -> String {
    tab.eval(&format!(
        "(document.getElementById('{id}') || {{}}).textContent || ''"
    ))
    .await
}

/// Waits for the page's `#status` to say something in its success style, and returns it;
/// fails at once, with the page's words, when `#error` speaks first.
async fn wait_for_success(tab: &Tab, what: &str) -> String {
    tab.wait_until(
        "(() => { const s = document.getElementById('status'); \
         return (!!s && !s.hidden && s.className === 'ok') \
           || document.getElementById('error').textContent.trim() !== ''; })()",
        what,
    )
    .await;
    assert_eq!(text_of(tab, "error").await, "", "{what}: the page refused");
    text_of(tab, "status").await
}

/// Waits for `#error` to say something, and returns it.
async fn wait_for_error(tab: &Tab, what: &str) -> String {
    tab.wait_until(
        "document.getElementById('error').textContent.trim() !== ''",
        what,
    )
    .await;
    text_of(tab, "error").await
}

/// Asserts that the only errors of `load` are the browser's notes that requests to `path`
/// were answered with an error status (the refusal the page then explains).
fn assert_only_refused(load: &Load, path: &str, what: &str) {
    assert!(!load.errors.is_empty(), "{what}: the refusal was recorded");
    for e in &load.errors {
        assert!(
            e.contains("Failed to load resource") && e.contains(path),
            "{what}: an error other than the refused request to {path}: {e}"
        );
    }
}

/// The whole passkey journey in a real browser: on `/passkeys` a wrong password is refused in
/// words, the right one signs in, and "Add a passkey" makes the (virtual) authenticator create a
/// discoverable credential that Sesame registers; then on `/sign-in`, in every language, a
/// ceremony the person refuses is explained, and one press of the button signs in with the
/// passkey alone and names the account. Every page load and every step makes no foreign request
/// and logs no error but the refusals it explains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_added_on_the_passkeys_page_signs_in_alone_on_the_sign_in_page() {
    let (app, origin) = passkey_app().await;
    let email = "pat@example.com";
    app.create_user(email).await;
    let chromium = Chromium::launch().await;
    chromium
        .run(async {
            let mut tab = chromium.tab().await;
            let authenticator = tab.virtual_authenticator().await;
            tab.accept_language("en").await;

            // Sign in on /passkeys: first with a wrong password, then with the right one.
            let page = tab
                .open(&format!("{origin}{}", PasskeyPage::Passkeys.path()))
                .await;
            page.assert_clean(&origin, "passkeys page");
            page.assert_renders("passkeys page");
            assert_eq!(page.status, Some(200));
            tab.wait_until(&shown("#password-form"), "the sign-in form is shown")
                .await;
            tab.type_into("#email", email).await;
            tab.type_into("#password", "not the password at all").await;
            tab.click("#sign-in").await;
            let error = wait_for_error(&tab, "a wrong password is refused").await;
            assert_eq!(
                error,
                i18n::text(Locale::En, "page-passkey-error-credentials")
            );
            let refused = tab.settle().await;
            assert_only_refused(&refused, "/api/v1/auth/login", "wrong password");

            tab.type_into("#password", PASSWORD).await;
            tab.click("#sign-in").await;
            tab.wait_until(&shown("#add-form"), "signed in, the add form is shown")
                .await;
            assert_eq!(
                text_of(&tab, "signed-in").await,
                i18n::text_with(Locale::En, "page-passkey-signed-in-as", &[("email", email)])
            );
            assert_eq!(text_of(&tab, "error").await, "", "the refusal is gone");

            // Add a passkey.
            tab.type_into("#name", "My laptop").await;
            tab.click("#add").await;
            let status = wait_for_success(&tab, "the passkey is added").await;
            assert_eq!(
                status,
                i18n::text_with(Locale::En, "page-passkey-added", &[("name", "My laptop")])
            );
            let added = tab.settle().await;
            added.assert_clean(&origin, "passkey added");
            added.assert_renders("passkey added");
            assert!(
                added
                    .requests
                    .iter()
                    .any(|u| u.ends_with("/api/v1/users/me/factors/passkeys")),
                "the credential went to the API: {:?}",
                added.requests
            );
            // The account's first factor: its recovery codes are shown, once.
            assert!(
                tab.eval::<bool>(&shown("#recovery")).await,
                "the recovery codes are shown: {}",
                added.shown.text
            );
            let codes: usize = tab
                .eval("document.querySelectorAll('#recovery-codes li').length")
                .await;
            assert!(codes > 0, "recovery codes listed: {}", added.shown.text);
            let credentials = tab.credentials(&authenticator).await;
            assert_eq!(credentials.len(), 1, "one credential was created");
            assert!(
                credentials[0].is_resident_credential,
                "a discoverable credential, usable without a username"
            );
            assert_eq!(credentials[0].rp_id.as_deref(), Some("localhost"));
            let signs_before = credentials[0].sign_count;

            // The page offers to try it: its link leads to the sign-in page.
            let next = tab.click_and_wait("#try-it a").await;
            next.assert_clean(&origin, "the try-it link");
            assert_eq!(
                next.shown.url,
                format!("{origin}{}", PasskeyPage::SignIn.path()),
                "the try-it link"
            );

            // Sign in with the passkey alone, in every language.
            for &language in PAGE_LANGUAGES {
                let what = format!("sign-in page ({language})");
                tab.accept_language(language.as_str()).await;
                let page = tab
                    .open(&format!("{origin}{}", PasskeyPage::SignIn.path()))
                    .await;
                page.assert_clean(&origin, &what);
                page.assert_renders(&what);
                assert_eq!(page.shown.lang, language.as_str(), "{what}: <html lang>");
                assert_eq!(
                    page.shown.h1.as_deref(),
                    Some(i18n::text(language, "page-signin-title").as_str()),
                    "{what}"
                );
                tab.wait_until(&shown("#passkey-sign-in"), "the button is shown")
                    .await;

                // The person declines (the authenticator cannot verify them): said in words.
                tab.set_user_verified(&authenticator, false).await;
                tab.click("#passkey-sign-in").await;
                let error = wait_for_error(&tab, "a declined ceremony is explained").await;
                assert_eq!(
                    error,
                    i18n::text(language, "page-passkey-error-cancelled"),
                    "{what}"
                );
                tab.set_user_verified(&authenticator, true).await;
                let declined = tab.settle().await;
                declined.assert_clean(&origin, &format!("{what}: declined"));

                tab.click("#passkey-sign-in").await;
                let status = wait_for_success(&tab, "signed in with the passkey").await;
                assert_eq!(
                    status,
                    i18n::text_with(language, "page-passkey-signed-in-as", &[("email", email)]),
                    "{what}"
                );
                assert_eq!(text_of(&tab, "error").await, "", "{what}: no error left");
                let done = tab.settle().await;
                done.assert_clean(&origin, &format!("{what}: signed in"));
                done.assert_renders(&format!("{what}: signed in"));
                assert!(
                    done.requests
                        .iter()
                        .any(|u| u.ends_with("/api/v1/auth/passkey/login")),
                    "{what}: the assertion went to the API: {:?}",
                    done.requests
                );
            }
            // Back on /passkeys, the password now asks for a second step, which the passkey
            // answers.
            tab.accept_language("en").await;
            tab.open(&format!("{origin}{}", PasskeyPage::Passkeys.path()))
                .await;
            tab.wait_until(&shown("#password-form"), "the sign-in form is shown")
                .await;
            tab.type_into("#email", email).await;
            tab.type_into("#password", PASSWORD).await;
            tab.click("#sign-in").await;
            tab.wait_until(&shown("#code-form"), "the second step is asked for")
                .await;
            tab.click("#code-use-passkey").await;
            tab.wait_until(&shown("#add-form"), "the passkey answers the second step")
                .await;
            let second = tab.settle().await;
            second.assert_clean(&origin, "passkey as the second step");
            assert!(
                second
                    .requests
                    .iter()
                    .any(|u| u.ends_with("/api/v1/auth/login/mfa")),
                "the assertion answered the password's challenge: {:?}",
                second.requests
            );

            let credentials = tab.credentials(&authenticator).await;
            assert!(
                credentials[0].sign_count > signs_before,
                "the authenticator signed each sign-in ({} then {})",
                signs_before,
                credentials[0].sign_count
            );
            let stored: bool = tab
                .eval("localStorage.length === 0 && sessionStorage.length === 0")
                .await;
            assert!(stored, "no token is stored in the browser");
        })
        .await;
    // The API agrees the account has a factor now: a password alone no longer signs in.
    let r = app.login(email, PASSWORD).await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["mfa_required"], true, "{answer}");
}

/// A browser without WebAuthn (here: Chromium with `PublicKeyCredential` taken away): both
/// passkey pages say so in words, in every language, and offer no form or button that could
/// not work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_without_passkeys_is_told_so_on_both_passkey_pages() {
    let app = spawn_app_with(Backend::Sqlite, &[], &[]).await;
    let origin = origin(&app);
    let chromium = Chromium::launch().await;
    chromium
        .run(async {
            let mut tab = chromium.tab().await;
            tab.before_every_document("delete window.PublicKeyCredential")
                .await;
            for &language in PAGE_LANGUAGES {
                tab.accept_language(language.as_str()).await;
                for page in PasskeyPage::ALL {
                    let what = format!("{} without passkeys ({language})", page.path());
                    let load = tab.open(&app.url(page.path())).await;
                    load.assert_clean(&origin, &what);
                    load.assert_renders(&what);
                    let error = wait_for_error(&tab, &what).await;
                    assert_eq!(
                        error,
                        i18n::text(language, "page-passkey-error-unsupported"),
                        "{what}"
                    );
                    let offered: bool = tab
                        .eval(
                            "[...document.querySelectorAll('form, #passkey-sign-in')]\
                             .some(e => !e.closest('[hidden]'))",
                        )
                        .await;
                    assert!(!offered, "{what}: nothing to press that cannot work");
                }
            }
        })
        .await;
}

/// Signs in on the open `/passkeys` page up to the second step: email and password, then waits
/// for the code form.
async fn password_step(tab: &Tab, email: &str) {
    tab.wait_until(&shown("#password-form"), "the sign-in form is shown")
        .await;
    tab.type_into("#email", email).await;
    tab.type_into("#password", PASSWORD).await;
    tab.click("#sign-in").await;
    tab.wait_until(&shown("#code-form"), "the second step is asked for")
        .await;
}

/// An account with an authenticator app: on `/passkeys` the password leads to the second step,
/// where a wrong code is refused in words and the step stays open; a recovery code, or on
/// another visit the app's code, signs in (the page tells the two apart), ready to add a
/// passkey.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_passkeys_page_asks_an_account_with_a_second_factor_for_its_code() {
    let (app, origin) = passkey_app().await;
    let email = "two-step@example.com";
    let (_, enrolled) = crate::second_factor::user_with_factor(&app, email).await;
    let chromium = Chromium::launch().await;
    chromium
        .run(async {
            let mut tab = chromium.tab().await;
            let url = format!("{origin}{}", PasskeyPage::Passkeys.path());
            let page = tab.open(&url).await;
            page.assert_clean(&origin, "passkeys page");
            password_step(&tab, email).await;
            let asked = tab.settle().await;
            asked.assert_clean(&origin, "second step");
            asked.assert_renders("second step");

            tab.type_into("#code", &enrolled.app.wrong_code(&app)).await;
            tab.click("#verify").await;
            let error = wait_for_error(&tab, "a wrong code is refused").await;
            assert_eq!(error, i18n::text(Locale::En, "page-passkey-error-code"));
            let refused = tab.settle().await;
            assert_only_refused(&refused, "/api/v1/auth/login/mfa", "wrong code");

            // The same second step, again: a recovery code signs in.
            tab.type_into("#code", &enrolled.recovery_codes[0]).await;
            tab.click("#verify").await;
            tab.wait_until(&shown("#add-form"), "a recovery code signs in")
                .await;
            assert_eq!(
                text_of(&tab, "signed-in").await,
                i18n::text_with(Locale::En, "page-passkey-signed-in-as", &[("email", email)])
            );
            let done = tab.settle().await;
            done.assert_clean(&origin, "signed in with a recovery code");

            // And the app's code, of a later time step (the one confirmed at enrolment is
            // spent).
            let code = enrolled.app.fresh_code(&app);
            tab.open(&url).await;
            password_step(&tab, email).await;
            tab.type_into("#code", &code).await;
            tab.click("#verify").await;
            tab.wait_until(&shown("#add-form"), "the app's code signs in")
                .await;
            let done = tab.settle().await;
            done.assert_clean(&origin, "signed in with the app's code");
            done.assert_renders("signed in with the app's code");
        })
        .await;
}
