//! The policy a *new* password must meet, in the spirit of NIST SP 800-63B §5.1.1.2: it is not a
//! commonly used password, it does not contain the account's email address or username, and
//! zxcvbn does not judge it too easy to guess. [`PasswordPolicy::check`] is for new passwords only
//! (register, reset, change); a login never runs it, so tightening the policy locks nobody out.
//!
//! This module owns those rules and the offline list of common passwords that ships inside the
//! binary (`data/common-passwords.txt`: the 10,000 most common entries of the breach-derived list
//! embedded in the zxcvbn crate; nothing is fetched over the network). It does not own the length
//! rules (8 characters to 256 bytes), which [`Password::parse_field`] enforces before a policy ever
//! sees a password, and it deliberately has no composition rules ("one digit, one symbol"), which
//! NIST advises against. When to call it, and on which thread, is the service's business.

use crate::error::FieldError;
use crate::model::{Email, Username};
use crate::password::Password;
use std::collections::HashSet;
use std::sync::LazyLock;
use unicode_normalization::UnicodeNormalization;

/// The common-password list, lower-case. Its `#` lines record where it comes from: the zxcvbn
/// crate's ranked "passwords" list (MIT License, Copyright (c) 2016 Joshua Holmer; derived from
/// Dropbox's zxcvbn, MIT License, Copyright (c) 2012-2015 Dan Wheeler and Dropbox, Inc.).
/// zxcvbn keeps its lists private, so we ship a copy; `scripts/common-passwords.py` regenerates it.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// zxcvbn's cost grows faster than linearly with length, so only this many leading characters are
/// scored. zxcvbn 3 applies the same cap internally; repeating it here keeps the bound if a later
/// version drops it. A 256-byte password is still checked whole against the other rules, and 100
/// characters that score well are strong whatever follows them.
const SCORED_CHARS: usize = 100;

/// A local part shorter than this (`al@example.com`) occurs by chance in too many good passwords
/// to forbid; the whole address is still forbidden.
const MIN_LOCAL_PART_CHARS: usize = 3;

/// A password that is a listed one plus trailing digits or symbols only counts as common when the
/// listed part has at least this many characters, so a short entry cannot condemn everything that
/// starts with it.
const MIN_STRIPPED_CHARS: usize = 4;

/// The rules a new password must pass beyond its length: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    min_score: u8,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_score: Self::DEFAULT_MIN_SCORE,
        }
    }
}

impl PasswordPolicy {
    /// zxcvbn's "safely unguessable" level (about 10^10 guesses), the score it recommends.
    pub const DEFAULT_MIN_SCORE: u8 = 3;
    /// zxcvbn scores from 0 to 4.
    pub const MAX_SCORE: u8 = 4;

    /// A policy refusing passwords that zxcvbn scores below `min_score`. 0 turns the strength rule
    /// off; the common-password, email and username rules always apply.
    ///
    /// # Errors
    /// A message naming the bad value when `min_score` is over 4: no password could pass.
    pub fn new(min_score: u8) -> Result<Self, String> {
        if min_score > Self::MAX_SCORE {
            return Err(format!(
                "the minimum password score must be 0 to {}, not {min_score}",
                Self::MAX_SCORE
            ));
        }
        Ok(Self { min_score })
    }

    #[must_use]
    pub fn min_score(&self) -> u8 {
        self.min_score
    }

