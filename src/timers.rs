//! Timers: SLA warnings and breaches from the store's timer queue, and shift handovers.
//!
//! Each timer fires once: a ticket's notices are taken, sent and its next timer filed in one
//! transaction; a handover's "checked up to" instant moves in the same transaction as its mail.
//! [`Timers`] is the role the daemon's timer task (and `run --once`) runs; it keeps no state of
//! its own beyond what the store holds.

use crate::context::Context;
use crate::core::address::Address;
use crate::core::service::accounts::Directory;
use crate::core::service::shifts;
use crate::core::service::sla::{Level, Target};
use crate::core::service::ticket::{Priority, Status, Ticket, LAST_TIER};
use crate::outgoing::{self, target_label as label, Draft, StaffNotice};
use crate::render::context;
use crate::store::{leases, StoreError};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// What one run of the due timers did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TimerReport {
    pub sla_warnings: usize,
    pub sla_breaches: usize,
    pub handovers: usize,
}

/// Fires the SLA notices and shift handovers that come due.
pub struct Timers {
    ctx: Arc<Context>,
}

impl Timers {
    pub fn new(ctx: Arc<Context>) -> Timers {
        Timers { ctx }
    }

    /// Fires every timer due at `now`.
    pub fn run_due(&self, now: DateTime<Utc>) -> Result<TimerReport, StoreError> {
        let ctx = &self.ctx;
        let mut report = TimerReport::default();
        // Several daemons on one store: the one holding the timers' lease fires them.
        if !ctx.store.may_act(leases::TIMERS) {
            return Ok(report);
        }
        for (_, reference) in ctx.store.due_timers(now)? {
            let _writer = ctx.store.write_lock();
            let Some(mut ticket) = ctx.store.ticket(&reference)? else {
                continue;
            };
            let mut txn = ctx.store.txn();
            txn.fence(leases::TIMERS);
            self.sla_notices(&mut txn, &mut ticket, now, &mut report)?;
            ctx.support.save_ticket(&mut txn, &mut ticket);
            txn.commit()?;
        }
        self.handovers(now, &mut report)?;
        ctx.store.flush()?;
        Ok(report)
    }

    fn sla_notices(
        &self,
        txn: &mut crate::store::Txn<'_>,
        ticket: &mut Ticket,
        now: DateTime<Utc>,
        report: &mut TimerReport,
    ) -> Result<(), StoreError> {
        let ctx = &self.ctx;
        let cal = ctx.support.calendar_of(ticket);
        let Some(sla) = ticket.sla.as_mut() else {
            return Ok(());
        };
        let notices = sla.take_due_notices(now, &cal);
        let Some(desk) = ctx
            .config
            .desk(&ticket.desk)
            .cloned()
            .or_else(|| ctx.config.desks.first().cloned())
        else {
            return Ok(());
        };
        let deskgate = Address::new(Some("deskgate"), &desk.address);
        for (target, level, at) in notices {
            let due = ticket
                .sla
                .as_ref()
                .and_then(|s| s.due(target, &cal))
                .unwrap_or(at);
            let recipients = match level {
                Level::Warning => {
                    report.sla_warnings += 1;
                    // The owner, else the team of the ticket's tier that is on shift now.
                    match ticket
                        .owner
                        .as_deref()
                        .and_then(|o| ctx.config.staff_by_name(o))
                    {
                        Some(owner) => vec![Address::new(Some(&owner.name), &owner.address)],
                        None => ctx.on_shift_team(ticket.tier, &desk, now),
                    }
                }
                Level::Breach => {
                    report.sla_breaches += 1;
                    let next = (ticket.tier + 1).min(LAST_TIER);
                    let mut to = ctx.on_shift_team(next, &desk, now);
                    to.extend(customer_success_manager(&ctx.directory(), ticket));
                    to
                }
            };
            let reader = recipients
                .first()
                .map(|a| a.email.clone())
                .unwrap_or_default();
            let label_text = match level {
                Level::Warning => format!(
                    "SLA warning: {} due {} (75 %)",
                    label(target),
                    ctx.local_time(due, &reader)
                ),
                Level::Breach => format!(
                    "SLA breached: {} was due {}",
                    label(target),
                    ctx.local_time(due, &reader)
                ),
            };
            tracing::warn!(ticket = %ticket.reference, target = target.as_str(), level = level.as_str(), "SLA notice");
            ticket.note(label_text.clone(), "deskgate", now);
            let text = format!(
                "{label_text}.\n\nTicket {} ({}), priority {}, status {}.",
                ticket.reference,
                ticket.subject,
                ticket.priority.as_str(),
                ticket.status.as_str()
            );
            outgoing::notify(
                ctx,
                txn,
                ticket,
                &desk,
                StaffNotice {
                    label: &label_text,
                    to: recipients,
                    author: &deskgate,
                    tell_author: false,
                    text: &text,
                    full_text: None,
                    answering: None,
                },
                now,
            )?;
        }
        Ok(())
    }

