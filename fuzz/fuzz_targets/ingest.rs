//! The `ingest` fuzz target: arbitrary bytes through the whole pure ingest core (parse,
//! classify, extract, commands, auth, subject, thread, attachments), as one mail.
//!
//! All the work is in `deskgate::fuzzing::ingest_core`, which `tests/fuzz_regressions.rs` also
//! calls, so every input kept under `fuzz/artifacts/ingest/` replays the same code in `cargo test`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    deskgate::fuzzing::ingest_core(data);
});
