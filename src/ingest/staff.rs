//! The staff path: an authenticated engineer's mail on a ticket.
//!
//! Commands on its first lines change the ticket; what remains, without quoted history and
//! signature, is either relayed to the customer from the desk's address or kept as an internal
//! note. A mail with a command that is unknown, malformed or impossible changes nothing: the
//! engineer alone gets an error reply naming the line.

use super::parse;
use super::{Incoming, Ingestor, Outcome};
use crate::config::Staff;
use crate::core::address::Address;
use crate::core::mail::commands::{self, CommandError};
use crate::core::mail::text::{self, new_text_from};
use crate::core::mail::threading::Decision;
use crate::core::service::message::MessageKind;
use crate::core::service::ticket::Ticket;
use crate::core::workflow::staff::{self, Answer, StaffDirectory};
use crate::outbound::compose::OutgoingAttachment;
use crate::outgoing::{self, Draft, StaffNotice};
use crate::render::context;
use crate::store::{Shelf, StoreError, Txn};

/// The staff directory of the config, as the command policy asks it.
impl StaffDirectory for crate::config::Config {
    fn login_of(&self, who: &str) -> Option<String> {
        self.staff_by_name(who).map(|s| s.login.clone())
    }

    fn has_team_for_tier(&self, tier: u8) -> bool {
        self.teams.iter().any(|team| team.tier == tier)
    }
}

