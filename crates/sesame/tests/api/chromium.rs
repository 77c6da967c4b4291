//! Headless Chromium for the browser tests, driven over the DevTools protocol (chromiumoxide).
//!
//! Owns: finding the browser (`SESAME_TEST_CHROMIUM`, else `chromium` or `chromium-browser` on
//! `PATH`; absent, the test **fails** saying how to install it), launching it headless on a
//! throwaway profile, always ending it (closed and reaped when the scenario ends, killed when it
//! panics), and, for every page load in a [`Tab`], recording what a person's browser did: every
//! request URL, the document's status, errors on the console and in the browser log (CSP
//! violations among them), uncaught exceptions, and what the page shows (`<html lang>`, the `h1`,
//! horizontal overflow). For pages that work with a script and never navigate (the passkey
//! pages), it clicks without waiting for a new document, waits for a condition in the page,
//! and records a [`Load`] of what happened since the last one ([`Tab::settle`]); it adds
//! Chromium's virtual WebAuthn authenticator to a tab ([`Tab::virtual_authenticator`]).
//!
//! Refuses: downloading a browser (chromiumoxide's fetcher is off; nothing downloads at build or
//! run time), sharing one browser between tests (each `#[tokio::test]` has its own runtime, and
//! the protocol handler lives on it), and sleeping to wait: navigation is polled with a deadline.
//! It asserts nothing about Sesame; the tests in `browser.rs` do.

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::emulation::{
    MediaFeature, SetDeviceMetricsOverrideParams, SetEmulatedMediaParams,
};
use chromiumoxide::cdp::browser_protocol::log::{EventEntryAdded, LogEntryLevel, LogEntrySource};
use chromiumoxide::cdp::browser_protocol::network::{
    EventRequestWillBeSent, EventResponseReceived, Headers, ResourceType, SetExtraHttpHeadersParams,
};
use chromiumoxide::cdp::browser_protocol::page::Viewport;
use chromiumoxide::cdp::browser_protocol::web_authn::{
    AddVirtualAuthenticatorParams, AuthenticatorId, AuthenticatorProtocol, AuthenticatorTransport,
    Credential, EnableParams, GetCredentialsParams, SetUserVerifiedParams,
    VirtualAuthenticatorOptions,
};
use chromiumoxide::cdp::js_protocol::runtime::{
    ConsoleApiCalledType, EventConsoleApiCalled, EventExceptionThrown,
};
use chromiumoxide::listeners::EventStream;
use chromiumoxide::page::{Page, ScreenshotParams};
use futures::{FutureExt, Stream, StreamExt};
use serde::Deserialize;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long one navigation (or the browser's start) may take before the test fails. Generous:
/// under coverage on a loaded 2-core machine a cold Chromium takes seconds.
const DEADLINE: Duration = Duration::from_secs(60);

/// The environment variable naming the browser to use, over the `PATH` lookup.
pub const CHROMIUM_ENV: &str = "SESAME_TEST_CHROMIUM";

/// The browser executable: `SESAME_TEST_CHROMIUM`, else `chromium` or `chromium-browser` on
/// `PATH`. Panics, saying how to get one, when there is none: the pages are product, and a suite
/// that skipped their browser tests would pass without having looked at them.
pub fn executable() -> PathBuf {
    if let Some(path) = std::env::var_os(CHROMIUM_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{CHROMIUM_ENV}={} names no file; point it at a Chromium or Chrome executable",
            path.display()
        );
        return path;
    }
    ["chromium", "chromium-browser"]
        .iter()
        .find_map(|name| which::which(name).ok())
        .unwrap_or_else(|| {
            panic!(
                "the browser tests need headless Chromium and found none: install Debian's package \
                 (`apt-get install chromium`, or run scripts/ensure-chromium.sh), or set \
                 {CHROMIUM_ENV} to a Chromium or Chrome executable"
            )
        })
}

