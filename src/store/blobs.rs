//! Raw mail kept beside the key-value engine, in append-only segment files.
//!
//! sled keeps values inside its tree pages and rewrites a page whole each time it consolidates
//! or splits it, so a 13 KB mail was serialised, copied and written several times over, and
//! cached with its neighbours: the largest single cost of ingest (BENCHMARKS.md). Here each mail
//! is appended once to `<store>/raw-mail/<segment>.seg`; the engine holds only a small
//! [`BlobRef`] to it, written in the same transaction as the rest of the mail's effects.
//!
//! A record is `DGB2`, the data's length and CRC-32, the key's length, the key, the data as
//! [`codec::pack`] stores it (a mail compressed, by ingest's preparing thread: `append_packed`);
//! records of `DGB1`, written before, hold the data as it was. Reading checks all of it, so a
//! reference to bytes that never reached the
//! disk is found out rather than returned as garbage.
//!
//! **Ordering.** Bytes are written (`write`, no sync) before the transaction that refers to them
//! is applied, so a process crash can never leave a reference to bytes the kernel does not
//! have. [`BlobLog::sync`] runs at the start of every store flush, before the engine's own: what
//! a flush made durable has its bytes durable too. What a power loss can break is only what was
//! committed after the last flush (the engine may persist on its own timer); the store finds
//! that at open time (see `Store::recover_blobs`).

use super::codec;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where a blob is: its segment, the offset of its record, the length of its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlobRef {
    pub segment: u32,
    pub offset: u64,
    pub len: u32,
}

impl BlobRef {
    /// The reference as stored in the engine: 16 bytes, big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(&self.segment.to_be_bytes());
        v.extend_from_slice(&self.offset.to_be_bytes());
        v.extend_from_slice(&self.len.to_be_bytes());
        v
    }

    pub fn decode(v: &[u8]) -> Option<BlobRef> {
        Some(BlobRef {
            segment: u32::from_be_bytes(v.get(0..4)?.try_into().ok()?),
            offset: u64::from_be_bytes(v.get(4..12)?.try_into().ok()?),
            len: u32::from_be_bytes(v.get(12..16)?.try_into().ok()?),
        })
    }
}

/// A position in the log: every byte before it is in a segment below or at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct LogPosition {
    pub segment: u32,
    pub len: u64,
}

/// A record whose data is packed ([`codec`]).
const MAGIC: &[u8; 4] = b"DGB2";
/// A record whose data is as it was given (written before records were packed).
const MAGIC_PLAIN: &[u8; 4] = b"DGB1";
/// Magic, data length, CRC-32, key length.
const HEADER: usize = 4 + 4 + 4 + 2;
/// A segment is closed and a new one begun once it has grown past this.
const SEGMENT_BYTES: u64 = 256 << 20;

/// The raw-mail log of one store.
#[derive(Debug)]
pub struct BlobLog {
    dir: PathBuf,
    writer: Mutex<Writer>,
}

#[derive(Debug)]
struct Writer {
    segment: u32,
    file: File,
    len: u64,
    /// Segments written to since the last sync (the current one, and any closed meanwhile).
    unsynced: Vec<u32>,
}

impl BlobLog {
    /// Opens the log in `dir` (created if missing), appending to its newest segment.
    pub fn open(dir: &Path) -> io::Result<BlobLog> {
        std::fs::create_dir_all(dir)?;
        let newest = segments(dir)?.into_iter().max().unwrap_or(1);
        let file = open_segment(dir, newest)?;
        let len = file.metadata()?.len();
        Ok(BlobLog {
            dir: dir.to_path_buf(),
            writer: Mutex::new(Writer {
                segment: newest,
                file,
                len,
                unsynced: Vec::new(),
            }),
        })
    }

    /// Appends one blob (handed to the kernel, not synced) and says where it is.
    pub fn append(&self, key: &[u8], data: &[u8]) -> io::Result<BlobRef> {
        self.append_packed(key, codec::Packed::of(data))
    }

