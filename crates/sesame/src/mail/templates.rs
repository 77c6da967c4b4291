//! Email templates: a subject, a plain-text and an HTML body per message kind and language.
//! The built-in ones are written in Fluent (`crates/sesame/locales/<tag>/mail.ftl`, through
//! [`crate::i18n`]) and laid out here; any of them can be replaced by a file in
//! `SESAME_MAIL_TEMPLATES_DIR`: `<tag>/<kind>.<part>` for one language, else `<kind>.<part>` for
//! every language (`<part>` is `subject.txt`, `txt` or `html`). `{{name}}` placeholders in a file
//! take the message's fields; in the HTML body they, and every built-in sentence, are
//! HTML-escaped. A lifetime field (`expires_in`, `locked_for`) is put into words in the mail's
//! language ("24 hours", "24 Stunden"), in files and built-ins alike.
//!
//! A template may name only fields its message has ([`MailKind::fields`]): [`Templates::load`]
//! refuses a file that names another, so a typo in an override stops the server at startup
//! instead of sending mail with a hole in it (the built-in Fluent messages are held to the same
//! rule by a test). Rendering checks again and fails (the mail is then marked dead with the
//! reason) rather than fill in an empty string. This module does not decide what to send, when,
//! or in which language: the mail says (its locale was chosen when it was queued).

use crate::i18n;
use sesame_domain::locale::Locale;
use sesame_domain::mail::{Field, Lifetime, MailKind, Message, QueuedMail, TimeUnit};
use std::borrow::Cow;
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
    /// The template's file name (`verify_email.txt`, `de/verify_email.txt`).
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
    /// Cannot happen after [`Templates::load`], which loads every kind in every language.
    #[error("no mail templates are loaded for {0} messages")]
    NoTemplates(&'static str),
}

/// The three parts of a mail, by their file suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Subject,
    Text,
    Html,
}

impl Part {
    const ALL: [Self; 3] = [Self::Subject, Self::Text, Self::Html];

    fn suffix(self) -> &'static str {
        match self {
            Self::Subject => "subject.txt",
            Self::Text => "txt",
            Self::Html => "html",
        }
    }
}

/// Where one part of one kind in one language comes from.
#[derive(Debug, Clone)]
enum Source {
    /// The Fluent messages of `mail.ftl`.
    Builtin,
    /// An override file: its name relative to the folder, and its text.
    File { name: String, template: String },
}

#[derive(Debug, Clone)]
struct Set {
    subject: Source,
    text: Source,
    html: Source,
}

pub struct Templates {
    sets: HashMap<(MailKind, Locale), Set>,
    /// The language of mail queued before mail had one.
    default: Locale,
}

/// A lifetime in words in `locale` ("24 hours", "24 Stunden", "24 heures", "24 horas"), with
/// the language's plural rules (Fluent's `duration-<unit>` messages).
#[must_use]
pub fn duration_words(locale: Locale, l: Lifetime) -> String {
    let key = match l.unit {
        TimeUnit::Second => "duration-second",
        TimeUnit::Minute => "duration-minute",
        TimeUnit::Hour => "duration-hour",
        TimeUnit::Day => "duration-day",
    };
    i18n::count(locale, key, l.count)
}

