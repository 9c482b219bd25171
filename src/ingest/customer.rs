//! The customer path: a mail that opens a ticket (acknowledged, and told to tier 1) or joins one
//! (reopening it when resolved, and told to its owner).

use super::{Incoming, Ingestor, Outcome};
use crate::core::address::Address;
use crate::core::lang::Lang;
use crate::core::mail::subject;
use crate::core::mail::threading::Decision;
use crate::core::service::accounts::Identity;
use crate::core::service::limits::Window;
use crate::core::service::message::MessageKind;
use crate::core::service::outbox::OutboxState;
use crate::core::service::ticket::{Opening, RequesterIdentity, Ticket};
use crate::core::workflow::customer::{self, FirstAnswer};
use crate::outgoing::{self, Draft, StaffNotice};
use crate::render::context;
use crate::store::{Shelf, StoreError, Txn};

impl Ingestor {
    pub(super) fn customer_mail(
        &self,
        txn: &mut Txn<'_>,
        incoming: &Incoming<'_>,
        decision: Decision,
    ) -> Result<Outcome, StoreError> {
        let (parsed, now, desk) = (&incoming.parsed, incoming.now, incoming.desk);
        let kind = incoming.message_kind();
        let by = parsed.from.email.clone();
        let flood = self.flood_check(txn, incoming)?;
        match decision {
            Decision::Join {
                reference,
                add_sender,
                ..
            } => {
                let mut ticket = self.load_ticket(&reference)?;
                let copies: Vec<Address> = parsed
                    .cc
                    .iter()
                    .chain(parsed.to.iter())
                    .filter(|a| {
                        !self.ctx.is_desk(&a.email)
                            && self.ctx.config.staff_by_address(&a.email).is_none()
                    })
                    .cloned()
                    .collect();
                let effects = customer::customer_reply(
                    &mut ticket,
                    &customer::Reply {
                        kind,
                        from: &parsed.from,
                        message_id: &parsed.message_id,
                        copies: &copies,
                        add_sender,
                        flood: flood.as_deref(),
                    },
                    now,
                );
                if kind == MessageKind::Bounce {
                    self.record_bounce(txn, Some(&mut ticket), incoming)?;
                }
                let text = incoming.notice_text.clone();
                self.append_message(txn, &mut ticket, incoming, kind, parsed.text.clone(), None);
                self.oversized_notice(txn, &mut ticket, incoming)?;
                if let Some(label) = effects.notify {
                    let to = self.ctx.owner_or_team(&ticket, desk);
                    let answering = Some(parsed.message_id.as_str());
                    self.notify(
                        txn,
                        &mut ticket,
                        desk,
                        StaffNotice {
                            label,
                            to,
                            author: &parsed.from,
                            tell_author: false,
                            text: &text,
                            full_text: Some(&parsed.text),
                            answering,
                        },
                        now,
                    )?;
                }
                self.save_ticket(txn, &mut ticket, now);
                let reopened = effects.reopened;
                tracing::info!(ticket = %reference, kind = ?kind, reopened, "mail added to ticket");
                Ok(Outcome::Appended {
                    ticket: reference,
                    reopened,
                })
            }
            Decision::New { notes, related } => {
                // A robot (a customer's monitoring, a purchase system) may open a ticket, which
                // is never acknowledged; other machine mail answers something or nothing.
                if !customer::opens_ticket(kind, incoming.class.kind) {
                    if kind == MessageKind::Bounce {
                        self.record_bounce(txn, None, incoming)?;
                    }
                    let reason = format!("{}; answers no known ticket", incoming.class_text);
                    return self.shelve(
                        txn,
                        Shelf::Aside,
                        desk,
                        incoming.mail,
                        Some(parsed),
                        reason,
                        now,
                    );
                }
                let n = txn.next_seq("ticket")?;
                let reference = format!("{}-{n:06}", desk.ref_prefix());
                let requester = customer::requester(&parsed.from, parsed.reply_to.as_ref(), |e| {
                    self.ctx.is_desk(e)
                });
                let others: Vec<Address> = parsed
                    .to
                    .iter()
                    .chain(parsed.cc.iter())
                    .filter(|a| {
                        !self.ctx.is_desk(&a.email)
                            && a.email != requester.email
                            && self.ctx.config.staff_by_address(&a.email).is_none()
                    })
                    .cloned()
                    .collect();
                let display_subject = subject::normalize(&parsed.subject);
                let opening = Opening {
                    reference: reference.clone(),
                    desk: &desk.name,
                    language: &desk.language,
                    subject: &display_subject,
                    requester,
                    others: &others,
                    message_id: &parsed.message_id,
                };
                let mut ticket = Ticket::open(opening, now);
                self.identify_new(&mut ticket, incoming, now);
                for note in &notes {
                    ticket.note(note.clone(), "deskgate", now);
                    tracing::warn!(ticket = %reference, "{note}");
                }
                let refused = notes.iter().any(|n| n.contains("not a participant"));
                if let Some(rel) = related.as_deref().filter(|_| refused) {
                    if let Some(mut other) = self.ctx.store.ticket(rel)? {
                        other.note(
                            format!("{by} used this ticket's reference without being a participant; their mail opened [{reference}]"),
                            "deskgate",
                            now,
                        );
                        self.save_ticket(txn, &mut other, now);
                    }
                }
                self.append_message(txn, &mut ticket, incoming, kind, parsed.text.clone(), None);
                if let Some(note) = &flood {
                    ticket.note(note.clone(), "deskgate", now);
                }
                let answer = customer::first_answer(customer::NewTicket {
                    identity: ticket.identity,
                    accounts_in_use: self.ctx.config.general.accounts.is_some(),
                    kind: incoming.class.kind,
                    class_text: &incoming.class_text,
                    oversized: incoming.oversized.is_some(),
                    flooded: flood.is_some(),
                });
                let acknowledged = match answer {
                    FirstAnswer::Ack => self.queue_ack(txn, &mut ticket, incoming)?,
                    FirstAnswer::Register => {
                        self.queue_customer_notice(txn, &mut ticket, incoming, "register")?
                    }
                    FirstAnswer::PartnerRedirect => {
                        self.queue_customer_notice(txn, &mut ticket, incoming, "partner_redirect")?
                    }
                    // The sender is told the mail was too large instead of "received".
                    FirstAnswer::TooLarge => self.oversized_notice(txn, &mut ticket, incoming)?,
                    FirstAnswer::Nothing { note } => {
                        if let Some(note) = note {
                            ticket.note(note, "deskgate", now);
                        }
                        false
                    }
                };
                let to = if flood.is_some() {
                    Vec::new()
                } else {
                    self.ctx.team_for(1, ticket.priority, desk, now)
                };
                let text = incoming.notice_text.clone();
                let answering = Some(parsed.message_id.as_str());
                self.notify(
                    txn,
                    &mut ticket,
                    desk,
                    StaffNotice {
                        label: "New ticket",
                        to,
                        author: &parsed.from,
                        tell_author: false,
                        text: &text,
                        full_text: Some(&parsed.text),
                        answering,
                    },
                    now,
                )?;
                self.save_ticket(txn, &mut ticket, now);
                tracing::info!(ticket = %reference, acknowledged, "new ticket");
                Ok(Outcome::Created {
                    ticket: reference,
                    acknowledged,
                })
            }
        }
    }