    /// [`BlobLog::append`] of data packed already.
    pub fn append_packed(&self, key: &[u8], data: codec::Packed) -> io::Result<BlobRef> {
        let data = data.into_stored();
        let key_len = u16::try_from(key.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "blob key too long"))?;
        let len = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "blob over 4 GB"))?;
        let mut record = Vec::with_capacity(HEADER + key.len() + data.len());
        record.extend_from_slice(MAGIC);
        record.extend_from_slice(&len.to_be_bytes());
        record.extend_from_slice(&crc32fast::hash(&data).to_be_bytes());
        record.extend_from_slice(&key_len.to_be_bytes());
        record.extend_from_slice(key);
        record.extend_from_slice(&data);

        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if w.len >= SEGMENT_BYTES {
            let next = w.segment + 1;
            let file = open_segment(&self.dir, next)?;
            // The closed segment keeps its place in `unsynced` until the next sync.
            *w = Writer {
                segment: next,
                file,
                len: 0,
                unsynced: std::mem::take(&mut w.unsynced),
            };
            sync_dir(&self.dir)?;
        }
        let offset = w.len;
        if let Err(e) = w.file.write_all(&record) {
            // A partial record may be in the file: put the end back where it was, so the next
            // record starts where the log says it does.
            let _ = w.file.set_len(offset);
            return Err(e);
        }
        w.len += record.len() as u64;
        let segment = w.segment;
        if !w.unsynced.contains(&segment) {
            w.unsynced.push(segment);
        }
        Ok(BlobRef {
            segment,
            offset,
            len,
        })
    }

    /// Reads a blob back; `None` when the record there is missing, torn, or another key's.
    pub fn read(&self, r: BlobRef, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let file = match File::open(segment_path(&self.dir, r.segment)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut record = vec![0u8; HEADER + key.len() + r.len as usize];
        match file.read_exact_at(&mut record, r.offset) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let (header, rest) = record.split_at(HEADER);
        let (stored_key, data) = rest.split_at(key.len());
        let packed = &header[0..4] == MAGIC;
        let valid = (packed || &header[0..4] == MAGIC_PLAIN)
            && header[4..8] == r.len.to_be_bytes()
            && header[8..12] == crc32fast::hash(data).to_be_bytes()
            && header[12..14] == (key.len() as u16).to_be_bytes()
            && stored_key == key;
        if !valid {
            return Ok(None);
        }
        if !packed {
            return Ok(Some(data.to_vec()));
        }
        // The checksum held: these are the bytes we wrote, so a failure is ours, not a crash's.
        codec::unpack(data)
            .map(|d| Some(d.into_owned()))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Makes every blob appended so far durable; returns the position up to which it is.
    pub fn sync(&self) -> io::Result<LogPosition> {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        for segment in std::mem::take(&mut w.unsynced) {
            if segment == w.segment {
                w.file.sync_data()?;
            } else {
                open_segment(&self.dir, segment)?.sync_data()?;
            }
        }
        Ok(LogPosition {
            segment: w.segment,
            len: w.len,
        })
    }
}

fn segment_path(dir: &Path, segment: u32) -> PathBuf {
    dir.join(format!("{segment:08}.seg"))
}

fn open_segment(dir: &Path, segment: u32) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment_path(dir, segment))
}

/// The segment numbers present in `dir`.
fn segments(dir: &Path) -> io::Result<Vec<u32>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".seg"))
            .and_then(|n| n.parse().ok())
        {
            out.push(n);
        }
    }
    Ok(out)
}

