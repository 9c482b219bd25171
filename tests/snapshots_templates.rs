//! Snapshot tests of the shipped templates: every template in every language it exists in,
//! rendered through the public API (`Templates::builtin`, `Templates::render`: what the binary ships) with the fixed sample
//! context `deskgate check` uses (`known_templates()`), one snapshot per template and language in
//! `tests/snapshots/snapshots_templates__<name>-<lang>.snap` holding the subject, the text part
//! and the HTML part exactly as rendered. Nothing in a sample depends on the clock or the machine,
//! so the snapshots hold on any date and under `faketime`.
//!
//! What `tests/templates.rs` asserts (the reference in every subject, escaping, no fallback) is
//! rules; these snapshots are the words: a change to any template shows here as a diff that a
//! reviewer reads as the customer or engineer will.
//!
//! A changed, added or removed template fails these tests until its snapshot is reviewed:
//! - `cargo insta review` (with `cargo-insta` installed: `cargo insta test --test
//!   snapshots_templates --review` runs the tests and walks through every change), or
//! - `INSTA_UPDATE=always cargo test --test snapshots_templates`, then read `git diff
//!   tests/snapshots/` and commit only what a reader should receive.
//!
//! Without `INSTA_UPDATE=always` a mismatch or a missing snapshot fails the test: locally insta
//! writes the candidate beside it as `*.snap.new` (do not commit those), and under `CI=true` it
//! writes nothing. A new language directory or a new template therefore fails until its snapshots
//! are accepted.

use deskgate::render::{known_templates, Rendered, Templates};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

/// The languages that have the three parts of template `name`, read from the directory (so a
/// new translation gets a snapshot, and fails until it is accepted).
fn languages_of(name: &str) -> Vec<String> {
    let mut langs: Vec<String> = std::fs::read_dir(templates_dir())
        .expect("read templates/")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|lang| {
            ["subject", "txt", "html"].iter().all(|part| {
                templates_dir()
                    .join(lang)
                    .join(format!("{name}.{part}.hbs"))
                    .is_file()
            })
        })
        .collect();
    langs.sort();
    langs
}

/// One mail as a reviewer reads it: the subject line, then each part under a ruler.
fn layout(r: &Rendered) -> String {
    format!(
        "Subject: {}\n\
         ------------------------------------------------------------------------ text/plain\n\
         {}\n\
         ------------------------------------------------------------------------ text/html\n\
         {}\n",
        r.subject,
        r.text.trim_end_matches('\n'),
        r.html.as_deref().unwrap_or("(none)").trim_end_matches('\n'),
    )
}

/// Renders template `name` in each of its languages with its sample context and compares each
/// with its snapshot.
fn check(name: &str) {
    let templates = Templates::builtin().expect("the built-in templates compile");
    let (_, audience, ctx) = known_templates()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .unwrap_or_else(|| panic!("{name} is not in known_templates()"));
    let langs = languages_of(name);
    assert!(
        langs.iter().any(|l| l == "en"),
        "{name}: English is the last fallback and must exist ({langs:?})"
    );
    for lang in &langs {
        // The desk's language is English: a missing part would fall back to it, and the check
        // on `language` below would say so.
        let r = templates
            .render(name, lang, "en", &ctx)
            .unwrap_or_else(|e| panic!("{lang}/{name}: {e}"));
        assert_eq!(&r.language, lang, "{lang}/{name} is rendered in {lang}");
        assert!(r.warnings.is_empty(), "{lang}/{name}: {:?}", r.warnings);
        insta::with_settings!({
            omit_expression => true,
            prepend_module_to_snapshot => true,
            description => format!(
                "{name} ({audience:?}) in {lang}: known_templates() sample context, desk language en"
            ),
        }, {
            insta::assert_snapshot!(format!("{name}-{lang}"), layout(&r));
        });
    }
}

/// One test per template, so that a failure names the template.
macro_rules! snapshot_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name));
            }
        )*

        /// The templates this file has a test for.
        const TESTED: &[&str] = &[$(stringify!($name)),*];
    };
}

snapshot_tests!(
    ack,
    reply,
    too_large,
    register,
    partner_redirect,
    maintenance_notice,
    incident_notice,
    handover,
    notify,
    command_error,
);

#[test]
fn every_template_on_disk_and_every_known_template_has_a_snapshot_test() {
    let tested: BTreeSet<&str> = TESTED.iter().copied().collect();
    let known: BTreeSet<&str> = known_templates().into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(tested, known, "known_templates() and this file's tests");
    let mut on_disk = BTreeSet::new();
    for lang in std::fs::read_dir(templates_dir())
        .expect("read templates/")
        .flatten()
        .filter(|e| e.path().is_dir())
    {
        for file in std::fs::read_dir(lang.path())
            .expect("read language dir")
            .flatten()
        {
            let file = file.file_name().to_string_lossy().into_owned();
            if let Some(stem) = file.strip_suffix(".hbs") {
                let name = stem.rsplit_once('.').map_or(stem, |(n, _)| n).to_string();
                on_disk.insert(name);
            }
        }
    }
    let on_disk: BTreeSet<&str> = on_disk.iter().map(String::as_str).collect();
    assert_eq!(
        on_disk, tested,
        "every template under templates/ has a snapshot test here"
    );
}

/// A snapshot whose template or language is gone would otherwise linger unnoticed.
#[test]
fn no_snapshot_is_left_for_a_template_or_language_that_is_gone() {
    let expected: BTreeSet<String> = TESTED
        .iter()
        .flat_map(|name| {
            languages_of(name)
                .into_iter()
                .map(move |lang| format!("snapshots_templates__{name}-{lang}.snap"))
        })
        .collect();
    let stored: BTreeSet<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"))
            .expect("read tests/snapshots/")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|f| f.starts_with("snapshots_templates__") && f.ends_with(".snap"))
            .collect();
    let stale: Vec<&String> = stored.difference(&expected).collect();
    assert!(
        stale.is_empty(),
        "snapshots of no current template and language (delete them): {stale:?}"
    );
}
