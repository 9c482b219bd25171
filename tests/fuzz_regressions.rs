//! Replays every input that ever mattered through the fuzz target's own function,
//! `deskgate::fuzzing::ingest_core`: every file of the shared corpus, every crash, timeout and
//! out-of-memory input the fuzzer kept under `fuzz/artifacts/`, the fuzzer's curated seeds under
//! `fuzz/seeds/`, and a few hostile mails built here. Each input runs inside `catch_unwind`, so one failure does not hide the next, and the
//! test fails once, naming every file that panicked. The corpus lives outside the repository
//! (`../shared/corpus`): without it the test fails, unless `DESKGATE_SKIP_CORPUS=1` skips that
//! half on purpose.

mod common;

use common::corpus;
use deskgate::fuzzing::ingest_core;
use deskgate::ingest::parse::{parse, ParseLimits};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Every file below `dir`, recursively, sorted so failures are reported in a stable order.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)
            .expect("read a regression directory")
            .flatten()
        {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Runs `ingest_core` on each named input and returns one line per input that panicked.
fn replay<'a>(inputs: impl IntoIterator<Item = (String, &'a [u8])>) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, data) in inputs {
        if let Err(panic) = std::panic::catch_unwind(|| ingest_core(data)) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            failures.push(format!("{name}: {message}"));
        }
    }
    failures
}

/// Reads and replays every file below `dir`; `None` when the directory is absent.
fn replay_dir(dir: &Path) -> Option<(usize, Vec<String>)> {
    if !dir.is_dir() {
        return None;
    }
    let paths = files(dir);
    let contents: Vec<(String, Vec<u8>)> = paths
        .iter()
        .map(|p| {
            let data = std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            (p.display().to_string(), data)
        })
        .collect();
    let failures = replay(contents.iter().map(|(n, d)| (n.clone(), d.as_slice())));
    Some((paths.len(), failures))
}

