//! Every key the store writes, in one place: the layout of the one ordered key space.
//!
//! | key | value |
//! |---|---|
//! | `meta/schema` | the layout version ([`super::schema`]) |
//! | `meta/seq/<name>` | a counter, 8 bytes big-endian |
//! | `meta/v/<name>` | a small named value (JSON) |
//! | `t/<ref>` | a ticket |
//! | `m/<ref>/<seq:08>` | one of its messages |
//! | `mid/<message-id>` | the ticket a Message-ID belongs to |
//! | `rawref/<message-id>` | where the raw mail is in the raw-mail log ([`super::blobs`]) |
//! | `raw/<message-id>` | raw mail inline (memory engine, older stores); its log record's key |
//! | `bref/<segment:08>/<offset:016>` | raw mail not yet known durable → its `raw/` key |
//! | `cp/<desk>` | the desk's checkpoint in its mailbox |
//! | `ack/<desk>` | how far the mailbox was told which mails are done |
//! | `tmq/<ms:020>/<ref>` | the timer queue (a ticket's next SLA notice), in time order |
//! | `o/<id:016>` | an outbox entry |
//! | `ob/<id:016>` | its bytes, until it is sent |
//! | `oq/<due ms:020>/<id:016>` | the queue index: queued entries only, in the order they are due |
//! | `omid/<message-id>` | the outbox id that sent it, 8 bytes big-endian |
//! | `rcpt/<email>` | a recipient record (bounces, recent automatic mail) |
//! | `snd/<desk>/<email>` | a sender's recent mail to a desk |
//! | `q/<id:016>`, `qr/<id:016>` | a quarantined mail and its bytes |
//! | `a/<id:016>`, `ar/<id:016>` | a mail kept aside and its bytes |
//! | `mnt/<id>`, `inc/<id>` | a maintenance, an incident |
//! | `bn/<m or i>/<notice key>` | one notice's broadcast |
//! | `bs/<m or i>/<notice key>/<account>/<address>` | a recipient it was queued for → outbox id |
//!
//! JSON records and an outbox entry's bytes are stored as `store/codec.rs` packs them (LZ4 when
//! that pays). Numbers are zero-padded so that byte order is numeric order. A prefix constant ends in `/`,
//! so a scan for `MNT-1` never finds `MNT-10`. Changing a layout means a new
//! [`super::schema::SCHEMA_VERSION`] and a migration.

use super::broadcasts::Subject;
use super::shelves::Shelf;
use chrono::{DateTime, Utc};

/// The layout version's key.
pub(super) const SCHEMA: &[u8] = b"meta/schema";

/// A named counter.
pub(super) fn seq(name: &str) -> String {
    format!("meta/seq/{name}")
}

/// A small named value.
pub(super) fn meta(name: &str) -> String {
    format!("meta/v/{name}")
}

/// Every ticket.
pub(super) const TICKETS: &str = "t/";

