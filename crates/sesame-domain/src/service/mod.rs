//! The account services, split by who may call them:
//!
//! - [`SignIn`] (`sign_in.rs`): anyone: register, sign in, refresh, authenticate, log out.
//! - [`Account`] (`account.rs`): the owner of an account, signed in or holding an emailed
//!   token: profile, email verification, password reset and change, email change, sessions,
//!   deletion, export.
//! - [`Admin`] (`admin.rs`): operator powers over other users, reachable only through the
//!   capability [`AdminGate`] hands out after a role check (or to the local operator).
//! - [`Provider`] (`provider.rs`): registered OpenID Connect clients and their users' browsers:
//!   client authentication, single sign-on, consent, codes, client tokens, ID tokens, UserInfo.
//! - [`Core`] (`core.rs`): the parts they share; [`lockout`]: the progressive pause rules.
//!
//! The services take parsed domain values and return domain values; turning them into HTTP (or
//! CLI output) is the caller's job. They read time only from the clock in [`Core`], so tests
//! move time instead of sleeping. This module owns no storage and no transport.

pub mod account;
pub mod admin;
pub mod core;
pub mod factors;
pub mod lockout;
pub mod provider;
pub mod sign_in;

pub use self::core::{Core, EmailSettings};
pub use crate::store::LockoutKey;
pub use account::{Account, AccountExport};
pub use admin::{Admin, AdminGate};
pub use factors::{FactorOverview, Factors, MfaSettings, SecondFactor, TotpEnrolment};
pub use lockout::{paused_until, LockoutSettings};
pub use provider::{BrowserSession, ClientTokens, Provider};
pub use sign_in::{
    LoginAttempt, LoginOutcome, MfaChallenge, PasskeyCeremony, SessionSettings, SignIn,
};

use crate::locale::Locale;
use crate::model::{DisplayName, Email, SessionId, User, Username};
use crate::password::Password;
use crate::token::{AccessClaims, RefreshToken, TokenIssuer};
use std::sync::Arc;

/// A new account's fields, already parsed.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: Email,
    pub username: Option<Username>,
    pub display_name: Option<DisplayName>,
    pub password: Password,
    /// The language of the account's emails; `None`: the server's default.
    pub locale: Option<Locale>,
}

/// What a successful login or refresh hands back.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: RefreshToken,
    pub session_id: SessionId,
    pub user: User,
    /// After a password sign-in: the (renewed) known-device token for the client to keep and
    /// present at its next sign-in. `None` for refreshes and password changes.
    pub device_token: Option<String>,
}

/// The caller of an authenticated request: the verified claims and the live user behind them.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub claims: AccessClaims,
}

impl Principal {
    #[must_use]
    pub fn session_id(&self) -> SessionId {
        self.claims.session_id()
    }

    /// How the caller's session was authenticated, as its token says.
    #[must_use]
    pub fn session_auth(&self) -> crate::token::SessionAuth {
        crate::token::SessionAuth {
            session: self.session_id(),
            auth_time: chrono::DateTime::from_timestamp(self.claims.authenticated_at(), 0)
                .unwrap_or_default(),
            amr: crate::mfa::Amr::from_stored(&self.claims.amr.join(" ")),
            enrolment_only: self.claims.enrolment_only(),
            client: None,
        }
    }
}

/// The three services over one [`Core`], as the server and the tests build them.
#[derive(Debug, Clone)]
pub struct Services {
    pub sign_in: Arc<SignIn>,
    pub account: Arc<Account>,
    pub admin: Arc<AdminGate>,
    pub factors: Arc<Factors>,
    pub provider: Arc<Provider>,
}

impl Services {
    /// Builds every service over `core`, sharing `tokens`; the provider signs ID tokens with
    /// `ids` and names itself `issuer`.
    #[must_use]
    pub fn new(
        core: Arc<Core>,
        tokens: TokenIssuer,
        ids: crate::id_token::IdTokenSigner,
        sessions: SessionSettings,
        lockout: LockoutSettings,
    ) -> Self {
        let tokens = Arc::new(tokens);
        let sign_in = Arc::new(SignIn::new(
            Arc::clone(&core),
            Arc::clone(&tokens),
            sessions.clone(),
            lockout.clone(),
        ));
        let issuer = tokens.issuer().to_owned();
        Self {
            provider: Arc::new(Provider::new(
                Arc::clone(&core),
                Arc::clone(&sign_in),
                Arc::clone(&tokens),
                ids,
                sessions,
                issuer,
            )),
            sign_in,
            account: Arc::new(Account::new(Arc::clone(&core), tokens, lockout)),
            admin: Arc::new(AdminGate::new(Arc::clone(&core))),
            factors: Arc::new(Factors::new(core)),
        }
    }
}