#[test]
fn every_corpus_file_fuzzer_artifact_and_seed_replays_without_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let started = Instant::now();
    let mut failures = Vec::new();

    // The corpus is outside the repository: missing, it fails the test unless
    // DESKGATE_SKIP_CORPUS=1 skips this half on purpose.
    if let Some(corpus) = corpus::dir() {
        let (count, f) = replay_dir(&corpus).expect("the corpus is a directory");
        assert!(count > 0, "../shared/corpus is empty");
        eprintln!("replayed {count} corpus files");
        failures.extend(f);
    }
    // Both directories are part of this repository, so they must be there.
    for (dir, what) in [
        ("fuzz/artifacts", "fuzzer artifacts"),
        ("fuzz/seeds", "fuzzer seeds"),
    ] {
        let (count, f) = replay_dir(&root.join(dir)).unwrap_or_else(|| panic!("{dir} is missing"));
        eprintln!("replayed {count} {what}");
        failures.extend(f);
    }

    eprintln!("replay took {:?}", started.elapsed());
    assert!(
        failures.is_empty(),
        "{} inputs panicked in ingest_core:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A mail of `levels` nested `multipart/mixed` parts, each with its own boundary, with `filler`
/// bytes of text in the innermost part.
fn nested_multipart(levels: usize, filler: usize) -> Vec<u8> {
    let mut m = b"From: a@customer.example\r\nSubject: nested\r\nMIME-Version: 1.0\r\n".to_vec();
    m.extend_from_slice(b"Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
    for level in 1..levels {
        m.extend_from_slice(
            format!(
                "--b{}\r\nContent-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n",
                level - 1
            )
            .as_bytes(),
        );
    }
    m.extend_from_slice(
        format!(
            "--b{}\r\nContent-Type: text/plain\r\n\r\n",
            levels.saturating_sub(1)
        )
        .as_bytes(),
    );
    m.extend(std::iter::repeat_n(b'x', filler));
    m.extend_from_slice(b"\r\n");
    for level in (0..levels).rev() {
        m.extend_from_slice(format!("--b{level}--\r\n").as_bytes());
    }
    m
}

/// A mail with `count` tiny attachments in one `multipart/mixed`.
fn many_parts(count: usize) -> Vec<u8> {
    let mut m = b"From: a@customer.example\r\nSubject: parts\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n"
        .to_vec();
    for i in 0..count {
        m.extend_from_slice(
            format!(
                "--p\r\nContent-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=\"../f{i}.bin\"\r\n\r\n{i}\r\n"
            )
            .as_bytes(),
        );
    }
    m.extend_from_slice(b"--p--\r\n");
    m
}

/// Hand-made inputs a hostile sender could send, by name.
fn hostile_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut long_header = b"From: a@customer.example\r\nX-Long: ".to_vec();
    long_header.extend(std::iter::repeat_n(b'a', 1 << 20));
    long_header.extend_from_slice(b"\r\nSubject: long\r\n\r\nbody\r\n");

    let mut long_subject = b"From: a@customer.example\r\nSubject: ".to_vec();
    for _ in 0..20_000 {
        long_subject.extend_from_slice(b"Re: [NL-000001] ");
    }
    long_subject.extend_from_slice(b"\r\n\r\n#status closed\r\n");

    let nuls = b"From: a@customer.example\0\r\nSub\0ject: \0nul\r\nMessage-ID: <\0@x>\r\n\r\n\0#take\0\r\n"
        .to_vec();
    let invalid_utf8 = b"From: \xff\xfe <a@\xc3\x28.example>\r\nSubject: \xe2\x82\r\n\
In-Reply-To: <\x80\x81@x>\r\nAuthentication-Results: \xf0\x28\x8c\xbc; dkim=pass\r\n\r\nbody \xc0\xaf\r\n"
        .to_vec();
    let unknown_charset =
        b"From: a@customer.example\r\nSubject: =?x-unknown-charset?Q?caf=E9?=\r\n\
Content-Type: text/plain; charset=x-unknown-charset\r\n\r\ncaf\xe9\r\n"
            .to_vec();
    let utf7 = b"From: a@customer.example\r\nSubject: =?utf-7?Q?Hi_Mom_-+Jjo--!?=\r\n\
Content-Type: text/plain; charset=utf-7\r\n\r\nHi Mom -+Jjo--! +AGEAYgBj- +ZeVnLIqe-\r\n"
        .to_vec();
    let header_injection = b"From: a@customer.example\r\n\
Subject: =?utf-8?Q?hello=0D=0ABcc:_victim@example.org?= =?utf-8?B?DQpCY2M6IHZpY3RpbUBleGFtcGxlLm9yZw==?=\r\n\r\nbody\r\n"
        .to_vec();
    let mut garbage = Vec::with_capacity(1 << 20);
    let mut x: u32 = 0x1234_5678;
    for _ in 0..(1 << 20) {
        // A fixed xorshift stream: the same garbage every run.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage.push(x as u8);
    }

    vec![
        (
            "1000 nested multipart/mixed, 2 MB",
            nested_multipart(1000, 2 << 20),
        ),
        ("10,000 tiny parts", many_parts(10_000)),
        ("1 MB header line", long_header),
        ("20,000 reply prefixes and refs", long_subject),
        ("NUL bytes", nuls),
        ("invalid UTF-8 in headers", invalid_utf8),
        ("charset x-unknown-charset", unknown_charset),
        ("charset utf-7", utf7),
        ("CRLF Bcc: in an encoded-word subject", header_injection),
        ("1 MB of random bytes", garbage),
        ("empty", Vec::new()),
    ]
}

#[test]
fn hostile_mails_are_handled_without_panic() {
    let mut failures = Vec::new();
    for (name, data) in hostile_inputs() {
        let started = Instant::now();
        failures.extend(replay([(name.to_string(), data.as_slice())]));
        eprintln!("{name}: {} bytes in {:?}", data.len(), started.elapsed());
    }
    assert!(
        failures.is_empty(),
        "{} hostile inputs panicked in ingest_core:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn an_encoded_line_break_cannot_add_a_header_through_the_subject() {
    let raw = b"From: a@customer.example\r\n\
Subject: =?utf-8?Q?hello=0D=0ABcc:_victim@example.org?=\r\n\r\nbody\r\n";
    let mail = parse(raw, ParseLimits::default());
    assert!(
        !mail.subject.contains(['\r', '\n']),
        "subject keeps a line break: {:?}",
        mail.subject
    );
    assert!(mail.headers.iter().all(|(n, _)| n != "bcc"));
}

#[test]
fn many_parts_are_cut_at_the_part_limit() {
    let limits = ParseLimits::default();
    // More parts than may even be parsed: refused before the parser builds them.
    let refused = parse(&many_parts(10_000), limits);
    assert!(
        refused.parse_failed.is_some(),
        "10,000 parts must be refused"
    );
    // Fewer than that, but more than are read: cut, with a warning.
    let mail = parse(&many_parts(2_000), limits);
    assert!(mail.parse_failed.is_none());
    assert!(mail.part_types.len() <= limits.max_parts);
    assert!(mail.attachments.len() <= limits.max_parts);
    assert!(
        !mail.warnings.is_empty(),
        "cutting parts must leave a warning"
    );
}
