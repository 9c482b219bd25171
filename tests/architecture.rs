//! Architecture invariants that the compiler does not check (ARCHITECTURE.md states them).
//!
//! The sources are read as text; every `crate::…` path is a dependency, wherever it is written
//! (a `use` line, a grouped or multi-line `use`, an inline path), and so is every `super::…`
//! path, resolved from the file's place. Code below a file's first `#[cfg(test)]` is left out:
//! tests may reach across layers to build their fixtures. Each check fails naming the file and
//! line, or the modules that form a cycle.
//!
//! 1. `src/core/` is pure: no I/O or adapter crate, no module outside `core`, no clock read.
//! 2. No import cycle between the top-level modules of `src/`, nor between the files of
//!    `src/core/`.
//! 3. The adapters (`store`, `source`, `outbound`, `render`, `metrics`, `dkim`) do not import
//!    each other, nor the
//!    pipeline that combines them.
//! 4. A storage engine's crate (sled, tokio-postgres) is named only in its own engine file, so
//!    no engine type leaks into the store's interface.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Crates and std modules the core must not name: I/O, async, storage, mail transport,
/// templates, MIME parsing, DNS and signature cryptography, HTTP, randomness, processes and the
/// environment.
const FORBIDDEN_IN_CORE: &[&str] = &[
    "tokio::",
    "sled::",
    "lettre::",
    "async_imap::",
    "handlebars::",
    "mail_parser::",
    "mail_auth::",
    "hickory_resolver::",
    "axum::",
    "rand::",
    "std::fs",
    "std::net",
    "std::process",
    "std::env",
    "std::io",
];
const CLOCK_READS: &[&str] = &[
    "Utc::now(",
    "Local::now(",
    "SystemTime::now(",
    "Instant::now(",
];
const ADAPTERS: &[&str] = &["store", "source", "outbound", "render", "metrics", "dkim"];
/// What combines adapters: an adapter importing one of these has its arrow the wrong way.
const PIPELINE: &[&str] = &[
    "context",
    "ingest",
    "timers",
    "broadcast",
    "delivery",
    "daemon",
    "import",
    "admin",
    "cli",
];

