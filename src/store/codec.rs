//! Values compressed on their way into the store, and read back whichever way they were
//! written.
//!
//! A message record (its text), an outbox entry's mail and a raw mail are text mostly; tickets
//! and outbox entries are JSON of the same few shapes. zstd (level 1) with a dictionary of those
//! shapes stores them in a third to a half of what LZ4 did (BENCHMARKS.md, "Store size"), and
//! what the engine does not hold it does not rewrite: sled keeps about twice what it is given.
//!
//! A packed value is `\0ZS1`, the original length (4 bytes, big-endian) and one zstd frame made
//! with [`DICTIONARY_1`]; a value that began with a NUL byte is kept as `\0RAW` and the value;
//! any other value is as it was given. Values written before read back as they were: `\0LZ4`,
//! the length and one LZ4 block (the format of the stop before), or plain JSON and mail, which
//! never begin with NUL. A short value, or one that compression does not make an eighth
//! smaller, is kept as it is.
//!
//! **The dictionary is frozen**: every value packed with it needs it to be read. Another
//! dictionary means another marker (`\0ZS2`), with this one kept for reading.

use std::borrow::Cow;
use std::cell::RefCell;

const ZSTD: &[u8; 4] = b"\0ZS1";
const LZ4: &[u8; 4] = b"\0LZ4";
const RAW: &[u8; 4] = b"\0RAW";
/// Values below this are kept as they are: too small to gain from compression.
const SMALLEST: usize = 64;
/// The largest value a packed header may claim (a corrupt header must not make us allocate
/// gigabytes): above the largest mail the store keeps.
const LARGEST: usize = 1 << 30;
/// zstd's fastest regular level: 1 compressed the bench's 10,000 message records to 36 MB in
/// 32 us each, level 3 to 30 MB in 36 us; LZ4 to 64 MB in 13 us.
const LEVEL: i32 = 1;

/// What the store's records and mail have in common (a ticket, a message record, an outbox
/// entry, the headers of a customer's mail, deskgate's acknowledgement as it is sent), as zstd's
/// raw-content dictionary: a record of a few hundred bytes is mostly found in it. Frozen (see
/// above).
const DICTIONARY_1: &[u8] = include_bytes!("codec_dictionary_1.txt");

/// A zstd compressor and decompressor per thread, each with the dictionary loaded once.
struct Zstd {
    compressor: zstd::bulk::Compressor<'static>,
    decompressor: zstd::bulk::Decompressor<'static>,
}

impl Zstd {
    fn new() -> std::io::Result<Zstd> {
        let mut compressor = zstd::bulk::Compressor::with_dictionary(LEVEL, DICTIONARY_1)?;
        // The length is in our header; the dictionary is known by the marker.
        compressor.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(false))?;
        compressor.set_parameter(zstd::zstd_safe::CParameter::DictIdFlag(false))?;
        // Small tables: a record or a mail is tens of kilobytes, and tables that stay in the
        // processor's cache between two records matter more than a match found further back.
        compressor.set_parameter(zstd::zstd_safe::CParameter::WindowLog(17))?;
        compressor.set_parameter(zstd::zstd_safe::CParameter::HashLog(12))?;
        Ok(Zstd {
            compressor,
            decompressor: zstd::bulk::Decompressor::with_dictionary(DICTIONARY_1)?,
        })
    }
}

thread_local! {
    static ZSTD_CONTEXT: RefCell<Option<Zstd>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's zstd contexts (made on first use).
fn with_zstd<T>(f: impl FnOnce(&mut Zstd) -> std::io::Result<T>) -> std::io::Result<T> {
    ZSTD_CONTEXT.with(|cell| {
        let mut cell = cell.borrow_mut();
        let zstd = match cell.as_mut() {
            Some(z) => z,
            None => cell.insert(Zstd::new()?),
        };
        f(zstd)
    })
}

/// The value as it is stored.
pub fn pack(value: &[u8]) -> Cow<'_, [u8]> {
    if value.len() >= SMALLEST {
        if let Ok(len) = u32::try_from(value.len()) {
            // zstd fails only on an allocation it cannot make: the value is then kept as it is.
            if let Ok(frame) = with_zstd(|z| z.compressor.compress(value)) {
                // Worth it only when it saves an eighth or more.
                if frame.len() + 8 <= value.len() - value.len() / 8 {
                    let mut out = Vec::with_capacity(8 + frame.len());
                    out.extend_from_slice(ZSTD);
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(&frame);
                    return Cow::Owned(out);
                }
            }
        }
    }
    if value.first() == Some(&0) {
        return Cow::Owned([RAW.as_slice(), value].concat());
    }
    Cow::Borrowed(value)
}

/// A value packed ahead of the transaction that stores it, by a thread with time to spare
/// (ingest's preparing thread packs a mail and its text while the applying thread, the
/// pipeline's slower one, works on the mail before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed(Vec<u8>);

impl Packed {
    pub fn of(value: &[u8]) -> Packed {
        Packed(pack(value).into_owned())
    }

    /// The bytes as they are stored.
    pub fn into_stored(self) -> Vec<u8> {
        self.0
    }
}