/// One headless Chromium on its own throwaway profile.
pub struct Chromium {
    /// Locked only to open a tab or to close: `Browser::close` needs it exclusively.
    browser: tokio::sync::Mutex<Browser>,
    handler: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Removed after the browser has exited (field order: dropped last).
    profile: tempfile::TempDir,
}

impl Chromium {
    /// Launches the browser headless (Chromium's current headless mode).
    ///
    /// `--no-sandbox`: Chromium refuses to start its sandbox as root (CI runs as root) and in
    /// containers without user namespaces. The sandbox guards against hostile pages; these tests
    /// load only the server under test on 127.0.0.1.
    pub async fn launch() -> Self {
        let profile = tempfile::Builder::new()
            .prefix("sesame-chromium-")
            .tempdir()
            .expect("a temporary profile directory");
        let config = BrowserConfig::builder()
            .chrome_executable(executable())
            .new_headless_mode()
            .no_sandbox()
            .user_data_dir(profile.path())
            // The tests set the viewport per load (`Tab::view`).
            .viewport(None)
            .launch_timeout(DEADLINE)
            .request_timeout(DEADLINE)
            // Keep the browser from calling home: the tests run with no network but loopback,
            // and a page's requests are what they record.
            .args([
                "--disable-component-update",
                "--disable-domain-reliability",
                "--no-pings",
                "--no-default-browser-check",
                // No crash handler: it daemonizes (outside the browser's process tree) and
                // there is nothing to report to.
                "--disable-crashpad-for-testing",
            ])
            .build()
            .unwrap_or_else(|e| panic!("Chromium configuration: {e}"));
        let (browser, mut handler) = Browser::launch(config)
            .await
            .unwrap_or_else(|e| panic!("Chromium did not start ({}): {e}", executable().display()));
        // The handler drives the DevTools connection; it ends when the browser does. Messages
        // it cannot decode (a newer Chromium than the protocol chromiumoxide was generated
        // from) are errors it reports and survives, so they do not end the loop.
        let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
        Self {
            browser: tokio::sync::Mutex::new(browser),
            handler: tokio::sync::Mutex::new(Some(handler)),
            profile,
        }
    }

    /// Runs `scenario`, which uses this browser, then closes the browser whether the scenario
    /// passed or panicked (a failed assertion must not leave a browser behind), and only then
    /// re-raises the panic. The browser cannot be used afterwards.
    pub async fn run(&self, scenario: impl Future<Output = ()>) {
        self.run_returning(scenario).await;
    }

    /// [`Chromium::run`] for a scenario that hands back what it found.
    pub async fn run_returning<T>(&self, scenario: impl Future<Output = T>) -> T {
        let outcome = AssertUnwindSafe(scenario).catch_unwind().await;
        self.close().await;
        match outcome {
            Ok(found) => found,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// A new tab, recording from the start.
    pub async fn tab(&self) -> Tab {
        let page = self
            .browser
            .lock()
            .await
            .new_page("about:blank")
            .await
            .expect("a new tab");
        Tab::new(page).await
    }

    /// Closes the browser and waits for its process to exit (so it leaves no zombie); kills it
    /// when it does not close. Dropping a `Chromium` that was not closed kills the process too
    /// (chromiumoxide spawns it with `kill_on_drop`), but leaves reaping it to tokio.
    async fn close(&self) {
        let mut browser = self.browser.lock().await;
        let closed = tokio::time::timeout(Duration::from_secs(10), browser.close()).await;
        let exited = match closed {
            Ok(Ok(_)) => tokio::time::timeout(Duration::from_secs(10), browser.wait())
                .await
                .is_ok_and(|r| r.is_ok()),
            _ => false,
        };
        if !exited {
            if let Some(Err(e)) = browser.kill().await {
                eprintln!("could not kill Chromium: {e}");
            }
        }
        if let Some(mut handler) = self.handler.lock().await.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), &mut handler).await;
            handler.abort();
        }
        // The helpers (zygotes, renderers, GPU and utility processes) exit after the browser
        // process; wait for them, so the test leaves nothing running and the profile can go.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut left = processes_using(self.profile.path());
        while !left.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            left = processes_using(self.profile.path());
        }
        for pid in left {
            eprintln!("Chromium process {pid} outlived its browser; killing it");
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// The live processes started on `profile` (every Chromium process carries
/// `--user-data-dir=<profile>`; a zombie's command line reads empty, so it is not counted).
/// Empty where there is no `/proc`.
fn processes_using(profile: &Path) -> Vec<u32> {
    let needle = format!("--user-data-dir={}", profile.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .unwrap_or_default()
                .split(|b| *b == 0)
                .any(|arg| arg == needle.as_bytes())
        })
        .collect()
}

