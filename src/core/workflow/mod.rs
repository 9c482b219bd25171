//! What a mail does to a ticket: the desk's policy, as decisions the pipeline carries out.
//!
//! [`customer`]: whether machine mail may open a ticket, who the requester is, how the desk
//! first answers a new ticket, and what a customer's reply changes (reopening, participants,
//! notes, whom to tell). [`staff`]: the checks and effects of an engineer's commands, and
//! whether their mail is an answer to relay or an internal note.
//!
//! Owns: the rules that change most often, tested here with tables instead of through a
//! store. Builds on `mail` (mail kinds, commands, threading) and `service` (the ticket); the
//! pipeline (`crate::ingest`) looks things up, calls these, and writes what they decided.
//! Like all of the core, it must not import anything outside `crate::core`.

pub mod customer;
pub mod staff;
