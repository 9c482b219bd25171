//! What came in: tickets, their messages, the Message-ID index that threads replies, the raw
//! mail as it arrived, the SLA timer queue, and each sender's recent mail (the flood breaker).

use super::blobs::BlobRef;
use super::codec::{self, Packed};
use super::{decode_json, keys, unpacked, Store, StoreError, Txn};
use crate::core::service::message::{Direction, MessageRecord};
use crate::core::service::ticket::Ticket;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a known Message-ID belongs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageIndex {
    pub ticket: String,
    pub direction: Direction,
}

impl Store {
    pub fn ticket(&self, reference: &str) -> Result<Option<Ticket>, StoreError> {
        self.get_json(&keys::ticket(reference))
    }

    /// Every ticket, in reference order.
    pub fn tickets(&self) -> Result<Vec<Ticket>, StoreError> {
        self.scan_json(keys::TICKETS)
    }

    /// A page of tickets in reference order: those after `after` (from the first when `None`)
    /// that `keep` admits, at most `limit`. The store is read in chunks, so a page holds no more
    /// than one chunk besides what it returns, however many tickets there are; a filter that
    /// admits few tickets reads further, never all at once.
    pub fn tickets_page(
        &self,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&Ticket) -> bool,
    ) -> Result<Vec<Ticket>, StoreError> {
        const CHUNK: usize = 256;
        let end = keys::after_prefix(keys::TICKETS);
        let mut start = match after {
            Some(r) => keys::just_after(&keys::ticket(r)),
            None => keys::TICKETS.as_bytes().to_vec(),
        };
        let mut page = Vec::new();
        while page.len() < limit {
            let chunk = self.engine.scan_range(&start, &end, CHUNK)?;
            let Some((last, _)) = chunk.last() else {
                break;
            };
            start = keys::just_after_bytes(last);
            let full = chunk.len() == CHUNK;
            for (k, v) in chunk {
                let t: Ticket = decode_json(&String::from_utf8_lossy(&k), &v)?;
                if keep(&t) {
                    page.push(t);
                    if page.len() == limit {
                        break;
                    }
                }
            }
            if !full {
                break;
            }
        }
        Ok(page)
    }

    pub fn messages(&self, reference: &str) -> Result<Vec<MessageRecord>, StoreError> {
        self.engine
            .scan_prefix(keys::messages(reference).as_bytes(), usize::MAX)?
            .into_iter()
            .map(|(k, v)| decode_message(&String::from_utf8_lossy(&k), &v))
            .collect()
    }

    pub fn message_index(&self, message_id: &str) -> Result<Option<MessageIndex>, StoreError> {
        self.get_json(&keys::message_index(message_id))
    }

    /// The raw mail with this Message-ID, as it came in; `None` when it was never kept, or
    /// when a crash took its bytes (see `Store::recover_blobs`).
    pub fn raw(&self, message_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(log) = &self.blobs {
            let ref_key = keys::raw_ref(message_id);
            if let Some(r) = self.engine.get(ref_key.as_bytes())? {
                let Some(r) = BlobRef::decode(&r) else {
                    return Err(StoreError::Corrupt {
                        key: ref_key,
                        message: "not a raw-mail reference".into(),
                    });
                };
                return log
                    .read(r, keys::raw(message_id).as_bytes())
                    .map_err(|e| self.blob_error(e));
            }
        }
        let key = keys::raw(message_id);
        self.engine
            .get(key.as_bytes())?
            .map(|v| unpacked(&key, v))
            .transpose()
    }

    /// Tickets whose timer (next SLA notice) is due at `now`, earliest first.
    pub fn due_timers(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, String)>, StoreError> {
        let mut due = Vec::new();
        for (k, _) in self.engine.scan_prefix(keys::TIMERS, usize::MAX)? {
            let Some((at, reference)) = keys::parse_timer(&k) else {
                continue;
            };
            if at > now {
                break;
            }
            due.push((at, reference));
        }
        Ok(due)
    }

    /// When the earliest timer is due, if any.
    pub fn next_timer(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .engine
            .scan_prefix(keys::TIMERS, 1)?
            .first()
            .and_then(|(k, _)| keys::parse_timer(k))
            .map(|(at, _)| at))
    }

    /// Mails seen from a sender at a desk recently (for the flood breaker).
    pub fn sender_history(
        &self,
        desk: &str,
        email: &str,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        Ok(self
            .get_json(&keys::sender(desk, email))?
            .unwrap_or_default())
    }
}

