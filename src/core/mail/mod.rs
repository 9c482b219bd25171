//! Understanding one inbound mail: what the core sees of it ([`inbound`]), its subject and
//! ticket references ([`subject`]), what kind of mail it is ([`classify`]), whether a staff
//! sender proved who they are ([`auth`]), what the writer wrote without quotes and signature
//! ([`text`]), the staff commands on its first lines ([`commands`]), and which ticket it belongs
//! to ([`threading`]). `pattern.rs` builds the readers' regular expressions.
//!
//! Owns: the reading of mail. Builds on `address` and on the ticket vocabulary of `service`
//! (the statuses and priorities that threading and commands decide about); must not import
//! `broadcasts` or the rest of `service`, and nothing in `service` imports it.

pub mod inbound;
pub use inbound::InboundMail;

pub mod subject;
pub mod own;

pub mod classify;

pub mod auth;
pub mod text;

pub mod commands;
pub mod threading;

mod pattern;
