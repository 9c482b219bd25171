//! The key cache: DKIM key records (and the errors of records that do not parse) by DNS name,
//! each kept for its TTL but at most a configured age, and at most a configured number of them.
//!
//! mail-auth asks it before every key lookup and fills it after; a staff member's second mail
//! of the day costs no DNS round trip. A key rotated in DNS is seen once its TTL (or the
//! maximum age) has passed. Failed lookups (no such name, a timeout) are not cached.

use mail_auth::{ResolverCache, Txt};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys by `selector._domainkey.domain.`, with the instant each stops being valid.
pub(super) struct KeyCache {
    entries: Mutex<HashMap<Box<str>, (Txt, Instant)>>,
    capacity: usize,
    max_age: Duration,
}

impl KeyCache {
    pub(super) fn new(capacity: usize, max_age: Duration) -> KeyCache {
        KeyCache {
            entries: Mutex::new(HashMap::new()),
            capacity,
            max_age,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, (Txt, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ResolverCache<Box<str>, Txt> for KeyCache {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.lock();
        match entries.get(name) {
            Some((value, until)) if *until > Instant::now() => Some(value.clone()),
            Some(_) => {
                entries.remove(name);
                None
            }
            None => None,
        }
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().remove(name).map(|(value, _)| value)
    }

    fn insert(&self, key: Box<str>, value: Txt, valid_until: Instant) {
        let now = Instant::now();
        let until = valid_until.min(now + self.max_age);
        if self.capacity == 0 || until <= now {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (_, u)| *u > now);
            if entries.len() >= self.capacity {
                // Full of live keys: the one that would expire first goes.
                let first = entries
                    .iter()
                    .min_by_key(|(_, (_, u))| *u)
                    .map(|(k, _)| k.clone());
                if let Some(k) = first {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(key, (value, until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt() -> Txt {
        Txt::Error(mail_auth::Error::ParseError)
    }

    fn has(cache: &KeyCache, name: &str) -> bool {
        cache.get(name).is_some()
    }

    #[test]
    fn keys_live_for_their_ttl_capped_by_the_maximum_age() {
        let cache = KeyCache::new(8, Duration::from_secs(60));
        let now = Instant::now();
        cache.insert("a.".into(), txt(), now + Duration::from_secs(3600));
        assert!(has(&cache, "a."));
        // A TTL of 0 (dnsmasq's default for its own records) is not kept at all.
        cache.insert("zero.".into(), txt(), now);
        assert!(!has(&cache, "zero."));
        let capped = cache.lock().get("a.").map(|(_, u)| *u).expect("kept");
        assert!(capped <= Instant::now() + Duration::from_secs(60));
    }

    #[test]
    fn a_full_cache_drops_the_key_expiring_first() {
        let cache = KeyCache::new(2, Duration::from_secs(3600));
        let now = Instant::now();
        cache.insert("soon.".into(), txt(), now + Duration::from_secs(10));
        cache.insert("late.".into(), txt(), now + Duration::from_secs(1000));
        cache.insert("new.".into(), txt(), now + Duration::from_secs(500));
        assert!(!has(&cache, "soon."));
        assert!(has(&cache, "late.") && has(&cache, "new."));
        assert!(cache.remove("late.").is_some());
        assert!(!has(&cache, "late."));
    }

    #[test]
    fn a_cache_of_no_entries_keeps_nothing() {
        let cache = KeyCache::new(0, Duration::from_secs(3600));
        cache.insert(
            "a.".into(),
            txt(),
            Instant::now() + Duration::from_secs(100),
        );
        assert!(!has(&cache, "a."));
    }
}