    /// Counts the sender's recent mail to this desk; past `limits.sender_flood_per_hour` the
    /// breaker is open and the answer is the note to leave (nothing is sent or notified).
    fn flood_check(
        &self,
        txn: &mut Txn<'_>,
        incoming: &Incoming<'_>,
    ) -> Result<Option<String>, StoreError> {
        let (desk, email, now) = (
            &incoming.desk.name,
            &incoming.parsed.from.email,
            incoming.now,
        );
        // History is not a flood: a year of one customer's mail arrives within a minute.
        if email.is_empty() || self.mode == super::Mode::History {
            return Ok(None);
        }
        let max = self.ctx.config.limits.sender_flood_per_hour;
        let window = Window::per_hour(max);
        let history = self.ctx.store.sender_history(desk, email)?;
        let open = !window.allows(&history, now);
        let mut recent = window.recent(&history, now);
        recent.push(now);
        // Keep the list bounded even while a flood goes on: only the window's worth matters.
        let excess = recent.len().saturating_sub(max as usize + 1);
        recent.drain(..excess);
        txn.put_sender_history(desk, email, &recent);
        if open {
            tracing::warn!(sender = %email, max, "sender flood: breaker open, nothing sent or notified");
            return Ok(Some(format!(
                "{email} sent more than {max} mails to this desk within an hour (limits.sender_flood_per_hour): stored, but not acknowledged or notified"
            )));
        }
        Ok(None)
    }

