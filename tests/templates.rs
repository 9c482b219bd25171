//! The shipped templates: every template renders in every language in strict mode, carries the
//! ticket reference, escapes what the customer wrote in HTML, and `deskgate check` notices a
//! broken one.

use deskgate::render::{known_templates, Audience, Templates};
use std::path::Path;

fn shipped() -> Templates {
    Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"))
        .expect("load templates")
}

#[test]
fn every_template_renders_in_every_language_with_the_reference() {
    let t = shipped();
    let langs = ["en", "fr", "pt", "es", "it", "nl", "de"];
    assert_eq!(
        t.check(&langs.iter().map(|l| l.to_string()).collect::<Vec<_>>()),
        Vec::<String>::new()
    );
    for (name, audience, mut ctx) in known_templates() {
        ctx["subject"] = serde_json::json!("Rack <B12> & \"cooling\"");
        if name == "handover" {
            ctx["tickets"][0]["subject"] = ctx["subject"].clone();
        }
        let langs: &[&str] = if audience == Audience::Customer {
            &langs
        } else {
            &["en"]
        };
        for &lang in langs {
            let r = t
                .render(name, lang, "en", &ctx)
                .unwrap_or_else(|e| panic!("{lang}/{name}: {e}"));
            assert_eq!(r.language, lang, "{lang}/{name} exists and is used");
            assert!(r.warnings.is_empty(), "{lang}/{name}: {:?}", r.warnings);
            // A handover is about many tickets: its subject names none.
            assert!(
                name == "handover" || r.subject.contains("[NL-000001]"),
                "{lang}/{name} subject: {}",
                r.subject
            );
            assert!(!r.subject.contains('\n'));
            assert!(
                r.text.contains("NL-000001"),
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
                "{lang}/{name} html escapes the customer's subject"
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
    let config = dir.path().join("deskgate.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"store\"\n[smtp]\nurl = \"file://out\"\n[general]\ntemplates = {:?}\n[[desk]]\nname = \"fr\"\naddress = \"support.fr@example.net\"\nlanguage = \"fr\"\n[desk.maildir]\npath = \"in\"\n",
            copy.display().to_string()
        ),
    )
    .expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_deskgate"))
        .arg("--config")
        .arg(&config)
        .arg("check")
        .current_dir(dir.path())
        .output()
        .expect("run check");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fr/ack.txt") && err.contains("nom"), "{err}");
}
