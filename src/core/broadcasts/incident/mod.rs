//! Incidents: what ops open, update and resolve, and which notices each step owes customers.
//!
//! An incident ("Packet loss on AM11 core") has an impact (the [`Impact`] maintenance uses too),
//! a scope of sites and services (as in `broadcasts::scope`), a status ([`IncidentStatus`]) and a
//! history of customer-facing updates: the opening one (sequence 0, the first thing customers
//! are told), one per [`Incident::update`], and the resolution ([`Incident::resolve`]). Every
//! step carries a message, because every step is something customers are told. Nothing here
//! reads the clock or the store: `now` and the keys already sent come in as arguments.
//!
//! This file holds the incident and its history; `notices.rs` says which notices each step owes
//! ([`IncidentNoticeKind`], [`IncidentNoticeKey`], [`Incident::notices_due`]).
//!
//! Owns: incidents and what customers are told of them. Builds on `broadcasts::scope` (impact,
//! scope, ids); must not import `broadcasts::maintenance` or anything in `mail`. Inside the
//! folder, `notices.rs` reads the incident, which does not read it.

mod notices;
pub use notices::{IncidentNotice, IncidentNoticeKey, IncidentNoticeKind};

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::broadcasts::scope::{check_id, clean_names, in_scope, Impact};
use crate::core::str_enum::str_enum;

str_enum! {
    /// Where an incident stands, in the words of a status page. The names are also serde's.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum IncidentStatus {
        /// Something is wrong; the cause is not known yet.
        Investigating => "investigating",
        /// The cause is known; a fix is under way.
        Identified => "identified",
        /// A fix is in place; ops watch that it holds.
        Monitoring => "monitoring",
        /// Over. Only [`Incident::resolve`] gets an incident here, and it stays here.
        Resolved => "resolved",
    }
}

impl IncidentStatus {
    /// A resolved incident no longer changes.
    pub fn is_resolved(self) -> bool {
        self == IncidentStatus::Resolved
    }
}

impl FromStr for IncidentStatus {
    type Err = String;

    /// The CLI spelling (`investigating`, `identified`, `monitoring`, `resolved`), in any case.
    fn from_str(s: &str) -> Result<IncidentStatus, String> {
        let wanted = s.trim();
        IncidentStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                format!(
                    "unknown incident status {s:?}: use investigating, identified, monitoring \
                     or resolved"
                )
            })
    }
}

/// What ops give to open an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIncident {
    /// Letters, digits, `.`, `_` and `-` (as a maintenance id): it goes into notice keys.
    pub id: String,
    pub title: String,
    pub impact: Impact,
    /// Sites in scope; with no sites and no services the incident is platform-wide.
    pub sites: Vec<String>,
    pub services: Vec<String>,
    /// A security incident is told to a partner-managed account's own contacts as well as to
    /// its partner (see `accounts::Directory::notice_recipients`).
    pub security: bool,
    /// Investigating, identified or monitoring: an incident is resolved with
    /// [`Incident::resolve`].
    pub status: IncidentStatus,
    /// What customers are told first.
    pub message: String,
}

/// One customer-facing step of an incident: the sequence it produced, when, the status it left
/// the incident in, and what customers are told. Sequence 0 is the opening.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentUpdate {
    pub sequence: u32,
    pub at: DateTime<Utc>,
    pub status: IncidentStatus,
    pub message: String,
}

/// One update to an incident: a message for customers (required) and whatever else changes
/// with it. `sites: Some(vec![])` together with no services makes the incident platform-wide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentChange {
    pub message: String,
    /// A new status other than resolved (use [`Incident::resolve`] for that).
    pub status: Option<IncidentStatus>,
    pub impact: Option<Impact>,
    pub title: Option<String>,
    pub sites: Option<Vec<String>>,
    pub services: Option<Vec<String>>,
}

impl IncidentChange {
    /// An update that only tells customers something.
    pub fn message(message: impl Into<String>) -> IncidentChange {
        IncidentChange {
            message: message.into(),
            ..IncidentChange::default()
        }
    }
}

