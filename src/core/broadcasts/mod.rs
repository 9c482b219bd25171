//! Maintenance windows and incidents, and the notices each owes to whom: [`scope`] (the impact
//! and the scope of sites and services they share), [`maintenance`] (one-off and recurring
//! windows, their lifecycle and notice schedule), [`incident`] (open, update, resolve),
//! [`icalendar`] (the BCOP calendar form of a notice) and [`datefmt`] (dates in the reader's
//! language and zone).
//!
//! Owns: what ops announce. Builds on `service` (accounts, calendars), `address` and `lang`;
//! must not import `mail`, and nothing in `mail` or `service` imports it. Maintenance and
//! incidents share only `scope`: neither imports the other.

pub mod scope;
pub mod maintenance;
pub mod incident;

pub mod icalendar;
pub mod datefmt;
