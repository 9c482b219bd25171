//! The shipped templates: every template renders in every language in strict mode, carries the
//! ticket reference, escapes what the customer wrote in HTML, and `deskgate check` notices a
//! broken one. Maintenance and incident notices are rendered in every kind, impact and status,
//! since strict mode only sees the branches a context takes.

mod common;

use common::{DeskConfig, GateConfig};
use deskgate::render::{known_templates, Audience, Rendered, Templates};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;

/// Every language a desk may use; customer templates exist in all of them.
const LANGS: [&str; 7] = ["en", "fr", "pt", "es", "it", "nl", "de"];

fn shipped() -> Templates {
    // What ships: the templates compiled into the binary (from this repository's templates/).
    let templates = Templates::builtin().expect("the built-in templates load");
    templates
        .compile_all()
        .expect("every built-in template compiles");
    templates
}

#[test]
fn every_template_renders_in_every_language_with_the_reference() {
    let t = shipped();
    assert_eq!(
        t.check(&LANGS.iter().map(|l| l.to_string()).collect::<Vec<_>>()),
        Vec::<String>::new()
    );
    for (name, audience, mut ctx) in known_templates() {
        // The text from outside (a customer's subject, an ops-written title) and the reference
        // that names what the mail is about.
        let outside = json!("Rack <B12> & \"cooling\"");
        let reference = match name {
            "maintenance_notice" => {
                ctx["maintenance"]["title"] = outside;
                "MNT-7"
            }
            "incident_notice" => {
                ctx["incident"]["title"] = outside;
                "INC-3"
            }
            _ => {
                if name == "handover" {
                    ctx["tickets"][0]["subject"] = outside.clone();
                }
                ctx["subject"] = outside;
                "NL-000001"
            }
        };
        let langs: &[&str] = if audience == Audience::Customer {
            &LANGS
        } else {
            &["en"]
        };
        for &lang in langs {
            let r = t
                .render(name, lang, "en", &ctx)
                .unwrap_or_else(|e| panic!("{lang}/{name}: {e}"));
            assert_eq!(r.language, lang, "{lang}/{name} exists and is used");
            assert!(r.warnings.is_empty(), "{lang}/{name}: {:?}", r.warnings);
            let tagged = match name {
                // A handover is about many tickets: its subject names none.
                "handover" => true,
                // A notice is tagged `[Maintenance MNT-7]`, the word in the reader's language.
                "maintenance_notice" | "incident_notice" => {
                    r.subject.starts_with('[') && r.subject.contains(&format!(" {reference}] "))
                }
                _ => r.subject.contains(&format!("[{reference}]")),
            };
            assert!(tagged, "{lang}/{name} subject: {}", r.subject);
            assert!(!r.subject.contains('\n'));
            assert!(
                r.text.contains(reference),
                "{lang}/{name} text lacks the reference"
            );
            assert!(
                !r.text.contains("{{") && !r.text.contains("&lt;"),
                "{lang}/{name} text is plain, unescaped"
            );
            let html = r
                .html
                .unwrap_or_else(|| panic!("{lang}/{name} has an HTML part"));
            assert!(
                html.contains(&format!("lang=\"{lang}\"")),
                "{lang}/{name} html declares its language"
            );
            assert!(
                html.contains("Rack &lt;B12&gt; &amp;"),
                "{lang}/{name} html escapes the text from outside"
            );
            assert!(!html.contains("<B12>"));
        }
    }
}

#[test]
fn english_is_the_last_fallback() {
    let t = shipped();
    let (name, _, ctx) = known_templates().remove(0);
    let r = t.render(name, "sv", "fi", &ctx).expect("render");
    assert_eq!(r.language, "en");
    assert_eq!(
        r.warnings.len(),
        2,
        "both missing languages are reported: {:?}",
        r.warnings
    );
}

#[test]
fn check_names_a_broken_template() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("templates");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"))
        .arg(&copy)
        .status()
        .expect("cp");
    assert!(status.success());
    std::fs::write(copy.join("fr/ack.txt.hbs"), "Bonjour {{requester.nom}}").expect("write");
    let gate = GateConfig::new()
        .templates(&copy)
        .desk(
            DeskConfig::new("fr", "support.fr@example.net")
                .language("fr")
                .maildir("in"),
        )
        .start();
    let out = gate.output(&["check"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fr/ack.txt") && err.contains("nom"), "{err}");
}

const MAINTENANCE_KINDS: [&str; 6] = [
    "announcement",
    "reschedule",
    "reminder",
    "start",
    "completion",
    "cancellation",
];
const IMPACTS: [&str; 4] = ["outage", "degraded", "reduced_redundancy", "no_impact"];
const INCIDENT_KINDS: [&str; 3] = ["opened", "update", "resolved"];
const STATUSES: [&str; 4] = ["investigating", "identified", "monitoring", "resolved"];

/// The sample context `deskgate check` uses for `name`.
fn sample(name: &str) -> Value {
    known_templates()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, ctx)| ctx)
        .unwrap_or_else(|| panic!("{name} is a known template"))
}

