//! The first half of ingest: what can be known of a mail from its bytes and the config alone.
//!
//! A mail is parsed, classified, its claim to come from staff checked, and its new text and
//! proposed priority worked out, without the store and without its writer lock. So the daemon
//! prepares each mail while the mailbox is still sending the next ones, and only the second half
//! ([`Ingestor::apply`]: duplicate check, threading, the ticket change, the commit) is serial.

use super::{parse, Ingestor};
use crate::config::{Desk, Staff};
use crate::core::mail::auth::{self, AuthPolicy, AuthVerdict, SignaturePolicy};
use crate::core::mail::classify::{classify, Classification, ClassifyContext, MailKind};
use crate::core::mail::subject;
use crate::core::mail::text::new_text_of;
use crate::core::mail::InboundMail;
use crate::core::service::priority;
use crate::core::service::ticket::Priority;
use crate::source::RawMail;
use crate::store::{pack_texts, Packed};
use crate::timings::Phase;
use std::cell::Cell;

/// A mail read and understood, waiting for [`Ingestor::apply`].
pub struct Prepared {
    pub(super) desk: String,
    pub(super) mail: RawMail,
    /// What the parser made of it (only the header block of an oversized mail); a mail the
    /// parser could not read has `parse_failed` set.
    pub(super) parsed: InboundMail,
    /// Over `ingest.max_message_bytes`: its text is replaced by a note once it is shelved, so
    /// it is understood only then.
    pub(super) oversized: bool,
    pub(super) understood: Option<Understood>,
    pub(super) packed: PackedAhead,
}

/// A mail's raw bytes and texts packed for the store by the preparing thread, so that the
/// applying thread (the pipeline's slower one) does not: each is taken by the write that
/// stores it, and packed there instead when it is not here.
#[derive(Default)]
pub(super) struct PackedAhead {
    pub raw: Cell<Option<Packed>>,
    /// The message record's texts ([`pack_texts`]) when its text is the parsed text.
    pub texts: Cell<Option<Packed>>,
}

impl PackedAhead {
    /// The raw mail packed ahead, or `raw` packed now (taken: a second call packs again).
    pub fn raw_or(&self, raw: &[u8]) -> Packed {
        self.raw.take().unwrap_or_else(|| Packed::of(raw))
    }
}

/// The new text a message record keeps beside `text`: the notice text, unless it is the text
/// itself or empty.
pub(super) fn stored_new_text<'a>(text: &str, notice_text: &'a str) -> Option<&'a str> {
    (notice_text != text && !notice_text.is_empty()).then_some(notice_text)
}

impl Prepared {
    /// Where the mail came from (to acknowledge it once its batch is durable).
    pub fn origin(&self) -> &crate::source::Origin {
        &self.mail.origin
    }

    /// What kind of mail it is; `None` when it was too large or too broken to classify.
    pub fn kind(&self) -> Option<MailKind> {
        self.understood.as_ref().map(|u| u.class.kind)
    }

    /// The mail as it was fetched.
    pub fn raw_mail(&self) -> &RawMail {
        &self.mail
    }
}

/// What the mail is, who wrote it, and what staff will be shown of it.
pub(super) struct Understood {
    pub class: Classification,
    /// The classification as a line for the message record: kind and the signals seen.
    pub class_text: String,
    pub sender: Sender,
    /// What staff are shown of a customer's mail (see [`notice_text`]).
    pub notice_text: String,
    /// The priority the mail's words suggest, for a new ticket.
    pub proposed: Option<Priority>,
}

/// Who wrote a mail, as far as can be proven.
pub(super) enum Sender {
    Customer,
    /// A staff address whose mail is authenticated; `reason` says by what.
    Staff {
        member: Staff,
        reason: String,
    },
    /// A staff address without proof: treated as ordinary mail.
    UnverifiedStaff {
        login: String,
        note: String,
    },
}

impl Ingestor {
    /// Reads and understands one mail of `desk`. Never fails: a mail that cannot be parsed
    /// carries its error to [`Ingestor::apply`], which quarantines it.
    pub fn prepare(&self, desk: &Desk, mail: RawMail) -> Prepared {
        let oversized = mail.raw.len() > self.ctx.config.ingest.max_message_bytes;
        let parsed = self.ctx.timings.time(Phase::Parse, || {
            // Of a mail over the limit only the header block is read: enough to tell its sender.
            let input = if oversized {
                parse::header_block(&mail.raw)
            } else {
                &mail.raw[..]
            };
            parse::parse(input, parse::ParseLimits::default())
        });
        let understood = (!oversized && parsed.parse_failed.is_none()).then(|| {
            self.ctx.timings.time(Phase::Classify, || {
                self.understand_signed(&parsed, Some((desk, &mail.raw)))
            })
        });
        // Only a mail that lands on a ticket stores these (a quarantined one is kept whole).
        let packed = match &understood {
            Some(u) => self.ctx.timings.time(Phase::Pack, || PackedAhead {
                raw: Cell::new(Some(Packed::of(&mail.raw))),
                texts: Cell::new(Some(pack_texts(
                    &parsed.text,
                    stored_new_text(&parsed.text, &u.notice_text),
                ))),
            }),
            None => PackedAhead::default(),
        };
        Prepared {
            desk: desk.name.clone(),
            mail,
            parsed,
            oversized,
            understood,
            packed,
        }
    }

