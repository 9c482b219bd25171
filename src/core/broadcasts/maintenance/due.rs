//! Which notices a maintenance owes at `now`: [`Maintenance::notices_due`] and the `Ledger`
//! that reads the keys already sent as its notice history.
//!
//! [`Maintenance::notices_due`] lists the notices due at `now`, given the keys of those already
//! sent. Each has a [`NoticeKey`] (maintenance id, occurrence start, kind, sequence): the
//! broadcast records it (with each recipient, in the outbox), and a restarted pass computes the
//! same keys again, so nobody is told anything twice. The decision reads the sent keys as history,
//! not only as a filter: one announcement per occurrence whatever the sequence, one reschedule per
//! rescheduling update made after the last notice customers got, and a cancellation for each
//! announced occurrence that no longer exists.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use super::notices::{Notice, NoticeKey, NoticeKind, NoticeSchedule};
use super::recurrence::{minus, plus, Recurrence, Window};
use super::{Change, Maintenance, Schedule, Status};

impl Maintenance {
    /// The notices due at `now`, given the keys already sent (keys of other maintenance are
    /// ignored), ordered by occurrence and kind. A notice's key is never among `sent`.
    ///
    /// A one-off maintenance, by status:
    /// - tentative or scheduled, before its end: the announcement if customers were told
    ///   nothing yet, else a reschedule if its times changed since they were last told; a
    ///   reminder from `reminder_before` before the start, for the current start, if customers
    ///   know the current times and were told them at least `reminder_before` before the start;
    /// - ongoing: the start notice (once), then a reschedule when the window is changed (an
    ///   extension);
    /// - completed: the completion notice (once);
    /// - cancelled: the cancellation (once), if customers had been told anything.
    ///
    /// A standing window, for each occurrence that starts after the maintenance was created,
    /// while tentative or scheduled: the announcement from `lead_time` before its start (a
    /// reschedule instead when an announced occurrence's window changed); the reminder as above
    /// (none when `lead_time` is not longer than `reminder_before`); the start notice during the
    /// window; the completion notice up to `completion_grace` after it, if customers had heard
    /// of the occurrence. An announced occurrence still to come that no longer exists (the rule
    /// changed, the occurrence was skipped, the series cancelled) gets a cancellation; should a
    /// later rule bring it back, it is announced again.
    ///
    /// Each notice carries the current sequence in its key, but what is due is decided from
    /// what was sent whatever its sequence (the sequences order the sent notices), so an update
    /// never repeats an announcement, a reminder, a start or a completion. A pass that comes
    /// late (the daemon was down) sends what is still true: it may send the announcement and,
    /// at its next pass, the reminder.
    pub fn notices_due(
        &self,
        schedule: &NoticeSchedule,
        sent: &[NoticeKey],
        now: DateTime<Utc>,
    ) -> Vec<Notice> {
        let ledger = Ledger {
            keys: sent.iter().filter(|k| k.maintenance == self.id).collect(),
        };
        let mut due = Vec::new();
        match &self.schedule {
            Schedule::Once(w) => self.due_once(*w, schedule, &ledger, now, &mut due),
            Schedule::Recurring(r) => self.due_recurring(r, schedule, &ledger, now, &mut due),
        }
        due.retain(|n| !ledger.keys.contains(&&n.key));
        due.sort_by_key(|n| (n.occurrence.start, n.kind));
        due
    }

