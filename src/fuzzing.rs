//! One entry point that runs the whole pure ingest core on arbitrary bytes, for the fuzzer.
//!
//! The `cargo fuzz` target in `fuzz/` and the replay test `tests/fuzz_regressions.rs` both call
//! [`ingest_core`], so what is fuzzed and what is replayed cannot drift apart. Nothing here
//! touches the store, the network or the clock: the candidate tickets that the pipeline would look
//! up are made from the mail itself.

use crate::core::mail::auth::{self, AuthPolicy};
use crate::core::mail::classify::{classify, Classification, ClassifyContext, MailKind};
use crate::core::mail::commands;
use crate::core::mail::subject;
use crate::core::mail::text::{extract_new_text, new_text_of};
use crate::core::mail::threading::{self, Candidates, Decision, TicketFacts};
use crate::core::mail::InboundMail;
use crate::core::service::ticket::Status;
use crate::ingest::parse::{self, ParseLimits};
use std::hint::black_box;

/// Runs every pure step of ingest on `data`, as the pipeline does, and throws the results away.
///
/// Covered, in pipeline order: MIME parsing with the default limits (`ingest::parse::parse`),
/// classification with a fixed installation (own domain `desk.example.net`, desk address
/// `servicedesk.nl@example.net`), new-text extraction of the text and of the body left after staff
/// commands, staff command parsing, authentication against a fixed policy (one trusted
/// authserv-id, one trusted relay by address and one by name), subject normalisation and reference
/// finding, the threading decision, and the decoded attachments an engineer's mail would relay
/// (`ingest::parse::attachment_bytes` with the pipeline's limit of 50).
///
/// The threading candidates stand in for what the store would return: a ticket for the first
/// Message-ID the mail answers (or the Message-ID a bounce reports) and one per `[REF]` in the
/// subject. The last byte of `data` picks, bit by bit, whether those tickets exist, whether they
/// are closed, whether the sender is one of their participants, whether the requester shared the
/// sender's domain, and whether the sender counts as staff, so the fuzzer reaches every branch of
/// [`threading::decide`].
///
/// Unlike the pipeline, which quarantines a mail when the parser panics, this function lets every
/// panic through: a panic anywhere in the core is a bug the fuzzer must see. It must never panic.
pub fn ingest_core(data: &[u8]) {
    let mail = parse::parse(data, ParseLimits::default());

    let stamp = crate::core::mail::own::Stamp::new(b"fuzzing", "desk.example.net");
    let desk_addresses = ["servicedesk.nl@example.net".to_string()];
    let ctx = ClassifyContext {
        stamp: &stamp,
        desk_addresses: &desk_addresses,
    };
    let class = classify(&mail, &ctx);
    black_box(format!("{}: {}", class.kind, class.reasons.join("; ")));

    // Customer path: the new text of the mail, as ingest reads it (for an HTML-only mail, from
    // the text rendered by the HTML's structure). Staff path: commands first, then the new text
    // of what is left.
    black_box(new_text_of(&mail));
    let parsed_commands = commands::parse_commands(&mail.text);
    for (_, command) in &parsed_commands.commands {
        black_box(command.to_string());
    }
    black_box(extract_new_text(&parsed_commands.body));

    let trusted_ids = ["mx.desk.example.net".to_string()];
    let trusted_relays = [
        "192.0.2.25".to_string(),
        "relay.desk.example.net".to_string(),
    ];
    let policy = AuthPolicy {
        trusted_authserv_ids: &trusted_ids,
        trusted_relays: &trusted_relays,
    };
    let verdict = auth::verify(&mail, &policy);

    black_box(subject::normalize(&mail.subject));
    black_box(subject::is_forward(&mail.subject));
    let refs = subject::find_refs(&mail.subject);

    let selector = data.last().copied().unwrap_or(0);
    let candidates = candidates(&mail, &class, &refs, selector, verdict.authenticated);
    if let Decision::Join { reference, .. } = threading::decide(&mail, &candidates) {
        black_box(reference);
    }

    black_box(parse::attachment_bytes(data, 50));
}

/// Builds the tickets the store could have returned for this mail, steered by `selector`.
fn candidates(
    mail: &InboundMail,
    class: &Classification,
    refs: &[String],
    selector: u8,
    authenticated: bool,
) -> Candidates {
    let bit = |n: u8| selector & (1 << n) != 0;
    let sender = mail.from.email.clone();
    let requester = if bit(3) {
        sender.clone()
    } else {
        "requester@customer.example".to_string()
    };
    let ticket = |reference: &str, closed: bool| TicketFacts {
        reference: reference.to_string(),
        status: if closed { Status::Closed } else { Status::Open },
        participants: if bit(2) {
            vec![requester.clone(), sender.clone()]
        } else {
            vec![requester.clone()]
        },
        domains: threading::admitted_domains(&requester),
    };

    // The pipeline asks the store for the first known Message-ID among those the mail answers,
    // then the one a bounce reports.
    let reported = class
        .bounce
        .as_ref()
        .and_then(|b| b.original_message_id.as_deref())
        .or(mail.original_message_id.as_deref());
    let answered = mail.referenced_ids().into_iter().chain(reported).next();
    let by_header = match answered {
        Some(_) if bit(0) => Some(ticket(
            refs.first().map(String::as_str).unwrap_or("NL-000001"),
            bit(1),
        )),
        _ => None,
    };
    let by_subject = refs
        .iter()
        .enumerate()
        .filter(|(i, _)| !bit(4 + (*i % 3) as u8))
        .map(|(i, r)| ticket(r, bit(1) && i == 0))
        .collect();
    Candidates {
        by_header,
        by_subject,
        // A sender on the staff list counts as staff whether or not the mail is authenticated.
        staff_sender: class.kind == MailKind::Human && (bit(7) || authenticated),
    }
}