/// The colour scheme a page is shown in (`prefers-color-scheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Light,
    Dark,
}

impl Scheme {
    pub const ALL: [Self; 2] = [Self::Light, Self::Dark];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Dark => "dark",
        }
    }
}

/// What starts a page load.
enum Navigation<'a> {
    /// Typing a URL.
    Open(&'a str),
    /// Clicking an element (a link or a form's button).
    Click(&'a str),
}

/// One browser tab whose loads are recorded.
pub struct Tab {
    page: Page,
    requests: EventStream<EventRequestWillBeSent>,
    responses: EventStream<EventResponseReceived>,
    log: EventStream<EventEntryAdded>,
    console: EventStream<EventConsoleApiCalled>,
    exceptions: EventStream<EventExceptionThrown>,
}

/// What one page load did and shows.
#[derive(Debug)]
pub struct Load {
    /// The HTTP status the document was served with.
    pub status: Option<i64>,
    /// Every request the page made, the document's own included, in order.
    pub requests: Vec<String>,
    /// Console errors, browser-log errors (CSP violations, blocked or failed loads) and uncaught
    /// exceptions. The browser's note that the document itself answered 4xx is left out: the
    /// status says that, and an error page is allowed its status.
    pub errors: Vec<String>,
    /// What the page shows, read in the page once it has loaded.
    pub shown: Shown,
}

/// What the loaded document shows, measured in the page.
#[derive(Debug, Deserialize)]
pub struct Shown {
    /// The document's URL (`location.href`).
    pub url: String,
    /// `<html lang>`.
    pub lang: String,
    /// The first `h1`'s text, if there is one.
    pub h1: Option<String>,
    /// The `h1` has a box, is not hidden, and lies at least partly inside the viewport.
    pub h1_visible: bool,
    /// `document.documentElement.scrollWidth`: wider than `inner_width` means the page
    /// overflows sideways (a phone user would have to scroll).
    pub scroll_width: i64,
    /// `window.innerWidth`.
    pub inner_width: i64,
    /// The page sees `prefers-color-scheme: dark`.
    pub dark: bool,
    /// The body's rendered text.
    pub text: String,
}

/// Reads [`Shown`] in the page. A page without JavaScript still runs this: DevTools evaluates
/// outside the page's CSP.
const SHOWN_JS: &str = r"(() => {
  const h1 = document.querySelector('h1');
  let visible = false;
  if (h1) {
    const r = h1.getBoundingClientRect();
    const s = getComputedStyle(h1);
    visible = r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'
      && r.right > 0 && r.left < innerWidth && r.bottom > 0;
  }
  return {
    url: location.href,
    lang: document.documentElement.lang,
    h1: h1 ? h1.innerText : null,
    h1_visible: visible,
    scroll_width: document.documentElement.scrollWidth,
    inner_width: innerWidth,
    dark: matchMedia('(prefers-color-scheme: dark)').matches,
    text: document.body ? document.body.innerText : '',
  };
})()";

/// Set on a document before a navigation: a document without it is the new one.
const MARK_OLD: &str = "window.__sesameOldDocument = true";
const NEW_AND_LOADED: &str =
    "window.__sesameOldDocument === undefined && document.readyState === 'complete'";