    /// Classifies the mail, checks a staff sender's proof, and extracts what staff are shown.
    pub(super) fn understand(&self, parsed: &InboundMail) -> Understood {
        self.understand_signed(parsed, None)
    }

    /// [`Ingestor::understand`], with the desk and the raw bytes for the desk's own DKIM check.
    fn understand_signed(&self, parsed: &InboundMail, raw: Option<(&Desk, &[u8])>) -> Understood {
        let ctx = ClassifyContext {
            stamp: &self.ctx.stamp,
            desk_addresses: self.ctx.desk_addresses(),
        };
        let class = classify(parsed, &ctx);
        let class_text = format!("{}: {}", class.kind.as_str(), class.reasons.join("; "));
        // A staff address proves nothing until the mail is authenticated.
        let staff = (class.kind == MailKind::Human)
            .then(|| self.ctx.config.staff_by_address(&parsed.from.email))
            .flatten();
        let sender = match staff {
            None => Sender::Customer,
            Some(member) => {
                let verdict = self.staff_proof(parsed, raw);
                if verdict.authenticated {
                    Sender::Staff {
                        member: member.clone(),
                        reason: verdict.reason,
                    }
                } else {
                    Sender::UnverifiedStaff {
                        login: member.login.clone(),
                        note: format!(
                            "unverified mail from staff address {} ({}): kept as an internal note; the ticket was not changed and nothing was relayed",
                            parsed.from.email, verdict.reason
                        ),
                    }
                }
            }
        };
        // Staff mail is read for commands first; its text is extracted after them.
        let (notice_text, proposed) = match sender {
            Sender::Staff { .. } => (String::new(), None),
            _ => (
                notice_text(parsed),
                priority::propose(&parsed.subject, &parsed.text),
            ),
        };
        Understood {
            class,
            class_text,
            sender,
            notice_text,
            proposed,
        }
    }
}

impl Ingestor {
    /// Whether a mail from a staff address proves its sender, by the proofs its desk accepts:
    /// trusted headers or relay (pure, instant), then deskgate's own DKIM/ARC check when the
    /// desk asks for it — DNS, so only here, for a mail that claims a staff address.
    fn staff_proof(&self, parsed: &InboundMail, raw: Option<(&Desk, &[u8])>) -> AuthVerdict {
        let auth = &self.ctx.config.auth;
        let proofs = raw.map_or_else(|| auth.global_proofs(), |(desk, _)| auth.proofs(desk));
        let policy = AuthPolicy {
            trusted_authserv_ids: proofs.trusted_authserv_ids,
            trusted_relays: proofs.trusted_relays,
        };
        let headers = auth::verify(parsed, &policy);
        let Some((_, raw)) = raw.filter(|_| proofs.dkim && !headers.authenticated) else {
            return headers;
        };
        let check = self.ctx.signatures.check(raw);
        let signatures = SignaturePolicy {
            trusted_arc_sealers: proofs.trusted_arc_sealers,
        };
        let own = auth::verify_signatures(parsed, &check, &signatures, self.ctx.clock.now());
        tracing::info!(from = %parsed.from.email, authenticated = own.authenticated, reason = %own.reason, "own DKIM check of a staff claim");
        if policy.trusted_authserv_ids.is_empty() && policy.trusted_relays.is_empty() {
            own
        } else {
            auth::either(headers, own)
        }
    }
}

/// What staff are shown of a customer's mail: the new text, except for a forward, whose point
/// is the forwarded content (and Outlook forwards look like replies to the extractor), and for
/// a mail with no new text (only history, only a signature), which is shown whole.
pub(super) fn notice_text(parsed: &InboundMail) -> String {
    let whole = || parsed.text.trim().to_string();
    if subject::is_forward(&parsed.subject) {
        return whole();
    }
    let new_text = new_text_of(parsed).new_text;
    if new_text.is_empty() {
        whole()
    } else {
        new_text
    }
}
