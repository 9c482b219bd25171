//! Incidents: what ops open, update and resolve, and which notices each step owes customers.
//!
//! An incident ("Packet loss on AM11 core") has an impact (the maintenance [`Impact`]), a scope
//! of sites and services, a status ([`IncidentStatus`]) and a history of customer-facing
//! updates: the opening one (sequence 0, the first thing customers are told), one per
//! [`Incident::update`], and the resolution ([`Incident::resolve`]). Every step carries a
//! message, because every step is something customers are told. Nothing here reads the clock or
//! the store: `now` and the keys already sent come in as arguments.
//!
//! Notices. [`Incident::notices_due`] lists what is owed, given the keys of the notices already
//! sent. Each notice has an [`IncidentNoticeKey`] (incident id, kind, sequence) that the
//! broadcast records with each recipient in the outbox; a restarted pass computes the same keys
//! again, so nobody is told anything twice. Unlike a maintenance, an incident has no schedule:
//! what is due depends only on the history and on what was sent, never on `now`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::broadcasts::maintenance::{check_id, clean_names, in_scope, Impact};

/// Where an incident stands, in the words of a status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IncidentStatus {
    /// Something is wrong; the cause is not known yet.
    Investigating,
    /// The cause is known; a fix is under way.
    Identified,
    /// A fix is in place; ops watch that it holds.
    Monitoring,
    /// Over. Only [`Incident::resolve`] gets an incident here, and it stays here.
    Resolved,
}

impl IncidentStatus {
    const ALL: [IncidentStatus; 4] = [
        IncidentStatus::Investigating,
        IncidentStatus::Identified,
        IncidentStatus::Monitoring,
        IncidentStatus::Resolved,
    ];

    /// The spelling of the CLI, of serde and of [`Display`](fmt::Display).
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Identified => "identified",
            IncidentStatus::Monitoring => "monitoring",
            IncidentStatus::Resolved => "resolved",
        }
    }

    /// A resolved incident no longer changes.
    pub fn is_resolved(self) -> bool {
        self == IncidentStatus::Resolved
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

/// The kinds of incident notice, in the order of an incident's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IncidentNoticeKind {
    /// The incident exists (carries the opening update).
    Opened,
    /// Its current word (carries the latest update).
    Update,
    /// It is over (carries the resolution).
    Resolved,
}

impl IncidentNoticeKind {
    const ALL: [IncidentNoticeKind; 3] = [
        IncidentNoticeKind::Opened,
        IncidentNoticeKind::Update,
        IncidentNoticeKind::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentNoticeKind::Opened => "opened",
            IncidentNoticeKind::Update => "update",
            IncidentNoticeKind::Resolved => "resolved",
        }
    }
}

impl fmt::Display for IncidentNoticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IncidentNoticeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<IncidentNoticeKind, String> {
        IncidentNoticeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown incident notice kind {s:?}"))
    }
}

/// The idempotency key of one incident notice: the broadcast records it (per recipient in the
/// outbox) before or as it sends, and never sends a recorded key again. The sequence is that of
/// the update the notice carries.
///
/// Its text form, `<incident>/<kind>/<sequence>` (for example `INC-3/update/4`), reads back
/// with `parse`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IncidentNoticeKey {
    pub incident: String,
    pub kind: IncidentNoticeKind,
    pub sequence: u32,
}

impl fmt::Display for IncidentNoticeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.incident, self.kind, self.sequence)
    }
}

impl FromStr for IncidentNoticeKey {
    type Err = String;

    fn from_str(s: &str) -> Result<IncidentNoticeKey, String> {
        let bad = || format!("incident notice key {s:?} is not <incident>/<kind>/<sequence>");
        let mut parts = s.rsplitn(3, '/');
        let sequence = parts.next().ok_or_else(bad)?;
        let kind = parts.next().ok_or_else(bad)?;
        let incident = parts.next().ok_or_else(bad)?;
        check_id(incident).map_err(|_| bad())?;
        Ok(IncidentNoticeKey {
            incident: incident.to_string(),
            kind: kind.parse()?,
            sequence: sequence.parse().map_err(|_| bad())?,
        })
    }
}