    fn due_once(
        &self,
        w: Window,
        schedule: &NoticeSchedule,
        ledger: &Ledger<'_>,
        now: DateTime<Utc>,
        due: &mut Vec<Notice>,
    ) {
        let told = ledger.told(None);
        match self.status {
            Status::Tentative | Status::Scheduled if now < w.end => match told {
                None => due.push(self.notice(NoticeKind::Announcement, w)),
                Some(seq) if self.changed_since(seq, w) => {
                    due.push(self.notice(NoticeKind::Reschedule, w))
                }
                Some(_) => {
                    if self.reminder_due(w, schedule, now)
                        && !ledger.sent(NoticeKind::Reminder, Some(w.start))
                    {
                        due.push(self.notice(NoticeKind::Reminder, w));
                    }
                }
            },
            Status::Ongoing => {
                if !ledger.sent(NoticeKind::Start, None) {
                    due.push(self.notice(NoticeKind::Start, w));
                } else if told.is_some_and(|seq| self.changed_since(seq, w)) {
                    due.push(self.notice(NoticeKind::Reschedule, w));
                }
            }
            Status::Completed => {
                if !ledger.sent(NoticeKind::Completion, None) {
                    due.push(self.notice(NoticeKind::Completion, w));
                }
            }
            Status::Cancelled => {
                if told.is_some() {
                    due.push(self.notice(NoticeKind::Cancellation, w));
                }
            }
            Status::Tentative | Status::Scheduled => {}
        }
    }

    fn due_recurring(
        &self,
        r: &Recurrence,
        schedule: &NoticeSchedule,
        ledger: &Ledger<'_>,
        now: DateTime<Utc>,
        due: &mut Vec<Notice>,
    ) {
        let planned = self.status.is_planned();
        if planned {
            let back = r.duration() + schedule.completion_grace.max(Duration::zero());
            let ahead = schedule.lead_time.max(Duration::zero()) + Duration::seconds(1);
            let (from, to) = (minus(now, back), plus(now, ahead));
            for w in r.windows(from, to) {
                if w.start < self.created {
                    continue;
                }
                let told = ledger.told(Some(w.start));
                if now < w.start {
                    if now >= minus(w.start, schedule.lead_time) {
                        match told {
                            None => due.push(self.notice(NoticeKind::Announcement, w)),
                            Some(seq) if self.changed_since(seq, w) => {
                                due.push(self.notice(NoticeKind::Reschedule, w))
                            }
                            Some(_) => {}
                        }
                    }
                    if schedule.lead_time > schedule.reminder_before
                        && told.is_some_and(|seq| !self.changed_since(seq, w))
                        && self.reminder_due(w, schedule, now)
                        && !ledger.sent(NoticeKind::Reminder, Some(w.start))
                    {
                        due.push(self.notice(NoticeKind::Reminder, w));
                    }
                } else if now < w.end {
                    if !ledger.sent(NoticeKind::Start, Some(w.start)) {
                        due.push(self.notice(NoticeKind::Start, w));
                    }
                } else if now < plus(w.end, schedule.completion_grace)
                    && told.is_some()
                    && !ledger.sent(NoticeKind::Completion, Some(w.start))
                {
                    due.push(self.notice(NoticeKind::Completion, w));
                }
            }
        }
        // Occurrences still to come that customers know of and the schedule no longer holds.
        for start in ledger.told_starts() {
            if start <= now {
                continue;
            }
            if planned && r.starts_at(start) {
                continue;
            }
            let end = plus(start, r.duration());
            due.push(self.notice(NoticeKind::Cancellation, Window { start, end }));
        }
    }

    /// Whether the reminder window of `w` is open and customers were told of `w`'s current
    /// times long enough before it for a reminder to make sense.
    fn reminder_due(&self, w: Window, schedule: &NoticeSchedule, now: DateTime<Utc>) -> bool {
        let opens = minus(w.start, schedule.reminder_before);
        now >= opens && now < w.start && self.schedule_set_at() < opens
    }

    /// When the current times were set: the creation or the last change of schedule.
    fn schedule_set_at(&self) -> DateTime<Utc> {
        self.history
            .iter()
            .filter(|h| h.changes.iter().any(|c| matches!(c, Change::Schedule(_))))
            .map(|h| h.at)
            .max()
            .unwrap_or(self.created)
            .max(self.created)
    }

    /// Whether window `w` differs from what the schedule in force at sequence `seq` said.
    fn changed_since(&self, seq: u32, w: Window) -> bool {
        let then = self
            .history
            .iter()
            .filter(|h| h.sequence <= seq)
            .flat_map(|h| &h.changes)
            .filter_map(|c| match c {
                Change::Schedule(s) => Some(s),
                _ => None,
            })
            .next_back();
        match then {
            Some(Schedule::Once(old)) => *old != w,
            Some(Schedule::Recurring(old)) => !old
                .windows(w.start, plus(w.start, Duration::seconds(1)))
                .contains(&w),
            // A history without its creation entry: take the times as known.
            None => false,
        }
    }

