//! Large values compressed on their way into the store, and read back whichever way they were
//! written.
//!
//! A message record (its text), an outbox entry's mail and a raw mail are text mostly, and
//! LZ4 halves them for a few microseconds each. Smaller values are what the engine keeps: its
//! pages and page cache hold more records, and sled rewrites fewer bytes when it consolidates
//! a page (BENCHMARKS.md, "Store size").
//!
//! A packed value is `\0LZ4`, the original length (4 bytes, big-endian) and one LZ4 block; a
//! value that began with a NUL byte is kept as `\0RAW` and the value; any other value is as it
//! was given. JSON records and mail never begin with NUL, so every value stored before this
//! format reads back unchanged; a short value, or one LZ4 does not make smaller, is kept as
//! it is.

use std::borrow::Cow;

const LZ4: &[u8; 4] = b"\0LZ4";
const RAW: &[u8; 4] = b"\0RAW";
/// Values below this are kept as they are: too small to gain from compression.
const SMALLEST: usize = 256;
/// The largest value a packed header may claim (a corrupt header must not make us allocate
/// gigabytes): above the largest mail the store keeps.
const LARGEST: usize = 1 << 30;

/// The value as it is stored.
pub fn pack(value: &[u8]) -> Cow<'_, [u8]> {
    if value.len() >= SMALLEST {
        if let Ok(len) = u32::try_from(value.len()) {
            let block = lz4_flex::block::compress(value);
            // Worth it only when it saves an eighth or more.
            if block.len() + 8 <= value.len() - value.len() / 8 {
                let mut out = Vec::with_capacity(8 + block.len());
                out.extend_from_slice(LZ4);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&block);
                return Cow::Owned(out);
            }
        }
    }
    if value.first() == Some(&0) {
        return Cow::Owned([RAW.as_slice(), value].concat());
    }
    Cow::Borrowed(value)
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
    if stored.starts_with(LZ4) || stored.starts_with(RAW) {
        return unpack(&stored).map(Cow::into_owned);
    }
    Ok(stored)
}

/// The value as it was given to [`pack`]; an error says why a packed value cannot be read.
pub fn unpack(stored: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    if let Some(rest) = stored.strip_prefix(RAW) {
        return Ok(Cow::Borrowed(rest));
    }
    let Some(rest) = stored.strip_prefix(LZ4) else {
        return Ok(Cow::Borrowed(stored));
    };
    let (len, block) = rest
        .split_first_chunk::<4>()
        .ok_or("a packed value cut short")?;
    let len = u32::from_be_bytes(*len) as usize;
    if len > LARGEST {
        return Err(format!("a packed value claims {len} bytes"));
    }
    let value = lz4_flex::block::decompress(block, len)
        .map_err(|e| format!("a packed value does not decompress: {e}"))?;
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
