//! What a reader sees of a captured mail: its subject and text decoded by deskgate's own MIME
//! parser (the one its ingest uses), and a one-line-per-mail summary for panic messages.
//!
//! Not part of `common`, which never uses the library: the end-to-end tests that read mail
//! include it with `#[path = "common/decoded.rs"] mod decoded;` beside `mod common;`.

// Each test binary that includes it uses a part of it.
#![allow(dead_code)]

use crate::common::Captured;

/// The decoded subject.
pub fn subject(m: &Captured) -> String {
    deskgate::ingest::parse::parse(&m.raw, Default::default()).subject
}

/// The decoded text.
pub fn body(m: &Captured) -> String {
    deskgate::ingest::parse::parse(&m.raw, Default::default()).text
}

/// The envelope recipients, sorted.
pub fn rcpts(m: &Captured) -> Vec<String> {
    let mut r = m.rcpt_to.clone();
    r.sort();
    r
}

/// One line per mail (recipients and subject), for panic messages.
pub fn summary(mails: &[Captured]) -> String {
    if mails.is_empty() {
        return "(no mail)".into();
    }
    mails
        .iter()
        .map(|m| format!("\n  {:?}: {}", rcpts(m), subject(m)))
        .collect()
}
