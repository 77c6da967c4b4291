//! How the pages emailed links open present the product: its name ([`ProductName`]), an optional
//! logo ([`LogoUrl`]) and the accent colour of their buttons ([`AccentColor`]), each parsed once at
//! startup from `SESAME_PRODUCT_NAME`, `SESAME_LOGO_URL` and `SESAME_ACCENT_COLOR`.
//!
//! Owns what a valid value is and the WCAG 2.x contrast arithmetic that picks the text colour on
//! an accent-coloured button. Knows nothing of HTML or HTTP: the pages (`http::pages`) render
//! these values and build their Content-Security-Policy from them.

use std::fmt;

/// The name shown at the top of every page and in its title: 1 to 60 characters, no control
/// characters (it goes into HTML, escaped, and into nothing else).
#[derive(Clone, PartialEq, Eq)]
pub struct ProductName(String);

impl ProductName {
    pub const MAX_CHARS: usize = 60;

    /// # Errors
    /// A message naming `SESAME_PRODUCT_NAME` and the rule that failed.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("SESAME_PRODUCT_NAME must not be empty".into());
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "SESAME_PRODUCT_NAME must have at most {} characters",
                Self::MAX_CHARS
            ));
        }
        if name.chars().any(char::is_control) {
            return Err("SESAME_PRODUCT_NAME must not contain control characters".into());
        }
        Ok(Self(name.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ProductName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Where the logo comes from: an `https://` URL, or a path on this server (`/static/logo.svg`).
/// Only characters that need no escaping in HTML attributes or in a CSP source expression are
/// accepted (no quotes, spaces, `;` or `,`), and no query or fragment, which a CSP source cannot
/// name (CSP Level 3 §2.3.1: a source's path is matched, its query ignored).
#[derive(Clone, PartialEq, Eq)]
pub enum LogoUrl {
    /// An image on another host, over TLS.
    Https(String),
    /// An image on this server, by path from the root.
    Path(String),
}

impl LogoUrl {
    /// # Errors
    /// A message naming `SESAME_LOGO_URL` and what a valid value looks like.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "SESAME_LOGO_URL must be an https:// URL or a path on this server such as /static/logo.svg ({why}; got `{raw}`)"
            )
        };
        let url = raw.trim();
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~/%:@!$&()*+=".contains(c);
        if let Some(c) = url.chars().find(|c| !allowed(*c)) {
            return Err(bad(&format!("`{c}` is not allowed")));
        }
        if let Some(rest) = url.strip_prefix("https://") {
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            let (name, port) = host.split_once(':').unwrap_or((host, "80"));
            let host_ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && !port.is_empty()
                && port.chars().all(|c| c.is_ascii_digit());
            if !host_ok {
                return Err(bad("the host is not a host name"));
            }
            if path.is_empty() {
                return Err(bad("it names no image file"));
            }
            return Ok(Self::Https(url.to_owned()));
        }
        if url.starts_with('/') && !url.starts_with("//") && url.len() > 1 {
            return Ok(Self::Path(url.to_owned()));
        }
        Err(bad("it is neither"))
    }

    /// What the `<img src>` says.
    #[must_use]
    pub fn src(&self) -> &str {
        match self {
            Self::Https(u) | Self::Path(u) => u,
        }
    }

    /// The CSP source that admits exactly this image; a path is resolved against
    /// `public_origin` (`https://auth.example.com`), the origin the pages are served from.
    #[must_use]
    pub fn csp_source(&self, public_origin: &str) -> String {
        match self {
            Self::Https(u) => u.clone(),
            Self::Path(p) => format!("{}{p}", public_origin.trim_end_matches('/')),
        }
    }
}

impl fmt::Debug for LogoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.src(), f)
    }
}

/// An sRGB colour written `#rrggbb`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AccentColor([u8; 3]);

impl AccentColor {
    /// The default accent: a blue on which white text has a contrast of 5.2:1.
    pub const DEFAULT: &'static str = "#2563eb";