    /// Checks a new password for the account with `email` and, if it has one, `username`. The
    /// rules run in a fixed order and the first failure is returned, so a caller sees one stable
    /// code: `common_password`, `contains_email`, `contains_username`, then `too_weak`.
    ///
    /// Cost: a few set lookups and one zxcvbn run, synchronous and CPU-bound. Measured in a release
    /// build: 8 characters take about 0.02 ms, 64 random characters about 7 ms, and 100 or more
    /// random characters (zxcvbn looks at the first 100) about 20 to 30 ms. The first call also
    /// builds the lists (about 15 ms). On the async runtime, consider a blocking thread.
    ///
    /// # Errors
    /// A [`FieldError`] on `field` whose code names the rule that failed and whose message says
    /// what to do instead.
    pub fn check(
        &self,
        password: &Password,
        email: &Email,
        username: Option<&Username>,
        field: &'static str,
    ) -> Result<(), FieldError> {
        let text = password.expose_str();
        let folded = fold(text);

        if let Some(kind) = common_match(&folded) {
            return Err(FieldError::new(field, "common_password", kind.message()));
        }

        let address = fold(email.normalized());
        let email_parts = email_parts(&address);
        if email_parts.iter().any(|part| folded.contains(part)) {
            return Err(FieldError::new(
                field,
                "contains_email",
                "a password must not contain your email address or the name before the @",
            ));
        }

        let username = username.map(|u| fold(u.normalized()));
        if let Some(name) = &username {
            if folded.contains(name.as_str()) {
                return Err(FieldError::new(
                    field,
                    "contains_username",
                    "a password must not contain your username",
                ));
            }
        }

        if self.min_score == 0 {
            return Ok(());
        }
        let mut user_inputs = email_parts;
        user_inputs.extend(username.as_deref());
        // zxcvbn sees the original case: capitalization is part of what it scores.
        let scored: String = text.chars().take(SCORED_CHARS).collect();
        let estimate = zxcvbn::zxcvbn(&scored, &user_inputs);
        if u8::from(estimate.score()) < self.min_score {
            return Err(FieldError::new(
                field,
                "too_weak",
                too_weak_message(estimate.feedback()),
            ));
        }
        Ok(())
    }
}

/// The comparison form shared by the password and the account's names: NFKC, then lower case.
fn fold(s: &str) -> String {
    s.nfkc().collect::<String>().to_lowercase()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CommonMatch {
    Listed,
    ListedWithSuffix,
}

impl CommonMatch {
    fn message(self) -> &'static str {
        match self {
            Self::Listed => {
                "this is one of the most common passwords, which attackers try first; choose \
                 another, for example a few unrelated words"
            }
            Self::ListedWithSuffix => {
                "this is a common password with digits or symbols added at the end, which \
                 attackers try early; choose another, for example a few unrelated words"
            }
        }
    }
}

/// `folded` is on the list as it is, or once trailing symbols, or trailing digits and symbols, are
/// removed (`password1!` → `password1` → `password`).
fn common_match(folded: &str) -> Option<CommonMatch> {
    let list = &*COMMON_PASSWORDS;
    if list.contains(folded) {
        return Some(CommonMatch::Listed);
    }
    let without_symbols = folded.trim_end_matches(|c: char| !c.is_alphanumeric());
    let without_digits_or_symbols = folded.trim_end_matches(|c: char| !c.is_alphabetic());
    [without_symbols, without_digits_or_symbols]
        .into_iter()
        .any(|base| base.chars().count() >= MIN_STRIPPED_CHARS && list.contains(base))
        .then_some(CommonMatch::ListedWithSuffix)
}

/// The forms of the address a password may not contain: the whole address, the local part when it
/// is long enough, and the local part without a `+tag` (the same mailbox) when that is long enough.
fn email_parts(address: &str) -> Vec<&str> {
    let mut parts = vec![address];
    if let Some((local, _domain)) = address.rsplit_once('@') {
        let untagged = local.split_once('+').map_or(local, |(base, _tag)| base);
        for part in [local, untagged] {
            if part.chars().count() >= MIN_LOCAL_PART_CHARS && !parts.contains(&part) {
                parts.push(part);
            }
        }
    }
    parts
}

