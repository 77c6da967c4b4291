//! The `sesame` server: everything between the outside world and the domain.
//!
//! [`http`] is the JSON API, [`storage`] implements the domain's store per database,
//! [`config`] (with [`envfile`], the `.env` file) and [`startup`] turn settings into a running
//! [`startup::Application`], [`cli`] is the command line, [`limits`] holds the rate limiters,
//! [`metrics`] what `/metrics` reports, [`keyring`] the key that seals secrets at rest, [`monotonic`] the clock of the in-process timers,
//! [`branding`] how the built-in pages present the product, [`i18n`] the words in every language.
//! The rules themselves live in the
//! `sesame-domain` crate.

pub mod branding;
pub mod cli;
pub mod config;
pub mod envfile;
pub mod http;
pub mod i18n;
pub mod keyring;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod monotonic;
pub mod secret;
pub mod startup;
pub mod storage;
pub mod telemetry;