/// Sets the flags object at `path` (`is`, `maintenance.impact_is`, …) so that only `which` is
/// true; `None` leaves them all false, the context of a template that forgot a branch.
fn only(ctx: &mut Value, path: &[&str], which: Option<&str>) {
    let flags = path
        .iter()
        .fold(ctx, |v, key| &mut v[*key])
        .as_object_mut()
        .expect("a flags object");
    assert!(
        which.is_none_or(|w| flags.contains_key(w)),
        "{which:?} is one of {path:?}"
    );
    for (key, flag) in flags.iter_mut() {
        *flag = json!(Some(key.as_str()) == which);
    }
}

/// The sample maintenance notice as `kind` (`None`: no kind flag set) with `impact`, about an
/// occurrence of a standing window when `recurring`, to the managing partner when `on_behalf`.
fn maintenance(kind: Option<&str>, impact: &str, recurring: bool, on_behalf: bool) -> Value {
    let mut ctx = sample("maintenance_notice");
    ctx["kind"] = json!(kind.unwrap_or(""));
    only(&mut ctx, &["is"], kind);
    only(&mut ctx, &["maintenance", "impact_is"], Some(impact));
    ctx["maintenance"]["impact"] = json!(impact);
    if recurring {
        ctx["maintenance"]["recurring"] = json!(true);
        ctx["maintenance"]["rule"] = json!("FREQ=MONTHLY;BYDAY=1WE");
        ctx["maintenance"]["reference"] = json!("MNT-7-20261201T230000Z");
    }
    ctx["on_behalf"] = json!(on_behalf);
    ctx
}

/// The sample incident notice as `kind` in `status` (`None`: no flag set) with `impact`; a
/// resolved incident has its resolution time.
fn incident(kind: Option<&str>, status: Option<&str>, impact: &str) -> Value {
    let mut ctx = sample("incident_notice");
    ctx["kind"] = json!(kind.unwrap_or(""));
    only(&mut ctx, &["is"], kind);
    only(&mut ctx, &["incident", "status_is"], status);
    only(&mut ctx, &["incident", "impact_is"], Some(impact));
    if kind == Some("resolved") {
        ctx["incident"]["resolved"] = json!("Tue 24 Nov 2026 01:10");
    }
    ctx
}

/// Renders `name` in `lang`, which must exist: no fallback to another language.
fn render(t: &Templates, name: &str, lang: &str, ctx: &Value) -> Rendered {
    let r = t
        .render(name, lang, "en", ctx)
        .unwrap_or_else(|e| panic!("{lang}/{name} with {ctx}: {e}"));
    assert_eq!(r.language, lang, "{lang}/{name} exists");
    r
}

/// The word of a notice's `[Word ID]` tag, after checking the tag's shape.
fn tag_word<'a>(subject: &'a str, id: &str) -> &'a str {
    let tag = subject
        .strip_prefix('[')
        .and_then(|s| s.split_once("] "))
        .map(|(tag, _)| tag)
        .unwrap_or_else(|| panic!("subject starts with a [tag]: {subject}"));
    let word = tag
        .strip_suffix(&format!(" {id}"))
        .unwrap_or_else(|| panic!("the tag ends with {id}: {subject}"));
    assert!(!word.trim().is_empty(), "the tag has a word: {subject}");
    word
}