/// One source file: its module path (`["core", "mail", "classify"]`) and its production lines.
struct Source {
    /// The path from the crate root, as a reader would look it up (`src/core/mail/text.rs`).
    file: PathBuf,
    module: Vec<String>,
    lines: Vec<String>,
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    assert!(files.len() > 20, "too few sources under {}", src.display());
    files
        .into_iter()
        .map(|file| {
            let rel = file.strip_prefix(&src).expect("under src");
            let mut module: Vec<String> = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module
                .last()
                .is_some_and(|m| m == "mod" || m == "lib" || m == "main")
            {
                module.pop();
            }
            let text = std::fs::read_to_string(&file).expect("read source");
            let production = text.find("#[cfg(test)]").map_or(&text[..], |i| &text[..i]);
            let lines = production
                .lines()
                .map(|l| l.split("//").next().unwrap_or("").to_string())
                .collect();
            Source {
                file: Path::new("src").join(rel),
                module,
                lines,
            }
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every module path a line names, absolute (`crate::a::b` → `[a, b]`), with grouped imports
/// (`crate::{a::x, b}`) expanded one level and `super::` resolved against `module`.
fn paths_in(line: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let mut i = 0;
    let bytes: Vec<char> = line.chars().collect();
    while i < bytes.len() {
        // The start of a path: not preceded by a path character.
        if (i == 0 || !word(bytes[i - 1])) && (bytes[i].is_alphabetic() || bytes[i] == '_') {
            let start = i;
            while i < bytes.len() && word(bytes[i]) {
                i += 1;
            }
            let path: String = bytes[start..i].iter().collect();
            let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            let grouped = i < bytes.len() && bytes[i] == '{' && path.ends_with("::");
            let base: Option<Vec<String>> = match segs.first() {
                Some(&"crate") => {
                    segs.remove(0);
                    Some(Vec::new())
                }
                Some(&"super") => {
                    // `super` of `a/b.rs` and of `a/b/mod.rs` (both module `a::b`) is `a`.
                    let mut at = module.to_vec();
                    let mut ups = 0;
                    while segs.first() == Some(&"super") {
                        segs.remove(0);
                        ups += 1;
                    }
                    for _ in 0..ups {
                        at.pop();
                    }
                    Some(at)
                }
                _ => None,
            };
            if let Some(base) = base {
                let mut full: Vec<String> = base;
                full.extend(segs.iter().map(|s| s.to_string()));
                if grouped {
                    let close = bytes[i..].iter().position(|&c| c == '}').map(|p| i + p);
                    let inner: String = bytes[i + 1..close.unwrap_or(bytes.len())].iter().collect();
                    for item in inner.split(',') {
                        let item = item.trim();
                        if item.is_empty() || item == "self" {
                            continue;
                        }
                        let mut p = full.clone();
                        p.extend(
                            item.split("::")
                                .map(|s| s.trim().to_string())
                                .filter(|s| !s.is_empty() && s != "{"),
                        );
                        out.push(p);
                    }
                    out.push(full);
                } else {
                    out.push(full);
                }
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The dependencies of every file, as (file, line number, module path named).
fn references(sources: &[Source]) -> Vec<(usize, usize, Vec<String>)> {
    let mut out = Vec::new();
    for (s, src) in sources.iter().enumerate() {
        for (n, line) in src.lines.iter().enumerate() {
            if line.trim_start().starts_with("pub mod ") || line.trim_start().starts_with("mod ") {
                continue;
            }
            for p in paths_in(line, &src.module) {
                out.push((s, n + 1, p));
            }
        }
    }
    out
}

/// The known module (a file) a path names: its longest prefix that is a module.
fn module_of(path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
}

#[test]
fn the_core_imports_no_io_no_outer_module_and_reads_no_clock() {
    let sources = sources();
    let mut problems = Vec::new();
    for src in sources
        .iter()
        .filter(|s| s.module.first().is_some_and(|m| m == "core"))
    {
        for (n, line) in src.lines.iter().enumerate() {
            let at = || format!("{}:{}: {}", src.file.display(), n + 1, line.trim());
            for bad in FORBIDDEN_IN_CORE {
                if contains_path(line, bad) {
                    problems.push(format!("{}  (names {bad})", at()));
                }
            }
            if CLOCK_READS.iter().any(|c| line.contains(c)) {
                problems.push(format!("{}  (reads the clock)", at()));
            }
        }
    }
    for (s, n, path) in references(&sources) {
        let src = &sources[s];
        if src.module.first().is_some_and(|m| m == "core")
            && path.first().is_some_and(|m| m != "core")
        {
            problems.push(format!(
                "{}:{}: the core names crate::{}",
                src.file.display(),
                n,
                path.join("::")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the core must stay pure:\n{}",
        problems.join("\n")
    );
}

/// True when `line` names `path` as a path of its own (not as the tail of a longer one).
fn contains_path(line: &str, path: &str) -> bool {
    line.match_indices(path).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    })
}

/// The strongly connected components of more than one node: each is a cycle.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's algorithm, iterative enough for a few hundred nodes.
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(st: &mut State<'a>, v: &'a str) {
        st.index.insert(v, st.next);
        st.low.insert(v, st.next);
        st.next += 1;
        st.stack.push(v);
        st.on_stack.insert(v);
        if let Some(ws) = st.edges.get(v) {
            for w in ws {
                let w = w.as_str();
                if !st.index.contains_key(w) {
                    visit(st, w);
                    let lw = st.low[w];
                    let lv = st.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if st.on_stack.contains(w) {
                    let iw = st.index[w];
                    let lv = st.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
        }
        if st.low[v] == st.index[v] {
            let mut component = Vec::new();
            while let Some(w) = st.stack.pop() {
                st.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                st.out.push(component);
            }
        }
    }
    let mut st = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !st.index.contains_key(v.as_str()) {
            visit(&mut st, v);
        }
    }
    st.out
}

/// Where each edge of a cycle comes from, to show the lines to change.
fn evidence(component: &[String], witness: &BTreeMap<(String, String), String>) -> Vec<String> {
    let mut out = Vec::new();
    for a in component {
        for b in component {
            if let Some(w) = witness.get(&(a.clone(), b.clone())) {
                out.push(format!("  {a} → {b}  ({w})"));
            }
        }
    }
    out
}

#[test]
fn no_import_cycle_between_top_level_modules_or_core_files() {
    let sources = sources();
    let modules: BTreeSet<Vec<String>> = sources.iter().map(|s| s.module.clone()).collect();
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut core: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut witness = BTreeMap::new();
    for (s, n, path) in references(&sources) {
        let src = &sources[s];
        let (Some(from), Some(to)) = (src.module.first(), path.first()) else {
            continue;
        };
        let line = format!("{}:{}", src.file.display(), n);
        if from != to && modules.iter().any(|m| m.first() == Some(to)) {
            top.entry(from.clone()).or_default().insert(to.clone());
            witness
                .entry((from.clone(), to.clone()))
                .or_insert(line.clone());
        }
        if from == "core" && to == "core" {
            if let Some(target) = module_of(&path, &modules) {
                let (a, b) = (src.module.join("::"), target.join("::"));
                // A folder's own `mod.rs` declares its children: not a dependency on them.
                if a != b && !b.starts_with(&format!("{a}::")) {
                    core.entry(a.clone()).or_default().insert(b.clone());
                    witness.entry((a, b)).or_insert(line);
                }
            }
        }
    }
    assert!(top.len() > 10, "too few modules seen: {top:?}");
    assert!(core.len() > 10, "too few core files seen: {core:?}");
    let mut problems = Vec::new();
    for c in cycles(&top).into_iter().chain(cycles(&core)) {
        problems.push(format!("cycle: {}", c.join(", ")));
        problems.extend(evidence(&c, &witness));
    }
    assert!(
        problems.is_empty(),
        "dependencies must point one way:\n{}",
        problems.join("\n")
    );
}

#[test]
fn adapters_do_not_import_each_other_or_the_pipeline() {
    let sources = sources();
    let mut problems = Vec::new();
    for (s, n, path) in references(&sources) {
        let src = &sources[s];
        let (Some(from), Some(to)) = (src.module.first(), path.first()) else {
            continue;
        };
        if ADAPTERS.contains(&from.as_str())
            && from != to
            && (ADAPTERS.contains(&to.as_str()) || PIPELINE.contains(&to.as_str()))
        {
            problems.push(format!(
                "{}:{}: adapter {from} names crate::{}",
                src.file.display(),
                n,
                path.join("::")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "adapters stand apart:\n{}",
        problems.join("\n")
    );
}

/// Each storage crate and the one file allowed to name it.
const ENGINE_CRATES: &[(&str, &[&str])] = &[
    ("sled::", &["src/store/engine/sled.rs"]),
    (
        "tokio_postgres::",
        // The TLS connector implements tokio-postgres's traits and the driver runs its
        // connection future; no type of it leaves any of them.
        &[
            "src/store/engine/postgres.rs",
            "src/store/engine/postgres_tls.rs",
            "src/store/engine/postgres_io.rs",
        ],
    ),
    ("postgres_types::", &["src/store/engine/postgres.rs"]),
];

/// Whether `line` names the crate `krate` (`"sled::"`): as a path of its own (`sled::Db`,
/// `::sled::Db`), not as a module of ours (`self::sled::SledEngine`, `engine::sled::…`).
fn names_crate(line: &str, krate: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    line.match_indices(krate).any(|(i, _)| {
        let before = &line[..i];
        match before.strip_suffix("::") {
            Some(path) => !path.ends_with(ident),
            None => !before.ends_with(ident),
        }
    })
}

#[test]
fn each_storage_crate_is_named_only_in_its_engine_file() {
    let mut problems = Vec::new();
    for src in sources() {
        for (n, line) in src.lines.iter().enumerate() {
            for (krate, homes) in ENGINE_CRATES {
                if names_crate(line, krate) && !homes.iter().any(|h| src.file == Path::new(h)) {
                    problems.push(format!(
                        "{}:{}: names {krate} (only {} may)",
                        src.file.display(),
                        n + 1,
                        homes.join(", ")
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "engine types stay in their engine file:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_check() {
    // A storage crate's own paths are seen; our modules of the same name are not.
    assert!(names_crate("let db: sled::Db;", "sled::"));
    assert!(names_crate("let db = ::sled::Config::new();", "sled::"));
    assert!(!names_crate("pub use self::sled::SledEngine;", "sled::"));
    assert!(!names_crate("use crate::store::engine::sled::X;", "sled::"));
    // Grouped, inline and relative paths are all seen.
    let module = vec!["core".to_string(), "mail".to_string(), "text".to_string()];
    let found = paths_in(
        "use crate::{store::Store, core::x}; let s = crate::daemon::run(); use super::subject;",
        &module,
    );
    for want in [
        vec!["store", "Store"],
        vec!["core", "x"],
        vec!["daemon", "run"],
        vec!["core", "mail", "subject"],
    ] {
        assert!(
            found
                .iter()
                .any(|p| p.iter().map(String::as_str).eq(want.iter().copied())),
            "{want:?} not in {found:?}"
        );
    }
    // A cycle of three is found; a chain is not a cycle.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        edges.entry(a.into()).or_default().insert(b.into());
    }
    assert_eq!(cycles(&edges), vec![vec!["a", "b", "c"]]);
    edges.get_mut("c").expect("c").remove("a");
    assert!(cycles(&edges).is_empty());
    assert!(contains_path("let f = std::fs::read(p);", "std::fs"));
    assert!(!contains_path("let f = mystd::fs::read(p);", "std::fs"));
}