impl Tab {
    async fn new(page: Page) -> Self {
        // The listeners are registered before anything loads, so no event is missed.
        let requests = page.event_listener().await.expect("request events");
        let responses = page.event_listener().await.expect("response events");
        let log = page.event_listener().await.expect("log events");
        let console = page.event_listener().await.expect("console events");
        let exceptions = page.event_listener().await.expect("exception events");
        // Network and Runtime are enabled by chromiumoxide for every page; the log is not.
        page.enable_log().await.expect("Log.enable");
        Self {
            page,
            requests,
            responses,
            log,
            console,
            exceptions,
        }
    }

    /// Shows the next loads at `width` CSS pixels (a phone below 600: the viewport meta tag
    /// applies) in `scheme`.
    pub async fn view(&self, width: u32, scheme: Scheme) {
        let metrics = SetDeviceMetricsOverrideParams::new(width, 800, 1.0, width < 600);
        self.page
            .execute(metrics)
            .await
            .expect("Emulation.setDeviceMetricsOverride");
        let media = SetEmulatedMediaParams::builder()
            .feature(MediaFeature::new("prefers-color-scheme", scheme.as_str()))
            .build();
        self.page
            .execute(media)
            .await
            .expect("Emulation.setEmulatedMedia");
    }

    /// Sends `Accept-Language: tag` with every following request.
    pub async fn accept_language(&self, tag: &str) {
        let headers = Headers::new(serde_json::json!({ "Accept-Language": tag }));
        self.page
            .execute(SetExtraHttpHeadersParams::new(headers))
            .await
            .expect("Network.setExtraHTTPHeaders");
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn open(&mut self, url: &str) -> Load {
        self.navigate(Navigation::Open(url)).await
    }

    /// Clicks the element `selector` (a form's button, say) and waits for the page it leads to.
    pub async fn click_and_wait(&mut self, selector: &str) -> Load {
        self.navigate(Navigation::Click(selector)).await
    }

    /// Empties the field `selector`, clicks into it and types `text` as key presses.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let selector_js = serde_json::to_string(selector).expect("a string serializes");
        let _: bool = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({selector_js}); if (e) e.value = ''; return true; }})()"
            ))
            .await;
        self.page
            .find_element(selector)
            .await
            .unwrap_or_else(|e| panic!("no `{selector}` to type into: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking into `{selector}`: {e}"))
            .type_str(text)
            .await
            .unwrap_or_else(|e| panic!("typing into `{selector}`: {e}"));
    }

    /// Clicks the element `selector` (a button that runs a script, say), without waiting for a
    /// new document.
    pub async fn click(&self, selector: &str) {
        self.page
            .find_element(selector)
            .await
            .unwrap_or_else(|e| panic!("no `{selector}` to click: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking `{selector}`: {e}"));
    }

    /// Waits until `expression` is true in the page, polling with a deadline; `what` names the
    /// wait in the failure message, with the page's text.
    pub async fn wait_until(&self, expression: &str, what: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let done = match self.page.evaluate_expression(expression).await {
                Ok(v) => v.into_value::<bool>().unwrap_or(false),
                Err(_) => false,
            };
            if done {
                return;
            }
            if Instant::now() >= deadline {
                let shown: Shown = self.eval(SHOWN_JS).await;
                panic!(
                    "{what}: not within {DEADLINE:?}; the page shows: {}",
                    shown.text
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What the current document shows now, and every request and error since the last load
    /// (or the last `settle`): the [`Load`] of a script's work on a page that did not navigate.
    pub async fn settle(&mut self) -> Load {
        let shown: Shown = self.eval(SHOWN_JS).await;
        self.record(shown)
    }

    /// Runs `script` in every document this tab loads from now on, before the page's own
    /// scripts (to take a browser feature away, say).
    pub async fn before_every_document(&self, script: &str) {
        self.page
            .evaluate_on_new_document(script)
            .await
            .expect("Page.addScriptToEvaluateOnNewDocument");
    }

    /// Adds a virtual WebAuthn authenticator to this tab (DevTools `WebAuthn` domain): a
    /// platform authenticator (CTAP2, internal transport) that stores discoverable credentials,
    /// verifies the user and is always present, so a page's `navigator.credentials` calls
    /// complete with no prompt.
    pub async fn virtual_authenticator(&self) -> AuthenticatorId {
        self.page
            .execute(EnableParams::builder().enable_ui(false).build())
            .await
            .expect("WebAuthn.enable");
        let options = VirtualAuthenticatorOptions {
            has_resident_key: Some(true),
            has_user_verification: Some(true),
            is_user_verified: Some(true),
            automatic_presence_simulation: Some(true),
            ..VirtualAuthenticatorOptions::new(
                AuthenticatorProtocol::Ctap2,
                AuthenticatorTransport::Internal,
            )
        };
        self.page
            .execute(AddVirtualAuthenticatorParams::new(options))
            .await
            .expect("WebAuthn.addVirtualAuthenticator")
            .result
            .authenticator_id
    }

    /// Whether the virtual authenticator `id` verifies the user from now on: `false` makes
    /// every ceremony that requires verification fail as a person's refusal would.
    pub async fn set_user_verified(&self, id: &AuthenticatorId, verified: bool) {
        self.page
            .execute(SetUserVerifiedParams::new(id.clone(), verified))
            .await
            .expect("WebAuthn.setUserVerified");
    }

    /// The credentials the virtual authenticator `id` holds.
    pub async fn credentials(&self, id: &AuthenticatorId) -> Vec<Credential> {
        self.page
            .execute(GetCredentialsParams::new(id.clone()))
            .await
            .expect("WebAuthn.getCredentials")
            .result
            .credentials
    }

    /// Evaluates `expression` in the page and returns its JSON value.
    pub async fn eval<T: serde::de::DeserializeOwned>(&self, expression: &str) -> T {
        self.page
            .evaluate_expression(expression)
            .await
            .unwrap_or_else(|e| panic!("evaluating `{expression}`: {e}"))
            .into_value()
            .unwrap_or_else(|e| panic!("the value of `{expression}`: {e}"))
    }

    /// Writes a PNG of the whole page, as laid out in the current view, to `path`. (Not
    /// chromiumoxide's `full_page`, which lays the page out again as a desktop page of its
    /// content's size and then drops the view's emulation.)
    pub async fn screenshot(&self, path: &Path) {
        let size = self
            .page
            .layout_metrics()
            .await
            .expect("Page.getLayoutMetrics")
            .css_content_size;
        let params = ScreenshotParams::builder()
            .capture_beyond_viewport(true)
            .clip(Viewport {
                x: 0.0,
                y: 0.0,
                width: size.width,
                height: size.height,
                scale: 1.0,
            })
            .build();
        self.page
            .save_screenshot(params, path)
            .await
            .unwrap_or_else(|e| panic!("screenshot to {}: {e}", path.display()));
    }

    /// Starts `navigation`, waits until a new document has loaded, and records what happened
    /// since it began.
    async fn navigate(&mut self, navigation: Navigation<'_>) -> Load {
        let what = match navigation {
            Navigation::Open(url) => format!("opening {url}"),
            Navigation::Click(selector) => format!("clicking `{selector}`"),
        };
        self.page
            .evaluate_expression(MARK_OLD)
            .await
            .expect("marking the current document");
        drain(&mut self.requests);
        drain(&mut self.responses);
        drain(&mut self.log);
        drain(&mut self.console);
        drain(&mut self.exceptions);

        match navigation {
            Navigation::Open(url) => {
                self.page
                    .goto(url)
                    .await
                    .unwrap_or_else(|e| panic!("Chromium could not open {url}: {e}"));
            }
            Navigation::Click(selector) => {
                self.page
                    .find_element(selector)
                    .await
                    .unwrap_or_else(|e| panic!("no `{selector}` to click: {e}"))
                    .click()
                    .await
                    .unwrap_or_else(|e| panic!("clicking `{selector}`: {e}"));
            }
        }
        let deadline = Instant::now() + DEADLINE;
        loop {
            // While the old document unloads, evaluation may fail (its context is gone): not
            // loaded yet.
            let loaded = match self.page.evaluate_expression(NEW_AND_LOADED).await {
                Ok(v) => v.into_value::<bool>().unwrap_or(false),
                Err(_) => false,
            };
            if loaded {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no new page loaded within {DEADLINE:?} of {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let shown: Shown = self.eval(SHOWN_JS).await;
        // Every event the browser sent before answering the evaluations above is queued by now:
        // the protocol handler delivers messages in order.
        self.record(shown)
    }

    fn record(&mut self, shown: Shown) -> Load {
        let url = shown.url.clone();
        let requests: Vec<String> = drain(&mut self.requests)
            .into_iter()
            .map(|e| e.request.url.clone())
            .collect();
        let status = drain(&mut self.responses)
            .into_iter()
            .filter(|e| e.r#type == ResourceType::Document)
            .map(|e| e.response.status)
            .last();
        let document_failed = |text: &str, entry_url: Option<&String>| {
            entry_url == Some(&url) && text.starts_with("Failed to load resource")
        };
        let mut errors: Vec<String> = drain(&mut self.log)
            .into_iter()
            .filter(|e| e.entry.level == LogEntryLevel::Error)
            .filter(|e| {
                !(e.entry.source == LogEntrySource::Network
                    && document_failed(&e.entry.text, e.entry.url.as_ref()))
            })
            .map(|e| {
                format!(
                    "log ({:?}): {} [{}]",
                    e.entry.source,
                    e.entry.text,
                    e.entry.url.as_deref().unwrap_or("")
                )
            })
            .collect();
        errors.extend(
            drain(&mut self.console)
                .into_iter()
                .filter(|e| {
                    matches!(
                        e.r#type,
                        ConsoleApiCalledType::Error | ConsoleApiCalledType::Assert
                    )
                })
                .map(|e| format!("console.{:?}: {:?}", e.r#type, e.args)),
        );
        errors.extend(drain(&mut self.exceptions).into_iter().map(|e| {
            format!(
                "uncaught exception: {} {:?}",
                e.exception_details.text, e.exception_details.exception
            )
        }));
        Load {
            status,
            requests,
            errors,
            shown,
        }
    }
}

/// Everything queued on `stream` right now.
fn drain<T: Unpin>(
    stream: &mut (impl Stream<Item = std::sync::Arc<T>> + Unpin),
) -> Vec<std::sync::Arc<T>> {
    let mut out = Vec::new();
    while let Some(Some(item)) = stream.next().now_or_never() {
        out.push(item);
    }
    out
}

impl Load {
    /// Asserts what every page load must hold: every request went to `origin` (the page makes
    /// no external request), and nothing was logged as an error. `what` names the load in the
    /// failure message.
    pub fn assert_clean(&self, origin: &str, what: &str) {
        let foreign: Vec<&String> = self
            .requests
            .iter()
            .filter(|u| !same_origin(u, origin))
            .collect();
        assert!(
            foreign.is_empty(),
            "{what}: requests outside {origin}: {foreign:?}"
        );
        assert!(
            !self.requests.is_empty(),
            "{what}: no request recorded at all (is the recorder listening?)"
        );
        assert!(self.errors.is_empty(), "{what}: errors: {:#?}", self.errors);
    }

    /// Asserts that the page is readable: its `h1` is visible and it does not overflow
    /// sideways.
    pub fn assert_renders(&self, what: &str) {
        assert!(
            self.shown.h1_visible,
            "{what}: no visible h1 (h1: {:?})",
            self.shown.h1
        );
        assert!(
            self.shown.scroll_width <= self.shown.inner_width,
            "{what}: the page is {} px wide in a {} px window (horizontal overflow)",
            self.shown.scroll_width,
            self.shown.inner_width
        );
    }
}

/// Whether `url` has `origin` (`scheme://host:port`) as its origin (RFC 6454 §4).
fn same_origin(url: &str, origin: &str) -> bool {
    match (reqwest::Url::parse(url), reqwest::Url::parse(origin)) {
        (Ok(u), Ok(o)) => u.origin() == o.origin(),
        _ => false,
    }
}