/// [`pack`] of a value the caller owns: the same bytes, not a copy, when kept as they are.
pub fn pack_owned(value: Vec<u8>) -> Vec<u8> {
    match pack(&value) {
        Cow::Owned(packed) => packed,
        Cow::Borrowed(_) => value,
    }
}

/// [`unpack`] of a value the caller owns: the same bytes, not a copy, when stored as they were.
pub fn unpack_owned(stored: Vec<u8>) -> Result<Vec<u8>, String> {
    if [ZSTD, LZ4, RAW].iter().any(|m| stored.starts_with(*m)) {
        return unpack(&stored).map(Cow::into_owned);
    }
    Ok(stored)
}

/// The value as it was given to [`pack`]; an error says why a packed value cannot be read.
pub fn unpack(stored: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    if let Some(rest) = stored.strip_prefix(RAW) {
        return Ok(Cow::Borrowed(rest));
    }
    let (zstd, rest) = match (stored.strip_prefix(ZSTD), stored.strip_prefix(LZ4)) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return Ok(Cow::Borrowed(stored)),
    };
    let (len, data) = rest
        .split_first_chunk::<4>()
        .ok_or("a packed value cut short")?;
    let len = u32::from_be_bytes(*len) as usize;
    if len > LARGEST {
        return Err(format!("a packed value claims {len} bytes"));
    }
    let value = if zstd {
        with_zstd(|z| z.decompressor.decompress(data, len))
            .map_err(|e| format!("a packed value does not decompress: {e}"))?
    } else {
        lz4_flex::block::decompress(data, len)
            .map_err(|e| format!("a packed value does not decompress: {e}"))?
    };
    if value.len() != len {
        return Err(format!(
            "a packed value of {} bytes, not the {len} it claims",
            value.len()
        ));
    }
    Ok(Cow::Owned(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_record_of_text_is_stored_smaller_and_read_back_whole() {
        let record = format!(
            "{{\"text\":\"{}\"}}",
            "Our uplink in AMS-2 drops packets since 02:00. ".repeat(40)
        );
        let stored = pack(record.as_bytes());
        assert!(stored.len() < record.len() / 3, "{} bytes", stored.len());
        assert_eq!(unpack(&stored).expect("unpack"), record.as_bytes());
    }

    #[test]
    fn a_small_record_of_a_known_shape_is_stored_in_a_fraction_thanks_to_the_dictionary() {
        let outbox_entry = r#"{"id":48213,"ticket":"FR-004211","kind":"ack","from":"support.fr@provider.example","to":["noc@client.example"],"subject":"[FR-004211] Received: Perte de paquets PAR3","message_id":"dg.FR-004211.9b1c0e2f4a5d6e7f8091a2b3c4d5e6f7.0123456789ab@provider.example","state":"sent","attempts":1,"created_at":"2026-12-06T09:14:03.120443871Z","next_attempt_at":"2026-12-06T09:14:03.120443871Z","sent_at":"2026-12-06T09:14:04.003121870Z"}"#;
        let stored = pack(outbox_entry.as_bytes());
        assert!(
            stored.len() < outbox_entry.len() / 2,
            "{} of {} bytes",
            stored.len(),
            outbox_entry.len()
        );
        assert_eq!(unpack(&stored).expect("unpack"), outbox_entry.as_bytes());
    }

    #[test]
    fn a_value_packed_with_lz4_by_the_format_before_reads_back() {
        let record = "{\"text\":\"Storing op verbinding AMS-RTM sinds 03:10. \"}".repeat(30);
        let mut stored = LZ4.to_vec();
        stored.extend_from_slice(&(record.len() as u32).to_be_bytes());
        stored.extend_from_slice(&lz4_flex::block::compress(record.as_bytes()));
        assert_eq!(unpack(&stored).expect("unpack"), record.as_bytes());
        assert_eq!(
            unpack_owned(stored).expect("unpack"),
            record.as_bytes().to_vec()
        );
    }

    #[test]
    fn values_stored_before_the_format_read_back_unchanged() {
        for old in [&b"{\"ticket\":\"NL-000001\"}"[..], b"", b"\x00\x00\x00\x07"] {
            // `\0\0\0\x07` is an 8-byte counter's start: neither marker.
            assert_eq!(unpack(old).expect("unpack"), old);
        }
    }

    #[test]
    fn a_corrupt_packed_value_is_an_error_not_a_panic_or_a_huge_allocation() {
        let mut stored = pack("x".repeat(5000).as_bytes()).into_owned();
        assert!(unpack(&stored[..6]).is_err());
        stored[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(unpack(&stored).is_err());
        let mut stored = pack("y".repeat(5000).as_bytes()).into_owned();
        stored[4..8].copy_from_slice(&4000u32.to_be_bytes());
        assert!(unpack(&stored).is_err());
    }

    proptest! {
        #[test]
        fn every_value_reads_back_as_it_was_given(value in proptest::collection::vec(any::<u8>(), 0..2000),
                                                  repeat in 1usize..8) {
            let value = value.repeat(repeat);
            let stored = pack(&value);
            let back = unpack(&stored).expect("unpack");
            prop_assert_eq!(back.as_ref(), value.as_slice());
        }
    }
}
