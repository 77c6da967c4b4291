//! Sesame's HTTP and store behaviour suite: one binary, every test run against SQLite and
//! PostgreSQL through a live server on an ephemeral port.

mod helpers;

mod aborts;
mod abuse;
mod accounts;
mod admin;
mod audit_trail;
mod browser;
mod chromium;
mod cli;
mod clients;
mod core_flow;
mod crash;
mod defaults;
mod email;
mod expiry;
mod hardening;
mod input;
mod locales;
mod lockout;
mod lockout_race;
mod metrics;
mod oidc;
mod openapi;
mod operations;
mod outages;
mod outbox;
mod pages;
mod passkeys;
mod problems;
mod quotas;
mod readme;
mod refresh;
mod second_factor;
mod secrets_at_rest;
mod session_cache;
mod slow_clients;
mod smtp;
mod smtp_tls;
mod stamps;
mod store_contract;
mod text_rule;
mod tokens;
