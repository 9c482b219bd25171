//! deskgate: an email-driven ticket gateway for service desks.
//!
//! Modules in reading order: the pure [`core`] first, then the adapters around it (store, mail
//! sources, outbound transports, templates), then the pipeline that wires them ([`ingest`],
//! [`delivery`], [`broadcast`], [`daemon`]) and the command line ([`cli`]).

pub mod core;

pub mod clock;
pub mod config;
pub mod store;

pub mod ingest;
pub mod outbound;
pub mod render;
pub mod source;

pub mod broadcast;
pub mod daemon;
pub mod delivery;

pub mod accounts_file;
pub mod admin;
pub mod cli;
pub mod fuzzing;
pub mod status_page;
pub mod view;