    /// Ties a bounce to the outbox entry it reports (by its VERP envelope address, else the
    /// original Message-ID), marks that entry failed, counts hard bounces per recipient and
    /// notes it on the ticket. A bounce is never answered.
    fn record_bounce(
        &self,
        txn: &mut Txn<'_>,
        ticket: Option<&mut Ticket>,
        incoming: &Incoming<'_>,
    ) -> Result<(), StoreError> {
        // A bounce from history says nothing of today's mail: no outbox entry is failed and
        // no address flagged by it.
        let Some(info) = incoming.class.bounce.as_ref() else {
            return Ok(());
        };
        if self.mode == super::Mode::History {
            return Ok(());
        }
        let now = incoming.now;
        let by_verp = [
            "to",
            "delivered-to",
            "x-original-to",
            "envelope-to",
            "x-envelope-to",
        ]
        .iter()
        .filter_map(|h| incoming.parsed.header(h))
        .find_map(verp_id);
        let entry = match by_verp {
            Some(id) => self.ctx.store.outbox_entry(id)?,
            None => match info
                .original_message_id
                .as_deref()
                .or(incoming.parsed.original_message_id.as_deref())
            {
                Some(mid) => self.ctx.store.outbox_by_message_id(mid)?,
                None => None,
            },
        };
        let Some(mut entry) = entry else {
            tracing::info!("bounce names no mail of ours");
            return Ok(());
        };
        let status = info.status.clone().unwrap_or_else(|| {
            if info.permanent {
                "5.0.0".into()
            } else {
                "4.0.0".into()
            }
        });
        let diagnostic = info.diagnostic.clone().unwrap_or_default();
        if info.permanent {
            entry.state = OutboxState::Failed;
        }
        entry.last_error = Some(
            format!("bounced {status}: {diagnostic}")
                .trim_end_matches([' ', ':'])
                .to_string(),
        );
        txn.put_outbox(&entry, None);
        let recipients = if info.recipients.is_empty() {
            entry.to.clone()
        } else {
            info.recipients.clone()
        };
        if info.permanent {
            for email in &recipients {
                let mut r = self.ctx.store.recipient(email)?;
                r.hard_bounces += 1;
                r.last_bounce = Some(format!("{status} {diagnostic}").trim().to_string());
                if r.hard_bounces >= self.ctx.config.limits.flag_after_hard_bounces && !r.flagged {
                    r.flagged = true;
                    tracing::warn!(recipient = %email, bounces = r.hard_bounces, "address flagged after repeated hard bounces");
                }
                txn.put_recipient(email, &r);
            }
        }
        tracing::warn!(outbox = entry.id, status = %status, "mail bounced");
        if let Some(t) = ticket {
            t.note(
                format!(
                    "{} mail {} to {} bounced ({status}{}){}",
                    if info.permanent {
                        "permanently:"
                    } else {
                        "temporarily:"
                    },
                    entry.message_id,
                    recipients.join(", "),
                    if diagnostic.is_empty() {
                        String::new()
                    } else {
                        format!(": {diagnostic}")
                    },
                    if info.permanent {
                        "; marked failed"
                    } else {
                        ""
                    }
                ),
                "deskgate",
                now,
            );
        }
        Ok(())
    }