impl Ingestor {
    pub(super) fn staff_mail(
        &self,
        txn: &mut Txn<'_>,
        incoming: &Incoming<'_>,
        member: &Staff,
        decision: Decision,
    ) -> Result<Outcome, StoreError> {
        let (parsed, now, desk) = (&incoming.parsed, incoming.now, incoming.desk);
        let author = Address::new(Some(&member.name), &member.address);
        let parsed_commands = commands::parse_commands(&parsed.text);
        let Decision::Join { reference, .. } = decision else {
            let errors = vec![CommandError {
                line: 0,
                text: String::new(),
                message: "this mail names no ticket: reply to a notification, or keep the [REF] of the ticket in the subject".into(),
            }];
            self.command_error(txn, incoming, None, &author, &errors)?;
            let reason = format!(
                "staff mail from {} naming no ticket; the sender was told",
                member.login
            );
            return self.shelve(
                txn,
                Shelf::Aside,
                desk,
                incoming.mail,
                Some(parsed),
                reason,
                now,
            );
        };
        let mut ticket = self.load_ticket(&reference)?;

        let mut errors = parsed_commands.errors.clone();
        errors.extend(staff::command_errors(
            &ticket,
            &parsed_commands.commands,
            &*self.ctx.config,
        ));
        if !errors.is_empty() {
            let lines: Vec<String> = errors
                .iter()
                .map(|e| format!("line {}: {}", e.line, e.message))
                .collect();
            ticket.note(
                format!(
                    "mail from {} not applied, command errors: {}",
                    member.login,
                    lines.join("; ")
                ),
                &member.address,
                now,
            );
            self.append_message(
                txn,
                &mut ticket,
                incoming,
                MessageKind::Note,
                parsed.text.clone(),
                None,
            );
            self.command_error(txn, incoming, Some(&mut ticket), &author, &errors)?;
            self.save_ticket(txn, &mut ticket, now);
            return Ok(Outcome::Appended {
                ticket: reference,
                reopened: false,
            });
        }

        let me = staff::Author {
            login: &member.login,
            address: &member.address,
        };
        let applied = staff::apply_commands(
            &mut ticket,
            me,
            &parsed_commands.commands,
            &*self.ctx.config,
            now,
        );
        if applied.priority_changed {
            self.ctx.support.retarget_sla(&mut ticket);
        }
        // An HTML-only mail's text rendered by its structure starts with the same command lines.
        let structured = parsed
            .html_text
            .as_deref()
            .map(|html| commands::parse_commands(html).body);
        let new_text = new_text_from(
            &parsed_commands.body,
            structured.as_deref(),
            parsed.html_history_cut,
        )
        .new_text;
        let answer = staff::answer(&mut ticket, &applied, &new_text, me, now);
        // Every notice this mail causes carries its new text and answers it.
        let notify_staff =
            |txn: &mut Txn<'_>, ticket: &mut Ticket, label: &str, to: Vec<Address>| {
                self.notify(
                    txn,
                    ticket,
                    desk,
                    StaffNotice {
                        label,
                        to,
                        author: &author,
                        tell_author: false,
                        text: &new_text,
                        full_text: None,
                        answering: Some(&parsed.message_id),
                    },
                    now,
                )
            };
        match answer {
            Answer::Note { tell } => {
                self.append_message(
                    txn,
                    &mut ticket,
                    incoming,
                    MessageKind::Note,
                    new_text.clone(),
                    None,
                );
                if tell {
                    let mut to = self.ctx.owner_or_team(&ticket, desk);
                    for login in &ticket.staff {
                        if let Some(s) = self.ctx.config.staff_by_name(login) {
                            to.push(Address::new(Some(&s.name), &s.address));
                        }
                    }
                    let label = format!("Internal note by {}", member.name);
                    notify_staff(txn, &mut ticket, &label, to)?;
                }
            }
            Answer::Relay => {
                // The relay is queued first, so the engineer's message can name the outbox
                // entry that carried it to the customer.
                let outbox_id = self
                    .relay(txn, &mut ticket, incoming, member, &new_text)?
                    .map(|(id, _)| id);
                self.append_message(
                    txn,
                    &mut ticket,
                    incoming,
                    MessageKind::Staff,
                    new_text.clone(),
                    outbox_id,
                );
            }
        }
        let internal = answer != Answer::Relay;
        if let Some(tier) = applied.escalated_to {
            let to = self.ctx.on_shift_team(tier, desk, now);
            notify_staff(txn, &mut ticket, &format!("Escalated to tier {tier}"), to)?;
        }
        if let Some(login) = applied.assigned_to.filter(|l| l != &member.login) {
            if let Some(s) = self.ctx.config.staff_by_name(&login) {
                let to = vec![Address::new(Some(&s.name), &s.address)];
                notify_staff(txn, &mut ticket, "Assigned to you", to)?;
            }
        }
        self.save_ticket(txn, &mut ticket, now);
        tracing::info!(ticket = %reference, staff = %member.login, internal, "staff mail applied");
        Ok(Outcome::Appended {
            ticket: reference,
            reopened: false,
        })
    }

    /// A mail that claims a staff address without proof (no trusted Authentication-Results, a
    /// failing signature, an untrusted relay). It changes nothing: no status, owner, priority,
    /// tier or clock moves, nothing is relayed, no command runs. It is kept on the ticket it
    /// names as an internal note, and the ticket's owner (or team) is told, with the reason.
    /// Naming no ticket, it is kept aside.
    pub(super) fn unverified_staff_mail(
        &self,
        txn: &mut Txn<'_>,
        incoming: &Incoming<'_>,
        decision: Decision,
        note: String,
    ) -> Result<Outcome, StoreError> {
        let (parsed, now, desk) = (&incoming.parsed, incoming.now, incoming.desk);
        let Decision::Join { reference, .. } = decision else {
            return self.shelve(
                txn,
                Shelf::Aside,
                desk,
                incoming.mail,
                Some(parsed),
                format!("{note}; it names no ticket"),
                now,
            );
        };
        let mut ticket = self.load_ticket(&reference)?;
        ticket.note(note.clone(), "deskgate", now);
        self.append_message(
            txn,
            &mut ticket,
            incoming,
            MessageKind::Note,
            parsed.text.clone(),
            None,
        );
        // The owner (or team), and the staff member whose address the mail claims: if it was
        // theirs (a client or relay that leaves no proof), they learn their mail did nothing.
        let mut to = self.ctx.owner_or_team(&ticket, desk);
        if let Some(claimed) = self.ctx.config.staff_by_address(&parsed.from.email) {
            to.push(Address::new(Some(&claimed.name), &claimed.address));
        }
        let text = format!("{note}.\n\n{}", parsed.text.trim_end());
        self.notify(
            txn,
            &mut ticket,
            desk,
            StaffNotice {
                label: "Unverified mail from a staff address",
                to,
                author: &parsed.from,
                tell_author: true,
                text: &text,
                full_text: None,
                answering: Some(&parsed.message_id),
            },
            now,
        )?;
        self.save_ticket(txn, &mut ticket, now);
        Ok(Outcome::Appended {
            ticket: reference,
            reopened: false,
        })
    }

    /// Sends the engineer's answer to the customer: from the desk's address in the engineer's
    /// name, to the requester with the other participants in copy, in the thread.
    fn relay(
        &self,
        txn: &mut Txn<'_>,
        ticket: &mut Ticket,
        incoming: &Incoming<'_>,
        member: &Staff,
        text: &str,
    ) -> Result<Option<(u64, String)>, StoreError> {
        let desk = incoming.desk;
        let cc: Vec<Address> = ticket
            .participants
            .iter()
            .filter(|p| p.email != ticket.requester.email)
            .cloned()
            .collect();
        let attachments = parse::attachment_bytes(&incoming.mail.raw, 50)
            .into_iter()
            .map(|(info, data)| OutgoingAttachment {
                name: info.name,
                content_type: info.content_type,
                data,
            })
            .collect();
        let ctx = context::value(&context::Reply {
            reference: ticket.reference.clone(),
            subject: ticket.subject.clone(),
            desk: outgoing::desk_ctx(desk),
            requester: outgoing::person(&ticket.requester),
            staff: context::StaffName {
                name: member.name.clone(),
            },
            // The template signs with the engineer's name: theirs at the end would stand twice.
            text: text::without_own_signature(text, &member.name).to_string(),
        });
        let draft = Draft {
            kind: "reply",
            template: "reply",
            language: ticket.language.clone(),
            ctx,
            from: Address::new(Some(&member.name), &desk.address),
            to: vec![ticket.requester.clone()],
            cc,
            reply_to: None,
            in_reply_to: ticket.last_customer_message_id().map(str::to_string),
            references: ticket.thread.clone(),
            auto_submitted: None,
            attachments,
            limited: false,
            record_as: None,
        };
        self.queue(txn, Some(ticket), desk, draft, incoming.now)
    }

    /// Tells the engineer alone why nothing was applied.
    fn command_error(
        &self,
        txn: &mut Txn<'_>,
        incoming: &Incoming<'_>,
        ticket: Option<&mut Ticket>,
        author: &Address,
        errors: &[CommandError],
    ) -> Result<(), StoreError> {
        let desk = incoming.desk;
        let ctx = context::value(&context::CommandErrors {
            reference: ticket
                .as_ref()
                .map(|t| t.reference.clone())
                .unwrap_or_default(),
            // The ticket's own subject: the engineer's "Re: [NL-1] New ticket: …" would carry
            // the label of the notification they answered.
            subject: match &ticket {
                Some(t) => t.subject.clone(),
                None => crate::core::mail::subject::normalize(&incoming.parsed.subject),
            },
            desk: outgoing::desk_ctx(desk),
            errors: errors
                .iter()
                .map(|e| context::CommandLineError {
                    line: e.line,
                    text: e.text.clone(),
                    message: e.message.clone(),
                })
                .collect(),
            help: commands::help().trim_end().to_string(),
        });
        let draft = Draft {
            kind: "command_error",
            template: "command_error",
            language: "en".into(),
            ctx,
            from: outgoing::desk_sender(desk, None),
            to: vec![author.clone()],
            cc: vec![],
            reply_to: None,
            in_reply_to: Some(incoming.parsed.message_id.clone()),
            references: vec![incoming.parsed.message_id.clone()],
            auto_submitted: Some("auto-replied"),
            attachments: vec![],
            limited: false,
            record_as: None,
        };
        match ticket {
            Some(t) => {
                self.queue(txn, Some(t), desk, draft, incoming.now)?;
            }
            None => {
                // No ticket to hang the error on: a scratch ticket value carries the reference-less
                // mail through the same queueing code, and is not stored.
                let mut scratch = Ticket::open(
                    crate::core::service::ticket::Opening {
                        reference: String::new(),
                        desk: &desk.name,
                        language: "en",
                        subject: &incoming.parsed.subject,
                        requester: author.clone(),
                        others: &[],
                        message_id: &incoming.parsed.message_id,
                    },
                    incoming.now,
                );
                self.queue(txn, Some(&mut scratch), desk, draft, incoming.now)?;
            }
        }
        Ok(())
    }
}
