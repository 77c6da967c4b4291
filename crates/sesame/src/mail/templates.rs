//! Email templates: a subject, a plain-text and an HTML body per message kind, built into the
//! binary and overridable file by file from `SESAME_MAIL_TEMPLATES_DIR` (`<kind>.subject.txt`,
//! `<kind>.txt`, `<kind>.html`). `{{name}}` placeholders take the message's parameters; in the
//! HTML body they are HTML-escaped.

use sesame_domain::mail::{MailKind, QueuedMail};
use std::collections::HashMap;
use std::path::Path;

/// A rendered message.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

struct Set {
    subject: String,
    text: String,
    html: String,
}

pub struct Templates {
    sets: HashMap<&'static str, Set>,
}

macro_rules! builtin {
    ($kind:literal) => {
        (
            include_str!(concat!("../../templates/", $kind, ".subject.txt")),
            include_str!(concat!("../../templates/", $kind, ".txt")),
            include_str!(concat!("../../templates/", $kind, ".html")),
        )
    };
}

fn builtin(kind: MailKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        MailKind::VerifyEmail => builtin!("verify_email"),
        MailKind::PasswordReset => builtin!("password_reset"),
        MailKind::PasswordChanged => builtin!("password_changed"),
        MailKind::EmailChangeConfirm => builtin!("email_change_confirm"),
        MailKind::EmailChangeNotice => builtin!("email_change_notice"),
        MailKind::EmailChangeTaken => builtin!("email_change_taken"),
        MailKind::AccountLocked => builtin!("account_locked"),
    }
}

/// Escapes text for an HTML text node or a quoted attribute.
#[must_use]
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn fill(template: &str, params: &std::collections::BTreeMap<String, String>, html: bool) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let value = params.get(after[..end].trim()).map_or("", String::as_str);
        if html {
            out.push_str(&escape_html(value));
        } else {
            out.push_str(value);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

impl Templates {
    /// The built-in templates, with any file present in `dir` taking the place of its built-in.
    ///
    /// # Errors
    /// A message naming a template file that exists but cannot be read.
    pub fn load(dir: Option<&Path>) -> Result<Self, String> {
        let mut sets = HashMap::new();
        for kind in MailKind::ALL {
            let (subject, text, html) = builtin(kind);
            let read = |suffix: &str, fallback: &str| -> Result<String, String> {
                let Some(dir) = dir else {
                    return Ok(fallback.to_owned());
                };
                let path = dir.join(format!("{}.{suffix}", kind.as_str()));
                match std::fs::read_to_string(&path) {
                    Ok(s) => Ok(s),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(fallback.to_owned()),
                    Err(e) => Err(format!(
                        "mail template {} cannot be read: {e}",
                        path.display()
                    )),
                }
            };
            sets.insert(
                kind.as_str(),
                Set {
                    subject: read("subject.txt", subject)?.trim().to_owned(),
                    text: read("txt", text)?,
                    html: read("html", html)?,
                },
            );
        }
        Ok(Self { sets })
    }

    #[must_use]
    pub fn render(&self, mail: &QueuedMail) -> Rendered {
        let Some(set) = self.sets.get(mail.kind.as_str()) else {
            // Every kind is loaded in `load`; this is unreachable in practice.
            return Rendered {
                subject: String::new(),
                text: String::new(),
                html: String::new(),
            };
        };
        let html_body = fill(&set.html, &mail.params, true);
        Rendered {
            subject: fill(&set.subject, &mail.params, false).replace(['\r', '\n'], " "),
            text: fill(&set.text, &mail.params, false),
            html: format!("<!doctype html>\n<html><body>\n{html_body}</body></html>\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn mail(kind: MailKind, params: &[(&str, &str)]) -> QueuedMail {
        QueuedMail {
            id: uuid::Uuid::now_v7(),
            to: "a@example.com".into(),
            kind,
            params: params
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect::<BTreeMap<_, _>>(),
            attempts: 0,
        }
    }

    #[test]
    fn placeholders_are_filled_and_escaped_in_html_only() {
        let t = Templates::load(None).unwrap();
        let r = t.render(&mail(
            MailKind::VerifyEmail,
            &[
                ("email", "<b>x</b>@example.com"),
                ("link", "https://s.example/verify-email?token=abc&x=1"),
                ("expires_in", "24 hours"),
            ],
        ));
        assert!(r
            .text
            .contains("https://s.example/verify-email?token=abc&x=1"));
        assert!(r.text.contains("<b>x</b>@example.com"));
        assert!(r.html.contains("&lt;b&gt;x&lt;/b&gt;@example.com"));
        assert!(r.html.contains("token=abc&amp;x=1"));
        assert!(!r.text.contains("{{"));
    }

    #[test]
    fn every_kind_has_a_non_empty_builtin_template() {
        let t = Templates::load(None).unwrap();
        for kind in MailKind::ALL {
            let r = t.render(&mail(kind, &[]));
            assert!(
                !r.subject.is_empty() && !r.text.is_empty() && r.html.contains("<p>"),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn a_template_file_in_the_override_folder_replaces_the_builtin() {
        let dir = std::env::temp_dir().join(format!("sesame-templates-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("verify_email.subject.txt"),
            "Welcome to Acme, {{email}}\n",
        )
        .unwrap();
        let t = Templates::load(Some(&dir)).unwrap();
        let r = t.render(&mail(MailKind::VerifyEmail, &[("email", "a@example.com")]));
        assert_eq!(r.subject, "Welcome to Acme, a@example.com");
        assert!(
            r.text.contains("Please confirm"),
            "other parts keep the built-in"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_subject_cannot_carry_a_header_injection() {
        let dir = std::env::temp_dir().join(format!("sesame-templates-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("verify_email.subject.txt"), "Hi {{email}}").unwrap();
        let t = Templates::load(Some(&dir)).unwrap();
        let r = t.render(&mail(
            MailKind::VerifyEmail,
            &[("email", "a\r\nBcc: evil@example.com")],
        ));
        assert!(!r.subject.contains('\n') && !r.subject.contains('\r'));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
