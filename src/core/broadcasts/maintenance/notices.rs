//! What a notice of a maintenance is: the [`NoticeSchedule`] from the configuration, the
//! [`NoticeKind`]s of a window's life, the idempotency [`NoticeKey`] of each notice of each
//! occurrence, and a [`Notice`] due now. Which notices are due is `due.rs`'s decision.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::recurrence::{Window, KEY_TIME};
use super::{Maintenance, Status};
use crate::core::broadcasts::scope::check_id;
use crate::core::str_enum::str_enum;

/// When notices go out; the broadcast takes it from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoticeSchedule {
    /// How long before each occurrence of a standing window it is announced. (A one-off
    /// maintenance is announced as soon as it is scheduled.)
    pub lead_time: Duration,
    /// How long before a window the reminder goes out. No reminder goes to customers who were
    /// told of the window (or of its new times) less than this long before it.
    pub reminder_before: Duration,
    /// How long after an occurrence of a standing window ends its completion notice may still
    /// go out; a pass that comes later (the daemon was down) skips it as stale.
    pub completion_grace: Duration,
}

impl Default for NoticeSchedule {
    /// A week's notice, a reminder a day before, completions up to six hours late.
    fn default() -> NoticeSchedule {
        NoticeSchedule {
            lead_time: Duration::days(7),
            reminder_before: Duration::hours(24),
            completion_grace: Duration::hours(6),
        }
    }
}

str_enum! {
    /// The kinds of notice, in the order of a window's life.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum NoticeKind {
        Announcement => "announcement",
        Reschedule => "reschedule",
        Reminder => "reminder",
        Start => "start",
        Completion => "completion",
        Cancellation => "cancellation",
    }
    from_str: "notice kind";
}

impl NoticeKind {
    /// Whether customers who got this notice know the window's times.
    pub fn informs(self) -> bool {
        matches!(
            self,
            NoticeKind::Announcement | NoticeKind::Reschedule | NoticeKind::Start
        )
    }
}

/// The idempotency key of one notice of one occurrence: a broadcast records it (per recipient
/// in the outbox) before or as it sends, and never sends a recorded key again.
///
/// Its text form, `<maintenance>/<occurrence start, UTC, basic ISO>/<kind>/<sequence>` (for
/// example `MNT-7/20261201T230000Z/reminder/2`), reads back with `parse`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NoticeKey {
    pub maintenance: String,
    pub occurrence: DateTime<Utc>,
    pub kind: NoticeKind,
    pub sequence: u32,
}

impl fmt::Display for NoticeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.maintenance,
            self.occurrence.format(KEY_TIME),
            self.kind,
            self.sequence
        )
    }
}

impl FromStr for NoticeKey {
    type Err = String;

    fn from_str(s: &str) -> Result<NoticeKey, String> {
        let bad = || format!("notice key {s:?} is not <maintenance>/<start>/<kind>/<sequence>");
        let mut parts = s.rsplitn(4, '/');
        let sequence = parts.next().ok_or_else(bad)?;
        let kind = parts.next().ok_or_else(bad)?;
        let occurrence = parts.next().ok_or_else(bad)?;
        let maintenance = parts.next().ok_or_else(bad)?;
        check_id(maintenance).map_err(|_| bad())?;
        let occurrence = NaiveDateTime::parse_from_str(occurrence, KEY_TIME)
            .map_err(|_| bad())?
            .and_utc();
        Ok(NoticeKey {
            maintenance: maintenance.to_string(),
            occurrence,
            kind: kind.parse()?,
            sequence: sequence.parse().map_err(|_| bad())?,
        })
    }
}

/// A notice due now: its kind, the occurrence it is about, and its key. (The cancellation of
/// an occurrence the schedule no longer holds carries its start and the current duration.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub occurrence: Window,
    pub key: NoticeKey,
}

impl Notice {
    /// The status the notice reports (the iCalendar part's `X-MAINTNOTE-STATUS`).
    pub fn status(&self, m: &Maintenance) -> Status {
        match self.kind {
            NoticeKind::Announcement | NoticeKind::Reschedule | NoticeKind::Reminder => {
                match m.status {
                    Status::Tentative => Status::Tentative,
                    Status::Ongoing => Status::Ongoing,
                    _ => Status::Scheduled,
                }
            }
            NoticeKind::Start => Status::Ongoing,
            NoticeKind::Completion => Status::Completed,
            NoticeKind::Cancellation => Status::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::utc;

    #[test]
    fn notice_keys_read_back() {
        let key = NoticeKey {
            maintenance: "MNT-7".to_string(),
            occurrence: utc("2026-12-01T23:00:00Z"),
            kind: NoticeKind::Reminder,
            sequence: 2,
        };
        assert_eq!(key.to_string(), "MNT-7/20261201T230000Z/reminder/2");
        assert_eq!(key.to_string().parse::<NoticeKey>(), Ok(key));
        for bad in [
            "",
            "MNT-7/20261201T230000Z/reminder",
            "MNT-7/x/reminder/2",
            "a b/20261201T230000Z/start/1",
        ] {
            assert!(bad.parse::<NoticeKey>().is_err(), "{bad}");
        }
    }
}