    /// For a mail too large to process: a note on the ticket and a polite reply to the sender
    /// (subject to the storm limits). Returns whether the reply was queued.
    fn oversized_notice(
        &self,
        txn: &mut Txn<'_>,
        ticket: &mut Ticket,
        incoming: &Incoming<'_>,
    ) -> Result<bool, StoreError> {
        let Some((size, quarantine_id)) = incoming.oversized else {
            return Ok(false);
        };
        let (parsed, desk, now) = (&incoming.parsed, incoming.desk, incoming.now);
        let max = self.ctx.config.ingest.max_message_bytes;
        ticket.note(
            format!("a mail of {size} bytes from {} exceeded ingest.max_message_bytes ({max}); kept raw in quarantine as {quarantine_id}", parsed.from.email),
            "deskgate",
            now,
        );
        let to = parsed
            .reply_to
            .clone()
            .filter(|r| !r.email.is_empty())
            .unwrap_or_else(|| parsed.from.clone());
        // Written as the mail's language writes numbers (the reply goes out in it).
        let lang = Lang::parse(&ticket.language).unwrap_or(Lang::En);
        let ctx = context::value(&context::TooLarge {
            reference: ticket.reference.clone(),
            subject: subject::normalize(&parsed.subject),
            desk: outgoing::desk_ctx(desk),
            requester: outgoing::person(&to),
            size_mb: lang.decimal(size as f64 / 1e6, 1),
            limit_mb: lang.decimal(max as f64 / 1e6, 0),
        });
        self.send_reply(
            txn,
            ticket,
            incoming,
            "too_large",
            ctx,
            to,
            MessageKind::Notice,
        )
    }

    /// Ties a new ticket to its account, plan and language, proposes its priority from the mail's
    /// words and starts its SLA clock.
    fn identify_new(
        &self,
        ticket: &mut Ticket,
        incoming: &Incoming<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let identity = crate::support::identify(ticket, &self.ctx.directory());
        let directory = self.ctx.directory();
        if let Some(account) = identity.account().and_then(|id| directory.account(id)) {
            ticket.language = match &identity {
                Identity::Contact { contact, .. } => account.language_of(contact).to_string(),
                _ => account.language.clone(),
            };
        } else if let Some(lang) = written_in(incoming) {
            ticket.language = lang.code().to_string();
        }
        match ticket.identity {
            RequesterIdentity::Unregistered => ticket.note(
                format!(
                    "{} writes from a domain of account {} but is not a registered contact",
                    ticket.requester.email,
                    ticket.account.as_deref().unwrap_or("?")
                ),
                "deskgate",
                now,
            ),
            RequesterIdentity::Unverified if self.ctx.config.general.accounts.is_some() => ticket
                .note(
                    "the requester belongs to no known account: unverified",
                    "deskgate",
                    now,
                ),
            RequesterIdentity::Unverified => {}
            RequesterIdentity::PartnerRedirect => ticket.note(
                format!(
                    "account {} is supported by its partner {}: the requester was pointed there",
                    ticket.account.as_deref().unwrap_or("?"),
                    ticket.partner.as_deref().unwrap_or("?")
                ),
                "deskgate",
                now,
            ),
            RequesterIdentity::Contact => {}
        }
        if let Some(p) = incoming.proposed_priority {
            ticket.priority = p;
            ticket.priority_confirmed = false;
            ticket.note(format!("priority {p:?} proposed from the mail's words; to be confirmed by tier 1 (#priority)"), "deskgate", now);
        }
        self.ctx.support.start_sla(ticket, now);
    }

    /// Queues a registration hint or a partner redirect instead of the acknowledgement.
    fn queue_customer_notice(
        &self,
        txn: &mut Txn<'_>,
        ticket: &mut Ticket,
        incoming: &Incoming<'_>,
        template: &'static str,
    ) -> Result<bool, StoreError> {
        let desk = incoming.desk;
        let to = ticket.requester.clone();
        let directory = self.ctx.directory();
        let (account, partner) = match ticket
            .account
            .as_deref()
            .and_then(|a| directory.partner_support(a))
        {
            Some((partner, contact)) => {
                let account = ticket
                    .account
                    .as_deref()
                    .and_then(|a| directory.account(a))
                    .map(|a| a.name.clone())
                    .unwrap_or_default();
                (
                    context::AccountName { name: account },
                    context::PartnerCtx {
                        name: partner.name.clone(),
                        support_name: contact.name.clone(),
                        support_address: contact.address.clone(),
                    },
                )
            }
            None => Default::default(),
        };
        let ctx = if template == "partner_redirect" {
            context::value(&context::PartnerRedirect {
                reference: ticket.reference.clone(),
                subject: ticket.subject.clone(),
                desk: outgoing::desk_ctx(desk),
                requester: outgoing::person(&to),
                account,
                partner,
            })
        } else {
            context::value(&context::Register {
                reference: ticket.reference.clone(),
                subject: ticket.subject.clone(),
                desk: outgoing::desk_ctx(desk),
                requester: outgoing::person(&to),
            })
        };
        self.send_reply(
            txn,
            ticket,
            incoming,
            template,
            ctx,
            to,
            MessageKind::Notice,
        )
    }

