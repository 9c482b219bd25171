//! The support model: what the plans, calendars and shifts of the config mean for a ticket.
//!
//! Built from the config once (the plans are the shipped defaults merged with the config's; the
//! calendars and the shift teams are parsed once, not for every mail), and asked: which plan a
//! ticket is on, which calendar its clock counts in, its SLA targets, which account and plan a
//! new ticket belongs to, and when its next SLA notice falls (its place in the timer queue).

use crate::config::{Config, Plan};
use crate::core::service::accounts::{Directory, Identity, SupportBy};
use crate::core::service::calendar::Calendar;
use crate::core::service::shifts::ShiftTeam;
use crate::core::service::sla::{self, SlaClock, Targets};
use crate::core::service::ticket::{Priority, RequesterIdentity, Ticket};
use crate::store::Txn;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// The plan of a ticket without a known account: everyone has the standard plan.
pub const DEFAULT_PLAN: &str = "Standard";

/// Plans, business calendars and shift teams, as the config defines them.
#[derive(Debug, Clone, Default)]
pub struct SupportModel {
    plans: Vec<Plan>,
    /// By name, as plans refer to them.
    calendars: HashMap<String, Calendar>,
    /// The teams with working hours, for follow-the-sun routing and handovers.
    shift_teams: Vec<ShiftTeam>,
}

impl SupportModel {
    /// Reads the config's plans, calendars and teams. What does not parse is left out here;
    /// `deskgate check` names it.
    pub fn from_config(config: &Config) -> SupportModel {
        let calendars = config
            .calendars
            .iter()
            .filter_map(|c| {
                let cal = Calendar::parse(&c.timezone, &c.hours, &c.days, &c.holidays).ok()?;
                Some((c.name.clone(), cal))
            })
            .collect();
        let shift_teams = config
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
            .collect();
        SupportModel {
            plans: config.plans(),
            calendars,
            shift_teams,
        }
    }

    /// Every plan in force: the shipped defaults merged with the config's.
    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    pub fn plan_of(&self, ticket: &Ticket) -> Option<&Plan> {
        let name = ticket.plan.as_deref().unwrap_or(DEFAULT_PLAN);
        self.plans
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The calendar a ticket's plan counts in (24x7 when unknown).
    pub fn calendar_of(&self, ticket: &Ticket) -> Calendar {
        self.plan_of(ticket)
            .and_then(|p| self.calendars.get(&p.calendar))
            .cloned()
            .unwrap_or_else(Calendar::always)
    }

    /// The plan's targets for a priority (invalid strings were refused by `deskgate check`).
    pub fn targets(&self, ticket: &Ticket, priority: Priority) -> Targets {
        let Some(t) = self
            .plan_of(ticket)
            .and_then(|plan| plan.targets.get(priority.as_str()))
        else {
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
    pub fn start_sla(&self, ticket: &mut Ticket, now: DateTime<Utc>) {
        let targets = self.targets(ticket, ticket.priority);
        ticket.sla = Some(SlaClock::start(now, targets));
    }

    /// A priority change moves the due times (notices already sent stay sent).
    pub fn retarget_sla(&self, ticket: &mut Ticket) {
        let targets = self.targets(ticket, ticket.priority);
        if let Some(sla) = ticket.sla.as_mut() {
            sla.set_targets(targets);
        }
    }

    /// The teams with working hours, for follow-the-sun routing.
    pub fn shift_teams(&self) -> &[ShiftTeam] {
        &self.shift_teams
    }

    /// Stores a ticket and keeps its entry in the timer queue in step with its next SLA notice.
    pub fn save_ticket(&self, txn: &mut Txn<'_>, ticket: &mut Ticket) {
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
}

/// Ties a new ticket to the requester's account and plan (the standard plan when the sender is
/// not known), and says how the requester was identified.
pub fn identify(ticket: &mut Ticket, directory: &Directory) -> Identity {
    let identity = directory.identify(&ticket.requester.email);
    if let Some(account) = identity.account().and_then(|id| directory.account(id)) {
        ticket.account = Some(account.id.clone());
        ticket.partner = account.partner.clone();
        ticket.plan = Some(account.plan.clone());
        ticket.identity = match (&identity, account.support_by) {
            (_, SupportBy::Partner) if account.partner.is_some() => {
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
