//! The browser pages an emailed link opens, named once. The domain builds links to them
//! ([`Page::link`]); the HTTP router registers exactly these paths (it matches on [`Page`], so a
//! new page does not compile until it has a route), and an integrator's front end
//! (`SESAME_APP_URL`) serves the same paths.
//!
//! This module knows paths, not handlers: what a page shows and does is the `sesame` crate's.

use crate::token::EmailToken;

/// A page that an emailed link points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Page {
    /// Confirms an address: the link in a verification mail.
    VerifyEmail,
    /// Sets a new password: the link in a reset mail.
    ResetPassword,
    /// Completes an email change: the link sent to the new address.
    ConfirmEmail,
    /// Chooses the first password of an account an admin created: the link in an invite.
    SetPassword,
}

impl Page {
    pub const ALL: [Self; 4] = [
        Self::VerifyEmail,
        Self::ResetPassword,
        Self::ConfirmEmail,
        Self::SetPassword,
    ];

    /// The route path, from the site's root.
    #[must_use]
    pub fn path(self) -> &'static str {
        match self {
            Self::VerifyEmail => "/verify-email",
            Self::ResetPassword => "/reset-password",
            Self::ConfirmEmail => "/confirm-email",
            Self::SetPassword => "/set-password",
        }
    }

    /// The link to this page under `base` (no trailing slash) carrying `token`.
    #[must_use]
    pub fn link(self, base: &str, token: &EmailToken) -> String {
        format!("{base}{}?token={}", self.path(), token.reveal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_the_base_the_page_path_and_the_token() {
        let token = EmailToken::generate();
        assert_eq!(
            Page::ResetPassword.link("https://s.example", &token),
            format!("https://s.example/reset-password?token={}", token.reveal())
        );
    }

    #[test]
    fn page_paths_are_distinct_rooted_and_need_no_escaping() {
        let mut paths: Vec<&str> = Page::ALL.iter().map(|p| p.path()).collect();
        for p in &paths {
            assert!(p.starts_with('/'), "{p}");
            assert!(
                p[1..].chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{p}"
            );
        }
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), Page::ALL.len());
    }
}