/// An incident with its history. Fields change only through [`Incident::update`] and
/// [`Incident::resolve`]; deserialising checks that the record holds together, so a damaged
/// record is refused rather than trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "IncidentRecord")]
pub struct Incident {
    id: String,
    title: String,
    impact: Impact,
    sites: Vec<String>,
    services: Vec<String>,
    security: bool,
    status: IncidentStatus,
    sequence: u32,
    opened: DateTime<Utc>,
    resolved: Option<DateTime<Utc>>,
    updates: Vec<IncidentUpdate>,
}

impl Incident {
    /// Opens an incident at `now`, sequence 0, whose opening update carries `spec.message`.
    /// Every problem is named, `; `-separated.
    pub fn new(spec: NewIncident, now: DateTime<Utc>) -> Result<Incident, String> {
        let mut problems = Vec::new();
        if check_id(&spec.id).is_err() {
            problems.push(bad_id(&spec.id));
        }
        let title = spec.title.trim().to_string();
        if title.is_empty() {
            problems.push(NO_TITLE.to_string());
        }
        if spec.status.is_resolved() {
            problems.push(
                "a new incident is investigating, identified or monitoring, not resolved: \
                 open it, then resolve it"
                    .to_string(),
            );
        }
        let message = spec.message.trim().to_string();
        if message.is_empty() {
            problems.push(
                "an incident needs a message: what customers are told when it opens".to_string(),
            );
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(Incident {
            id: spec.id,
            title,
            impact: spec.impact,
            sites: clean_names(spec.sites),
            services: clean_names(spec.services),
            security: spec.security,
            status: spec.status,
            sequence: 0,
            opened: now,
            resolved: None,
            updates: vec![IncidentUpdate {
                sequence: 0,
                at: now,
                status: spec.status,
                message,
            }],
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn impact(&self) -> Impact {
        self.impact
    }

    pub fn sites(&self) -> &[String] {
        &self.sites
    }

    pub fn services(&self) -> &[String] {
        &self.services
    }

    /// Whether partner-managed accounts' own contacts are told too.
    pub fn security(&self) -> bool {
        self.security
    }

    pub fn status(&self) -> IncidentStatus {
        self.status
    }

    /// The sequence of the latest update: 0 when opened, one more with each update.
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    pub fn opened(&self) -> DateTime<Utc> {
        self.opened
    }

    /// When it was resolved; `None` while it is open.
    pub fn resolved(&self) -> Option<DateTime<Utc>> {
        self.resolved
    }

    /// Every update, the opening first; an update's sequence is its index.
    pub fn updates(&self) -> &[IncidentUpdate] {
        &self.updates
    }

    /// The current word: the latest update.
    pub fn latest(&self) -> &IncidentUpdate {
        // `new` makes the opening update and deserialising refuses a record without one; no
        // method removes updates.
        self.updates
            .last()
            .expect("an incident always holds its opening update")
    }

    /// Applies `change` as one update at `now` and returns the new sequence. Nothing changes
    /// when it is refused: a resolved incident, an empty message or title, a change to resolved
    /// (that is [`Incident::resolve`]). Every problem is named, `; `-separated.
    pub fn update(&mut self, change: IncidentChange, now: DateTime<Utc>) -> Result<u32, String> {
        self.refuse_if_resolved()?;
        let mut problems = Vec::new();
        let message = change.message.trim().to_string();
        if message.is_empty() {
            problems.push("an update needs a message for customers".to_string());
        }
        if change.status.is_some_and(IncidentStatus::is_resolved) {
            problems.push("resolve the incident with resolve, not with a status change".into());
        }
        let title = change.title.map(|t| t.trim().to_string());
        if title.as_ref().is_some_and(String::is_empty) {
            problems.push(NO_TITLE.to_string());
        }
        if !problems.is_empty() {
            return Err(format!("incident {}: {}", self.id, problems.join("; ")));
        }
        let sequence = self.next_sequence()?;
        if let Some(title) = title {
            self.title = title;
        }
        if let Some(impact) = change.impact {
            self.impact = impact;
        }
        if let Some(sites) = change.sites {
            self.sites = clean_names(sites);
        }
        if let Some(services) = change.services {
            self.services = clean_names(services);
        }
        if let Some(status) = change.status {
            self.status = status;
        }
        self.push(sequence, now, message);
        Ok(sequence)
    }

    /// Resolves the incident at `now` with a last word to customers; returns the new sequence.
    /// Refused when it is already resolved or the message is empty.
    pub fn resolve(&mut self, message: String, now: DateTime<Utc>) -> Result<u32, String> {
        self.refuse_if_resolved()?;
        let message = message.trim().to_string();
        if message.is_empty() {
            return Err(format!(
                "incident {}: resolving needs a message for customers",
                self.id
            ));
        }
        let sequence = self.next_sequence()?;
        self.status = IncidentStatus::Resolved;
        self.resolved = Some(now);
        self.push(sequence, now, message);
        Ok(sequence)
    }

    /// Whether an account with these sites and services is in scope: the rule of
    /// `Maintenance::affects` (names compared without regard to ASCII case; an incident with
    /// neither sites nor services is platform-wide and affects everybody).
    pub fn affects(&self, sites: &[String], services: &[String]) -> bool {
        in_scope(&self.sites, &self.services, sites, services)
    }

    fn refuse_if_resolved(&self) -> Result<(), String> {
        if self.status.is_resolved() {
            return Err(format!(
                "incident {} is resolved: it can no longer change (open a new one if the \
                 problem is back)",
                self.id
            ));
        }
        Ok(())
    }

    fn next_sequence(&self) -> Result<u32, String> {
        self.sequence
            .checked_add(1)
            .ok_or_else(|| format!("incident {}: sequence exhausted", self.id))
    }

    fn push(&mut self, sequence: u32, at: DateTime<Utc>, message: String) {
        self.sequence = sequence;
        self.updates.push(IncidentUpdate {
            sequence,
            at,
            status: self.status,
            message,
        });
    }
}

/// An incident as stored, checked on the way in: an id as [`Incident::new`] wants it, updates
/// numbered 0, 1, 2… from the opening, only the last of them resolved, the sequence, status and
/// resolution time those updates imply.
#[derive(Deserialize)]
struct IncidentRecord {
    id: String,
    title: String,
    impact: Impact,
    sites: Vec<String>,
    services: Vec<String>,
    security: bool,
    status: IncidentStatus,
    sequence: u32,
    opened: DateTime<Utc>,
    resolved: Option<DateTime<Utc>>,
    updates: Vec<IncidentUpdate>,
}

impl TryFrom<IncidentRecord> for Incident {
    type Error = String;

    fn try_from(r: IncidentRecord) -> Result<Incident, String> {
        if check_id(&r.id).is_err() {
            return Err(bad_id(&r.id));
        }
        let problem = |what: &str| format!("incident {}: {what}", r.id);
        let Some((last, before)) = r.updates.split_last() else {
            return Err(problem("the record has no opening update"));
        };
        let numbered = r
            .updates
            .iter()
            .enumerate()
            .all(|(i, u)| u32::try_from(i).is_ok_and(|i| i == u.sequence));
        if !numbered {
            return Err(problem("the record's updates are not numbered 0, 1, 2…"));
        }
        if before.iter().any(|u| u.status.is_resolved()) {
            return Err(problem("the record has updates after its resolution"));
        }
        if last.sequence != r.sequence || last.status != r.status {
            return Err(problem(
                "the record's sequence or status is not its latest update's",
            ));
        }
        if r.resolved.is_some() != r.status.is_resolved() {
            return Err(problem(
                "the record's resolution time does not match its status",
            ));
        }
        Ok(Incident {
            id: r.id,
            title: r.title,
            impact: r.impact,
            sites: r.sites,
            services: r.services,
            security: r.security,
            status: r.status,
            sequence: r.sequence,
            opened: r.opened,
            resolved: r.resolved,
            updates: r.updates,
        })
    }
}

const NO_TITLE: &str = "an incident needs a title";

/// The problem with an id that `check_id` refuses, in incident words.
fn bad_id(id: &str) -> String {
    format!("incident id {id:?}: use 1 to 64 letters, digits, '.', '_' or '-'")
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use serde_json::json;

    use super::*;
    use crate::core::testing::utc;

    pub(super) fn t0() -> DateTime<Utc> {
        utc("2026-03-02T09:15:00Z")
    }

    pub(super) fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    pub(super) fn spec(id: &str) -> NewIncident {
        NewIncident {
            id: id.to_string(),
            title: "Packet loss on AM11 core".to_string(),
            impact: Impact::Degraded,
            sites: names(&["AM11"]),
            services: vec![],
            security: false,
            status: IncidentStatus::Investigating,
            message: "We see packet loss on the AM11 core routers and are investigating."
                .to_string(),
        }
    }

    pub(super) fn opened(id: &str) -> Incident {
        Incident::new(spec(id), t0()).expect("test incident")
    }

    pub(super) fn minutes(m: i64) -> DateTime<Utc> {
        t0() + Duration::minutes(m)
    }

    pub(super) fn say(inc: &mut Incident, message: &str, at: i64) -> u32 {
        inc.update(IncidentChange::message(message), minutes(at))
            .expect("test update")
    }

    #[test]
    fn a_new_incident_is_its_opening_update() {
        let inc = opened("INC-3");
        assert_eq!(inc.id(), "INC-3");
        assert_eq!(inc.title(), "Packet loss on AM11 core");
        assert_eq!(inc.impact(), Impact::Degraded);
        assert_eq!(inc.status(), IncidentStatus::Investigating);
        assert_eq!(inc.sequence(), 0);
        assert_eq!(inc.opened(), t0());
        assert_eq!(inc.resolved(), None);
        assert!(!inc.security());
        assert_eq!(
            inc.updates(),
            [IncidentUpdate {
                sequence: 0,
                at: t0(),
                status: IncidentStatus::Investigating,
                message: "We see packet loss on the AM11 core routers and are investigating."
                    .to_string(),
            }]
        );
        assert_eq!(inc.latest(), &inc.updates()[0]);
    }

    #[test]
    fn a_new_incident_trims_its_words_and_cleans_its_scope() {
        let inc = Incident::new(
            NewIncident {
                title: "  Packet loss on AM11 core \n".to_string(),
                message: "\n  Investigating.  ".to_string(),
                sites: names(&[" AM11", "", "am11", "FR2 "]),
                services: names(&["transit", "Transit", "  "]),
                security: true,
                ..spec("INC-3")
            },
            t0(),
        )
        .expect("valid incident");
        assert_eq!(inc.title(), "Packet loss on AM11 core");
        assert_eq!(inc.latest().message, "Investigating.");
        assert_eq!(inc.sites(), ["AM11", "FR2"]);
        assert_eq!(inc.services(), ["transit"]);
        assert!(inc.security());
    }

    #[test]
    fn a_new_incident_is_refused_naming_every_problem() {
        let id =
            |id: &str| format!("incident id {id:?}: use 1 to 64 letters, digits, '.', '_' or '-'");
        let title = "an incident needs a title";
        let resolved = "a new incident is investigating, identified or monitoring, not resolved: \
                        open it, then resolve it";
        let message = "an incident needs a message: what customers are told when it opens";
        let with = |change: fn(&mut NewIncident)| {
            let mut s = spec("INC-3");
            change(&mut s);
            s
        };
        let long = "x".repeat(65);
        let mut cases: Vec<(NewIncident, String)> = ["", "INC 3", "INC/3", "INC-3\n", &long]
            .into_iter()
            .map(|bad| (spec(bad), id(bad)))
            .collect();
        cases.extend([
            (with(|s| s.title = "  ".into()), title.to_string()),
            (
                with(|s| s.status = IncidentStatus::Resolved),
                resolved.to_string(),
            ),
            (with(|s| s.message = " \n ".into()), message.to_string()),
            (
                with(|s| {
                    s.id = "INC 3".into();
                    s.title = String::new();
                    s.status = IncidentStatus::Resolved;
                    s.message = String::new();
                }),
                [id("INC 3").as_str(), title, resolved, message].join("; "),
            ),
        ]);
        for (spec, want) in cases {
            assert_eq!(Incident::new(spec, t0()), Err(want));
        }
        assert!(Incident::new(spec("inc_2026.03-a"), t0()).is_ok());
        for status in [IncidentStatus::Identified, IncidentStatus::Monitoring] {
            let inc = Incident::new(
                NewIncident {
                    status,
                    ..spec("INC-3")
                },
                t0(),
            );
            assert_eq!(inc.map(|i| i.status()), Ok(status));
        }
    }

    #[test]
    fn an_update_changes_what_it_names_and_is_recorded() {
        let mut inc = opened("INC-3");
        let seq = inc
            .update(
                IncidentChange {
                    message: "A line card in core-1 is faulty; traffic moves to core-2.".into(),
                    status: Some(IncidentStatus::Identified),
                    impact: Some(Impact::Outage),
                    title: Some(" Outage on AM11 core ".into()),
                    sites: Some(names(&["AM11", "am11", "AM12"])),
                    services: Some(names(&["transit"])),
                },
                minutes(20),
            )
            .expect("update");
        assert_eq!(seq, 1);
        assert_eq!(inc.sequence(), 1);
        assert_eq!(inc.status(), IncidentStatus::Identified);
        assert_eq!(inc.impact(), Impact::Outage);
        assert_eq!(inc.title(), "Outage on AM11 core");
        assert_eq!(inc.sites(), ["AM11", "AM12"]);
        assert_eq!(inc.services(), ["transit"]);
        assert_eq!(
            inc.latest(),
            &IncidentUpdate {
                sequence: 1,
                at: minutes(20),
                status: IncidentStatus::Identified,
                message: "A line card in core-1 is faulty; traffic moves to core-2.".into(),
            }
        );
        // A message alone keeps everything else.
        assert_eq!(say(&mut inc, "Traffic is on core-2.", 30), 2);
        assert_eq!(inc.status(), IncidentStatus::Identified);
        assert_eq!(inc.title(), "Outage on AM11 core");
        assert_eq!(inc.updates().len(), 3);
        // Empty sites and services make it platform-wide.
        inc.update(
            IncidentChange {
                sites: Some(vec![]),
                services: Some(vec![]),
                ..IncidentChange::message("It turns out every site is affected.")
            },
            minutes(40),
        )
        .expect("widen");
        assert!(inc.affects(&names(&["SG1"]), &[]));
    }

    #[test]
    fn an_update_may_go_back_to_investigating() {
        let mut inc = opened("INC-3");
        for status in [
            IncidentStatus::Monitoring,
            IncidentStatus::Investigating,
            IncidentStatus::Identified,
        ] {
            inc.update(
                IncidentChange {
                    status: Some(status),
                    ..IncidentChange::message("news")
                },
                minutes(5),
            )
            .expect("open statuses move freely");
            assert_eq!(inc.status(), status);
        }
    }

    /// Applies `act` to a fresh INC-3 and checks that it is refused with `want` (after the
    /// incident's id) and changes nothing.
    fn refused(act: impl FnOnce(&mut Incident) -> Result<u32, String>, want: &str) {
        let mut inc = opened("INC-3");
        let before = inc.clone();
        assert_eq!(act(&mut inc), Err(format!("incident INC-3: {want}")));
        assert_eq!(inc, before);
    }

    #[test]
    fn a_refused_change_names_every_problem_and_changes_nothing() {
        let update = |change: IncidentChange| move |i: &mut Incident| i.update(change, minutes(5));
        let status = |s| IncidentChange {
            status: Some(s),
            ..IncidentChange::default()
        };
        let no_message = "an update needs a message for customers";
        let to_resolved = "resolve the incident with resolve, not with a status change";
        let no_title = "an incident needs a title";
        refused(
            update(IncidentChange {
                message: "  ".into(),
                ..status(IncidentStatus::Identified)
            }),
            no_message,
        );
        refused(
            update(IncidentChange {
                message: "Fixed.".into(),
                ..status(IncidentStatus::Resolved)
            }),
            to_resolved,
        );
        refused(
            update(IncidentChange {
                title: Some(" ".into()),
                impact: Some(Impact::Outage),
                ..IncidentChange::message("news")
            }),
            no_title,
        );
        refused(
            update(IncidentChange {
                title: Some(String::new()),
                ..status(IncidentStatus::Resolved)
            }),
            &[no_message, to_resolved, no_title].join("; "),
        );
        refused(
            |i| i.resolve(" ".into(), minutes(5)),
            "resolving needs a message for customers",
        );
    }

    #[test]
    fn resolving_records_when_and_ends_the_incident() {
        let mut inc = opened("INC-3");
        say(&mut inc, "Identified.", 10);
        let seq = inc
            .resolve(" Traffic is back to normal. ".into(), minutes(90))
            .expect("resolve");
        assert_eq!(seq, 2);
        assert_eq!(inc.status(), IncidentStatus::Resolved);
        assert_eq!(inc.resolved(), Some(minutes(90)));
        assert_eq!(
            inc.latest(),
            &IncidentUpdate {
                sequence: 2,
                at: minutes(90),
                status: IncidentStatus::Resolved,
                message: "Traffic is back to normal.".into(),
            }
        );
        let before = inc.clone();
        let again = inc.resolve("Again.".into(), minutes(95));
        assert_eq!(
            again,
            Err(
                "incident INC-3 is resolved: it can no longer change (open a new one if the \
                 problem is back)"
                    .to_string()
            )
        );
        assert!(inc
            .update(IncidentChange::message("More."), minutes(95))
            .is_err());
        assert_eq!(inc, before);
    }

    #[test]
    fn affects_follows_the_maintenance_rule() {
        let inc = opened("INC-3");
        assert!(inc.affects(&names(&["am11 "]), &[]));
        assert!(!inc.affects(&names(&["AM12"]), &names(&["AM11"])));
        let platform = Incident::new(
            NewIncident {
                sites: vec![],
                ..spec("INC-4")
            },
            t0(),
        )
        .expect("platform-wide");
        assert!(platform.affects(&[], &[]));
        let transit = Incident::new(
            NewIncident {
                sites: vec![],
                services: names(&["Transit"]),
                ..spec("INC-5")
            },
            t0(),
        )
        .expect("one service");
        assert!(transit.affects(&names(&["SG1"]), &names(&["colo", "transit"])));
        assert!(!transit.affects(&names(&["SG1"]), &names(&["colo"])));
    }

    #[test]
    fn status_spellings() {
        for status in IncidentStatus::ALL {
            assert_eq!(status.to_string().parse::<IncidentStatus>(), Ok(status));
            let json = serde_json::to_string(&status).expect("json");
            assert_eq!(json, format!("\"{status}\""));
        }
        assert_eq!(" Monitoring".parse(), Ok(IncidentStatus::Monitoring));
        assert_eq!(
            "fixed".parse::<IncidentStatus>(),
            Err(
                "unknown incident status \"fixed\": use investigating, identified, monitoring \
                 or resolved"
                    .to_string()
            )
        );
        assert!(IncidentStatus::Resolved.is_resolved());
        assert!(!IncidentStatus::Monitoring.is_resolved());
    }

    #[test]
    fn an_incident_survives_storage() {
        let mut inc = opened("INC-3");
        say(&mut inc, "Identified.", 10);
        inc.resolve("Fixed.".into(), minutes(20)).expect("resolve");
        let json = serde_json::to_string(&inc).expect("json");
        let back: Incident = serde_json::from_str(&json).expect("read back");
        assert_eq!(back, inc);
    }

    #[test]
    fn a_damaged_record_is_refused() {
        let mut inc = opened("INC-3");
        say(&mut inc, "Identified.", 10);
        let good = serde_json::to_value(&inc).expect("json");
        let cases = [
            ("/id", json!("INC 3"), "incident id"),
            ("/updates", json!([]), "no opening update"),
            ("/updates/1/sequence", json!(5), "not numbered"),
            ("/sequence", json!(0), "sequence or status"),
            ("/status", json!("monitoring"), "sequence or status"),
            (
                "/resolved",
                json!("2026-03-02T10:00:00Z"),
                "resolution time",
            ),
            (
                "/updates/0/status",
                json!("resolved"),
                "after its resolution",
            ),
        ];
        for (field, value, wanted) in cases {
            let mut v = good.clone();
            *v.pointer_mut(field).expect("field of the record") = value;
            let err = serde_json::from_value::<Incident>(v).expect_err(field);
            assert!(err.to_string().contains(wanted), "{field}: {err}");
        }
        assert_eq!(serde_json::from_value::<Incident>(good).ok(), Some(inc));
    }
}
