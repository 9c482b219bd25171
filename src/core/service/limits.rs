//! Sliding-window limits: how many things happened recently, and whether one more is allowed.
//!
//! Used for the storm limits (automatic mail per recipient per hour, mail per sender per hour).
//! The caller keeps the timestamps; these functions only decide.

use chrono::{DateTime, Duration, Utc};

/// At most `max` events per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub max: u32,
    pub period: Duration,
}

impl Window {
    pub fn per_hour(max: u32) -> Window {
        Window {
            max,
            period: Duration::hours(1),
        }
    }

    /// The events of `times` still inside the window that ends at `now`, oldest first.
    pub fn recent(&self, times: &[DateTime<Utc>], now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let start = now - self.period;
        let mut kept: Vec<DateTime<Utc>> = times
            .iter()
            .copied()
            .filter(|t| *t >= start && *t <= now)
            .collect();
        kept.sort();
        kept
    }

    /// Whether one more event at `now` stays within the limit.
    pub fn allows(&self, times: &[DateTime<Utc>], now: DateTime<Utc>) -> bool {
        (self.recent(times, now).len() as u64) < u64::from(self.max)
    }
}

/// The send rate limit of broadcasts: when the next mail may first be tried, given the next
/// free slot (`None` before the first), `now`, and at most `per_minute` mails a minute (0: no
/// limit). Returns the mail's time and the slot after it. Slots in the past are not saved up:
/// a campaign after a quiet hour starts now and keeps the pace.
pub fn spread(
    slot: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    per_minute: u32,
) -> (DateTime<Utc>, DateTime<Utc>) {
    if per_minute == 0 {
        return (now, now);
    }
    let at = slot.map_or(now, |s| s.max(now));
    let gap = Duration::microseconds(60_000_000 / i64::from(per_minute));
    (at, at + gap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_spreads_mails_evenly_and_does_not_save_up_idle_time() {
        let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("fixed instant");
        let mut slot = None;
        let mut times = Vec::new();
        for _ in 0..4 {
            let (at, next) = spread(slot, now, 120);
            times.push((at - now).num_milliseconds());
            slot = Some(next);
        }
        assert_eq!(times, [0, 500, 1000, 1500]);
        let later = now + Duration::hours(1);
        assert_eq!(
            spread(slot, later, 120).0,
            later,
            "a stale slot is not credit"
        );
        assert_eq!(spread(slot, now, 0), (now, now), "no limit: everything now");
    }
    use proptest::prelude::*;

    #[test]
    fn three_per_hour_then_held_until_the_oldest_leaves_the_window() {
        let w = Window::per_hour(3);
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        let mut times = Vec::new();
        for i in 0..3 {
            let now = t0 + Duration::minutes(i * 10);
            assert!(w.allows(&times, now));
            times.push(now);
        }
        assert!(!w.allows(&times, t0 + Duration::minutes(30)));
        assert!(
            !w.allows(&times, t0 + Duration::minutes(60)),
            "the first is exactly an hour old: still inside"
        );
        assert!(w.allows(&times, t0 + Duration::minutes(61)));
        assert_eq!(w.recent(&times, t0 + Duration::minutes(75)).len(), 1);
    }

    proptest! {
        /// However events arrive, following `allows` never lets more than `max` into any window.
        #[test]
        fn never_more_than_max_in_any_window(gaps in proptest::collection::vec(0i64..1800, 1..60), max in 1u32..6) {
            let w = Window::per_hour(max);
            let mut now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
            let mut accepted: Vec<DateTime<Utc>> = Vec::new();
            for g in gaps {
                now += Duration::seconds(g);
                if w.allows(&accepted, now) {
                    accepted.push(now);
                }
                prop_assert!(w.recent(&accepted, now).len() as u32 <= max);
            }
        }
    }
}