    fn notice(&self, kind: NoticeKind, occurrence: Window) -> Notice {
        Notice {
            kind,
            occurrence,
            key: NoticeKey {
                maintenance: self.id.clone(),
                occurrence: occurrence.start,
                kind,
                sequence: self.sequence,
            },
        }
    }
}

/// The sent keys of one maintenance, read as its notice history.
struct Ledger<'a> {
    keys: Vec<&'a NoticeKey>,
}

impl Ledger<'_> {
    /// Whether a notice of `kind` was sent (for the occurrence starting at `at`, if given).
    fn sent(&self, kind: NoticeKind, at: Option<DateTime<Utc>>) -> bool {
        self.keys
            .iter()
            .any(|k| k.kind == kind && at.is_none_or(|at| k.occurrence == at))
    }

    /// The highest sequence at which customers were told the times (of the occurrence starting
    /// at `at`, if given), or `None` if they never were or were last told it is cancelled.
    /// Sequences order the notices: at one sequence an occurrence cannot be both announced and
    /// cancelled.
    fn told(&self, at: Option<DateTime<Utc>>) -> Option<u32> {
        let latest = |informs: bool| {
            self.keys
                .iter()
                .filter(|k| {
                    let kind = if informs {
                        k.kind.informs()
                    } else {
                        k.kind == NoticeKind::Cancellation
                    };
                    kind && at.is_none_or(|at| k.occurrence == at)
                })
                .map(|k| k.sequence)
                .max()
        };
        match (latest(true), latest(false)) {
            (Some(told), Some(cancelled)) if cancelled >= told => None,
            (told, _) => told,
        }
    }

    /// The starts of the occurrences customers were told of (and not told are cancelled).
    fn told_starts(&self) -> BTreeSet<DateTime<Utc>> {
        self.keys
            .iter()
            .filter(|k| k.kind.informs())
            .map(|k| k.occurrence)
            .filter(|at| self.told(Some(*at)).is_some())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use chrono_tz::Europe::Paris;
    use proptest::prelude::*;

    use super::super::recurrence::tests::{day, hhmm, paris_nights, rec, FIRST_WEDNESDAYS};
    use super::super::tests::{maintenance, once};
    use super::*;
    use crate::core::testing::utc;

    /// Runs one pass: what is due at `now`, recorded as sent.
    fn pass(
        m: &Maintenance,
        schedule: &NoticeSchedule,
        sent: &mut Vec<NoticeKey>,
        now: DateTime<Utc>,
    ) -> Vec<NoticeKind> {
        let due = m.notices_due(schedule, sent, now);
        for n in &due {
            assert!(!sent.contains(&n.key), "{} sent twice", n.key);
            assert_eq!(n.key.kind, n.kind);
            assert_eq!(n.key.occurrence, n.occurrence.start);
        }
        sent.extend(due.iter().map(|n| n.key.clone()));
        due.iter().map(|n| n.kind).collect()
    }

    use NoticeKind::{Announcement, Cancellation, Completion, Reminder, Reschedule, Start};

    /// What ops do to a one-off before a pass.
    #[derive(Clone, Copy)]
    enum Act {
        /// New times: start and end.
        Move(&'static str, &'static str),
        Start,
        Complete,
        Cancel,
    }

    /// Plays a one-off's life: at each `now`, the act (which must be accepted), then a pass that
    /// must send exactly the kinds given. Returns the keys sent.
    fn play(m: &mut Maintenance, steps: &[(&str, Option<Act>, &[NoticeKind])]) -> Vec<NoticeKey> {
        let sched = NoticeSchedule::default();
        let mut sent = Vec::new();
        for &(now, act, kinds) in steps {
            let t = utc(now);
            let done = match act {
                Some(Act::Move(start, end)) => {
                    let w = Window::new(utc(start), utc(end)).expect("window");
                    m.update(vec![Change::Schedule(Schedule::Once(w))], t)
                }
                Some(Act::Start) => m.start(t),
                Some(Act::Complete) => m.complete(t),
                Some(Act::Cancel) => m.cancel(t),
                None => Ok(m.sequence()),
            };
            done.unwrap_or_else(|e| panic!("{now}: {e}"));
            assert_eq!(pass(m, &sched, &mut sent, t), kinds, "{now}");
        }
        sent
    }

    /// A one-off on the night of 1 December, scheduled on 1 November.
    fn december() -> Maintenance {
        once(
            "2026-12-01T23:00:00Z",
            "2026-12-02T05:00:00Z",
            "2026-11-01T09:00:00Z",
        )
    }

    #[test]
    fn a_one_off_through_its_life() {
        let sent = play(
            &mut december(),
            &[
                ("2026-11-01T09:00:00Z", None, &[Announcement]),
                ("2026-11-01T09:05:00Z", None, &[]),
                ("2026-11-30T22:59:59Z", None, &[]),
                ("2026-11-30T23:00:00Z", None, &[Reminder]),
                ("2026-11-30T23:30:00Z", None, &[]),
                ("2026-12-01T23:10:00Z", None, &[]),
                ("2026-12-01T23:15:00Z", Some(Act::Start), &[Start]),
                // Extended while under way: customers hear of the new end.
                (
                    "2026-12-02T04:00:00Z",
                    Some(Act::Move("2026-12-01T23:00:00Z", "2026-12-02T07:00:00Z")),
                    &[Reschedule],
                ),
                ("2026-12-02T04:01:00Z", None, &[]),
                ("2026-12-02T06:00:00Z", Some(Act::Complete), &[Completion]),
                ("2026-12-09T00:00:00Z", None, &[]),
            ],
        );
        let seqs: Vec<u32> = sent.iter().map(|k| k.sequence).collect();
        assert_eq!(seqs, [0, 0, 1, 2, 3]);
    }

    #[test]
    fn a_rescheduled_one_off_is_reminded_of_its_new_time() {
        play(
            &mut december(),
            &[
                ("2026-11-01T09:00:00Z", None, &[Announcement]),
                ("2026-11-30T23:00:00Z", None, &[Reminder]),
                (
                    "2026-12-01T12:00:00Z",
                    Some(Act::Move("2026-12-08T23:00:00Z", "2026-12-09T05:00:00Z")),
                    &[Reschedule],
                ),
                ("2026-12-07T23:00:00Z", None, &[Reminder]),
                // Back to a time customers were already told of at sequence 0 is still news.
                (
                    "2026-12-01T20:00:00Z",
                    Some(Act::Move("2026-12-01T23:00:00Z", "2026-12-02T05:00:00Z")),
                    &[Reschedule],
                ),
                // Told less than a day before: no reminder on top, the reminder key exists.
                ("2026-12-01T22:00:00Z", None, &[]),
            ],
        );
    }

    #[test]
    fn a_one_off_rescheduled_before_anyone_was_told_is_just_announced() {
        let sched = NoticeSchedule::default();
        let mut m = december();
        let later =
            Window::new(utc("2026-12-08T23:00:00Z"), utc("2026-12-09T05:00:00Z")).expect("window");
        m.update(
            vec![Change::Schedule(Schedule::Once(later))],
            utc("2026-11-01T09:01:00Z"),
        )
        .expect("reschedule");
        let due = m.notices_due(&sched, &[], utc("2026-11-01T09:02:00Z"));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].kind, Announcement);
        assert_eq!(due[0].occurrence, later);
        assert_eq!(due[0].key.sequence, 1);
        assert_eq!(due[0].status(&m), Status::Scheduled);
    }

    #[test]
    fn a_cancelled_one_off_is_cancelled_only_if_announced() {
        let sched = NoticeSchedule::default();
        let now = utc("2026-11-02T00:00:00Z");
        let mut quiet = december();
        quiet.cancel(now).expect("cancel");
        assert_eq!(quiet.notices_due(&sched, &[], now), []);
        let mut m = december();
        let sent = play(
            &mut m,
            &[
                ("2026-11-01T09:00:00Z", None, &[Announcement]),
                ("2026-11-02T00:00:00Z", Some(Act::Cancel), &[Cancellation]),
                ("2026-11-30T23:00:00Z", None, &[]),
            ],
        );
        assert_eq!(
            m.notices_due(&sched, &sent[..1], now)[0].status(&m),
            Status::Cancelled
        );
    }

    /// Every notice of a standing window, walking the clock in `step`s from `from` to `to`.
    fn walk(
        m: &Maintenance,
        sched: &NoticeSchedule,
        sent: &mut Vec<NoticeKey>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        step: Duration,
    ) -> BTreeMap<DateTime<Utc>, Vec<(NoticeKind, DateTime<Utc>)>> {
        let mut by_occurrence: BTreeMap<_, Vec<_>> = BTreeMap::new();
        let mut now = from;
        while now < to {
            for n in m.notices_due(sched, sent, now) {
                by_occurrence
                    .entry(n.occurrence.start)
                    .or_default()
                    .push((n.kind, now));
                sent.push(n.key);
            }
            now += step;
        }
        by_occurrence
    }

    #[test]
    fn a_standing_window_gets_each_notice_of_each_occurrence_once() {
        let sched = NoticeSchedule::default();
        let m = maintenance(
            Schedule::Recurring(paris_nights("FREQ=MONTHLY;BYDAY=1WE")),
            utc("2025-12-15T00:00:00Z"),
        );
        let mut sent = Vec::new();
        let step = Duration::minutes(10);
        let seen = walk(
            &m,
            &sched,
            &mut sent,
            utc("2025-12-15T00:00:00Z"),
            utc("2026-12-20T00:00:00Z"),
            step,
        );
        let expected: Vec<DateTime<Utc>> = FIRST_WEDNESDAYS[..12]
            .iter()
            .map(|s| utc(&s.replace('Z', ":00Z")))
            .collect();
        assert_eq!(seen.keys().copied().collect::<Vec<_>>(), expected);
        for (start, notices) in &seen {
            let kinds: Vec<NoticeKind> = notices.iter().map(|(k, _)| *k).collect();
            assert_eq!(
                kinds,
                [Announcement, Reminder, Start, Completion],
                "{start}"
            );
            let at: Vec<DateTime<Utc>> = notices.iter().map(|(_, t)| *t).collect();
            let end = *start + Duration::hours(6);
            assert!(at[0] >= *start - sched.lead_time && at[0] < *start - sched.lead_time + step);
            assert!(at[1] >= *start - sched.reminder_before);
            assert!(at[1] < *start - sched.reminder_before + step);
            assert!(at[2] >= *start && at[2] < *start + step);
            assert!(at[3] >= end && at[3] < end + step);
        }
    }

    #[test]
    fn a_standing_window_skipped_changed_and_cancelled() {
        let sched = NoticeSchedule::default();
        let mut m = maintenance(
            Schedule::Recurring(paris_nights("FREQ=WEEKLY;BYDAY=WE")),
            utc("2026-01-01T00:00:00Z"),
        );
        let mut sent = Vec::new();
        let now = utc("2026-01-01T00:00:00Z");
        // 7 days ahead: the 7th (Jan 6, 23:00Z) is announced.
        assert_eq!(pass(&m, &sched, &mut sent, now), [Announcement]);
        let jan7 = utc("2026-01-06T23:00:00Z");
        m.update(vec![Change::Skip(jan7)], now).expect("skip");
        assert_eq!(pass(&m, &sched, &mut sent, now), [Cancellation]);
        assert_eq!(sent.last().map(|k| k.occurrence), Some(jan7));
        // Move the series to 01:00: the announced 14th at 00:00 is cancelled, 01:00 announced.
        let at = utc("2026-01-07T12:00:00Z");
        assert_eq!(pass(&m, &sched, &mut sent, at), [Announcement]);
        let one_am = rec(
            "FREQ=WEEKLY;BYDAY=WE",
            day(2026, 1, 1),
            hhmm(1, 0),
            5,
            Paris,
        );
        m.update(vec![Change::Schedule(Schedule::Recurring(one_am))], at)
            .expect("move");
        let due = m.notices_due(&sched, &sent, at);
        let got: Vec<(NoticeKind, String)> = due
            .iter()
            .map(|n| (n.kind, n.occurrence.start.format("%dT%H:%M").to_string()))
            .collect();
        assert_eq!(
            got,
            [
                (Cancellation, "13T23:00".to_string()),
                (Announcement, "14T00:00".to_string()),
            ]
        );
        sent.extend(due.into_iter().map(|n| n.key));
        // Cancelling the series cancels what was announced and still to come, once.
        m.cancel(at).expect("cancel");
        assert_eq!(pass(&m, &sched, &mut sent, at), [Cancellation]);
        assert_eq!(pass(&m, &sched, &mut sent, at), []);
        assert_eq!(pass(&m, &sched, &mut sent, utc("2026-02-01T00:00:00Z")), []);
    }

    #[test]
    fn no_reminder_when_the_lead_time_is_not_longer() {
        let sched = NoticeSchedule {
            lead_time: Duration::hours(24),
            reminder_before: Duration::hours(24),
            completion_grace: Duration::hours(1),
        };
        let m = maintenance(
            Schedule::Recurring(paris_nights("FREQ=MONTHLY;BYDAY=1WE")),
            utc("2026-01-01T00:00:00Z"),
        );
        let mut sent = Vec::new();
        let seen = walk(
            &m,
            &sched,
            &mut sent,
            utc("2026-01-01T00:00:00Z"),
            utc("2026-03-01T00:00:00Z"),
            Duration::minutes(30),
        );
        for notices in seen.values() {
            let kinds: Vec<NoticeKind> = notices.iter().map(|(k, _)| *k).collect();
            assert_eq!(kinds, [Announcement, Start, Completion]);
        }
    }

    #[test]
    fn a_pass_after_the_grace_sends_no_stale_completion() {
        let sched = NoticeSchedule::default();
        let m = maintenance(
            Schedule::Recurring(paris_nights("FREQ=MONTHLY;BYDAY=1WE")),
            utc("2026-01-01T00:00:00Z"),
        );
        let mut sent = Vec::new();
        assert_eq!(
            pass(&m, &sched, &mut sent, utc("2026-01-01T00:00:00Z")),
            [Announcement]
        );
        // The daemon was down from before the window until well after it.
        assert_eq!(pass(&m, &sched, &mut sent, utc("2026-01-07T12:00:00Z")), []);
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Jump to this many minutes after the base (backwards too).
        Now(i64),
        /// Move on this many minutes.
        Tick(i64),
        Shift(i64),
        Longer,
        Skip,
        Start,
        Complete,
        Cancel,
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![
                3 => (-3i64 * 24 * 60..75 * 24 * 60).prop_map(Op::Now),
                6 => (0i64..3 * 24 * 60).prop_map(Op::Tick),
                1 => (-48i64..48).prop_map(Op::Shift),
                1 => Just(Op::Longer),
                1 => Just(Op::Skip),
                1 => Just(Op::Start),
                1 => Just(Op::Complete),
                1 => Just(Op::Cancel),
            ],
            1..80,
        )
    }

    /// The schedule of `m` moved by `shift` and made `longer`.
    fn moved(m: &Maintenance, shift: Duration, longer: Duration) -> Result<Schedule, String> {
        match m.schedule() {
            Schedule::Once(w) => {
                Window::new(w.start + shift, w.end + shift + longer).map(Schedule::Once)
            }
            Schedule::Recurring(r) => Recurrence::new(
                r.rule(),
                r.from(),
                r.at() + shift,
                r.duration() + longer,
                r.tz(),
            )
            .map(Schedule::Recurring),
        }
    }

    fn send_due(
        m: &Maintenance,
        sched: &NoticeSchedule,
        sent: &mut Vec<NoticeKey>,
        now: DateTime<Utc>,
    ) -> Result<(), TestCaseError> {
        for n in m.notices_due(sched, sent, now) {
            prop_assert!(!sent.contains(&n.key), "{} again", n.key);
            sent.push(n.key);
        }
        Ok(())
    }

    /// Applies `ops` (updates happen at the last `now`), recording what each pass sends, and
    /// checks that no key is sent twice and no notice repeats for an occurrence.
    fn run(mut m: Maintenance, ops: Vec<Op>) -> Result<(), TestCaseError> {
        let sched = NoticeSchedule::default();
        let base = utc("2026-01-01T00:00:00Z");
        let mut now = base;
        let mut sent: Vec<NoticeKey> = Vec::new();
        for op in ops {
            // Refused updates (a finished maintenance, a transition that does not exist) are
            // part of the exploration.
            let _ = match op {
                Op::Now(minutes) => {
                    now = base + Duration::minutes(minutes);
                    send_due(&m, &sched, &mut sent, now)?;
                    Ok(0)
                }
                Op::Tick(minutes) => {
                    now += Duration::minutes(minutes);
                    send_due(&m, &sched, &mut sent, now)?;
                    Ok(0)
                }
                Op::Shift(hours) => moved(&m, Duration::hours(hours), Duration::zero())
                    .and_then(|s| m.update(vec![Change::Schedule(s)], now)),
                Op::Longer => moved(&m, Duration::zero(), Duration::hours(1))
                    .and_then(|s| m.update(vec![Change::Schedule(s)], now)),
                Op::Skip => match m.occurrences(now, now + Duration::days(40)).first() {
                    Some(w) => m.update(vec![Change::Skip(w.start)], now),
                    None => Ok(0),
                },
                Op::Start => m.start(now),
                Op::Complete => m.complete(now),
                Op::Cancel => m.cancel(now),
            };
        }
        let unique: HashSet<&NoticeKey> = sent.iter().collect();
        prop_assert_eq!(unique.len(), sent.len());
        let once_only = |kind: NoticeKind, per_occurrence: bool| {
            let mut seen = HashSet::new();
            sent.iter()
                .filter(|k| k.kind == kind)
                .all(|k| seen.insert(per_occurrence.then_some(k.occurrence)))
        };
        let recurring = matches!(m.schedule(), Schedule::Recurring(_));
        prop_assert!(once_only(Reminder, true));
        prop_assert!(once_only(Start, recurring));
        prop_assert!(once_only(Completion, recurring));
        if !recurring {
            prop_assert!(once_only(Announcement, false));
            prop_assert!(once_only(Cancellation, false));
        }
        // Per occurrence, customers are told of it (announcement or start) and told it is
        // cancelled in turn, never twice the same; reschedules and reminders go only to
        // customers who know of it.
        let mut by_start: BTreeMap<Option<DateTime<Utc>>, Vec<&NoticeKey>> = BTreeMap::new();
        for k in &sent {
            by_start
                .entry(recurring.then_some(k.occurrence))
                .or_default()
                .push(k);
        }
        for keys in by_start.values() {
            let mut on = false;
            for k in keys {
                match k.kind {
                    Announcement => {
                        prop_assert!(!on, "announced twice: {}", k);
                        on = true;
                    }
                    Cancellation => {
                        prop_assert!(on, "cancelled unannounced: {}", k);
                        on = false;
                    }
                    Start => on = true,
                    Reschedule | Reminder => prop_assert!(on, "{} before the announcement", k),
                    Completion => {}
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn a_one_off_sends_each_notice_once_whatever_happens(ops in ops()) {
            run(once("2026-02-01T08:00:00Z", "2026-02-01T12:00:00Z", "2026-01-01T00:00:00Z"), ops)?;
        }

        #[test]
        fn a_standing_window_sends_each_notice_once_whatever_happens(ops in ops()) {
            let r = rec("FREQ=WEEKLY;BYDAY=WE", day(2026, 1, 1), hhmm(0, 0), 6, Paris);
            run(maintenance(Schedule::Recurring(r), utc("2026-01-01T00:00:00Z")), ops)?;
        }
    }
}
