//! Architecture invariants that the compiler does not check.
//!
//! `src/core/` is the pure core: it must not import an I/O crate or an adapter module, and must
//! not read the wall clock. This test reads the sources and fails naming the offending line.

use std::path::Path;

const FORBIDDEN_USES: &[&str] = &[
    "tokio",
    "sled",
    "lettre",
    "async_imap",
    "handlebars",
    "mail_parser",
    "std::fs",
    "std::net",
    "crate::store",
    "crate::source",
    "crate::outbound",
    "crate::render",
    "crate::daemon",
    "crate::cli",
    "crate::ingest",
    "crate::delivery",
    "crate::admin",
    "crate::clock",
];
const FORBIDDEN_CALLS: &[&str] = &[
    "Utc::now(",
    "Local::now(",
    "SystemTime::now(",
    "Instant::now(",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src/core").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn the_core_imports_no_io_and_reads_no_clock() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = Vec::new();
    rust_files(&core, &mut files);
    assert!(files.len() >= 5, "src/core has too few files: {files:?}");
    let mut problems = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        // Tests may build fixtures from the clock; production code (above the test module) may not.
        let production_lines = text
            .find("#[cfg(test)]")
            .map(|pos| text[..pos].lines().count())
            .unwrap_or(usize::MAX);
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("").trim();
            for bad in FORBIDDEN_USES {
                if code.starts_with("use ")
                    && (code.contains(&format!("{bad}::")) || code.ends_with(&format!("{bad};")))
                {
                    problems.push(format!("{}:{}: imports {bad}: {line}", f.display(), i + 1));
                }
            }
            if i < production_lines && FORBIDDEN_CALLS.iter().any(|c| code.contains(c)) {
                problems.push(format!(
                    "{}:{}: reads the clock: {line}",
                    f.display(),
                    i + 1
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the core must stay pure:\n{}",
        problems.join("\n")
    );
}
