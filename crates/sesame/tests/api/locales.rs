//! The language of a user's emails, end to end through a real SMTP server: chosen at
//! registration (the body's `locale`, else `Accept-Language`, else `SESAME_DEFAULT_LOCALE`),
//! changed with `PATCH /users/me`, refused when Sesame does not speak it, shown in the user's
//! JSON and export; and each mail rendered in it (subject, text with durations in words, HTML
//! `lang`), per-language template overrides included.

use crate::helpers::{assert_problem, spawn_app_with, Backend, TestApp, PASSWORD};
use crate::smtp::{Mail, SmtpSink};
use reqwest::header::ACCEPT_LANGUAGE;
use serde_json::{json, Value};

/// A running SMTP sink and a server mailing to it, with `extra` serve flags.
async fn app_with_sink(b: Backend, extra: &[&str]) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let mut flags: Vec<&str> = sink.serve_flags().to_vec();
    flags.extend_from_slice(extra);
    let app = spawn_app_with(b, &[], &flags).await;
    (app, sink)
}

/// Registers with `body`, sending `Accept-Language` when given.
async fn register(app: &TestApp, body: &Value, accept_language: Option<&str>) -> reqwest::Response {
    let mut req = app.client.post(app.url("/api/v1/auth/register")).json(body);
    if let Some(l) = accept_language {
        req = req.header(ACCEPT_LANGUAGE, l);
    }
    req.send().await.unwrap()
}

