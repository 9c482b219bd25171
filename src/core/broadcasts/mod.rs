//! Maintenance windows and incidents, and the notices each owes to whom: [`maintenance`]
//! (one-off and recurring windows, their lifecycle and notice schedule), [`incident`] (open,
//! update, resolve), [`icalendar`] (the BCOP calendar form of a notice) and [`datefmt`] (dates
//! in the reader's language and zone).
//!
//! Owns: what ops announce. Builds on `service` (accounts, calendars) and `lang`; nothing in
//! `mail` or `service` imports it.

pub mod maintenance;
pub mod incident;

pub mod icalendar;
pub mod datefmt;