/// A message record as [`Txn::put_message`] stores it: `\0MSG`, the length of its head (4
/// bytes, big-endian), the head (the record without its texts, as JSON, packed) and its texts
/// ([`pack_texts`]: `text` and `new_text` in one packed value, so that the new text, most often
/// the text again with other line ends, costs next to nothing). The texts are packed apart so
/// that ingest can pack them ahead, on its preparing thread. A record stored before is JSON
/// (packed or not), read as it was.
const MESSAGE: &[u8; 4] = b"\0MSG";

/// A message's `text` and `new_text` as one packed value: whether there is a new text (1 byte),
/// the text's length (4 bytes, big-endian), the text, the new text.
pub fn pack_texts(text: &str, new_text: Option<&str>) -> Packed {
    let mut plain = Vec::with_capacity(5 + text.len() + new_text.map_or(0, str::len));
    plain.push(u8::from(new_text.is_some()));
    plain.extend_from_slice(&(text.len() as u32).to_be_bytes());
    plain.extend_from_slice(text.as_bytes());
    plain.extend_from_slice(new_text.unwrap_or_default().as_bytes());
    Packed::of(&plain)
}

/// [`pack_texts`]'s value, unpacked, as the two texts.
fn unpack_texts(plain: &[u8]) -> Result<(String, Option<String>), String> {
    let (&flag, rest) = plain.split_first().ok_or("a message's texts cut short")?;
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or("a message's texts cut short")?;
    let len = u32::from_be_bytes(*len) as usize;
    if len > rest.len() {
        return Err(format!("a message's text claims {len} bytes"));
    }
    let (text, new_text) = rest.split_at(len);
    let utf8 = |b: &[u8]| {
        String::from_utf8(b.to_vec()).map_err(|e| format!("a message's text is not UTF-8: {e}"))
    };
    Ok((
        utf8(text)?,
        (flag == 1).then(|| utf8(new_text)).transpose()?,
    ))
}

/// A message record's stored value, of its packed head and its stored texts.
fn message_value(head: &[u8], text: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + head.len() + text.len());
    value.extend_from_slice(MESSAGE);
    value.extend_from_slice(&(head.len() as u32).to_be_bytes());
    value.extend_from_slice(head);
    value.extend_from_slice(text);
    value
}

/// A message record as stored, read back.
fn decode_message(key: &str, value: &[u8]) -> Result<MessageRecord, StoreError> {
    let corrupt = |message: String| StoreError::Corrupt {
        key: key.to_string(),
        message,
    };
    let Some(rest) = value.strip_prefix(MESSAGE) else {
        return decode_json(key, value);
    };
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("a message record cut short".into()))?;
    let len = u32::from_be_bytes(*len) as usize;
    if len > rest.len() {
        return Err(corrupt(format!(
            "a message record's head claims {len} bytes"
        )));
    }
    let (head, text) = rest.split_at(len);
    let mut record: MessageRecord = decode_json(key, head)?;
    let plain = codec::unpack(text).map_err(corrupt)?;
    (record.text, record.new_text) = unpack_texts(&plain).map_err(corrupt)?;
    Ok(record)
}

