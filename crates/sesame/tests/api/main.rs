//! Sesame's HTTP and store behaviour suite: one binary, every test run against SQLite and
//! PostgreSQL through a live server on an ephemeral port.

mod helpers;

mod abuse;
mod accounts;
mod admin;
mod cli;
mod core_flow;
mod email;
mod hardening;
mod input;
mod metrics;
mod openapi;
mod refresh;
mod session_cache;
mod smtp;
mod store_contract;
mod text_rule;
mod tokens;