/// Registers `email` with `body`'s extra fields and returns the user's JSON.
async fn registered(
    app: &TestApp,
    email: &str,
    extra: Value,
    accept_language: Option<&str>,
) -> Value {
    let mut body = json!({ "email": email, "password": PASSWORD });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let r = register(app, &body, accept_language).await;
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// The mail is the verification mail in German: subject, body, duration in words, HTML `lang`.
fn assert_german_verification(m: &Mail) {
    assert_eq!(m.subject, "Bestätigen Sie Ihre E-Mail-Adresse");
    assert!(m.text.starts_with("Guten Tag,"), "{}", m.text);
    assert!(m.text.contains("24 Stunden gültig"), "{}", m.text);
    assert!(m.html.contains("<html lang=\"de\">"), "{}", m.html);
    assert!(m.html.contains("Adresse bestätigen</a>"), "{}", m.html);
    assert!(m.expect_link().contains("/verify-email?token="));
}

async fn a_registration_in_german_gets_its_verification_mail_in_german(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    // The body's language wins over the browser's.
    let user = registered(
        &app,
        "anna@example.com",
        json!({ "locale": "de" }),
        Some("fr"),
    )
    .await;
    assert_eq!(user["locale"], "de");
    let m = sink.wait_for_mail_to("anna@example.com", 1).await;
    assert_german_verification(&m);
}

async fn without_a_locale_the_browsers_language_chooses_the_mails(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    let user = registered(
        &app,
        "chloe@example.com",
        json!({}),
        Some("it, fr-CH;q=0.8, en;q=0.5"),
    )
    .await;
    assert_eq!(user["locale"], "fr");
    let m = sink.wait_for_mail_to("chloe@example.com", 1).await;
    assert_eq!(m.subject, "Confirmez votre adresse e-mail");
    assert!(m.text.contains("expire dans 24 heures"), "{}", m.text);
    assert!(m.html.contains("<html lang=\"fr\">"), "{}", m.html);

    // A browser asking only for languages Sesame does not speak gets the default.
    let user = registered(&app, "paolo@example.com", json!({}), Some("it, pt;q=0.5")).await;
    assert_eq!(user["locale"], "en");
    let m = sink.wait_for_mail_to("paolo@example.com", 1).await;
    assert_eq!(m.subject, "Confirm your email address");
    assert!(m.text.contains("expires in 24 hours"), "{}", m.text);
}

async fn a_changed_locale_applies_to_the_next_mail_and_shows_in_the_export(b: Backend) {
    let (app, sink) = app_with_sink(b, &[]).await;
    registered(&app, "lucia@example.com", json!({}), None).await;
    let first = sink.wait_for_mail_to("lucia@example.com", 1).await;
    assert_eq!(first.subject, "Confirm your email address");
    let t = app.tokens("lucia@example.com").await;
    let access = t["access_token"].as_str().unwrap();

    let r = app
        .client
        .patch(app.url("/api/v1/users/me"))
        .bearer_auth(access)
        .json(&json!({ "locale": "es" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["locale"], "es");
    let me: Value = app.me(access).await.json().await.unwrap();
    assert_eq!(me["locale"], "es");
    let export: Value = app
        .get_auth("/api/v1/users/me/export", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(export["user"]["locale"], "es");

    assert_eq!(app.forgot_password("lucia@example.com").await.status(), 202);
    let reset = sink.wait_for_mail_to("lucia@example.com", 2).await;
    assert_eq!(reset.subject, "Restablezca su contraseña");
    assert!(reset.text.contains("caduca en 1 hora."), "{}", reset.text);
    assert!(reset.html.contains("<html lang=\"es\">"), "{}", reset.html);
    assert!(reset.expect_link().contains("/reset-password?token="));
}

async fn an_unsupported_locale_is_refused_with_its_own_code(b: Backend) {
    let (app, _sink) = app_with_sink(b, &[]).await;
    let r = register(
        &app,
        &json!({ "email": "ivo@example.com", "password": PASSWORD, "locale": "it" }),
        None,
    )
    .await;
    let body = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "locale", "{body}");
    assert_eq!(body["errors"][0]["code"], "unsupported_locale", "{body}");
    assert_eq!(
        app.db.count("users WHERE email = 'ivo@example.com'").await,
        0
    );

    app.create_user("ivo@example.com").await;
    let access = app.tokens("ivo@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .client
        .patch(app.url("/api/v1/users/me"))
        .bearer_auth(&access)
        .json(&json!({ "locale": "pt-BR" }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["code"], "unsupported_locale", "{body}");
    let me: Value = app.me(&access).await.json().await.unwrap();
    assert_eq!(me["locale"], "en");
}

async fn the_default_locale_setting_speaks_to_accounts_created_without_one(b: Backend) {
    let (app, sink) = app_with_sink(b, &["--default-locale", "de"]).await;
    let user = registered(&app, "jan@example.com", json!({}), None).await;
    assert_eq!(user["locale"], "de");
    assert_german_verification(&sink.wait_for_mail_to("jan@example.com", 1).await);
    // A language the request names still wins.
    let user = registered(&app, "joe@example.com", json!({}), Some("en-US")).await;
    assert_eq!(user["locale"], "en");
}

async fn a_template_override_for_one_language_replaces_only_that_language(b: Backend) {
    let dir = std::env::temp_dir().join(format!("sesame-locales-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(dir.join("de")).unwrap();
    std::fs::write(
        dir.join("de/verify_email.subject.txt"),
        "Willkommen bei Acme, {{email}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("verify_email.txt"),
        "Acme: {{link}} ({{expires_in}})\n",
    )
    .unwrap();
    let templates = dir.to_string_lossy().into_owned();
    let (app, sink) = app_with_sink(b, &["--mail-templates-dir", &templates]).await;

    registered(&app, "anna@example.com", json!({ "locale": "de" }), None).await;
    let m = sink.wait_for_mail_to("anna@example.com", 1).await;
    assert_eq!(m.subject, "Willkommen bei Acme, anna@example.com");
    // The file for every language, with its duration in German words.
    assert!(
        m.text
            .starts_with("Acme: http://sesame.test/verify-email?token="),
        "{}",
        m.text
    );
    assert!(m.text.contains("(24 Stunden)"), "{}", m.text);
    assert!(
        m.html.contains("Adresse bestätigen</a>"),
        "the built-in HTML: {}",
        m.html
    );

    registered(&app, "amy@example.com", json!({ "locale": "en" }), None).await;
    let m = sink.wait_for_mail_to("amy@example.com", 1).await;
    assert_eq!(m.subject, "Confirm your email address");
    assert!(m.text.contains("(24 hours)"), "{}", m.text);
    std::fs::remove_dir_all(&dir).unwrap();
}

crate::on_every_backend!(
    a_registration_in_german_gets_its_verification_mail_in_german,
    without_a_locale_the_browsers_language_chooses_the_mails,
    a_changed_locale_applies_to_the_next_mail_and_shows_in_the_export,
    an_unsupported_locale_is_refused_with_its_own_code,
    the_default_locale_setting_speaks_to_accounts_created_without_one,
    a_template_override_for_one_language_replaces_only_that_language,
);