    /// Queues an automatic reply to the sender of `incoming` (acknowledgement, registration hint,
    /// partner redirect, "too large"): in the ticket's language, in the sender's thread, subject
    /// to the storm limits, recorded on the ticket. Returns whether it was queued.
    #[allow(clippy::too_many_arguments)] // Each argument is a different part of the reply.
    fn send_reply(
        &self,
        txn: &mut Txn<'_>,
        ticket: &mut Ticket,
        incoming: &Incoming<'_>,
        template: &'static str,
        ctx: serde_json::Value,
        to: Address,
        record_as: MessageKind,
    ) -> Result<bool, StoreError> {
        let parsed = &incoming.parsed;
        let mut references = parsed.references.clone();
        references.push(parsed.message_id.clone());
        let draft = Draft {
            kind: template,
            template,
            language: ticket.language.clone(),
            ctx,
            from: outgoing::desk_sender(incoming.desk, None),
            to: vec![to],
            cc: vec![],
            reply_to: None,
            in_reply_to: Some(parsed.message_id.clone()),
            references,
            auto_submitted: Some("auto-replied"),
            attachments: vec![],
            limited: true,
            record_as: Some(record_as),
        };
        Ok(self
            .queue(txn, Some(ticket), incoming.desk, draft, incoming.now)?
            .is_some())
    }

    /// Queues the acknowledgement of a new ticket, in the desk's language.
    fn queue_ack(
        &self,
        txn: &mut Txn<'_>,
        ticket: &mut Ticket,
        incoming: &Incoming<'_>,
    ) -> Result<bool, StoreError> {
        let (parsed, desk, now) = (&incoming.parsed, incoming.desk, incoming.now);
        let to = ticket.requester.clone();
        let ctx = context::value(&context::Ack {
            reference: ticket.reference.clone(),
            subject: ticket.subject.clone(),
            desk: outgoing::desk_ctx(desk),
            requester: outgoing::person(&to),
            received_at: self.ctx.local_time(now, &to.email),
        });
        let mut references = parsed.references.clone();
        references.push(parsed.message_id.clone());
        self.send_reply(txn, ticket, incoming, "ack", ctx, to, MessageKind::Ack)
    }
}

/// The outbox id in a VERP address `local+dg-<id>@domain`, if any.
fn verp_id(value: &str) -> Option<u64> {
    let start = value.find("+dg-")? + 4;
    let digits: String = value[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let rest = &value[start + digits.len()..];
    if rest.starts_with('@') {
        digits.parse().ok()
    } else {
        None
    }
}

/// The language a sender the accounts file does not know writes in: the text's, when it clearly
/// is one of the desk languages, else the one the mail declares (`Content-Language`, which
/// Outlook sets from its editing language, so it comes second), else none (the desk's stays).
/// An oversized mail's text is deskgate's own note about it, not the sender's: only its
/// header is read.
fn written_in(incoming: &Incoming<'_>) -> Option<Lang> {
    let parsed = &incoming.parsed;
    let from_text = || {
        incoming
            .oversized
            .is_none()
            .then(|| crate::core::lang::detect(&parsed.text))
            .flatten()
    };
    from_text().or_else(|| parsed.header("content-language").and_then(Lang::parse))
}

#[cfg(test)]
mod tests {
    #[test]
    fn verp_ids_are_read_from_addresses() {
        assert_eq!(super::verp_id("servicedesk.nl+dg-42@example.net"), Some(42));
        assert_eq!(super::verp_id("<servicedesk.nl+dg-7@example.net>"), Some(7));
        assert_eq!(super::verp_id("someone+dg-x@example.net"), None);
        assert_eq!(super::verp_id("servicedesk.nl@example.net"), None);
    }
}
