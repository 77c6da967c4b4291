//! Email templates: a subject, a plain-text and an HTML body per message kind, built into the
//! binary and overridable file by file from `SESAME_MAIL_TEMPLATES_DIR` (`<kind>.subject.txt`,
//! `<kind>.txt`, `<kind>.html`). `{{name}}` placeholders take the message's fields; in the HTML
//! body they are HTML-escaped.
//!
//! A template may name only fields its message has ([`MailKind::fields`]): [`Templates::load`]
//! refuses one that names another, so a typo in an override stops the server at startup instead
//! of sending mail with a hole in it. Rendering checks again and fails (the mail is then marked
//! dead with the reason) rather than fill in an empty string. This module does not decide what
//! to send or when.

use sesame_domain::mail::{MailKind, Message, QueuedMail};
use std::collections::HashMap;
use std::path::Path;

/// A rendered message.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A template that names a field its message does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mail template {template} names {{{{{field}}}}}, but a {kind} message has only {fields}")]
pub struct UnknownField {
    /// The template's file name (`verify_email.txt`).
    pub template: String,
    pub field: String,
    pub kind: &'static str,
    /// The fields it may name, for the message.
    pub fields: String,
}

/// Why a message could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    UnknownField(#[from] UnknownField),
    /// Cannot happen after [`Templates::load`], which loads every kind.
    #[error("no mail templates are loaded for {0} messages")]
    NoTemplates(&'static str),
}

struct Set {
    subject: String,
    text: String,
    html: String,
}

pub struct Templates {
    sets: HashMap<MailKind, Set>,
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

/// One piece of a template: literal text, or the name in a `{{name}}` placeholder.
enum Piece<'a> {
    Text(&'a str),
    Field(&'a str),
}

/// Splits a template into text and placeholders. An unclosed `{{` is text.
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        out.push(Piece::Text(&rest[..start]));
        out.push(Piece::Field(after[..end].trim()));
        rest = &after[end + 2..];
    }
    out.push(Piece::Text(rest));
    out
}

/// The placeholders of `template` that a `kind` message does not have.
fn check(kind: MailKind, name: &str, template: &str) -> Result<(), UnknownField> {
    match pieces(template).into_iter().find_map(|p| match p {
        Piece::Field(f) if !kind.fields().contains(&f) => Some(f),
        _ => None,
    }) {
        None => Ok(()),
        Some(field) => Err(UnknownField {
            template: name.to_owned(),
            field: field.to_owned(),
            kind: kind.as_str(),
            fields: kind.fields().join(", "),
        }),
    }
}

fn fill(name: &str, template: &str, message: &Message, html: bool) -> Result<String, UnknownField> {
    let mut out = String::with_capacity(template.len() + 64);
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Field(f) => {
                let kind = message.kind();
                let value = message.field(f).ok_or_else(|| UnknownField {
                    template: name.to_owned(),
                    field: f.to_owned(),
                    kind: kind.as_str(),
                    fields: kind.fields().join(", "),
                })?;
                if html {
                    out.push_str(&escape_html(value));
                } else {
                    out.push_str(value);
                }
            }
        }
    }
    Ok(out)
}

impl Templates {
    /// The built-in templates, with any file present in `dir` taking the place of its built-in.
    ///
    /// # Errors
    /// A message naming a template file that exists but cannot be read, or that names a field
    /// its message does not have.
    pub fn load(dir: Option<&Path>) -> Result<Self, String> {
        let mut sets = HashMap::new();
        for &kind in MailKind::ALL {
            let (subject, text, html) = builtin(kind);
            let read = |suffix: &str, fallback: &str| -> Result<String, String> {
                let name = format!("{}.{suffix}", kind.as_str());
                let template = match dir.map(|d| d.join(&name)) {
                    None => fallback.to_owned(),
                    Some(path) => match std::fs::read_to_string(&path) {
                        Ok(s) => s,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fallback.to_owned(),
                        Err(e) => {
                            return Err(format!(
                                "mail template {} cannot be read: {e}",
                                path.display()
                            ))
                        }
                    },
                };
                check(kind, &name, &template).map_err(|e| e.to_string())?;
                Ok(template)
            };
            sets.insert(
                kind,
                Set {
                    subject: read("subject.txt", subject)?.trim().to_owned(),
                    text: read("txt", text)?,
                    html: read("html", html)?,
                },
            );
        }
        Ok(Self { sets })
    }

