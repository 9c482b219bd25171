//! Maintenance and incident records, and the ledger of the notices broadcast about them.
//!
//! Keys (laid out in [`super::keys`]): `mnt/<id>` maintenance · `inc/<id>` incident ·
//! `bn/<notice key>` one notice's broadcast ([`NoticeRecord`]) ·
//! `bs/<notice key>/<account>/<address>` → outbox id, one per recipient. Notice keys start with
//! `m/<maintenance id>/` or `i/<incident id>/`, so the notices of one
//! maintenance are one prefix scan. A recipient's `bs/` key is written in the same atomic batch
//! as the outbox entry that carries the notice to them: after a crash either both exist or
//! neither, so a restarted broadcast queues exactly the recipients still missing.

use super::{keys, Store, StoreError, Txn};
use crate::core::broadcasts::incident::Incident;
use crate::core::broadcasts::maintenance::{Maintenance, Window};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    Maintenance,
    Incident,
}

/// One notice's broadcast: begun when its first recipients are queued, done when every
/// recipient of its audience has an outbox entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeRecord {
    pub subject: Subject,
    /// The maintenance or incident id.
    pub of: String,
    /// The notice key as text (`MNT-7/20261201T230000Z/reminder/2`, `INC-3/update/4`).
    pub key: String,
    /// The notice kind (`announcement`, …, `opened`, `update`, `resolved`).
    pub kind: String,
    /// The maintenance occurrence the notice is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    pub begun: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<DateTime<Utc>>,
    /// Recipients queued so far, and those held back (address flagged after hard bounces).
    pub queued: u32,
    pub held: u32,
}

impl Store {
    pub fn maintenance(&self, id: &str) -> Result<Option<Maintenance>, StoreError> {
        self.get_json(&keys::maintenance(id))
    }

    /// Every maintenance, by id.
    pub fn maintenances(&self) -> Result<Vec<Maintenance>, StoreError> {
        self.scan_json(keys::MAINTENANCES)
    }

    pub fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        self.get_json(&keys::incident(id))
    }

    /// Every incident, by id.
    pub fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.scan_json(keys::INCIDENTS)
    }

    /// The notices begun about maintenance or incident `of`, in key order.
    pub fn notices(&self, subject: Subject, of: &str) -> Result<Vec<NoticeRecord>, StoreError> {
        self.scan_json(&keys::notices_of(subject, of))
    }

    /// The recipients (account, address) a notice has been queued for.
    pub fn notice_recipients(
        &self,
        subject: Subject,
        key: &str,
    ) -> Result<HashSet<(String, String)>, StoreError> {
        let prefix = keys::notice_recipients(subject, key);
        let mut out = HashSet::new();
        for (k, _) in self.engine.scan_prefix(prefix.as_bytes(), usize::MAX)? {
            let rest = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if let Some((account, address)) = rest.split_once('/') {
                out.insert((account.to_string(), address.to_string()));
            }
        }
        Ok(out)
    }
}

impl Txn<'_> {
    pub fn put_maintenance(&mut self, m: &Maintenance) {
        self.put_json(keys::maintenance(m.id()), m);
    }

    pub fn put_incident(&mut self, i: &Incident) {
        self.put_json(keys::incident(i.id()), i);
    }

    pub fn put_notice(&mut self, n: &NoticeRecord) {
        self.put_json(keys::notice(n.subject, &n.key), n);
    }

    /// Records that notice `key` was queued for `address` of `account` as outbox entry `outbox`.
    pub fn put_notice_recipient(
        &mut self,
        subject: Subject,
        key: &str,
        account: &str,
        address: &str,
        outbox: u64,
    ) {
        self.batch.put(
            keys::notice_recipient(subject, key, account, address),
            outbox.to_be_bytes().to_vec(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(of: &str, key: &str) -> NoticeRecord {
        NoticeRecord {
            subject: Subject::Maintenance,
            of: of.into(),
            key: key.into(),
            kind: "announcement".into(),
            window: None,
            begun: DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("fixed instant"),
            done: None,
            queued: 0,
            held: 0,
        }
    }

    #[test]
    fn notices_of_one_maintenance_do_not_include_a_longer_id() {
        let store = Store::memory();
        let mut txn = store.txn();
        txn.put_notice(&record("MNT-1", "MNT-1/20261201T230000Z/announcement/0"));
        txn.put_notice(&record("MNT-10", "MNT-10/20261201T230000Z/announcement/0"));
        txn.commit().expect("commit");
        let of_1 = store
            .notices(Subject::Maintenance, "MNT-1")
            .expect("notices");
        assert_eq!(of_1.len(), 1);
        assert_eq!(of_1[0].of, "MNT-1");
    }

    #[test]
    fn recipients_of_a_notice_read_back_per_account() {
        let store = Store::memory();
        let key = "INC-3/update/4";
        let mut txn = store.txn();
        txn.put_notice_recipient(Subject::Incident, key, "ACME", "noc@acme.example", 7);
        txn.put_notice_recipient(Subject::Incident, key, "BETA", "noc@acme.example", 8);
        txn.put_notice_recipient(Subject::Incident, "INC-3/update/40", "ACME", "x@y.z", 9);
        txn.commit().expect("commit");
        let got = store
            .notice_recipients(Subject::Incident, key)
            .expect("recipients");
        assert_eq!(got.len(), 2);
        assert!(got.contains(&("ACME".to_string(), "noc@acme.example".to_string())));
        assert!(got.contains(&("BETA".to_string(), "noc@acme.example".to_string())));
    }
}