fn too_weak_message(feedback: Option<&zxcvbn::feedback::Feedback>) -> String {
    let advice: Vec<String> = feedback
        .map(|f| {
            f.warning()
                .map(|w| w.to_string())
                .into_iter()
                .chain(f.suggestions().iter().map(ToString::to_string))
                .collect()
        })
        .unwrap_or_default();
    if advice.is_empty() {
        "this password is too easy to guess; add another word or two (uncommon words are better)"
            .to_owned()
    } else {
        format!("this password is too easy to guess. {}", advice.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "alice@example.com";

    fn check_with(
        policy: PasswordPolicy,
        password: &str,
        email: &str,
        username: Option<&str>,
    ) -> Result<(), FieldError> {
        let password = Password::parse(password).expect("test passwords meet the length rules");
        let email = Email::parse(email).expect("test addresses are valid");
        let username = username.map(|u| Username::parse(u).expect("test usernames are valid"));
        policy.check(&password, &email, username.as_ref(), "password")
    }

    /// The code of the first rule `password` breaks for alice under the default policy.
    fn code(password: &str) -> Option<&'static str> {
        check_with(PasswordPolicy::default(), password, ALICE, None)
            .err()
            .map(|e| e.code)
    }

    #[test]
    fn the_shipped_list_holds_ten_thousand_passwords() {
        assert_eq!(COMMON_PASSWORDS.len(), 10_000);
        assert!(COMMON_PASSWORDS.contains("123456"));
        assert!(COMMON_PASSWORDS.iter().all(|p| !p.starts_with('#')));
    }

    #[test]
    fn the_most_common_passwords_are_rejected() {
        for pw in [
            "password",
            "123456789",
            "12345678",
            "iloveyou",
            "qwertyuiop",
        ] {
            assert_eq!(code(pw), Some("common_password"), "{pw}");
        }
    }

    #[test]
    fn common_passwords_are_recognized_whatever_their_case() {
        for pw in ["PASSWORD", "PassWord", "ILoveYou"] {
            assert_eq!(code(pw), Some("common_password"), "{pw}");
        }
    }

    #[test]
    fn a_common_password_with_digits_or_symbols_appended_is_still_common() {
        for pw in [
            "Password1!",
            "Password123!",
            "dragon2024!!",
            "123456789!",
            "sunshine 77",
        ] {
            let err = check_with(PasswordPolicy::default(), pw, ALICE, None)
                .expect_err("a listed password with a suffix is common");
            assert_eq!(err.code, "common_password", "{pw}");
            assert!(err.message.contains("added at the end"), "{pw}");
        }
    }

    #[test]
    fn qwertyui_is_rejected_as_common() {
        assert_eq!(code("qwertyui"), Some("common_password"));
    }

    #[test]
    fn long_passphrases_pass_at_the_default_minimum_score() {
        for pw in [
            "correct horse battery staple",
            "purple monkey dishwasher",
            "Tr0ub4dor&3 is not my style",
        ] {
            assert_eq!(code(pw), None, "{pw}");
        }
    }

    #[test]
    fn non_ascii_passphrases_are_checked_and_can_pass() {
        for pw in [
            "пароль сильный конь батарея",
            "éléphant rose sur la lune",
            "tomate dormir avión luz",
            "正确的马电池订书钉",
        ] {
            assert_eq!(code(pw), None, "{pw}");
        }
    }

    #[test]
    fn a_password_containing_the_email_local_part_is_rejected() {
        assert_eq!(code("alice2024!!"), Some("contains_email"));
        assert_eq!(code("my name is ALICE, hello"), Some("contains_email"));
    }

    #[test]
    fn a_password_containing_the_whole_address_is_rejected_even_with_a_short_local_part() {
        let err = check_with(
            PasswordPolicy::default(),
            "Al@Example.com and then some",
            "al@example.com",
            None,
        )
        .expect_err("the whole address is forbidden");
        assert_eq!(err.code, "contains_email");
    }

    #[test]
    fn a_local_part_under_three_characters_may_appear_in_the_password() {
        let ok = check_with(
            PasswordPolicy::default(),
            "albatross rides the evening tide",
            "al@example.com",
            None,
        );
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn the_local_part_without_its_plus_tag_is_forbidden_too() {
        let err = check_with(
            PasswordPolicy::default(),
            "alice in a quiet meadow",
            "alice+news@example.com",
            None,
        )
        .expect_err("alice+news@ is alice's mailbox");
        assert_eq!(err.code, "contains_email");
    }

    #[test]
    fn a_password_containing_the_username_is_rejected() {
        let err = check_with(
            PasswordPolicy::default(),
            "Zebra_42 rides again tonight",
            ALICE,
            Some("zebra_42"),
        )
        .expect_err("the username is forbidden");
        assert_eq!(err.code, "contains_username");
        assert_eq!(err.message, "a password must not contain your username");
    }

    #[test]
    fn without_a_username_only_the_email_is_compared() {
        let ok = check_with(
            PasswordPolicy::default(),
            "Zebra_42 rides again tonight",
            ALICE,
            None,
        );
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn the_first_failing_rule_in_order_is_reported() {
        // Common and containing the username: the common rule comes first.
        let err = check_with(
            PasswordPolicy::default(),
            "dragon123",
            ALICE,
            Some("dragon"),
        )
        .expect_err("rejected");
        assert_eq!(err.code, "common_password");
        // Containing both the local part and the username: the email rule comes first.
        let err = check_with(
            PasswordPolicy::default(),
            "alice and bob_b forever",
            ALICE,
            Some("bob_b"),
        )
        .expect_err("rejected");
        assert_eq!(err.code, "contains_email");
    }

    #[test]
    fn a_guessable_password_off_the_list_is_too_weak_and_says_why() {
        let err = check_with(PasswordPolicy::default(), "abcabcabcabc", ALICE, None)
            .expect_err("a repeated sequence is guessable");
        assert_eq!(err.code, "too_weak");
        assert!(err.message.contains("Repeats like"), "{}", err.message);
    }

    #[test]
    fn below_a_minimum_of_four_the_advice_is_generic_when_zxcvbn_has_none() {
        let policy = PasswordPolicy::new(4).expect("4 is a valid score");
        let err =
            check_with(policy, "正确的马电池订书钉", ALICE, None).expect_err("scores 3, below 4");
        assert_eq!(err.code, "too_weak");
        assert!(err.message.contains("add another word"), "{}", err.message);
    }

    #[test]
    fn min_score_zero_accepts_weak_passwords_that_are_not_common() {
        assert_eq!(code("kitchentable"), Some("too_weak"));
        let lenient = PasswordPolicy::new(0).expect("0 is a valid score");
        assert_eq!(check_with(lenient, "kitchentable", ALICE, None), Ok(()));
        assert_eq!(
            check_with(lenient, "password", ALICE, None)
                .expect_err("still common")
                .code,
            "common_password"
        );
    }

    #[test]
    fn errors_name_the_field_they_were_asked_about() {
        let password = Password::parse("password").expect("8 characters");
        let email = Email::parse(ALICE).expect("valid");
        let err = PasswordPolicy::default()
            .check(&password, &email, None, "new_password")
            .expect_err("common");
        assert_eq!(err.field, "new_password");
    }

    #[test]
    fn a_256_byte_password_is_checked_in_bounded_time() {
        let random = "kJ8#qLz!2mWp9vXr$Tn4Bc7^hGf1Yd6&sE3uAo0*iPw5Ry8Ql2Zx9Ck4Jb7Mn1Vt6Hg3Fd0Sa5Ue8Io2P\
                      w7Rq4Ty9Lk1Mj6Nh3Bg0Vf5Cd8Xs2Za7Qw4Er9Ty1Ui6Op3As0Df5Gh8Jk2Lz7Xc4Vb9Nm1Qa6Ws3Ed0Rf\
                      5Tg8Yh2Uj7Ik4Ol9Pz1Xs6Cd3Vf0Bg5Nh8Mj2Ki7Lo4Pq9Aw1Se6Dr3Ft0Gy5Hu8Ji2Ko7Lp4Mq9Nw1Be6Vr3Ct0Xy5Zu";
        assert_eq!(random.len(), Password::MAX_BYTES);
        assert_eq!(code(random), None);
        let repeated = "ab1".repeat(85);
        assert_eq!(code(&repeated), Some("too_weak"));
        let multibyte = "€".repeat(85);
        assert_eq!(code(&multibyte), Some("too_weak"));
    }

    #[test]
    fn the_default_minimum_score_is_three_and_over_four_is_refused() {
        assert_eq!(PasswordPolicy::default().min_score(), 3);
        assert_eq!(PasswordPolicy::new(4).map(|p| p.min_score()), Ok(4));
        let err = PasswordPolicy::new(5).expect_err("zxcvbn scores 0 to 4");
        assert!(err.contains("0 to 4"), "{err}");
    }
}