    /// Fills the templates of the mail's kind with its fields.
    ///
    /// # Errors
    /// [`RenderError::UnknownField`] when a template names a field the message does not have.
    /// `load` refuses such templates, so this is the last line of defence, not a path in use.
    pub fn render(&self, mail: &QueuedMail) -> Result<Rendered, RenderError> {
        let message = &mail.params;
        let kind = message.kind();
        let set = self
            .sets
            .get(&kind)
            .ok_or(RenderError::NoTemplates(kind.as_str()))?;
        let name = |suffix: &str| format!("{}.{suffix}", kind.as_str());
        let html_body = fill(&name("html"), &set.html, message, true)?;
        Ok(Rendered {
            subject: fill(&name("subject.txt"), &set.subject, message, false)?
                .replace(['\r', '\n'], " "),
            text: fill(&name("txt"), &set.text, message, false)?,
            html: format!("<!doctype html>\n<html><body>\n{html_body}</body></html>\n"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_domain::mail::{AccountLocked, VerifyEmail};

    fn queued(message: impl Into<Message>) -> QueuedMail {
        let params = message.into();
        QueuedMail {
            id: uuid::Uuid::now_v7(),
            to: "a@example.com".into(),
            kind: params.kind(),
            params,
            attempts: 0,
        }
    }

    /// A verification mail to `email` with `link`, expiring in 24 hours.
    fn verification(email: &str, link: &str) -> QueuedMail {
        queued(VerifyEmail {
            email: email.into(),
            expires_in: "24 hours".into(),
            link: link.into(),
        })
    }

    /// A message of `kind` whose every field holds a value that names it.
    fn sample(kind: MailKind) -> Message {
        let object: serde_json::Map<String, serde_json::Value> = kind
            .fields()
            .iter()
            .map(|f| ((*f).to_owned(), format!("value-of-{f}").into()))
            .collect();
        Message::decode(kind, &serde_json::Value::Object(object).to_string()).unwrap()
    }

    fn override_dir(files: &[(&str, &str)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sesame-templates-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn placeholders_are_filled_and_escaped_in_html_only() {
        let t = Templates::load(None).unwrap();
        let r = t
            .render(&verification(
                "<b>x</b>@example.com",
                "https://s.example/verify-email?token=abc&x=1",
            ))
            .unwrap();
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
        for &kind in MailKind::ALL {
            let r = t.render(&queued(sample(kind))).unwrap();
            assert!(
                !r.subject.is_empty() && !r.text.is_empty() && r.html.contains("<p>"),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn every_builtin_template_renders_every_field_of_its_message() {
        let t = Templates::load(None).unwrap();
        for &kind in MailKind::ALL {
            let r = t.render(&queued(sample(kind))).unwrap();
            for field in kind.fields() {
                let value = format!("value-of-{field}");
                assert!(r.text.contains(&value), "{kind:?}: text lacks {field}");
                assert!(r.html.contains(&value), "{kind:?}: html lacks {field}");
            }
            assert!(!r.text.contains("{{") && !r.html.contains("{{"), "{kind:?}");
        }
    }

    #[test]
    fn no_builtin_template_names_a_field_its_message_lacks() {
        for &kind in MailKind::ALL {
            let (subject, text, html) = builtin(kind);
            for (part, template) in [("subject", subject), ("text", text), ("html", html)] {
                assert_eq!(check(kind, part, template), Ok(()), "{kind:?} {part}");
            }
        }
    }

    #[test]
    fn the_readme_lists_the_fields_of_every_kind() {
        let readme = include_str!("../../../../README.md");
        for &kind in MailKind::ALL {
            let fields: Vec<String> = kind.fields().iter().map(|f| format!("`{f}`")).collect();
            let row = format!("| `{}` | {} |", kind.as_str(), fields.join(", "));
            assert!(readme.contains(&row), "README.md lacks the row {row}");
        }
    }

    #[test]
    fn an_override_naming_a_field_the_message_lacks_is_refused_at_load() {
        let dir = override_dir(&[("password_changed.txt", "Hi {{email}}, open {{link}}\n")]);
        let err = Templates::load(Some(&dir)).err().unwrap();
        assert_eq!(
            err,
            "mail template password_changed.txt names {{link}}, but a password_changed message has only email"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rendering_a_template_naming_a_missing_field_fails_instead_of_leaving_it_empty() {
        let message = Message::from(AccountLocked {
            email: "a@example.com".into(),
            locked_for: "15 minutes".into(),
        });
        let err = fill("account_locked.txt", "Open {{ link }}", &message, false).unwrap_err();
        assert_eq!(err.field, "link");
        assert_eq!(err.template, "account_locked.txt");
        assert_eq!(
            fill("x", "{{email}} for {{locked_for}}", &message, false).unwrap(),
            "a@example.com for 15 minutes"
        );
    }

    #[test]
    fn an_unclosed_placeholder_is_left_as_text() {
        let message = sample(MailKind::PasswordChanged);
        assert_eq!(
            fill("x", "a {{email}} b {{email", &message, false).unwrap(),
            "a value-of-email b {{email"
        );
    }

    #[test]
    fn a_template_file_in_the_override_folder_replaces_the_builtin() {
        let dir = override_dir(&[("verify_email.subject.txt", "Welcome to Acme, {{email}}\n")]);
        let t = Templates::load(Some(&dir)).unwrap();
        let r = t
            .render(&verification(
                "a@example.com",
                "https://s.example/verify-email?token=t",
            ))
            .unwrap();
        assert_eq!(r.subject, "Welcome to Acme, a@example.com");
        assert!(
            r.text.contains("Please confirm"),
            "other parts keep the built-in"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_subject_cannot_carry_a_header_injection() {
        let dir = override_dir(&[("verify_email.subject.txt", "Hi {{email}}")]);
        let t = Templates::load(Some(&dir)).unwrap();
        let r = t
            .render(&verification(
                "a\r\nBcc: evil@example.com",
                "https://s.example/verify-email?token=t",
            ))
            .unwrap();
        assert!(!r.subject.contains('\n') && !r.subject.contains('\r'));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
