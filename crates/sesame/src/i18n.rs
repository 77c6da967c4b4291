//! Translations: every sentence a person reads on a page or in an email, in each [`Locale`],
//! from the Fluent files under `crates/sesame/locales/<tag>/*.ftl`, built into the binary
//! (`fluent-templates`). Also which language a browser asked for (`Accept-Language`, negotiated
//! with `fluent-langneg`).
//!
//! Owns the lookup and the negotiation; refuses to decide *what* to say (the pages and the mail
//! templates choose message ids) and never translates problem `code`s, which stay stable. A
//! message missing in one language falls back to English; the test below keeps every language
//! complete.

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader};
use sesame_domain::locale::Locale;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // No Unicode isolation marks around arguments: the text goes into HTML and plain-text
        // mail, where the invisible marks would only get in the way of copying a link.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

static IDS: LazyLock<HashMap<Locale, LanguageIdentifier>> = LazyLock::new(|| {
    Locale::ALL
        .into_iter()
        .filter_map(|l| l.as_str().parse().ok().map(|id| (l, id)))
        .collect()
});

fn id(locale: Locale) -> &'static LanguageIdentifier {
    static EN: LazyLock<LanguageIdentifier> = LazyLock::new(LanguageIdentifier::default);
    IDS.get(&locale).unwrap_or(&EN)
}

/// The text of message `key` in `locale` (English when that language lacks it).
#[must_use]
pub fn text(locale: Locale, key: &str) -> String {
    LOCALES.lookup(id(locale), key)
}

/// The text of message `key` in `locale` with its `{ $name }` arguments filled in.
#[must_use]
pub fn text_with(locale: Locale, key: &str, args: &[(&'static str, &str)]) -> String {
    let args: HashMap<Cow<'static, str>, FluentValue<'_>> = args
        .iter()
        .map(|(k, v)| (Cow::Borrowed(*k), FluentValue::from(*v)))
        .collect();
    LOCALES.lookup_with_args(id(locale), key, &args)
}

/// The text of message `key` in `locale` with its `{ $count }` argument set to the number `n`,
/// so the message can choose its plural form (Fluent selects on the language's CLDR plural
/// category: `one`, `other`, …).
#[must_use]
pub fn count(locale: Locale, key: &str, n: u64) -> String {
    let args: HashMap<Cow<'static, str>, FluentValue<'_>> =
        HashMap::from([(Cow::Borrowed("count"), FluentValue::from(n))]);
    LOCALES.lookup_with_args(id(locale), key, &args)
}

/// The supported language an `Accept-Language` header prefers (RFC 9110 §12.5.4: the highest
/// weight wins, `q=0` means "not this"), or `None` when it names none Sesame speaks.
#[must_use]
pub fn negotiate(accept_language: &str) -> Option<Locale> {
    let requested = fluent_langneg::accepted_languages::parse(accept_language);
    let available: Vec<LanguageIdentifier> = Locale::ALL.iter().map(|l| id(*l).clone()).collect();
    let chosen = fluent_langneg::negotiate_languages(
        &requested,
        &available,
        None,
        fluent_langneg::NegotiationStrategy::Lookup,
    );
    chosen
        .first()
        .and_then(|l| Locale::from_tag(l.language.as_str()))
}

/// [`negotiate`] over every `Accept-Language` line of a request: several lines are one list
/// (RFC 9110 §5.3).
#[must_use]
pub fn negotiate_headers(headers: &axum::http::HeaderMap) -> Option<Locale> {
    let lines: Vec<&str> = headers
        .get_all(axum::http::header::ACCEPT_LANGUAGE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    negotiate(&lines.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browsers_first_supported_choice_wins() {
        assert_eq!(negotiate("de-DE,de;q=0.9,en;q=0.8"), Some(Locale::De));
        assert_eq!(negotiate("it, fr;q=0.7, en;q=0.5"), Some(Locale::Fr));
        assert_eq!(negotiate("es-MX"), Some(Locale::Es));
        assert_eq!(negotiate("it, pt"), None);
        assert_eq!(negotiate(""), None);
    }

    /// Every `.ftl` file of every language, parsed: (language, file name, message ids).
    fn catalogue() -> Vec<(Locale, String, std::collections::BTreeSet<String>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("locales");
        let mut out = Vec::new();
        for locale in Locale::ALL {
            let dir = root.join(locale.as_str());
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "ftl"))
                .collect();
            files.sort();
            for file in files {
                let source = std::fs::read_to_string(&file).unwrap();
                let resource = fluent_syntax::parser::parse(source.as_str())
                    .unwrap_or_else(|(_, errs)| panic!("{}: {errs:?}", file.display()));
                let ids = resource
                    .body
                    .iter()
                    .filter_map(|entry| match entry {
                        fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
                        _ => None,
                    })
                    .collect();
                let name = file.file_name().unwrap().to_string_lossy().into_owned();
                out.push((locale, name, ids));
            }
        }
        out
    }

    #[test]
    fn every_language_has_every_message_english_has_and_no_other() {
        let all = catalogue();
        let english: Vec<_> = all.iter().filter(|(l, ..)| *l == Locale::En).collect();
        assert!(!english.is_empty(), "no English messages found");
        for (_, file, ids) in &english {
            for locale in &Locale::ALL[1..] {
                let theirs = all
                    .iter()
                    .find(|(l, f, _)| l == locale && f == file)
                    .unwrap_or_else(|| panic!("{locale} has no {file}"));
                let missing: Vec<_> = ids.difference(&theirs.2).collect();
                let extra: Vec<_> = theirs.2.difference(ids).collect();
                assert!(
                    missing.is_empty() && extra.is_empty(),
                    "{locale}/{file}: missing {missing:?}, not in English {extra:?}"
                );
            }
        }
    }
}