impl Txn<'_> {
    pub fn put_ticket(&mut self, t: &Ticket) {
        self.put_json(keys::ticket(&t.reference), t);
    }

    pub fn put_message(&mut self, m: MessageRecord) {
        self.put_message_packed(m, None);
    }

    /// [`Txn::put_message`] with the record's texts packed ahead by [`pack_texts`] (`None`:
    /// packed now).
    pub fn put_message_packed(&mut self, mut m: MessageRecord, texts: Option<Packed>) {
        let text = match texts {
            Some(packed) => packed,
            None => pack_texts(&m.text, m.new_text.as_deref()),
        };
        m.text = String::new();
        m.new_text = None;
        let head = codec::pack_owned(serde_json::to_vec(&m).expect(
            "a message record is a plain struct of strings, numbers and lists: it serialises",
        ));
        self.batch.put(
            keys::message(&m.ticket, m.seq),
            message_value(&head, &text.into_stored()),
        );
        self.put_json(
            keys::message_index(&m.message_id),
            &MessageIndex {
                ticket: m.ticket.clone(),
                direction: m.direction,
            },
        );
    }

    /// Indexes a Message-ID without a message record (e.g. a duplicate's second copy).
    pub fn index_message_id(&mut self, message_id: &str, ticket: &str, direction: Direction) {
        self.put_json(
            keys::message_index(message_id),
            &MessageIndex {
                ticket: ticket.to_string(),
                direction,
            },
        );
    }

    /// Forgets a Message-ID (so a shelved mail can be processed again).
    pub fn delete_message_index(&mut self, message_id: &str) {
        self.batch.delete(keys::message_index(message_id));
    }

    /// Keeps a mail's raw bytes: in the raw-mail log when the store has one (appended at
    /// commit, before the engine's batch), else inline.
    pub fn put_raw(&mut self, message_id: &str, raw: &[u8]) {
        self.put_raw_packed(message_id, Packed::of(raw));
    }

    /// [`Txn::put_raw`] of a mail packed ahead.
    pub fn put_raw_packed(&mut self, message_id: &str, raw: Packed) {
        match self.store.blobs {
            Some(_) => self.raw.push((message_id.to_string(), raw)),
            None => self.batch.put(keys::raw(message_id), raw.into_stored()),
        }
    }

    /// Files a ticket in the timer queue at `at` (its next SLA notice).
    pub fn put_timer(&mut self, at: DateTime<Utc>, reference: &str) {
        self.batch.put(keys::timer(at, reference), Vec::new());
    }

    pub fn delete_timer(&mut self, at: DateTime<Utc>, reference: &str) {
        self.batch.delete(keys::timer(at, reference));
    }

    pub fn put_sender_history(&mut self, desk: &str, email: &str, times: &[DateTime<Utc>]) {
        self.put_json(keys::sender(desk, email), &times);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_cut_or_lying_message_record_is_an_error_not_a_panic() {
        let head = br#"{"ticket":"NL-1","seq":1,"message_id":"m1@acme.example","direction":"in","kind":"customer","from":{"email":"jane@acme.example"},"to":[],"date":"2026-11-23T09:00:00Z","subject":"down","text":"","attachments":[],"desk":"nl"}"#;
        let texts = pack_texts("The link is down.", None).into_stored();
        let whole = message_value(head, &texts);
        let record = decode_message("m/NL-1/00000001", &whole).expect("whole");
        assert_eq!(record.text, "The link is down.");
        for cut in [5, 8, 10, whole.len() - 1] {
            assert!(
                decode_message("m/NL-1/00000001", &whole[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut lying = whole.clone();
        lying[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode_message("m/NL-1/00000001", &lying).is_err());
    }

    proptest! {
        #[test]
        fn a_message_s_two_texts_read_back_as_they_were(text in ".{0,300}", new_text in proptest::option::of(".{0,300}")) {
            let stored = pack_texts(&text, new_text.as_deref()).into_stored();
            let plain = codec::unpack(&stored).expect("unpack");
            prop_assert_eq!(unpack_texts(&plain).expect("texts"), (text, new_text));
        }
    }
}
