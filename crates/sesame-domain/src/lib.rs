//! Sesame's domain layer: what an account, a password, a session and a token *are*, and the
//! rules that govern them.
//!
//! This crate owns the account lifecycle logic (the services in [`service`], split by caller:
//! [`service::SignIn`], [`service::Account`], [`service::Admin`]), the parse-don't-validate
//! newtypes every other layer trusts ([`model`]), password hashing ([`password`]), the rules a new
//! password must meet ([`policy`]), token signing and refresh-token rotation ([`token`]), secrets
//! sealed at rest ([`seal`]), second factors ([`mfa`]), the storage contract ([`store`]),
//! known-device tokens ([`device`]), the passkey (WebAuthn) relying party ([`passkey`]), the
//! messages it emails ([`mail`]), the pages their links open ([`page`]) and the worker that
//! delivers them from the outbox ([`outbox`]).
//!
//! It deliberately knows nothing of HTTP (axum) or SQL (sqlx): the `sesame` crate adapts requests
//! into calls here and implements the storage traits per backend. The compiler enforces that split,
//! because neither framework is a dependency of this crate.

pub mod audit;
pub mod client;
pub mod clock;
pub mod device;
pub mod error;
pub mod id_token;
pub mod keyed_lock;
pub mod locale;
pub mod mail;
pub mod mfa;
pub mod model;
pub mod oidc;
pub mod outbox;
pub mod page;
pub mod passkey;
pub mod password;
pub mod policy;
pub mod seal;
pub mod service;
pub mod store;
pub mod token;

pub use error::{AuthError, FieldError, StoreError};