/// Makes a new segment's directory entry durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_reads_back_and_survives_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = BlobLog::open(dir.path()).expect("open");
        let a = log.append(b"raw/a", b"first mail").expect("append");
        let b = log.append(b"raw/b", b"second").expect("append");
        assert!(b.offset > a.offset);
        let end = log.sync().expect("sync");
        drop(log);
        let log = BlobLog::open(dir.path()).expect("reopen");
        assert_eq!(
            log.read(a, b"raw/a").expect("read").as_deref(),
            Some(&b"first mail"[..])
        );
        assert_eq!(
            log.read(b, b"raw/b").expect("read").as_deref(),
            Some(&b"second"[..])
        );
        let c = log.append(b"raw/c", b"").expect("append after reopening");
        assert_eq!((c.segment, c.offset), (end.segment, end.len));
        assert_eq!(
            log.read(c, b"raw/c").expect("read").as_deref(),
            Some(&b""[..])
        );
    }

    #[test]
    fn a_reference_to_lost_or_other_bytes_reads_as_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = BlobLog::open(dir.path()).expect("open");
        let a = log.append(b"raw/a", b"kept").expect("append");
        let b = log.append(b"raw/b", b"lost in a crash").expect("append");
        log.sync().expect("sync");
        assert_eq!(
            log.read(a, b"raw/b").expect("read"),
            None,
            "another key's record"
        );
        // The tail the disk never got: cut the segment inside b's record.
        let file = OpenOptions::new()
            .write(true)
            .open(segment_path(dir.path(), b.segment))
            .expect("segment");
        file.set_len(b.offset + 10).expect("truncate");
        assert_eq!(log.read(b, b"raw/b").expect("read"), None, "torn record");
        // Same length, other bytes: the checksum says so.
        file.set_len(b.offset).expect("truncate");
        let mut f = OpenOptions::new()
            .append(true)
            .open(segment_path(dir.path(), b.segment))
            .expect("segment");
        let mut forged = Vec::new();
        forged.extend_from_slice(MAGIC);
        forged.extend_from_slice(&b.len.to_be_bytes());
        forged.extend_from_slice(&0u32.to_be_bytes());
        forged.extend_from_slice(&5u16.to_be_bytes());
        forged.extend_from_slice(b"raw/b");
        forged.extend_from_slice(b"LOST IN A CRASH");
        f.write_all(&forged).expect("write");
        assert_eq!(log.read(b, b"raw/b").expect("read"), None, "bad checksum");
        assert_eq!(
            log.read(a, b"raw/a").expect("read").as_deref(),
            Some(&b"kept"[..])
        );
        let missing = BlobRef { segment: 9, ..a };
        assert_eq!(
            log.read(missing, b"raw/a").expect("read"),
            None,
            "no segment"
        );
    }

    #[test]
    fn a_mail_is_stored_packed_and_a_record_written_before_reads_back_as_it_was() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = BlobLog::open(dir.path()).expect("open");
        let mail = "Received: from mx1.example.net\r\nSubject: uplink down\r\n\r\n".to_string()
            + &"Packets lost between AMS-2 and FRA-1 since 02:00.\r\n".repeat(100);
        let a = log.append(b"raw/a", mail.as_bytes()).expect("append");
        assert!((a.len as usize) < mail.len() / 3, "stored {} bytes", a.len);
        // A record of the format before (`DGB1`, the data as it was), at the log's end.
        let old = b"\0LZ4 is how this old mail happens to begin";
        let mut record = Vec::new();
        record.extend_from_slice(MAGIC_PLAIN);
        record.extend_from_slice(&(old.len() as u32).to_be_bytes());
        record.extend_from_slice(&crc32fast::hash(old).to_be_bytes());
        record.extend_from_slice(&5u16.to_be_bytes());
        record.extend_from_slice(b"raw/b");
        record.extend_from_slice(old);
        let end = log.sync().expect("sync");
        let mut f = OpenOptions::new()
            .append(true)
            .open(segment_path(dir.path(), end.segment))
            .expect("segment");
        f.write_all(&record).expect("write");
        let b = BlobRef {
            segment: end.segment,
            offset: end.len,
            len: old.len() as u32,
        };
        assert_eq!(
            log.read(a, b"raw/a").expect("read").as_deref(),
            Some(mail.as_bytes())
        );
        assert_eq!(
            log.read(b, b"raw/b").expect("read").as_deref(),
            Some(&old[..])
        );
    }

    #[test]
    fn references_encode_and_decode() {
        let r = BlobRef {
            segment: 3,
            offset: 1 << 40,
            len: 12_345,
        };
        assert_eq!(BlobRef::decode(&r.encode()), Some(r));
        assert_eq!(BlobRef::decode(b"short"), None);
    }
}
