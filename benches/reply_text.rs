//! Reply-text accuracy: deskgate's new-text extraction against three public reply-parsing
//! suites, read at run time from `../shared/corpus/replies/` (with their licences; nothing is
//! copied into this repository).
//!
//! Each case is a reply as a client wrote it and the new text the suite's own tests expect:
//! Discourse's `email_reply_trimmer`, GitHub's `email_reply_parser`, mailgun's `talon` (plain
//! bodies, whole `.eml` files and HTML-only bodies). Plain bodies go through
//! `core::mail::text::extract_new_text`; `.eml` files and HTML bodies (wrapped into a one-part
//! `text/html` mail) through the MIME parser and `new_text_of`, as ingest reads a mail. The
//! comparison is the suite's: `strip` (trimmed, trailing spaces on each line ignored) or
//! `whitespace` (all whitespace ignored).
//!
//! Run: `cargo bench --bench reply_text` (`DESKGATE_REPLIES=DIR` for another copy of the
//! corpus; `DESKGATE_REPLIES_SHOW=1` prints every miss with what was expected and produced).
//! Prints one table per set, per kind, per language and per set and language, the cost of
//! the extraction per byte (on the ingest benchmark's generated mails, which have neither
//! quotes nor signatures: the cost every customer mail pays), and a `DESKGATE-BENCH` summary
//! line.

#[path = "support/mailbox.rs"]
#[allow(dead_code)]
mod mailbox;

use deskgate::core::mail::text::{extract_new_text, new_text_of};
use deskgate::ingest::parse::{parse, ParseLimits};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    std::env::var("DESKGATE_REPLIES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/replies"))
}

/// The new text deskgate keeps of one case's input.
fn extract(kind: &str, input: &[u8]) -> String {
    match kind {
        "body" => extract_new_text(&String::from_utf8_lossy(input)).new_text,
        "eml" => new_text_of(&parse(input, ParseLimits::default())).new_text,
        "html" => {
            let mut raw = b"From: someone@example.com\r\nSubject: Re: test\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n".to_vec();
            raw.extend_from_slice(input);
            new_text_of(&parse(&raw, ParseLimits::default())).new_text
        }
        other => panic!("unknown case kind {other}"),
    }
}

/// The text as the suite compares it.
fn normalise(text: &str, compare: &str) -> String {
    match compare {
        "whitespace" => text.chars().filter(|c| !c.is_whitespace()).collect(),
        _ => text
            .replace("\r\n", "\n")
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string(),
    }
}

#[derive(Default)]
struct Tally {
    cases: usize,
    exact: usize,
}

fn pct(t: &Tally) -> f64 {
    if t.cases == 0 {
        0.0
    } else {
        100.0 * t.exact as f64 / t.cases as f64
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("run with `cargo bench --bench reply_text`");
        return;
    }
    let dir = corpus();
    let manifest: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json"))
            .unwrap_or_else(|e| panic!("{}: {e} (see the corpus README)", dir.display())),
    )
    .expect("manifest.json");
    let show = std::env::var("DESKGATE_REPLIES_SHOW").is_ok();
    let mut by_set: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_language: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_kind: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_set_language: BTreeMap<String, Tally> = BTreeMap::new();
    let mut misses = Vec::new();
    for case in &manifest {
        let s = |k: &str| case[k].as_str().unwrap_or_default().to_string();
        let (id, kind, compare) = (s("id"), s("kind"), s("compare"));
        let input = std::fs::read(dir.join(s("input"))).expect("input");
        let expected = std::fs::read_to_string(dir.join(s("expected"))).expect("expected");
        let got = extract(&kind, &input);
        let exact = normalise(&got, &compare) == normalise(&expected, &compare);
        let set = s("source");
        for (map, key) in [
            (&mut by_set, set.clone()),
            (&mut by_language, s("language")),
            (&mut by_kind, kind.clone()),
            (&mut by_set_language, format!("{set} / {}", s("language"))),
        ] {
            let t = map.entry(key).or_default();
            t.cases += 1;
            t.exact += usize::from(exact);
        }
        if !exact {
            misses.push(id.clone());
            if show {
                println!(
                    "--- MISS {id} ({kind}, {compare}, tags {})\n--- expected:\n{}\n--- got:\n{}\n",
                    case["tags"],
                    expected.trim(),
                    got.trim()
                );
            }
        }
    }
    let table = |title: &str, map: &BTreeMap<String, Tally>| {
        let mut out = format!("| {title} | cases | exact | accuracy |\n|---|---|---|---|\n");
        for (k, t) in map {
            out += &format!("| {k} | {} | {} | {:.1} % |\n", t.cases, t.exact, pct(t));
        }
        out
    };
    let total = Tally {
        cases: manifest.len(),
        exact: manifest.len() - misses.len(),
    };
    println!("{}", table("set", &by_set));
    println!("{}", table("kind", &by_kind));
    println!("{}", table("language", &by_language));
    println!("{}", table("set / language", &by_set_language));
    println!(
        "all: {}/{} exact ({:.1} %); misses: {}",
        total.exact,
        total.cases,
        pct(&total),
        misses.join(" ")
    );
    let summary = serde_json::json!({
        "bench": "reply_text",
        "cases": total.cases,
        "exact": total.exact,
        "per_set": by_set.iter().map(|(k, t)| (k.clone(), (pct(t) * 10.0).round() / 10.0)).collect::<BTreeMap<_, _>>(),
    });
    let (micros, nanos_per_byte) = speed();
    println!(
        "\nspeed: {micros:.1} µs per mail, {nanos_per_byte:.2} ns per byte of text (2,000 generated mails, 2–10 KB of text each)"
    );
    let mut summary = summary;
    summary["us_per_mail"] = ((micros * 10.0).round() / 10.0).into();
    summary["ns_per_byte"] = ((nanos_per_byte * 100.0).round() / 100.0).into();
    println!("DESKGATE-BENCH {summary}");
}

/// The extraction's cost on text like the ingest benchmark's mails: µs per mail and ns per byte,
/// the best of five rounds over the same 2,000 texts.
fn speed() -> (f64, f64) {
    let mut rng = mailbox::Rng(0x9e37_79b9_7f4a_7c15);
    let texts: Vec<String> = (0..2000)
        .map(|_| {
            let bytes = 2000 + rng.below(8000) as usize;
            mailbox::words(&mut rng, bytes)
        })
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let best = (0..5)
        .map(|_| {
            let started = std::time::Instant::now();
            for text in &texts {
                std::hint::black_box(extract_new_text(text));
            }
            started.elapsed()
        })
        .min()
        .unwrap_or_default();
    let nanos = best.as_nanos() as f64;
    (nanos / 1e3 / texts.len() as f64, nanos / bytes as f64)
}
