//! What the accounts, plans, calendars and shifts mean for a ticket: its account and plan, its
//! SLA targets and clock, the team on shift that hears of it, and its place in the timer queue.

use super::Ingestor;
use crate::config::{Desk, Plan};
use crate::core::address::Address;
use crate::core::service::accounts::{Directory, Identity};
use crate::core::service::calendar::Calendar;
use crate::core::service::shifts::{self, ShiftTeam};
use crate::core::service::sla::{self, Level, SlaClock, Target, TargetState, Targets};
use crate::core::service::ticket::{Priority, RequesterIdentity, Ticket};
use crate::store::Txn;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The plan of a ticket without a known account: everyone has the standard plan.
pub const DEFAULT_PLAN: &str = "Standard";

impl Ingestor {
    /// The accounts directory in force (replaced as a whole on reload).
    pub fn directory(&self) -> std::sync::Arc<Directory> {
        self.accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the accounts directory (SIGHUP reload). Mail being processed keeps the old one.
    pub fn set_directory(&self, directory: Directory) {
        *self.accounts.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(directory);
    }

    /// Ties a new ticket to the requester's account and plan.
    pub(super) fn identify(&self, ticket: &mut Ticket) -> Identity {
        let directory = self.directory();
        let identity = directory.identify(&ticket.requester.email);
        if let Some(account) = identity.account().and_then(|id| directory.account(id)) {
            ticket.account = Some(account.id.clone());
            ticket.partner = account.partner.clone();
            ticket.plan = Some(account.plan.clone());
            ticket.identity = match (&identity, account.support_by) {
                (_, crate::core::service::accounts::SupportBy::Partner)
                    if account.partner.is_some() =>
                {
                    RequesterIdentity::PartnerRedirect
                }
                (Identity::Contact { .. }, _) => RequesterIdentity::Contact,
                _ => RequesterIdentity::Unregistered,
            };
        } else {
            ticket.identity = RequesterIdentity::Unverified;
            ticket.plan = Some(DEFAULT_PLAN.to_string());
        }
        identity
    }

    /// Every plan in force: the shipped defaults merged with the config's.
    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    pub(super) fn plan_of(&self, ticket: &Ticket) -> Option<Plan> {
        let name = ticket.plan.as_deref().unwrap_or(DEFAULT_PLAN);
        self.plans
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .cloned()
    }

    /// The calendar a ticket's plan counts in (24x7 when unknown).
    pub fn calendar_of(&self, ticket: &Ticket) -> Calendar {
        let name = self
            .plan_of(ticket)
            .map(|p| p.calendar)
            .unwrap_or_else(|| "24x7".into());
        self.calendars
            .get(&name)
            .cloned()
            .unwrap_or_else(Calendar::always)
    }

    /// The plan's targets for a priority (invalid strings were refused by `deskgate check`).
    pub(super) fn targets(&self, ticket: &Ticket, priority: Priority) -> Targets {
        let Some(plan) = self.plan_of(ticket) else {
            return Targets::default();
        };
        let Some(t) = plan.targets.get(&format!("{priority:?}")) else {
            return Targets::default();
        };
        let parse = |s: &Option<String>| {
            s.as_deref()
                .and_then(|s| sla::parse_target(s).ok().flatten())
        };
        Targets {
            first_response: parse(&t.response),
            restore: parse(&t.restore),
        }
    }

    /// Starts the SLA clock of a new ticket (at creation, whatever the channel).
    pub(super) fn start_sla(&self, ticket: &mut Ticket, now: DateTime<Utc>) {
        let targets = self.targets(ticket, ticket.priority);
        ticket.sla = Some(SlaClock::start(now, targets));
    }

    /// A priority change moves the due times (notices already sent stay sent).
    pub(super) fn retarget_sla(&self, ticket: &mut Ticket) {
        let targets = self.targets(ticket, ticket.priority);
        if let Some(sla) = ticket.sla.as_mut() {
            sla.set_targets(targets);
        }
    }

    /// Stores a ticket and keeps its entry in the timer queue in step with its next SLA notice.
    pub(super) fn save_ticket(&self, txn: &mut Txn<'_>, ticket: &mut Ticket) {
        let cal = self.calendar_of(ticket);
        let next = ticket.sla.as_ref().and_then(|s| s.next_notice_at(&cal));
        if next != ticket.sla_timer {
            if let Some(old) = ticket.sla_timer {
                txn.delete_timer(old, &ticket.reference);
            }
            if let Some(at) = next {
                txn.put_timer(at, &ticket.reference);
            }
            ticket.sla_timer = next;
        }
        txn.put_ticket(ticket);
    }

    /// The teams with working hours, for follow-the-sun routing.
    pub(super) fn shift_teams(&self) -> Vec<ShiftTeam> {
        self.config
            .teams
            .iter()
            .filter_map(|t| {
                let (start, end) = crate::config::parse_hours(t.hours.as_deref()?)?;
                Some(ShiftTeam {
                    name: t.name.clone(),
                    tier: t.tier,
                    tz: t.timezone.parse().ok()?,
                    start,
                    end,
                    days: Vec::new(),
                })
            })
            .collect()
    }

    /// Who hears of urgent news (a new P1/P2 ticket, an escalation) for `tier`: the team on shift
    /// now; else the next to come on shift; else the tier's configured team.
    pub(super) fn on_shift_team(&self, tier: u8, desk: &Desk, now: DateTime<Utc>) -> Vec<Address> {
        let teams = self.shift_teams();
        let name = shifts::on_shift(&teams, tier, now)
            .map(|t| t.name.clone())
            .or_else(|| shifts::next_on_shift(&teams, tier, now).map(|(t, _)| t.name.clone()));
        match name.and_then(|n| self.config.team(&n)) {
            Some(t) => vec![Address::new(Some(&t.name), &t.address)],
            None => self.tier_team(tier, desk),
        }
    }

    /// The team to tell of news for `tier` and `priority`: on shift for P1/P2, else the tier's.
    pub(super) fn team_for(
        &self,
        tier: u8,
        priority: Priority,
        desk: &Desk,
        now: DateTime<Utc>,
    ) -> Vec<Address> {
        if priority <= Priority::P2 {
            self.on_shift_team(tier, desk, now)
        } else {
            self.tier_team(tier, desk)
        }
    }

    /// The earliest SLA due time still running, shown to readers in the deployment's zone.
    pub(super) fn sla_due_text(&self, ticket: &Ticket, now: DateTime<Utc>, reader: &str) -> String {
        let cal = self.calendar_of(ticket);
        let Some(sla) = ticket.sla.as_ref() else {
            return String::new();
        };
        let mut parts = Vec::new();
        for target in Target::ALL {
            match sla.state(target, now, &cal) {
                TargetState::Running { due } => parts.push(format!(
                    "{} {}",
                    label(target),
                    self.local_time(due, reader)
                )),
                TargetState::Breached { due } => parts.push(format!(
                    "{} BREACHED ({})",
                    label(target),
                    self.local_time(due, reader)
                )),
                TargetState::Paused => parts.push(format!("{} paused", label(target))),
                _ => {}
            }
        }
        parts.join("; ")
    }

    /// The SLA part of a ticket's JSON: per target its state and due time.
    pub fn sla_view(&self, ticket: &Ticket, now: DateTime<Utc>) -> Value {
        let cal = self.calendar_of(ticket);
        let Some(sla) = ticket.sla.as_ref() else {
            return Value::Null;
        };
        let mut v = serde_json::Map::new();
        let mut breached = false;
        for target in Target::ALL {
            let mut state = sla.state(target, now, &cal);
            // A breach already notified stands, whatever clock the reader runs on (a dry run
            // with `--now` in the future, then `tickets list` on the real clock).
            if let (TargetState::Running { due }, true) =
                (&state, sla.notified.contains(&(target, Level::Breach)))
            {
                state = TargetState::Breached { due: *due };
            }
            breached |= matches!(
                state,
                TargetState::Breached { .. } | TargetState::Met { in_time: false, .. }
            );
            let mut entry = serde_json::to_value(state).unwrap_or(Value::Null);
            if let Some(o) = entry.as_object_mut() {
                o.insert(
                    "due".into(),
                    serde_json::to_value(sla.due(target, &cal)).unwrap_or(Value::Null),
                );
                o.insert(
                    "warn_at".into(),
                    serde_json::to_value(sla.warn_at(target, &cal)).unwrap_or(Value::Null),
                );
            }
            v.insert(target.as_str().to_string(), entry);
        }
        v.insert("breached".into(), Value::Bool(breached));
        Value::Object(v)
    }
}

pub(super) fn label(t: Target) -> &'static str {
    match t {
        Target::FirstResponse => "first response",
        Target::Restore => "restore",
    }
}