    /// Sends one handover mail per shift end since the last check to the team taking over, with
    /// the open P1/P2 tickets of its tier.
    fn handovers(&self, now: DateTime<Utc>, report: &mut TimerReport) -> Result<(), StoreError> {
        let ctx = &self.ctx;
        let teams = ctx.support.shift_teams();
        if teams.is_empty() {
            return Ok(());
        }
        let _writer = ctx.store.write_lock();
        let checked: Option<DateTime<Utc>> = ctx.store.meta("handover_checked")?;
        let mut txn = ctx.store.txn();
        txn.fence(leases::TIMERS);
        // Only ever forward: a pass with an earlier clock (a dry run, a clock stepped back) must
        // not make shift ends count again.
        txn.put_meta("handover_checked", &checked.map_or(now, |c| c.max(now)));
        // The first run only starts the clock: no replay of shifts before deskgate ran.
        let Some(from) = checked.filter(|c| *c < now) else {
            return txn.commit();
        };
        let handovers = shifts::handovers(teams, None, from, now);
        if handovers.is_empty() {
            return txn.commit();
        }
        let open: Vec<Ticket> = ctx
            .store
            .tickets()?
            .into_iter()
            .filter(|t| {
                t.priority <= Priority::P2 && !matches!(t.status, Status::Resolved | Status::Closed)
            })
            .collect();
        let Some(desk) = ctx.config.desks.first().cloned() else {
            return txn.commit();
        };
        for h in handovers {
            let Some(to_team) = h.to_team.as_deref().and_then(|n| ctx.config.team(n)) else {
                continue;
            };
            let tickets: Vec<context::HandoverTicket> = open
                .iter()
                .filter(|t| t.tier == h.tier)
                .map(|t| {
                    let cal = ctx.support.calendar_of(t);
                    let due = |target| {
                        t.sla
                            .as_ref()
                            .and_then(|s| s.due(target, &cal))
                            .map(|d| ctx.local_time(d, &to_team.address))
                            .unwrap_or_default()
                    };
                    context::HandoverTicket {
                        reference: t.reference.clone(),
                        subject: t.subject.clone(),
                        priority: t.priority.as_str().to_string(),
                        status: t.status.as_str().to_string(),
                        owner: t.owner.clone().unwrap_or_default(),
                        account: outgoing::account_label(ctx, t),
                        tier: t.tier,
                        response_due: due(Target::FirstResponse),
                        restore_due: due(Target::Restore),
                        breached: crate::view::sla(&ctx.support, t, now)["breached"]
                            .as_bool()
                            .unwrap_or(false),
                    }
                })
                .collect();
            let template_ctx = context::value(&context::Handover {
                team: to_team.name.clone(),
                from_team: h.from_team.clone(),
                at: ctx.local_time(h.at, &to_team.address),
                desk: outgoing::desk_ctx(&desk),
                count: tickets.len(),
                tickets,
            });
            let draft = Draft {
                kind: "handover",
                template: "handover",
                language: "en".into(),
                ctx: template_ctx,
                from: outgoing::desk_sender(&desk, None),
                to: vec![Address::new(Some(&to_team.name), &to_team.address)],
                cc: vec![],
                reply_to: None,
                in_reply_to: None,
                references: vec![],
                auto_submitted: Some("auto-generated"),
                attachments: vec![],
                limited: false,
                record_as: None,
            };
            // A handover is about no single ticket.
            outgoing::queue(ctx, &mut txn, None, &desk, draft, now)?;
            tracing::info!(from = %h.from_team, to = %to_team.name, at = %h.at, "shift handover sent");
            report.handovers += 1;
        }
        txn.commit()
    }
}

/// The customer success manager of the ticket's account, told of a breach.
fn customer_success_manager(directory: &Directory, ticket: &Ticket) -> Vec<Address> {
    ticket
        .account
        .as_deref()
        .and_then(|a| directory.account(a))
        .and_then(|a| a.team.customer_success_manager.clone())
        .map(|csm| vec![Address::new(None, &csm)])
        .unwrap_or_default()
}
