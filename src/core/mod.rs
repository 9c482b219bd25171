//! The pure core: ticket model, threading, classification, text extraction.
//!
//! Nothing in here touches the outside world: no tokio, sled, lettre, IMAP or handlebars, and no
//! clock reads (time comes in as a `now` argument). A function here returns a decision plus
//! warnings; the adapters carry it out. `tests/architecture.rs` fails when this rule is broken.

pub mod accounts;
pub mod auth;
pub mod calendar;
pub mod classify;
pub mod commands;
pub mod datefmt;
pub mod icalendar;
pub mod incident;
pub mod lang;
pub mod limits;
pub mod mail;
pub mod maintenance;
pub mod message;
pub mod outbox;
pub mod priority;
pub mod report;
pub mod shifts;
pub mod sla;
pub mod subject;
pub mod text;
pub mod threading;
pub mod ticket;