/// A notice due: its kind, its key, and the update it tells customers about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentNotice {
    pub kind: IncidentNoticeKind,
    pub key: IncidentNoticeKey,
    pub update: IncidentUpdate,
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

    /// The notices owed, given the keys already sent (keys of other incidents are ignored), in
    /// the order they should go out. A notice's key is never among `sent`.
    ///
    /// - Customers hear of an open incident once: the `Opened` notice (sequence 0, carrying the
    ///   opening update) when none of its notices was sent yet.
    /// - After that, an update customers were not told of (its sequence is above every sent
    ///   key's) produces an `Update` notice. When a pass finds several (the daemon was down, or
    ///   the incident moved on before it was first announced) only the latest goes out:
    ///   customers want the current word, not a backlog. So a first pass over an incident
    ///   updated since it opened sends `Opened` then `Update` for the latest.
    /// - A resolved incident owes one `Resolved` notice (carrying the resolution) and nothing
    ///   else: no `Update` once resolved, and when it was resolved before anything was sent,
    ///   the `Resolved` notice alone goes out, since it tells the whole story.
    ///
    /// Sending everything returned and asking again returns nothing until the incident changes.
    pub fn notices_due(&self, sent: &[IncidentNoticeKey]) -> Vec<IncidentNotice> {
        let ledger = IncidentLedger {
            keys: sent.iter().filter(|k| k.incident == self.id).collect(),
        };
        let mut due = Vec::new();
        if self.status.is_resolved() {
            if !ledger.sent(IncidentNoticeKind::Resolved) {
                due.extend(self.notice(IncidentNoticeKind::Resolved, self.sequence));
            }
        } else {
            let told = ledger.told();
            if told.is_none() {
                due.extend(self.notice(IncidentNoticeKind::Opened, 0));
            }
            if told.unwrap_or(0) < self.sequence {
                due.extend(self.notice(IncidentNoticeKind::Update, self.sequence));
            }
        }
        due.retain(|n| !ledger.keys.contains(&&n.key));
        due
    }

    /// The notice of `kind` carrying update `sequence`, if the history holds it.
    fn notice(&self, kind: IncidentNoticeKind, sequence: u32) -> Option<IncidentNotice> {
        let update = self.updates.get(usize::try_from(sequence).ok()?)?;
        Some(IncidentNotice {
            kind,
            key: IncidentNoticeKey {
                incident: self.id.clone(),
                kind,
                sequence,
            },
            update: update.clone(),
        })
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

/// The sent keys of one incident, read as what its customers were told.
struct IncidentLedger<'a> {
    keys: Vec<&'a IncidentNoticeKey>,
}