#[test]
fn every_maintenance_notice_renders_in_every_language_with_id_title_and_times() {
    let t = shipped();
    for lang in LANGS {
        for kind in MAINTENANCE_KINDS {
            for impact in IMPACTS {
                for recurring in [false, true] {
                    for on_behalf in [false, true] {
                        let ctx = maintenance(Some(kind), impact, recurring, on_behalf);
                        let at = format!(
                            "{lang} {kind} {impact} recurring={recurring} on_behalf={on_behalf}"
                        );
                        let r = render(&t, "maintenance_notice", lang, &ctx);
                        tag_word(&r.subject, "MNT-7");
                        assert!(
                            r.subject.contains("Core router upgrade AM11"),
                            "{at}: {}",
                            r.subject
                        );
                        // A partner gets one notice per customer: the subject tells them apart.
                        assert_eq!(
                            r.subject.contains("Acme BV"),
                            on_behalf,
                            "{at}: {}",
                            r.subject
                        );
                        // The text part is complete on its own: NOC tools often read only that.
                        for needle in [
                            "MNT-7",
                            "Core router upgrade AM11",
                            "Wed 2 Dec 2026 00:00",
                            "Wed 2 Dec 2026 06:00",
                            "Europe/Amsterdam (CET, UTC+01:00)",
                            "2026-12-01 23:00 UTC",
                            "2026-12-02 05:00 UTC",
                            "6 h",
                            "AM11",
                            "IP Transit, Cross-connect",
                            "Acme BV (ACME)",
                            "servicedesk.nl@example.net",
                            "Jane Doe",
                        ] {
                            assert!(
                                r.text.contains(needle),
                                "{at}: text lacks {needle:?}:\n{}",
                                r.text
                            );
                        }
                        assert_eq!(
                            r.text.contains("MNT-7-20261201T230000Z")
                                && r.text.contains("FREQ=MONTHLY;BYDAY=1WE"),
                            recurring,
                            "{at}: the occurrence and its rule show for a recurring window only"
                        );
                        assert!(
                            r.text.contains("iCalendar"),
                            "{at}: the attached event is mentioned"
                        );
                        let html = r.html.expect("an HTML part");
                        for needle in [
                            "MNT-7",
                            "2026-12-01 23:00 UTC",
                            "mailto:servicedesk.nl@example.net",
                        ] {
                            assert!(html.contains(needle), "{at}: html lacks {needle:?}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn each_maintenance_kind_and_impact_has_its_own_wording_in_every_language() {
    let t = shipped();
    for lang in LANGS {
        // A missing or misspelt `{{#if is.<kind>}}` renders like a context with no kind at all.
        let none = render(
            &t,
            "maintenance_notice",
            lang,
            &maintenance(None, "outage", false, false),
        );
        let mut subjects = BTreeSet::new();
        let mut texts = BTreeSet::new();
        for kind in MAINTENANCE_KINDS {
            let r = render(
                &t,
                "maintenance_notice",
                lang,
                &maintenance(Some(kind), "outage", false, false),
            );
            assert_ne!(
                r.subject, none.subject,
                "{lang} {kind}: the subject names the kind"
            );
            assert_ne!(
                r.text, none.text,
                "{lang} {kind}: the text has the kind's wording"
            );
            subjects.insert(r.subject);
            texts.insert(r.text);
        }
        assert_eq!(
            subjects.len(),
            MAINTENANCE_KINDS.len(),
            "{lang}: one subject per kind: {subjects:#?}"
        );
        assert_eq!(
            texts.len(),
            MAINTENANCE_KINDS.len(),
            "{lang}: one text per kind"
        );
        let mut no_impact = maintenance(Some("announcement"), "outage", false, false);
        only(&mut no_impact, &["maintenance", "impact_is"], None);
        let no_impact = render(&t, "maintenance_notice", lang, &no_impact);
        let mut impacts = BTreeSet::new();
        for impact in IMPACTS {
            let r = render(
                &t,
                "maintenance_notice",
                lang,
                &maintenance(Some("announcement"), impact, false, false),
            );
            assert_ne!(
                r.text, no_impact.text,
                "{lang} {impact}: the impact is described"
            );
            impacts.insert(r.text);
        }
        assert_eq!(
            impacts.len(),
            IMPACTS.len(),
            "{lang}: one wording per impact"
        );
        // A one-off cancellation and the cancellation of one occurrence are worded differently.
        let once = render(
            &t,
            "maintenance_notice",
            lang,
            &maintenance(Some("cancellation"), "outage", false, false),
        );
        let occurrence = render(
            &t,
            "maintenance_notice",
            lang,
            &maintenance(Some("cancellation"), "outage", true, false),
        );
        let intro = |text: &str| text.split("\n\n").nth(1).map(str::to_string);
        assert_ne!(
            intro(&once.text),
            intro(&occurrence.text),
            "{lang}: cancelling one occurrence says so"
        );
        // Without a calendar part, the notice does not point to one.
        let mut bare = maintenance(Some("announcement"), "outage", false, false);
        bare["calendar_attached"] = json!(false);
        let bare = render(&t, "maintenance_notice", lang, &bare);
        assert!(
            !bare.text.contains("iCalendar") && !bare.html.expect("html").contains("iCalendar"),
            "{lang}"
        );
    }
}

#[test]
fn every_incident_notice_renders_in_every_language_with_status_and_update() {
    let t = shipped();
    for lang in LANGS {
        let maintenance_word = tag_word(
            &render(
                &t,
                "maintenance_notice",
                lang,
                &sample("maintenance_notice"),
            )
            .subject,
            "MNT-7",
        )
        .to_string();
        let none = render(
            &t,
            "incident_notice",
            lang,
            &incident(None, Some("investigating"), "outage"),
        );
        let no_status = render(
            &t,
            "incident_notice",
            lang,
            &incident(Some("update"), None, "outage"),
        );
        let mut subjects = BTreeSet::new();
        let mut statuses = BTreeSet::new();
        for kind in INCIDENT_KINDS {
            for status in STATUSES {
                for impact in IMPACTS {
                    let at = format!("{lang} {kind} {status} {impact}");
                    let r = render(
                        &t,
                        "incident_notice",
                        lang,
                        &incident(Some(kind), Some(status), impact),
                    );
                    let word = tag_word(&r.subject, "INC-3");
                    assert_ne!(
                        word, maintenance_word,
                        "{at}: an incident is not tagged as maintenance"
                    );
                    assert!(
                        r.subject.contains("Packet loss on AM11 core"),
                        "{at}: {}",
                        r.subject
                    );
                    assert_ne!(r.subject, none.subject, "{at}: the subject names the kind");
                    assert_ne!(r.text, none.text, "{at}: the text has the kind's wording");
                    for needle in [
                        "INC-3",
                        "Packet loss on AM11 core",
                        "Mon 23 Nov 2026 21:40",
                        "Europe/Amsterdam (CET, UTC+01:00)",
                        "Mon 23 Nov 2026 21:55",
                        "Our engineers are investigating packet loss on the AM11 core routers.\nTraffic via AM7 is not affected.",
                        "Acme BV (ACME)",
                        "servicedesk.nl@example.net",
                    ] {
                        assert!(r.text.contains(needle), "{at}: text lacks {needle:?}:\n{}", r.text);
                    }
                    assert_eq!(
                        r.text.contains("Tue 24 Nov 2026 01:10"),
                        kind == "resolved",
                        "{at}: the resolution time"
                    );
                    assert!(
                        !r.text.contains("iCalendar"),
                        "{at}: incidents have no calendar part"
                    );
                    subjects.insert(r.subject.clone());
                    if kind == "update" && impact == "outage" {
                        assert_ne!(r.text, no_status.text, "{at}: the status is named");
                        statuses.insert(r.text);
                    }
                }
            }
        }
        // opened, resolved, and an update per status: the subject says where the incident is.
        assert_eq!(subjects.len(), 2 + STATUSES.len(), "{lang}: {subjects:#?}");
        assert_eq!(
            statuses.len(),
            STATUSES.len(),
            "{lang}: one wording per status"
        );
    }
}

#[test]
fn ops_text_is_escaped_in_html_and_the_subject_stays_one_line() {
    let t = shipped();
    let title = "<script>alert(1)</script>\r\nBcc: victim@example.org";
    for lang in LANGS {
        let mut m = sample("maintenance_notice");
        m["maintenance"]["title"] = json!(title);
        let mut i = sample("incident_notice");
        i["incident"]["title"] = json!(title);
        i["update"]["message"] = json!("Line 1 <b>bold</b> & \"quoted\"\nLine 2");
        for (name, ctx) in [("maintenance_notice", m), ("incident_notice", i)] {
            let r = render(&t, name, lang, &ctx);
            assert!(
                !r.subject.contains(['\r', '\n']),
                "{lang}/{name}: {:?}",
                r.subject
            );
            assert!(
                r.subject
                    .contains("<script>alert(1)</script> Bcc: victim@example.org"),
                "{lang}/{name}: the subject is plain text: {}",
                r.subject
            );
            assert!(
                r.text.contains(title),
                "{lang}/{name}: the text part is plain text"
            );
            let html = r.html.expect("html");
            assert!(
                !html.contains("<script>") && !html.contains("<b>"),
                "{lang}/{name}: nothing from ops is markup"
            );
            assert!(
                html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{lang}/{name}"
            );
            if name == "incident_notice" {
                assert!(
                    r.text.contains("Line 1 <b>bold</b> & \"quoted\"\nLine 2"),
                    "{lang}: the update verbatim"
                );
                assert!(
                    html.contains(
                        "Line 1 &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;\nLine 2</pre>"
                    ),
                    "{lang}: the update keeps its lines"
                );
            }
        }
    }
}
