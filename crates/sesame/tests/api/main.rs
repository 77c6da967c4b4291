//! Sesame's HTTP and store behaviour suite: one binary, every test run against SQLite and
//! PostgreSQL through a live server on an ephemeral port.

mod helpers;

mod aborts;
mod abuse;
mod accounts;
mod admin;
mod cli;
mod core_flow;
mod crash;
mod email;
mod hardening;
mod input;
mod metrics;
mod openapi;
mod refresh;
mod session_cache;
mod slow_clients;
mod smtp;
mod store_contract;
mod tokens;
