//! Which notices an incident owes: the [`IncidentNoticeKind`]s of its life, the idempotency
//! [`IncidentNoticeKey`] of each, and [`Incident::notices_due`], the decision of what is owed.
//!
//! [`Incident::notices_due`] lists what is owed, given the keys of the notices already
//! sent. Each notice has an [`IncidentNoticeKey`] (incident id, kind, sequence) that the
//! broadcast records with each recipient in the outbox; a restarted pass computes the same keys
//! again, so nobody is told anything twice. Unlike a maintenance, an incident has no schedule:
//! what is due depends only on the history and on what was sent, never on `now`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Incident, IncidentUpdate};
use crate::core::broadcasts::scope::check_id;
use crate::core::str_enum::str_enum;

str_enum! {
    /// The kinds of incident notice, in the order of an incident's life.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum IncidentNoticeKind {
        /// The incident exists (carries the opening update).
        Opened => "opened",
        /// Its current word (carries the latest update).
        Update => "update",
        /// It is over (carries the resolution).
        Resolved => "resolved",
    }
    from_str: "incident notice kind";
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::super::tests::{minutes, opened, say};
    use super::super::{IncidentChange, IncidentStatus};
    use super::IncidentNoticeKind::{Opened, Resolved, Update};
    use super::*;

    /// One broadcast pass: what is due, all of it recorded as sent.
    fn pass(inc: &Incident, sent: &mut Vec<IncidentNoticeKey>) -> Vec<(IncidentNoticeKind, u32)> {
        let due = inc.notices_due(sent);
        let got = due.iter().map(|n| (n.kind, n.key.sequence)).collect();
        sent.extend(due.into_iter().map(|n| n.key));
        got
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
