//! The pure core: what a mail means and what should happen, in three parts.
//!
//! - [`mail`]: understanding one inbound mail (its parts, subject, kind, sender's proof, new
//!   text, staff commands, which ticket it belongs to);
//! - [`service`]: running the service desk (tickets and their messages, the outbox and its
//!   limits, accounts and plans, business calendars, SLA clocks, shifts, priorities, reports);
//! - [`workflow`]: what a mail does to a ticket — the desk's policy for customers' and
//!   engineers' mail, as decisions the pipeline carries out;
//! - [`broadcasts`]: maintenance windows and incidents, and the notices they owe (with their
//!   iCalendar form and localised dates).
//!
//! [`lang`] and [`address`] sit below all three. Nothing in here touches the outside world: no tokio, sled,
//! lettre, IMAP, handlebars or file system, no adapter or pipeline module, and no clock reads
//! (time comes in as a `now` argument). A function here returns a decision plus warnings; the
//! adapters carry it out. `tests/architecture.rs` fails when this rule is broken, and when
//! `mail` or `service` imports `broadcasts` (broadcasts build on the other two, not the reverse).

pub mod lang;
pub mod address;

pub mod mail;
pub mod service;
pub mod workflow;

pub mod broadcasts;