fn field_text(locale: Locale, field: Field<'_>) -> Cow<'_, str> {
    match field {
        Field::Text(s) => Cow::Borrowed(s),
        Field::Lifetime(l) => Cow::Owned(duration_words(locale, l)),
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

fn unknown_field(kind: MailKind, name: &str, field: &str) -> UnknownField {
    UnknownField {
        template: name.to_owned(),
        field: field.to_owned(),
        kind: kind.as_str(),
        fields: kind.fields().join(", "),
    }
}

/// The placeholders of `template` that a `kind` message does not have.
fn check(kind: MailKind, name: &str, template: &str) -> Result<(), UnknownField> {
    match pieces(template).into_iter().find_map(|p| match p {
        Piece::Field(f) if !kind.fields().contains(&f) => Some(f),
        _ => None,
    }) {
        None => Ok(()),
        Some(field) => Err(unknown_field(kind, name, field)),
    }
}

fn fill(
    name: &str,
    template: &str,
    message: &Message,
    locale: Locale,
    html: bool,
) -> Result<String, UnknownField> {
    let mut out = String::with_capacity(template.len() + 64);
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Field(f) => {
                let value = message
                    .field(f)
                    .ok_or_else(|| unknown_field(message.kind(), name, f))?;
                let value = field_text(locale, value);
                if html {
                    out.push_str(&escape_html(&value));
                } else {
                    out.push_str(&value);
                }
            }
        }
    }
    Ok(out)
}

/// The built-in mail of `message`'s kind in `locale`, from `mail.ftl`: a greeting, the kind's
/// `-intro`, for a mail with a link its `-action` (the link's words: a button in HTML, a label
/// above the bare link in text), and its `-outro`. Every field is a Fluent variable of the
/// same name.
fn builtin(message: &Message, locale: Locale) -> Rendered {
    let kind = message.kind();
    let values: Vec<(&'static str, String)> = kind
        .fields()
        .iter()
        .filter_map(|f| Some((*f, field_text(locale, message.field(f)?).into_owned())))
        .collect();
    let args: Vec<(&'static str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let say = |part: &str| i18n::text_with(locale, &format!("{}-{part}", kind.as_str()), &args);
    let greeting = i18n::text(locale, "mail-greeting");
    let (intro, outro) = (say("intro"), say("outro"));
    let link = message.field("link").map(|l| field_text(locale, l));
    let (text, html) = match &link {
        Some(link) => {
            let action = say("action");
            let label = i18n::text_with(locale, "mail-link-label", &[("action", &action)]);
            (
                format!("{greeting}\n\n{intro}\n\n{label}\n{link}\n\n{outro}\n"),
                format!(
                    "<p>{}</p>\n<p>{}</p>\n<p><a href=\"{}\">{}</a></p>\n<p>{}</p>\n",
                    escape_html(&greeting),
                    escape_html(&intro),
                    escape_html(link),
                    escape_html(&action),
                    escape_html(&outro),
                ),
            )
        }
        None => (
            format!("{greeting}\n\n{intro}\n\n{outro}\n"),
            format!(
                "<p>{}</p>\n<p>{}</p>\n<p>{}</p>\n",
                escape_html(&greeting),
                escape_html(&intro),
                escape_html(&outro),
            ),
        ),
    };
    Rendered {
        subject: say("subject"),
        text,
        html,
    }
}

/// Reads the override for `part` of `kind` in `locale`: `<dir>/<tag>/<file>`, else
/// `<dir>/<file>`; [`Source::Builtin`] when neither exists.
fn read(dir: Option<&Path>, kind: MailKind, locale: Locale, part: Part) -> Result<Source, String> {
    let Some(dir) = dir else {
        return Ok(Source::Builtin);
    };
    let file = format!("{}.{}", kind.as_str(), part.suffix());
    for name in [format!("{}/{file}", locale.as_str()), file.clone()] {
        let path = dir.join(&name);
        match std::fs::read_to_string(&path) {
            Ok(template) => {
                check(kind, &name, &template).map_err(|e| e.to_string())?;
                return Ok(Source::File { name, template });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(format!(
                    "mail template {} cannot be read: {e}",
                    path.display()
                ))
            }
        }
    }
    Ok(Source::Builtin)
}

impl Templates {
    /// The built-in templates, with any file present in `dir` taking the place of its built-in
    /// (see the module header); `default` renders mail queued without a language.
    ///
    /// # Errors
    /// A message naming a template file that exists but cannot be read, or that names a field
    /// its message does not have.
    pub fn load(dir: Option<&Path>, default: Locale) -> Result<Self, String> {
        let mut sets = HashMap::new();
        for &kind in MailKind::ALL {
            for locale in Locale::ALL {
                let mut parts = Part::ALL
                    .into_iter()
                    .map(|part| read(dir, kind, locale, part));
                let mut next = || parts.next().unwrap_or(Ok(Source::Builtin));
                let set = Set {
                    subject: next()?,
                    text: next()?,
                    html: next()?,
                };
                sets.insert((kind, locale), set);
            }
        }
        Ok(Self { sets, default })
    }

    /// Fills the templates of the mail's kind, in the mail's language, with its fields.
    ///
    /// # Errors
    /// [`RenderError::UnknownField`] when a template names a field the message does not have.
    /// `load` refuses such templates, so this is the last line of defence, not a path in use.
    pub fn render(&self, mail: &QueuedMail) -> Result<Rendered, RenderError> {
        let message = &mail.params;
        let kind = message.kind();
        let locale = mail.locale.unwrap_or(self.default);
        let set = self
            .sets
            .get(&(kind, locale))
            .ok_or(RenderError::NoTemplates(kind.as_str()))?;
        let builtin = builtin(message, locale);
        let part = |source: &Source, built: &str, html: bool| match source {
            Source::Builtin => Ok(built.to_owned()),
            Source::File { name, template } => fill(name, template, message, locale, html),
        };
        let subject = part(&set.subject, &builtin.subject, false)?
            .trim()
            .replace(['\r', '\n'], " ");
        let html_body = part(&set.html, &builtin.html, true)?;
        Ok(Rendered {
            html: format!(
                "<!doctype html>\n<html lang=\"{lang}\">\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n{html_body}</body>\n</html>\n",
                lang = locale.as_str(),
                title = escape_html(&subject),
            ),
            text: part(&set.text, &builtin.text, false)?,
            subject,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sesame_domain::mail::{AccountLocked, Invite, VerifyEmail};
    use std::time::Duration;

    fn queued_in(locale: Option<Locale>, message: impl Into<Message>) -> QueuedMail {
        let params = message.into();
        QueuedMail {
            id: uuid::Uuid::now_v7(),
            to: "a@example.com".into(),
            kind: params.kind(),
            params,
            locale,
            attempts: 0,
        }
    }

    fn queued(message: impl Into<Message>) -> QueuedMail {
        queued_in(Some(Locale::En), message)
    }

    fn day() -> Lifetime {
        Lifetime::of(Duration::from_secs(86_400))
    }

    /// A verification mail to `email` with `link`, expiring in 24 hours.
    fn verification(email: &str, link: &str) -> VerifyEmail {
        VerifyEmail {
            email: email.into(),
            expires_in: day(),
            link: link.into(),
        }
    }

    /// Fields the built-in text chooses its wording by (a Fluent select) instead of showing
    /// them, with their values; [`sample`] uses the first.
    const CHOICES: &[(&str, &[&str])] = &[
        ("factor_kind", &["totp", "passkey", "all"]),
        ("by_admin", &["no", "yes"]),
    ];

    fn choices(field: &str) -> Option<&'static [&'static str]> {
        CHOICES.iter().find(|(f, _)| *f == field).map(|(_, v)| *v)
    }

    /// A message of `kind` whose every text field holds a value that names it (a choice field:
    /// its first value), and every lifetime is 3 hours.
    fn sample(kind: MailKind) -> Message {
        let object: serde_json::Map<String, serde_json::Value> = kind
            .fields()
            .iter()
            .map(|f| {
                let v = if kind.is_lifetime(f) {
                    "3 hours".to_owned()
                } else if let Some(values) = choices(f) {
                    values[0].to_owned()
                } else {
                    format!("value-of-{f}")
                };
                ((*f).to_owned(), v.into())
            })
            .collect();
        Message::decode(kind, &serde_json::Value::Object(object).to_string()).unwrap()
    }

    fn load(dir: Option<&Path>) -> Templates {
        Templates::load(dir, Locale::En).unwrap()
    }

    fn override_dir(files: &[(&str, &str)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sesame-templates-{}", uuid::Uuid::now_v7()));
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn durations_are_put_into_words_with_each_languages_plural_forms() {
        let words = |l, secs| duration_words(l, Lifetime::of(Duration::from_secs(secs)));
        assert_eq!(words(Locale::En, 86_400), "24 hours");
        assert_eq!(words(Locale::En, 3600), "1 hour");
        assert_eq!(words(Locale::En, 604_800), "7 days");
        assert_eq!(words(Locale::En, 60), "1 minute");
        assert_eq!(words(Locale::En, 5), "5 seconds");
        assert_eq!(words(Locale::De, 86_400), "24 Stunden");
        assert_eq!(words(Locale::De, 3600), "1 Stunde");
        assert_eq!(words(Locale::De, 604_800), "7 Tage");
        assert_eq!(words(Locale::De, 900), "15 Minuten");
        assert_eq!(words(Locale::De, 1), "1 Sekunde");
        assert_eq!(words(Locale::Fr, 86_400), "24 heures");
        assert_eq!(words(Locale::Fr, 3600), "1 heure");
        assert_eq!(words(Locale::Fr, 604_800), "7 jours");
        assert_eq!(words(Locale::Fr, 60), "1 minute");
        assert_eq!(words(Locale::Fr, 30), "30 secondes");
        assert_eq!(words(Locale::Es, 86_400), "24 horas");
        assert_eq!(words(Locale::Es, 3600), "1 hora");
        assert_eq!(words(Locale::Es, 172_800), "2 días");
        assert_eq!(words(Locale::Es, 900), "15 minutos");
        assert_eq!(words(Locale::Es, 1), "1 segundo");
    }

    #[test]
    fn placeholders_are_filled_and_escaped_in_html_only() {
        let t = load(None);
        let r = t
            .render(&queued(verification(
                "<b>x</b>@example.com",
                "https://s.example/verify-email?token=abc&x=1",
            )))
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
    fn every_kind_has_a_non_empty_builtin_mail_in_every_language() {
        let t = load(None);
        for &kind in MailKind::ALL {
            for locale in Locale::ALL {
                let r = t.render(&queued_in(Some(locale), sample(kind))).unwrap();
                assert!(
                    !r.subject.is_empty() && !r.text.is_empty() && r.html.contains("<p>"),
                    "{kind:?} {locale}"
                );
                assert!(
                    r.html.contains(&format!("<html lang=\"{locale}\">")),
                    "{kind:?} {locale}"
                );
            }
        }
    }

    #[test]
    fn every_builtin_mail_renders_every_field_of_its_message_in_every_language() {
        let t = load(None);
        for &kind in MailKind::ALL {
            for locale in Locale::ALL {
                let r = t.render(&queued_in(Some(locale), sample(kind))).unwrap();
                for field in kind.fields().iter().filter(|f| choices(f).is_none()) {
                    let value = if kind.is_lifetime(field) {
                        duration_words(locale, Lifetime::of(Duration::from_secs(3 * 3600)))
                    } else {
                        format!("value-of-{field}")
                    };
                    let all = format!("{}\n{}", r.subject, r.text);
                    assert!(
                        all.contains(&value),
                        "{kind:?} {locale}: text lacks {field}"
                    );
                    assert!(
                        r.html.contains(&value),
                        "{kind:?} {locale}: html lacks {field}"
                    );
                }
                for part in [&r.subject, &r.text, &r.html] {
                    assert!(
                        !part.contains('{') && !part.contains('}'),
                        "{kind:?} {locale}: a placeholder is left in {part}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_languages_say_different_things() {
        let t = load(None);
        let subjects: std::collections::BTreeSet<String> = Locale::ALL
            .into_iter()
            .map(|l| {
                t.render(&queued_in(Some(l), sample(MailKind::PasswordReset)))
                    .unwrap()
                    .subject
            })
            .collect();
        assert_eq!(subjects.len(), 4, "{subjects:?}");
        let de = t
            .render(&queued_in(
                Some(Locale::De),
                verification("a@example.com", "https://s.example/v"),
            ))
            .unwrap();
        assert_eq!(de.subject, "Bestätigen Sie Ihre E-Mail-Adresse");
        assert!(de.text.contains("24 Stunden gültig"), "{}", de.text);
    }

    /// The text and subject of a factor mail with these fields, in `locale`.
    fn factor_mail(
        t: &Templates,
        locale: Locale,
        kind: MailKind,
        fields: &[(&str, &str)],
    ) -> String {
        let object: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).into()))
            .collect();
        let message =
            Message::decode(kind, &serde_json::Value::Object(object).to_string()).unwrap();
        let r = t.render(&queued_in(Some(locale), message)).unwrap();
        format!("{}\n{}", r.subject, r.text)
    }

    #[test]
    fn every_factor_kind_and_who_removed_it_is_worded_in_every_language() {
        let t = load(None);
        for locale in Locale::ALL {
            let added = |kind: &str| {
                factor_mail(
                    &t,
                    locale,
                    MailKind::FactorAdded,
                    &[
                        ("email", "a@example.com"),
                        ("factor_kind", kind),
                        ("factor_name", "Phone"),
                    ],
                )
            };
            let removed = |kind: &str, name: &str, by_admin: &str| {
                factor_mail(
                    &t,
                    locale,
                    MailKind::FactorRemoved,
                    &[
                        ("email", "a@example.com"),
                        ("factor_kind", kind),
                        ("factor_name", name),
                        ("by_admin", by_admin),
                    ],
                )
            };
            // A kind the text does not know falls back to the generic wording; each known one,
            // and each way it was removed, has its own (a misspelt variant key would not).
            let mut mails = vec![added("unknown"), added("totp"), added("passkey")];
            for kind in ["unknown", "totp", "passkey", "all"] {
                for by_admin in ["yes", "no"] {
                    mails.push(removed(kind, "Phone", by_admin));
                }
            }
            let distinct: std::collections::BTreeSet<&String> = mails.iter().collect();
            assert_eq!(distinct.len(), mails.len(), "{locale}: {mails:#?}");
            for mail in &mails {
                assert!(mail.contains("a@example.com"), "{locale}: {mail}");
            }
            for by_admin in ["yes", "no"] {
                let all = removed("all", "", by_admin);
                assert_eq!(
                    all,
                    removed("all", "Phone", by_admin),
                    "{locale}: a reset of every factor names none"
                );
                assert_ne!(all, removed("unknown", "", by_admin), "{locale}");
                for kind in ["totp", "passkey"] {
                    assert!(
                        removed(kind, "Phone", by_admin).contains("Phone"),
                        "{locale}"
                    );
                }
            }
        }
    }

    /// The variables of every mail message in every language's `mail.ftl`: each must be a
    /// field of the kind the message belongs to (the load-time check, for the built-ins).
    #[test]
    fn no_builtin_message_names_a_field_its_kind_lacks_and_every_part_exists() {
        use fluent_syntax::ast;
        fn variables<'s>(p: &ast::Pattern<&'s str>, out: &mut Vec<&'s str>) {
            for el in &p.elements {
                if let ast::PatternElement::Placeable { expression } = el {
                    expr(expression, out);
                }
            }
        }
        fn expr<'s>(e: &ast::Expression<&'s str>, out: &mut Vec<&'s str>) {
            match e {
                ast::Expression::Inline(i) => inline(i, out),
                ast::Expression::Select { selector, variants } => {
                    inline(selector, out);
                    for v in variants {
                        variables(&v.value, out);
                    }
                }
            }
        }
        fn inline<'s>(i: &ast::InlineExpression<&'s str>, out: &mut Vec<&'s str>) {
            match i {
                ast::InlineExpression::VariableReference { id } => out.push(id.name),
                ast::InlineExpression::Placeable { expression } => expr(expression, out),
                _ => {}
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("locales");
        for locale in Locale::ALL {
            let path = root.join(locale.as_str()).join("mail.ftl");
            let source = std::fs::read_to_string(&path).unwrap();
            let resource = fluent_syntax::parser::parse(source.as_str()).unwrap();
            let mut ids = std::collections::BTreeSet::new();
            for entry in &resource.body {
                let ast::Entry::Message(m) = entry else {
                    continue;
                };
                ids.insert(m.id.name);
                let Some(value) = &m.value else { continue };
                let mut vars = Vec::new();
                variables(value, &mut vars);
                let allowed: &[&str] = match m.id.name.split_once('-') {
                    Some(("duration", _)) => &["count"],
                    Some(("mail", "link-label")) => &["action"],
                    Some(("mail", _)) => &[],
                    Some((kind, _)) => MailKind::parse(kind)
                        .unwrap_or_else(|| panic!("{locale}: {} names no mail kind", m.id.name))
                        .fields(),
                    None => panic!("{locale}: {} is not <kind>-<part>", m.id.name),
                };
                for v in vars {
                    assert!(
                        allowed.contains(&v),
                        "{locale}/mail.ftl: {} names ${v}, not one of {allowed:?}",
                        m.id.name
                    );
                }
            }
            for &kind in MailKind::ALL {
                let link = kind.fields().contains(&"link");
                for part in ["subject", "intro", "outro", "action"] {
                    let id = format!("{}-{part}", kind.as_str());
                    let wanted = part != "action" || link;
                    assert_eq!(ids.contains(id.as_str()), wanted, "{locale}/mail.ftl: {id}");
                }
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
        let err = Templates::load(Some(&dir), Locale::En).err().unwrap();
        assert_eq!(
            err,
            "mail template password_changed.txt names {{link}}, but a password_changed message has only email"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_language_override_naming_a_field_the_message_lacks_is_refused_at_load() {
        let dir = override_dir(&[("fr/invite.html", "<p>{{email}} {{password}}</p>")]);
        let err = Templates::load(Some(&dir), Locale::En).err().unwrap();
        assert_eq!(
            err,
            "mail template fr/invite.html names {{password}}, but a invite message has only email, expires_in, link, site"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rendering_a_template_naming_a_missing_field_fails_instead_of_leaving_it_empty() {
        let message = Message::from(AccountLocked {
            email: "a@example.com".into(),
            locked_for: Lifetime::of(Duration::from_secs(900)),
        });
        let err = fill(
            "account_locked.txt",
            "Open {{ link }}",
            &message,
            Locale::En,
            false,
        )
        .unwrap_err();
        assert_eq!(err.field, "link");
        assert_eq!(err.template, "account_locked.txt");
        assert_eq!(
            fill(
                "x",
                "{{email}} for {{locked_for}}",
                &message,
                Locale::En,
                false
            )
            .unwrap(),
            "a@example.com for 15 minutes"
        );
        assert_eq!(
            fill(
                "x",
                "{{email}} für {{locked_for}}",
                &message,
                Locale::De,
                false
            )
            .unwrap(),
            "a@example.com für 15 Minuten"
        );
    }

    #[test]
    fn an_unclosed_placeholder_is_left_as_text() {
        let message = sample(MailKind::PasswordChanged);
        assert_eq!(
            fill("x", "a {{email}} b {{email", &message, Locale::En, false).unwrap(),
            "a value-of-email b {{email"
        );
    }

    #[test]
    fn a_template_file_in_the_override_folder_replaces_the_builtin_in_every_language() {
        let dir = override_dir(&[("verify_email.subject.txt", "Welcome to Acme, {{email}}\n")]);
        let t = load(Some(&dir));
        for locale in Locale::ALL {
            let r = t
                .render(&queued_in(
                    Some(locale),
                    verification("a@example.com", "https://s.example/verify-email?token=t"),
                ))
                .unwrap();
            assert_eq!(r.subject, "Welcome to Acme, a@example.com");
        }
        let r = t
            .render(&queued(verification(
                "a@example.com",
                "https://s.example/v",
            )))
            .unwrap();
        assert!(
            r.text.contains("Please confirm"),
            "other parts keep the built-in"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_template_file_in_a_language_folder_replaces_the_builtin_in_that_language_only() {
        let dir = override_dir(&[
            ("invite.txt", "Join us: {{link}}\n"),
            (
                "de/invite.txt",
                "Willkommen bei Acme: {{link}} ({{expires_in}})\n",
            ),
        ]);
        let t = load(Some(&dir));
        let invite = Invite {
            email: "a@example.com".into(),
            expires_in: Lifetime::of(Duration::from_secs(7 * 86_400)),
            link: "https://s.example/set-password?token=t".into(),
            site: "s.example".into(),
        };
        let de = t
            .render(&queued_in(Some(Locale::De), invite.clone()))
            .unwrap();
        assert_eq!(
            de.text,
            "Willkommen bei Acme: https://s.example/set-password?token=t (7 Tage)\n"
        );
        assert_eq!(de.subject, "Ihr neues Konto bei s.example");
        let fr = t.render(&queued_in(Some(Locale::Fr), invite)).unwrap();
        assert_eq!(fr.text, "Join us: https://s.example/set-password?token=t\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mail_queued_without_a_language_is_rendered_in_the_default_one() {
        let t = Templates::load(None, Locale::Es).unwrap();
        let r = t
            .render(&queued_in(
                None,
                verification("a@example.com", "https://s.example/v"),
            ))
            .unwrap();
        assert_eq!(r.subject, "Confirme su dirección de correo electrónico");
        assert!(r.html.contains("<html lang=\"es\">"));
    }

    #[test]
    fn a_subject_cannot_carry_a_header_injection() {
        let dir = override_dir(&[("verify_email.subject.txt", "Hi {{email}}")]);
        let t = load(Some(&dir));
        let r = t
            .render(&queued(verification(
                "a\r\nBcc: evil@example.com",
                "https://s.example/verify-email?token=t",
            )))
            .unwrap();
        assert!(!r.subject.contains('\n') && !r.subject.contains('\r'));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
