//! Every mail of the shared corpus goes through the whole ingest path without a panic.
//!
//! Each file is delivered to a desk of an in-memory deskgate (parse, classify, thread, ticket
//! change, acknowledgement rendered and queued); the test then checks that every mail had exactly
//! one recorded outcome and that replaying the corpus changes nothing (deduplication). Without
//! the corpus (`../shared/corpus`) it fails, unless `DESKGATE_SKIP_CORPUS=1` skips it.

mod common;

use common::corpus;
use deskgate::clock::ManualClock;
use deskgate::config::Config;
use deskgate::context::Context;
use deskgate::ingest::{Ingestor, Outcome};
use deskgate::render::Templates;
use deskgate::source::{Origin, RawMail};
use deskgate::store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read corpus").flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let data_file = name.ends_with(".json")
                || name.ends_with(".md")
                || name.ends_with(".yml")
                || name.ends_with(".yaml");
            if !data_file {
                out.push(p);
            }
        }
    }
}

#[test]
fn every_corpus_mail_is_ingested_without_panic_and_only_once() {
    let Some(dir) = corpus::dir() else { return };
    let mut all = Vec::new();
    files(&dir, &mut all);
    all.sort();
    assert!(
        all.len() > 500,
        "expected the whole corpus, found {} files",
        all.len()
    );

    let config = Arc::new(Config::load(None).expect("embedded config"));
    let templates = Arc::new(
        Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"))
            .expect("templates"),
    );
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let store = Store::memory();
    let ingestor = Ingestor::new(Arc::new(Context::new(
        store.clone(),
        templates,
        config.clone(),
        clock,
    )));
    let desk = &config.desks[0];

    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for (pass, expect_duplicates) in [(1, false), (2, true)] {
        for f in &all {
            let raw = std::fs::read(f).expect("read mail");
            let mail = RawMail {
                origin: Origin::Maildir {
                    file: f.display().to_string(),
                },
                raw,
            };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ingestor.process(desk, &mail)
            }))
            .unwrap_or_else(|_| panic!("ingest panicked on {}", f.display()))
            .unwrap_or_else(|e| panic!("store error on {}: {e}", f.display()));
            let key = match &outcome {
                Outcome::Created { .. } => "created",
                Outcome::Appended { .. } => "appended",
                Outcome::Duplicate { .. } => "duplicate",
                Outcome::Aside { .. } => "aside",
                Outcome::Quarantined { .. } => "quarantined",
            };
            if pass == 1 {
                *counts.entry(key).or_default() += 1;
            }
            if expect_duplicates {
                assert!(
                    matches!(
                        outcome,
                        Outcome::Duplicate { .. } | Outcome::Quarantined { .. }
                    ),
                    "{} was processed twice: {outcome:?}",
                    f.display()
                );
            }
        }
    }
    eprintln!("corpus outcomes over {} files: {counts:?}", all.len());
    assert!(counts.get("created").copied().unwrap_or(0) > 50);
}
