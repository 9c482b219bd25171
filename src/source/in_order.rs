//! Hands on fetched mails in ascending UID order while the fetch is still running.
//!
//! The pipeline writes each mail's UID as the desk's checkpoint in the mail's own transaction,
//! and sled may make any of them durable on its own at any moment; so mails must be processed
//! in UID order, or a crash could leave a checkpoint past a mail that was never processed.
//! Servers answer a `UID FETCH` of a set in ascending order (Dovecot always does), but RFC 3501
//! does not promise it: a mail that comes early waits here until those below it have come, or
//! until the fetch ends (a UID that never comes was expunged meanwhile).

use std::collections::{BTreeMap, VecDeque};

/// The UIDs asked for, and those that came before their turn.
#[derive(Debug)]
pub struct InUidOrder {
    /// The UIDs asked for and not handed on yet, ascending.
    wanted: VecDeque<u32>,
    /// Mails that came before a lower UID.
    early: BTreeMap<u32, Vec<u8>>,
}

impl InUidOrder {
    pub fn new(wanted: impl IntoIterator<Item = u32>) -> InUidOrder {
        let mut wanted: Vec<u32> = wanted.into_iter().collect();
        wanted.sort_unstable();
        wanted.dedup();
        InUidOrder {
            wanted: wanted.into(),
            early: BTreeMap::new(),
        }
    }

    /// Whether `uid` was asked for and has not come yet.
    pub fn wants(&self, uid: u32) -> bool {
        self.wanted.binary_search(&uid).is_ok() && !self.early.contains_key(&uid)
    }

    /// A mail came: hands it on, with every early one it was holding back, or keeps it.
    pub fn arrive(&mut self, uid: u32, raw: Vec<u8>, emit: &mut dyn FnMut(u32, Vec<u8>)) {
        if !self.wants(uid) {
            return;
        }
        if self.wanted.front() != Some(&uid) {
            self.early.insert(uid, raw);
            return;
        }
        self.wanted.pop_front();
        emit(uid, raw);
        while let Some(next) = self.wanted.front().copied() {
            let Some(raw) = self.early.remove(&next) else {
                break;
            };
            self.wanted.pop_front();
            emit(next, raw);
        }
    }

    /// The fetch ended: hands on what was held back, in order. Returns the UIDs that never came.
    pub fn finish(mut self, emit: &mut dyn FnMut(u32, Vec<u8>)) -> Vec<u32> {
        let mut gone = Vec::new();
        while let Some(uid) = self.wanted.pop_front() {
            match self.early.remove(&uid) {
                Some(raw) => emit(uid, raw),
                None => gone.push(uid),
            }
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(wanted: &[u32], arrivals: &[u32]) -> (Vec<u32>, Vec<u32>) {
        let mut order = InUidOrder::new(wanted.iter().copied());
        let mut out = Vec::new();
        for &uid in arrivals {
            order.arrive(uid, uid.to_be_bytes().to_vec(), &mut |u, raw| {
                assert_eq!(raw, u.to_be_bytes().to_vec(), "a mail keeps its bytes");
                out.push(u);
            });
        }
        let gone = order.finish(&mut |u, _| out.push(u));
        (out, gone)
    }

    #[test]
    fn in_order_arrivals_pass_straight_through() {
        let mut order = InUidOrder::new([3, 5, 9]);
        let mut out = Vec::new();
        order.arrive(3, vec![], &mut |u, _| out.push(u));
        assert_eq!(out, [3], "handed on at once, not at the end of the fetch");
        order.arrive(5, vec![], &mut |u, _| out.push(u));
        order.arrive(9, vec![], &mut |u, _| out.push(u));
        assert_eq!(out, [3, 5, 9]);
        assert!(order.finish(&mut |_, _| panic!("nothing left")).is_empty());
    }

    #[test]
    fn an_early_mail_waits_for_the_lower_uids() {
        assert_eq!(run(&[1, 2, 3], &[3, 1, 2]), (vec![1, 2, 3], vec![]));
    }

    #[test]
    fn a_uid_that_never_comes_releases_the_rest_at_the_end() {
        assert_eq!(run(&[1, 2, 3], &[3, 1]), (vec![1, 3], vec![2]));
    }

    #[test]
    fn unasked_and_repeated_uids_are_ignored() {
        assert_eq!(run(&[1, 2], &[7, 2, 2, 1, 1]), (vec![1, 2], vec![]));
    }

    proptest! {
        /// Whatever order the server answers in, and whatever it leaves out, every mail that
        /// came is handed on exactly once, in ascending order, and the rest are reported gone.
        #[test]
        fn every_mail_once_in_ascending_order(
            wanted in proptest::collection::btree_set(1u32..200, 0..40),
            seed in any::<u64>(),
            keep in proptest::collection::vec(any::<bool>(), 40),
        ) {
            let wanted: Vec<u32> = wanted.into_iter().collect();
            let mut arrivals: Vec<u32> = wanted
                .iter()
                .zip(keep.iter().cycle())
                .filter(|(_, k)| **k)
                .map(|(u, _)| *u)
                .collect();
            // A deterministic shuffle from the seed.
            let mut s = seed | 1;
            for i in (1..arrivals.len()).rev() {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                arrivals.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let (out, gone) = run(&wanted, &arrivals);
            let mut came = arrivals.clone();
            came.sort_unstable();
            prop_assert_eq!(&out, &came);
            let missing: Vec<u32> = wanted.iter().copied().filter(|u| !came.contains(u)).collect();
            prop_assert_eq!(gone, missing);
        }
    }
}
