//! Where the shared corpus of real-world mail is (`../shared/corpus`, outside the repository),
//! for the tests that measure or replay it.
//!
//! A test that needs the corpus fails when it is missing, so that a checkout or a CI without it
//! cannot pass by checking nothing. `DESKGATE_SKIP_CORPUS=1` skips those tests on purpose, and
//! says so.

use std::path::{Path, PathBuf};

/// The variable that skips the corpus tests.
pub const SKIP: &str = "DESKGATE_SKIP_CORPUS";

/// The corpus folder; `None` (after a notice on stderr) when `DESKGATE_SKIP_CORPUS=1` is set,
/// and a panic saying how to get it or skip it when it is missing.
pub fn dir() -> Option<PathBuf> {
    if std::env::var(SKIP).is_ok_and(|v| v == "1") {
        eprintln!("{SKIP}=1: the corpus test is skipped");
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        dir.is_dir(),
        "the shared corpus is missing at {}: put it there (see its README), or set {SKIP}=1 to \
         skip the tests that need it",
        dir.display()
    );
    Some(dir)
}
