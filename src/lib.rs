//! deskgate: an email-driven ticket gateway for service desks.
//!
//! Modules in reading order: the pure [`core`] first; then the adapters around it (the store,
//! where mail comes from, where it goes, the templates); then the pipeline that joins them —
//! the shared [`context`] and [`support`] model, the one path into the outbox ([`outgoing`]),
//! and the roles that each own their work: [`ingest`], [`timers`], [`broadcast`],
//! [`delivery`], wired by the [`daemon`], and the [`import`] of a desk's history; last the interfaces: the accounts file, the JSON
//! views, the admin endpoint, the status page and the command line ([`cli`]).

pub mod core;

pub mod clock;
pub mod config;
pub mod store;
pub mod source;
pub mod outbound;
pub mod render;

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