    /// # Errors
    /// A message naming `SESAME_ACCENT_COLOR` and the expected form.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "SESAME_ACCENT_COLOR must be a colour written #rrggbb, such as {} (got `{raw}`)",
                Self::DEFAULT
            )
        };
        let hex = raw.trim().strip_prefix('#').ok_or_else(bad)?;
        if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
        Ok(Self([byte(0)?, byte(2)?, byte(4)?]))
    }

    /// `#rrggbb`, lower case.
    #[must_use]
    pub fn hex(self) -> String {
        let [r, g, b] = self.0;
        format!("#{r:02x}{g:02x}{b:02x}")
    }

    /// WCAG 2.x relative luminance (0 for black, 1 for white).
    #[must_use]
    pub fn luminance(self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = self.0;
        0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    }

    /// The text colour for a button of this colour: white or black, whichever contrasts more.
    /// One of the two always reaches 4.58:1, above WCAG AA's 4.5:1 for normal text.
    #[must_use]
    pub fn text_on(self) -> Self {
        let white = Self([255, 255, 255]);
        let black = Self([0, 0, 0]);
        if contrast(self, white) >= contrast(self, black) {
            white
        } else {
            black
        }
    }
}

impl Default for AccentColor {
    fn default() -> Self {
        Self([0x25, 0x63, 0xeb])
    }
}

impl fmt::Debug for AccentColor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// The WCAG 2.x contrast ratio of two colours, from 1 (none) to 21 (black on white).
#[must_use]
pub fn contrast(a: AccentColor, b: AccentColor) -> f64 {
    let (hi, lo) = {
        let (x, y) = (a.luminance(), b.luminance());
        if x >= y {
            (x, y)
        } else {
            (y, x)
        }
    };
    (hi + 0.05) / (lo + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accent_colour_is_six_hex_digits_after_a_hash() {
        assert_eq!(AccentColor::parse("#2563EB").unwrap().hex(), "#2563eb");
        assert_eq!(
            AccentColor::parse(AccentColor::DEFAULT).unwrap(),
            AccentColor::default()
        );
        for bad in ["2563eb", "#fff", "#2563eg", "#2563eb00", "", "blue"] {
            let e = AccentColor::parse(bad).unwrap_err();
            assert!(e.contains("SESAME_ACCENT_COLOR"), "{bad}: {e}");
        }
    }

    #[test]
    fn button_text_on_any_accent_meets_wcag_aa() {
        for r in (0..=255).step_by(15) {
            for g in (0..=255).step_by(15) {
                for b in (0..=255).step_by(15) {
                    let c = AccentColor([r, g, b]);
                    let ratio = contrast(c, c.text_on());
                    assert!(ratio >= 4.5, "{c:?}: {ratio:.2}");
                }
            }
        }
    }

    #[test]
    fn the_default_accent_takes_white_text_and_light_accents_black() {
        let d = AccentColor::default();
        assert_eq!(d.text_on().hex(), "#ffffff");
        assert!(contrast(d, d.text_on()) >= 5.0);
        let yellow = AccentColor::parse("#ffd400").unwrap();
        assert_eq!(yellow.text_on().hex(), "#000000");
    }

    #[test]
    fn contrast_is_the_wcag_ratio() {
        let black = AccentColor([0, 0, 0]);
        let white = AccentColor([255, 255, 255]);
        assert!((contrast(black, white) - 21.0).abs() < 1e-9);
        assert!((contrast(white, white) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_logo_is_an_https_url_or_a_path_here() {
        assert_eq!(
            LogoUrl::parse("https://cdn.example.com/brand/logo.svg").unwrap(),
            LogoUrl::Https("https://cdn.example.com/brand/logo.svg".into())
        );
        let path = LogoUrl::parse("/static/logo.png").unwrap();
        assert_eq!(
            path.csp_source("https://auth.example.com"),
            "https://auth.example.com/static/logo.png"
        );
        for bad in [
            "http://cdn.example.com/logo.svg",
            "https://cdn.example.com",
            "https:///logo.svg",
            "//cdn.example.com/logo.svg",
            "logo.svg",
            "/",
            "https://cdn.example.com/logo.svg?v=2",
            "https://cdn.example.com/logo.svg; script-src *",
            "https://cdn.example.com/a b.svg",
            "/logo.svg\" onerror=\"x",
            "data:image/png;base64,AAAA",
        ] {
            let e = LogoUrl::parse(bad).unwrap_err();
            assert!(e.contains("SESAME_LOGO_URL"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_product_name_is_short_plain_text() {
        assert_eq!(
            ProductName::parse("  Acme ID ").unwrap().as_str(),
            "Acme ID"
        );
        assert!(ProductName::parse("").is_err());
        assert!(ProductName::parse("a\u{7}b").is_err());
        assert!(ProductName::parse(&"x".repeat(61)).is_err());
        assert!(
            ProductName::parse("<Acme & Co>").is_ok(),
            "escaped when shown"
        );
    }
}