/// The first key above every key that starts with `prefix` (an ASCII prefix ending below 0x7f,
/// as every prefix of this file does).
pub(super) fn after_prefix(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// The first key after `key` in byte order.
pub(super) fn just_after(key: &str) -> Vec<u8> {
    just_after_bytes(key.as_bytes())
}

pub(super) fn just_after_bytes(key: &[u8]) -> Vec<u8> {
    let mut next = key.to_vec();
    next.push(0);
    next
}

pub(super) fn ticket(reference: &str) -> String {
    format!("{TICKETS}{reference}")
}

/// Every message of a ticket.
pub(super) fn messages(reference: &str) -> String {
    format!("m/{reference}/")
}

pub(super) fn message(reference: &str, seq: u32) -> String {
    format!("m/{reference}/{seq:08}")
}

pub(super) fn message_index(message_id: &str) -> String {
    format!("mid/{message_id}")
}

/// A raw mail kept inline, and the key its record in the raw-mail log carries.
pub(super) fn raw(message_id: &str) -> String {
    format!("raw/{message_id}")
}

/// The Message-ID a [`raw`] key names.
pub(super) fn message_id_of_raw(key: &[u8]) -> Option<&str> {
    std::str::from_utf8(key).ok()?.strip_prefix("raw/")
}

/// Where a raw mail is in the raw-mail log.
pub(super) fn raw_ref(message_id: &str) -> String {
    format!("rawref/{message_id}")
}

/// Raw mail not yet known durable.
pub(super) const BLOBS_PENDING: &[u8] = b"bref/";

/// Raw mail not yet known durable, by where it is in the log.
pub(super) fn blob_pending(segment: u32, offset: u64) -> String {
    format!("bref/{segment:08}/{offset:016}")
}

/// Every desk's checkpoint.
pub(super) const CHECKPOINTS: &[u8] = b"cp/";

pub(super) fn checkpoint(desk: &str) -> String {
    format!("cp/{desk}")
}

/// The desk a [`checkpoint`] key is of.
pub(super) fn desk_of_checkpoint(key: &[u8]) -> String {
    String::from_utf8_lossy(key.strip_prefix(CHECKPOINTS).unwrap_or(key)).into_owned()
}

pub(super) fn acked(desk: &str) -> String {
    format!("ack/{desk}")
}

/// The timer queue.
pub(super) const TIMERS: &[u8] = b"tmq/";

/// Timer keys sort by time: `tmq/<milliseconds since 1970, 20 digits>/<ref>`.
pub(super) fn timer(at: DateTime<Utc>, reference: &str) -> String {
    format!("tmq/{:020}/{reference}", at.timestamp_millis().max(0))
}

/// The time and ticket a [`timer`] key names.
pub(super) fn parse_timer(key: &[u8]) -> Option<(DateTime<Utc>, String)> {
    let s = std::str::from_utf8(key).ok()?.strip_prefix("tmq/")?;
    let (ms, reference) = s.split_once('/')?;
    Some((
        DateTime::<Utc>::from_timestamp_millis(ms.parse().ok()?)?,
        reference.to_string(),
    ))
}

/// Every outbox entry.
pub(super) const OUTBOX: &str = "o/";

pub(super) fn outbox(id: u64) -> String {
    format!("{OUTBOX}{id:016}")
}

pub(super) fn outbox_bytes(id: u64) -> String {
    format!("ob/{id:016}")
}

pub(super) fn outbox_by_message_id(message_id: &str) -> String {
    format!("omid/{message_id}")
}

/// The outbox queue index.
pub(super) const OUTBOX_QUEUE: &[u8] = b"oq/";
/// The first key after the queue index (`0` follows `/`).
pub(super) const OUTBOX_QUEUE_END: &[u8] = b"oq0";

/// Outbox queue markers sort by due time, then id: `oq/<ms since 1970, 20 digits>/<id:016>`.
pub(super) fn outbox_marker(due: DateTime<Utc>, id: u64) -> String {
    format!("oq/{:020}/{id:016}", due.timestamp_millis().max(0))
}

/// The first key above every marker due at `now`: the next millisecond's first.
pub(super) fn outbox_queue_after(now: DateTime<Utc>) -> String {
    format!(
        "oq/{:020}/",
        now.timestamp_millis().max(0).saturating_add(1)
    )
}

/// The outbox id an [`outbox_marker`] key names.
pub(super) fn id_of_outbox_marker(key: &[u8]) -> Option<u64> {
    std::str::from_utf8(key)
        .ok()?
        .rsplit_once('/')
        .and_then(|(_, id)| id.parse().ok())
}

/// The outbox id a schema-1 queue marker (`oq/<id>`) names.
pub(super) fn id_of_outbox_marker_v1(key: &[u8]) -> Option<u64> {
    std::str::from_utf8(key.strip_prefix(OUTBOX_QUEUE)?)
        .ok()?
        .parse()
        .ok()
}

/// A schema-1 queue marker, to build an old store in tests.
#[cfg(test)]
pub(super) fn outbox_marker_v1(id: u64) -> String {
    format!("oq/{id:016}")
}

pub(super) fn recipient(email: &str) -> String {
    format!("rcpt/{email}")
}

pub(super) fn sender(desk: &str, email: &str) -> String {
    format!("snd/{desk}/{email}")
}

fn shelf_letter(shelf: Shelf) -> &'static str {
    match shelf {
        Shelf::Quarantine => "q",
        Shelf::Aside => "a",
    }
}

