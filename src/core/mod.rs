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
//! [`lang`], [`address`] and [`names`] (names listed in a message about an unknown one) sit
//! below all three, with the `str_enum!` macro that names the
//! variants of kinds and states (`str_enum.rs`) and, for unit tests only, `testing` (instants
//! written the way the tests think of them).
//!
//! Nothing in here touches the outside world: no tokio, sled, lettre, IMAP, handlebars or file
//! system, no adapter or pipeline module, and no clock reads (time comes in as a `now` argument).
//! A function here returns a decision plus warnings; the adapters carry it out. Dependencies point
//! one way: `mail` builds on `address` and on the ticket vocabulary of `service`; `service` on
//! `address` only; `broadcasts` on `service`, `address` and `lang`. `tests/architecture.rs` fails
//! when the core names the outside world, and when two files of the core import each other.

pub mod lang;
pub mod address;
pub mod names;
mod str_enum;

pub mod mail;
pub mod service;
pub mod workflow;

pub mod broadcasts;

#[cfg(test)]
pub(crate) mod testing;
