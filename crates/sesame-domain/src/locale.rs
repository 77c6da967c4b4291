//! The languages Sesame speaks ([`Locale`]): the one a user's emails are written in, and the one
//! a page is shown in. Owns the list of supported languages and how a stored or typed tag maps
//! onto one; knows nothing of translations (the `sesame` crate's `i18n` module holds the text) or
//! of HTTP headers.

use crate::error::FieldError;
use std::fmt;

/// A supported language. Parsed from a BCP 47 tag by its primary language subtag, so `de`,
/// `de-DE` and `DE-at` are all German (RFC 5646 §2.1.1: tags are case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    #[default]
    En,
    De,
    Fr,
    Es,
}

impl Locale {
    /// Every supported language, English (the fallback) first.
    pub const ALL: [Self; 4] = [Self::En, Self::De, Self::Fr, Self::Es];

    /// The tag stored with a user and sent in JSON (`en`, `de`, `fr`, `es`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
            Self::Fr => "fr",
            Self::Es => "es",
        }
    }

    /// The language a tag names, or `None` when it is not one Sesame speaks.
    #[must_use]
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        Self::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(primary))
    }

    /// # Errors
    /// A [`FieldError`] on `locale` (code `unsupported_locale`) naming the supported tags.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::from_tag(raw.trim()).ok_or_else(|| {
            FieldError::new(
                "locale",
                "unsupported_locale",
                "the locale must be one of en, de, fr, es",
            )
        })
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_or_case_variant_of_a_supported_language_is_that_language() {
        assert_eq!(Locale::from_tag("de-DE"), Some(Locale::De));
        assert_eq!(Locale::from_tag("FR"), Some(Locale::Fr));
        assert_eq!(Locale::from_tag("es_MX"), Some(Locale::Es));
        assert_eq!(Locale::from_tag("en-GB"), Some(Locale::En));
    }

    #[test]
    fn an_unsupported_language_is_refused_with_the_supported_list() {
        assert_eq!(Locale::from_tag("it"), None);
        assert_eq!(Locale::from_tag(""), None);
        let err = Locale::parse("pt-BR").unwrap_err();
        assert_eq!(err.code, "unsupported_locale");
        assert!(err.message.contains("en, de, fr, es"), "{}", err.message);
    }

    #[test]
    fn every_locale_round_trips_through_its_tag() {
        for l in Locale::ALL {
            assert_eq!(Locale::from_tag(l.as_str()), Some(l));
        }
    }
}