impl IncidentLedger<'_> {
    fn sent(&self, kind: IncidentNoticeKind) -> bool {
        self.keys.iter().any(|k| k.kind == kind)
    }

    /// The sequence of the latest update customers were told of, or `None` if they were told
    /// nothing of this incident.
    fn told(&self) -> Option<u32> {
        self.keys.iter().map(|k| k.sequence).max()
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
    use std::collections::HashSet;

    use chrono::Duration;
    use proptest::prelude::*;
    use serde_json::json;

    use super::IncidentNoticeKind::{Opened, Resolved, Update};
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    fn t0() -> DateTime<Utc> {
        utc("2026-03-02T09:15:00Z")
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn spec(id: &str) -> NewIncident {
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

    fn opened(id: &str) -> Incident {
        Incident::new(spec(id), t0()).expect("test incident")
    }

    fn minutes(m: i64) -> DateTime<Utc> {
        t0() + Duration::minutes(m)
    }

    fn say(inc: &mut Incident, message: &str, at: i64) -> u32 {
        inc.update(IncidentChange::message(message), minutes(at))
            .expect("test update")
    }

    /// One broadcast pass: what is due, all of it recorded as sent.
    fn pass(inc: &Incident, sent: &mut Vec<IncidentNoticeKey>) -> Vec<(IncidentNoticeKind, u32)> {
        let due = inc.notices_due(sent);
        let got = due.iter().map(|n| (n.kind, n.key.sequence)).collect();
        sent.extend(due.into_iter().map(|n| n.key));
        got
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
    fn a_new_incident_with_a_bad_id_is_refused() {
        for id in ["", "INC 3", "INC/3", "INC-3\n", &"x".repeat(65)] {
            let err = Incident::new(spec(id), t0()).expect_err("bad id");
            assert_eq!(
                err,
                format!("incident id {id:?}: use 1 to 64 letters, digits, '.', '_' or '-'")
            );
        }
        assert!(Incident::new(spec("inc_2026.03-a"), t0()).is_ok());
    }

    #[test]
    fn a_new_incident_without_a_title_is_refused() {
        let err = Incident::new(
            NewIncident {
                title: "  ".to_string(),
                ..spec("INC-3")
            },
            t0(),
        )
        .expect_err("no title");
        assert_eq!(err, "an incident needs a title");
    }

    #[test]
    fn a_new_incident_cannot_be_resolved_already() {
        let err = Incident::new(
            NewIncident {
                status: IncidentStatus::Resolved,
                ..spec("INC-3")
            },
            t0(),
        )
        .expect_err("resolved");
        assert!(
            err.contains("not resolved: open it, then resolve it"),
            "{err}"
        );
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
    fn a_new_incident_without_a_message_is_refused() {
        let err = Incident::new(
            NewIncident {
                message: " \n ".to_string(),
                ..spec("INC-3")
            },
            t0(),
        )
        .expect_err("no message");
        assert_eq!(
            err,
            "an incident needs a message: what customers are told when it opens"
        );
    }

    #[test]
    fn a_new_incident_names_every_problem() {
        let err = Incident::new(
            NewIncident {
                id: "INC 3".to_string(),
                title: String::new(),
                status: IncidentStatus::Resolved,
                message: String::new(),
                ..spec("INC-3")
            },
            t0(),
        )
        .expect_err("four problems");
        let problems: Vec<&str> = err.split("; ").collect();
        assert_eq!(problems.len(), 4, "{err}");
        assert!(problems[0].starts_with("incident id \"INC 3\""), "{err}");
        assert_eq!(problems[1], "an incident needs a title");
        assert!(
            problems[2].starts_with("a new incident is investigating"),
            "{err}"
        );
        assert!(
            problems[3].starts_with("an incident needs a message"),
            "{err}"
        );
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

    #[test]
    fn an_update_without_a_message_is_refused_and_changes_nothing() {
        let mut inc = opened("INC-3");
        let before = inc.clone();
        let err = inc
            .update(
                IncidentChange {
                    status: Some(IncidentStatus::Identified),
                    ..IncidentChange::message("  ")
                },
                minutes(5),
            )
            .expect_err("no message");
        assert_eq!(
            err,
            "incident INC-3: an update needs a message for customers"
        );
        assert_eq!(inc, before);
    }

    #[test]
    fn an_update_to_resolved_is_refused() {
        let mut inc = opened("INC-3");
        let before = inc.clone();
        let err = inc
            .update(
                IncidentChange {
                    status: Some(IncidentStatus::Resolved),
                    ..IncidentChange::message("Fixed.")
                },
                minutes(5),
            )
            .expect_err("resolved via update");
        assert_eq!(
            err,
            "incident INC-3: resolve the incident with resolve, not with a status change"
        );
        assert_eq!(inc, before);
    }

    #[test]
    fn an_update_with_an_empty_title_is_refused() {
        let mut inc = opened("INC-3");
        let before = inc.clone();
        let err = inc
            .update(
                IncidentChange {
                    title: Some(" ".into()),
                    impact: Some(Impact::Outage),
                    ..IncidentChange::message("news")
                },
                minutes(5),
            )
            .expect_err("empty title");
        assert_eq!(err, "incident INC-3: an incident needs a title");
        assert_eq!(inc, before);
    }

    #[test]
    fn an_update_names_every_problem() {
        let mut inc = opened("INC-3");
        let err = inc
            .update(
                IncidentChange {
                    status: Some(IncidentStatus::Resolved),
                    title: Some(String::new()),
                    ..IncidentChange::default()
                },
                minutes(5),
            )
            .expect_err("three problems");
        assert_eq!(
            err.strip_prefix("incident INC-3: ")
                .map(|rest| rest.split("; ").count()),
            Some(3),
            "{err}"
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
    fn resolving_without_a_message_is_refused() {
        let mut inc = opened("INC-3");
        let before = inc.clone();
        let err = inc.resolve(" ".into(), minutes(5)).expect_err("no message");
        assert_eq!(
            err,
            "incident INC-3: resolving needs a message for customers"
        );
        assert_eq!(inc, before);
    }

    #[test]
    fn the_first_pass_sends_the_opening() {
        let inc = opened("INC-3");
        let due = inc.notices_due(&[]);
        assert_eq!(
            due,
            [IncidentNotice {
                kind: Opened,
                key: IncidentNoticeKey {
                    incident: "INC-3".into(),
                    kind: Opened,
                    sequence: 0,
                },
                update: inc.updates()[0].clone(),
            }]
        );
        assert_eq!(due[0].key.to_string(), "INC-3/opened/0");
    }

    #[test]
    fn nothing_is_sent_twice() {
        let mut inc = opened("INC-3");
        let mut sent = Vec::new();
        assert_eq!(pass(&inc, &mut sent), [(Opened, 0)]);
        assert_eq!(pass(&inc, &mut sent), []);
        say(&mut inc, "Identified.", 10);
        assert_eq!(pass(&inc, &mut sent), [(Update, 1)]);
        assert_eq!(pass(&inc, &mut sent), []);
        inc.resolve("Fixed.".into(), minutes(20)).expect("resolve");
        assert_eq!(pass(&inc, &mut sent), [(Resolved, 2)]);
        assert_eq!(pass(&inc, &mut sent), []);
    }

    #[test]
    fn each_update_after_the_opening_is_sent_with_its_message() {
        let mut inc = opened("INC-3");
        let mut sent = Vec::new();
        pass(&inc, &mut sent);
        for (i, message) in ["Identified.", "Fix deployed.", "Still watching."]
            .into_iter()
            .enumerate()
        {
            let seq = say(&mut inc, message, 10 * (i as i64 + 1));
            let due = inc.notices_due(&sent);
            assert_eq!(due.len(), 1);
            assert_eq!(due[0].kind, Update);
            assert_eq!(due[0].key.sequence, seq);
            assert_eq!(due[0].update.message, message);
            sent.push(due[0].key.clone());
        }
    }

    #[test]
    fn a_pass_after_several_updates_sends_only_the_latest() {
        let mut inc = opened("INC-3");
        let mut sent = Vec::new();
        pass(&inc, &mut sent);
        // The daemon is down while ops post three updates.
        say(&mut inc, "Identified.", 10);
        say(&mut inc, "Fix deployed.", 20);
        say(&mut inc, "Monitoring.", 30);
        let due = inc.notices_due(&sent);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].kind, due[0].key.sequence), (Update, 3));
        assert_eq!(due[0].update.message, "Monitoring.");
    }

    #[test]
    fn an_incident_updated_before_its_first_pass_sends_the_opening_and_the_latest() {
        let mut inc = opened("INC-3");
        say(&mut inc, "Identified.", 10);
        say(&mut inc, "Fix deployed.", 20);
        let mut sent = Vec::new();
        assert_eq!(pass(&inc, &mut sent), [(Opened, 0), (Update, 2)]);
        assert_eq!(pass(&inc, &mut sent), []);
    }

    #[test]
    fn an_incident_resolved_before_anything_was_sent_sends_only_the_resolution() {
        let mut inc = opened("INC-3");
        say(&mut inc, "Identified.", 10);
        inc.resolve("Fixed within minutes.".into(), minutes(15))
            .expect("resolve");
        let due = inc.notices_due(&[]);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].key.to_string(), "INC-3/resolved/2");
        assert_eq!(due[0].update.message, "Fixed within minutes.");
        assert_eq!(due[0].update.status, IncidentStatus::Resolved);
    }

    #[test]
    fn a_resolution_replaces_updates_not_yet_sent() {
        let mut inc = opened("INC-3");
        let mut sent = Vec::new();
        pass(&inc, &mut sent);
        say(&mut inc, "Identified.", 10);
        inc.resolve("Fixed.".into(), minutes(15)).expect("resolve");
        assert_eq!(pass(&inc, &mut sent), [(Resolved, 2)]);
    }

    #[test]
    fn a_resolved_incident_owes_nothing_once_its_resolution_was_sent() {
        let mut inc = opened("INC-3");
        inc.resolve("Fixed.".into(), minutes(15)).expect("resolve");
        // Whatever else was recorded, the resolution is the last word.
        let sent: Vec<IncidentNoticeKey> = ["INC-3/resolved/1"]
            .iter()
            .map(|k| k.parse().expect("key"))
            .collect();
        assert_eq!(inc.notices_due(&sent), []);
    }

    #[test]
    fn keys_of_other_incidents_are_ignored() {
        let mut inc = opened("INC-3");
        say(&mut inc, "Identified.", 10);
        let others: Vec<IncidentNoticeKey> =
            ["INC-4/opened/0", "INC-4/update/1", "INC-30/update/1"]
                .iter()
                .map(|k| k.parse().expect("key"))
                .collect();
        assert_eq!(inc.notices_due(&others), inc.notices_due(&[]));
        assert_eq!(inc.notices_due(&others).len(), 2);
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
    fn notice_kind_spellings() {
        for (kind, text) in [
            (Opened, "opened"),
            (Update, "update"),
            (Resolved, "resolved"),
        ] {
            assert_eq!(kind.as_str(), text);
            assert_eq!(text.parse(), Ok(kind));
            assert_eq!(
                serde_json::to_string(&kind).expect("json"),
                format!("\"{text}\"")
            );
        }
        assert!("Update".parse::<IncidentNoticeKind>().is_err());
    }

    #[test]
    fn a_key_reads_back_from_its_text() {
        let key: IncidentNoticeKey = "INC-3/update/4".parse().expect("key");
        assert_eq!(
            key,
            IncidentNoticeKey {
                incident: "INC-3".into(),
                kind: Update,
                sequence: 4,
            }
        );
        assert_eq!(key.to_string(), "INC-3/update/4");
        for bad in [
            "",
            "INC-3",
            "INC-3/update",
            "/update/4",
            "INC 3/update/4",
            "a/INC-3/update/4",
            "INC-3/reminder/4",
            "INC-3/update/-1",
            "INC-3/update/x",
        ] {
            assert!(bad.parse::<IncidentNoticeKey>().is_err(), "{bad:?}");
        }
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

    #[derive(Debug, Clone)]
    enum Op {
        Update(IncidentStatus),
        Resolve,
        /// A pass whose sends are all recorded.
        Pass,
        /// A pass cut short: only the first this-many notices are recorded.
        Cut(usize),
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        let status = prop::sample::select(IncidentStatus::ALL.to_vec());
        prop::collection::vec(
            prop_oneof![
                4 => status.prop_map(Op::Update),
                1 => Just(Op::Resolve),
                4 => Just(Op::Pass),
                1 => (0usize..3).prop_map(Op::Cut),
            ],
            0..40,
        )
    }

    /// One pass: what is due is checked against the incident and the ledger, then the first
    /// `record` notices are recorded as sent.
    fn checked_pass(
        inc: &Incident,
        sent: &mut Vec<IncidentNoticeKey>,
        record: usize,
    ) -> Result<(), TestCaseError> {
        let due = inc.notices_due(sent);
        for n in &due {
            prop_assert!(!sent.contains(&n.key), "{} again", n.key);
            prop_assert_eq!(n.kind, n.key.kind);
            prop_assert_eq!(&n.key.incident, inc.id());
            prop_assert_eq!(Some(&n.update), inc.updates().get(n.key.sequence as usize));
        }
        let all = record >= due.len();
        sent.extend(due.into_iter().take(record).map(|n| n.key));
        if all {
            prop_assert_eq!(
                inc.notices_due(sent),
                vec![],
                "a full pass leaves nothing due"
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn customers_hear_of_an_incident_once_then_in_order_then_never_after_its_resolution(
            ops in ops(),
        ) {
            let mut inc = opened("INC-3");
            let mut sent: Vec<IncidentNoticeKey> = Vec::new();
            for (i, op) in ops.into_iter().enumerate() {
                let now = minutes(i as i64);
                match op {
                    Op::Update(status) => {
                        let change = IncidentChange {
                            status: Some(status),
                            ..IncidentChange::message(format!("step {i}"))
                        };
                        let done = inc.clone().update(change.clone(), now).is_ok();
                        prop_assert_eq!(done, !inc.status().is_resolved() && !status.is_resolved());
                        let _ = inc.update(change, now);
                    }
                    Op::Resolve => {
                        let _ = inc.resolve(format!("step {i}"), now);
                    }
                    Op::Pass => checked_pass(&inc, &mut sent, usize::MAX)?,
                    Op::Cut(record) => checked_pass(&inc, &mut sent, record)?,
                }
            }
            checked_pass(&inc, &mut sent, usize::MAX)?;

            let unique: HashSet<&IncidentNoticeKey> = sent.iter().collect();
            prop_assert_eq!(unique.len(), sent.len());
            prop_assert!(matches!(sent.first().map(|k| k.kind), Some(Opened | Resolved)));
            let count = |kind| sent.iter().filter(|k| k.kind == kind).count();
            prop_assert!(count(Opened) <= 1);
            prop_assert_eq!(count(Resolved), usize::from(inc.status().is_resolved()));
            if let Some(at) = sent.iter().position(|k| k.kind == Resolved) {
                prop_assert_eq!(at, sent.len() - 1, "sent after the resolution: {:?}", sent);
            }
            let updates: Vec<u32> = sent.iter().filter(|k| k.kind == Update).map(|k| k.sequence).collect();
            prop_assert!(updates.windows(2).all(|w| w[0] < w[1]), "{:?}", updates);
            prop_assert!(updates.iter().all(|s| *s > 0));
        }

        #[test]
        fn never_a_key_already_sent_and_other_incidents_do_not_count(
            steps in 0u32..6,
            resolve in any::<bool>(),
            sent in prop::collection::vec(
                (
                    prop::sample::select(vec!["INC-3", "INC-4", "inc-3"]),
                    prop::sample::select(IncidentNoticeKind::ALL.to_vec()),
                    0u32..8,
                ),
                0..8,
            ),
        ) {
            let mut inc = opened("INC-3");
            for step in 0..steps {
                say(&mut inc, "news", i64::from(step));
            }
            if resolve {
                inc.resolve("Fixed.".into(), minutes(60)).expect("resolve");
            }
            let sent: Vec<IncidentNoticeKey> = sent
                .into_iter()
                .map(|(incident, kind, sequence)| IncidentNoticeKey {
                    incident: incident.to_string(),
                    kind,
                    sequence,
                })
                .collect();
            let due = inc.notices_due(&sent);
            for n in &due {
                prop_assert!(!sent.contains(&n.key), "{} again", n.key);
            }
            let own: Vec<IncidentNoticeKey> =
                sent.iter().filter(|k| k.incident == "INC-3").cloned().collect();
            prop_assert_eq!(due, inc.notices_due(&own));
        }

        #[test]
        fn a_key_survives_its_text_form(
            incident in "[A-Za-z0-9._-]{1,64}",
            kind in prop::sample::select(IncidentNoticeKind::ALL.to_vec()),
            sequence in any::<u32>(),
        ) {
            let key = IncidentNoticeKey { incident, kind, sequence };
            prop_assert_eq!(key.to_string().parse::<IncidentNoticeKey>(), Ok(key));
        }
    }
}
