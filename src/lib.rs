//! deskgate: an email-driven ticket gateway for service desks.
//!
//! Modules in reading order: the pure [`core`] first; then the clock, the config, the TLS client
//! setup ([`tls`]) and the OAuth2 tokens ([`oauth`]) that the adapters share; then the adapters around the core (the store,
//! where mail comes from, where it goes, the templates, the metrics endpoint, our own DKIM
//! check); then the pipeline that joins them — the shared [`context`] and [`support`] model,
//! the one path into the outbox ([`outgoing`]), and the roles that each own their work:
//! [`ingest`], [`timers`], [`broadcast`], [`delivery`], wired by the [`daemon`], and the
//! [`import`] of a desk's history; last the interfaces: the accounts file, the JSON views, the
//! admin endpoint, the status page and the command line ([`cli`]).

pub mod core;

pub mod clock;
pub mod config;
pub mod tls;
pub mod oauth;
pub mod store;
pub mod source;
pub mod outbound;
pub mod render;
pub mod metrics;
pub mod dkim;

pub mod timings;
pub mod support;
pub mod context;
pub mod outgoing;
pub mod ingest;
pub mod timers;
pub mod broadcast;
pub mod delivery;
pub mod daemon;
pub mod import;

pub mod accounts_file;
pub mod view;
pub mod admin;
pub mod status_page;
pub mod cli;
#[doc(hidden)]
pub mod fuzzing;