/// Every mail on a shelf.
pub(super) fn shelf(shelf: Shelf) -> String {
    format!("{}/", shelf_letter(shelf))
}

pub(super) fn shelved(shelf: Shelf, id: u64) -> String {
    format!("{}/{id:016}", shelf_letter(shelf))
}

pub(super) fn shelved_raw(shelf: Shelf, id: u64) -> String {
    format!("{}r/{id:016}", shelf_letter(shelf))
}

/// Every maintenance.
pub(super) const MAINTENANCES: &str = "mnt/";

pub(super) fn maintenance(id: &str) -> String {
    format!("{MAINTENANCES}{id}")
}

/// Every incident.
pub(super) const INCIDENTS: &str = "inc/";

pub(super) fn incident(id: &str) -> String {
    format!("{INCIDENTS}{id}")
}

fn subject_letter(subject: Subject) -> &'static str {
    match subject {
        Subject::Maintenance => "m",
        Subject::Incident => "i",
    }
}

/// One notice's broadcast record.
pub(super) fn notice(subject: Subject, key: &str) -> String {
    format!("bn/{}/{key}", subject_letter(subject))
}

/// The notices about one maintenance or incident (notice keys start with its id).
pub(super) fn notices_of(subject: Subject, of: &str) -> String {
    format!("bn/{}/{of}/", subject_letter(subject))
}

/// The recipients a notice was queued for.
pub(super) fn notice_recipients(subject: Subject, key: &str) -> String {
    format!("bs/{}/{key}/", subject_letter(subject))
}

pub(super) fn notice_recipient(
    subject: Subject,
    key: &str,
    account: &str,
    address: &str,
) -> String {
    format!("{}{account}/{address}", notice_recipients(subject, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_keys_sort_in_number_order() {
        let t = |ms| DateTime::<Utc>::from_timestamp_millis(ms).expect("time");
        assert!(outbox(9) < outbox(10));
        assert!(message("NL-1", 9) < message("NL-1", 10));
        assert!(outbox_marker(t(999), 7) < outbox_marker(t(1000), 3));
        assert!(outbox_marker(t(1000), 3) < outbox_marker(t(1000), 4));
        assert!(outbox_marker(t(1000), u64::MAX) < outbox_queue_after(t(1000)));
        assert!(outbox_queue_after(t(1000)) <= outbox_marker(t(1001), 0));
        assert!(outbox_marker(t(99_999_999_999_999), u64::MAX).as_bytes() < OUTBOX_QUEUE_END);
        assert!(timer(t(999), "NL-9") < timer(t(1000), "NL-1"));
    }

    #[test]
    fn keys_read_back_what_they_name() {
        let at = DateTime::<Utc>::from_timestamp_millis(1_800_000_000_123).expect("time");
        assert_eq!(
            parse_timer(timer(at, "NL-000042").as_bytes()),
            Some((at, "NL-000042".to_string()))
        );
        assert_eq!(
            id_of_outbox_marker(outbox_marker(at, 42).as_bytes()),
            Some(42)
        );
        assert_eq!(
            id_of_outbox_marker_v1(outbox_marker_v1(42).as_bytes()),
            Some(42)
        );
        assert_eq!(
            id_of_outbox_marker_v1(outbox_marker(at, 42).as_bytes()),
            None
        );
        assert_eq!(
            message_id_of_raw(raw("a@acme.example").as_bytes()),
            Some("a@acme.example")
        );
        assert_eq!(desk_of_checkpoint(checkpoint("nl").as_bytes()), "nl");
    }

    #[test]
    fn shelves_and_notices_do_not_share_a_prefix() {
        assert!(!shelved_raw(Shelf::Quarantine, 1).starts_with(&shelf(Shelf::Quarantine)));
        assert!(!shelved(Shelf::Aside, 1).starts_with(&shelf(Shelf::Quarantine)));
        assert!(!notice(Subject::Maintenance, "MNT-10/x")
            .starts_with(&notices_of(Subject::Maintenance, "MNT-1")));
        assert_eq!(
            notice_recipient(
                Subject::Incident,
                "INC-3/update/4",
                "ACME",
                "noc@acme.example"
            ),
            "bs/i/INC-3/update/4/ACME/noc@acme.example"
        );
    }
}
