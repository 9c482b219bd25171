//! Running the service desk: the ticket and what changes it ([`ticket`], with its messages in
//! [`message`]), the mail it sends ([`outbox`]) and the limits on it ([`limits`]), who is who
//! ([`accounts`]), the support plans' clocks ([`calendar`], [`sla`]), who is on duty
//! ([`shifts`]), the priority a mail's words suggest ([`priority`]) and the monthly figures
//! ([`report`]).
//!
//! Owns: the service's rules. Builds on `address` only: it must import neither `mail` (which
//! builds on it) nor `broadcasts`.

pub mod ticket;
pub mod message;

pub mod outbox;
pub mod limits;

pub mod accounts;
pub mod calendar;
pub mod sla;
pub mod shifts;
pub mod priority;

pub mod report;
