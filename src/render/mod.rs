//! Templates: handlebars in strict mode, loaded from `templates/<lang>/<name>.<part>.hbs`.
//!
//! A mail is three templates (`subject`, `txt`, `html`). The HTML part is escaped by handlebars;
//! the subject and text parts are not (they are not HTML), and the subject is collapsed onto one
//! line before it becomes a header, so no input can inject a header. Language fallback: the
//! requested language, then the desk's, then English, with a warning.
//!
//! Owns: the templates and their typed contexts. An adapter: may import the core only; never
//! the store, the other adapters or the pipeline.

pub mod context;

use context::{samples, value};
use handlebars::Handlebars;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The parts of a templated mail.
pub const PARTS: [&str; 3] = ["subject", "txt", "html"];

/// The templates deskgate knows, with a sample context used by `deskgate check`.
pub fn known_templates() -> Vec<(&'static str, Audience, Value)> {
    vec![
        ("ack", Audience::Customer, value(&samples::ack())),
        ("reply", Audience::Customer, value(&samples::reply())),
        (
            "too_large",
            Audience::Customer,
            value(&samples::too_large()),
        ),
        ("register", Audience::Customer, value(&samples::register())),
        (
            "partner_redirect",
            Audience::Customer,
            value(&samples::partner_redirect()),
        ),
        (
            "maintenance_notice",
            Audience::Customer,
            sample_maintenance_notice(),
        ),
        (
            "incident_notice",
            Audience::Customer,
            sample_incident_notice(),
        ),
        ("handover", Audience::Staff, value(&samples::handover())),
        ("notify", Audience::Staff, value(&samples::notify())),
        (
            "command_error",
            Audience::Staff,
            value(&samples::command_errors()),
        ),
    ]
}

/// Who reads a template: customers read it in every desk language, staff in English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Customer,
    Staff,
}

fn sample_desk() -> Value {
    value(&samples::desk())
}

/// A maintenance notice: an announcement of a one-off window with an outage, to a contact of
/// the account itself. Every key is always present; `is` and `maintenance.impact_is` have
/// exactly one `true` member, so templates branch with `{{#if is.reminder}}` and the like.
fn sample_maintenance_notice() -> Value {
    serde_json::json!({
        "desk": sample_desk(),
        "kind": "announcement",
        "is": {"announcement": true, "reschedule": false, "reminder": false, "start": false,
               "completion": false, "cancellation": false},
        "recipient": {"name": "Jane Doe", "email": "noc@customer.example"},
        "account": {"id": "ACME", "name": "Acme BV"},
        "on_behalf": false,
        "maintenance": {
            "id": "MNT-7", "reference": "MNT-7", "title": "Core router upgrade AM11",
            "impact": "outage",
            "impact_is": {"outage": true, "degraded": false, "reduced_redundancy": false, "no_impact": false},
            "sites": "AM11", "services": "IP Transit, Cross-connect", "sequence": 0,
            "recurring": false, "rule": "",
        },
        "window": {
            "start": "Wed 2 Dec 2026 00:00", "end": "Wed 2 Dec 2026 06:00",
            "timezone": "Europe/Amsterdam (CET, UTC+01:00)",
            "start_utc": "2026-12-01 23:00 UTC", "end_utc": "2026-12-02 05:00 UTC", "duration": "6 h",
        },
        "calendar_attached": true,
    })
}

/// An incident notice: a newly opened incident under investigation. As for maintenance, `is`,
/// `incident.impact_is` and `incident.status_is` each have one `true` member; `incident.resolved`
/// is `""` until the incident is resolved, and `update.message` is the ops' text, verbatim.
fn sample_incident_notice() -> Value {
    serde_json::json!({
        "desk": sample_desk(),
        "kind": "opened",
        "is": {"opened": true, "update": false, "resolved": false},
        "recipient": {"name": "Jane Doe", "email": "noc@customer.example"},
        "account": {"id": "ACME", "name": "Acme BV"},
        "on_behalf": false,
        "incident": {
            "id": "INC-3", "title": "Packet loss on AM11 core", "impact": "degraded",
            "impact_is": {"outage": false, "degraded": true, "reduced_redundancy": false, "no_impact": false},
            "status": "investigating",
            "status_is": {"investigating": true, "identified": false, "monitoring": false, "resolved": false},
            "sites": "AM11", "services": "", "opened": "Mon 23 Nov 2026 21:40", "resolved": "",
            "timezone": "Europe/Amsterdam (CET, UTC+01:00)",
        },
        "update": {
            "at": "Mon 23 Nov 2026 21:55",
            "message": "Our engineers are investigating packet loss on the AM11 core routers.\nTraffic via AM7 is not affected.",
        },
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template directory {path}: {message}")]
    Load { path: String, message: String },
    #[error("no template {name} in {tried:?} (looked in {dir})")]
    Missing {
        name: String,
        tried: Vec<String>,
        dir: String,
    },
    #[error("template {name}: {message}")]
    Render { name: String, message: String },
}

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// The language actually used.
    pub language: String,
    pub warnings: Vec<String>,
}

/// The loaded templates.
pub struct Templates {
    html: Handlebars<'static>,
    plain: Handlebars<'static>,
    dir: PathBuf,
    /// `lang/name.part` keys present.
    present: BTreeSet<String>,
}

impl Templates {
    /// Loads every `*.hbs` under `dir`. Compile errors are reported with the file name.
    pub fn load(dir: &Path) -> Result<Templates, RenderError> {
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        let mut plain = Handlebars::new();
        plain.set_strict_mode(true);
        plain.register_escape_fn(handlebars::no_escape);
        let mut present = BTreeSet::new();
        let mut errors = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| RenderError::Load {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let mut files = Vec::new();
        for lang_dir in entries.flatten() {
            let lang = lang_dir.file_name().to_string_lossy().into_owned();
            if !lang_dir.path().is_dir() {
                continue;
            }
            for f in std::fs::read_dir(lang_dir.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let file = f.file_name().to_string_lossy().into_owned();
                if let Some(stem) = file.strip_suffix(".hbs") {
                    files.push((format!("{lang}/{stem}"), f.path()));
                }
            }
        }
        files.sort();
        for (key, path) in files {
            let source = match std::fs::read_to_string(&path) {
                Ok(s) => s,
                Err(e) => {
                    errors.push(format!("{}: {e}", path.display()));
                    continue;
                }
            };
            let registry = if key.ends_with(".html") {
                &mut html
            } else {
                &mut plain
            };
            match registry.register_template_string(&key, source) {
                Ok(()) => {
                    present.insert(key);
                }
                Err(e) => errors.push(format!("{}: {e}", path.display())),
            }
        }
        if !errors.is_empty() {
            return Err(RenderError::Load {
                path: dir.display().to_string(),
                message: errors.join("; "),
            });
        }
        Ok(Templates {
            html,
            plain,
            dir: dir.to_path_buf(),
            present,
        })
    }

    /// Languages that have at least one template.
    pub fn languages(&self) -> BTreeSet<String> {
        self.present
            .iter()
            .filter_map(|k| k.split_once('/').map(|(l, _)| l.to_string()))
            .collect()
    }

    /// Renders template `name` for a reader of `language` at a desk whose language is
    /// `desk_language`.
    pub fn render(
        &self,
        name: &str,
        language: &str,
        desk_language: &str,
        ctx: &Value,
    ) -> Result<Rendered, RenderError> {
        let mut tried = Vec::new();
        let mut warnings = Vec::new();
        for lang in [language, desk_language, "en"] {
            if tried.iter().any(|t| t == lang) {
                continue;
            }
            tried.push(lang.to_string());
            if !self.present.contains(&format!("{lang}/{name}.subject"))
                || !self.present.contains(&format!("{lang}/{name}.txt"))
            {
                warnings.push(format!("no {name} template in {lang:?}"));
                continue;
            }
            let subject = self.part(&self.plain, lang, name, "subject", ctx)?;
            let text = self.part(&self.plain, lang, name, "txt", ctx)?;
            let html = if self.present.contains(&format!("{lang}/{name}.html")) {
                Some(self.part(&self.html, lang, name, "html", ctx)?)
            } else {
                None
            };
            if lang != language {
                tracing::warn!(
                    template = name,
                    wanted = language,
                    used = lang,
                    "template language fell back"
                );
            } else {
                warnings.clear();
            }
            return Ok(Rendered {
                subject: crate::core::mail::subject::one_line(&subject),
                text,
                html,
                language: lang.to_string(),
                warnings,
            });
        }
        Err(RenderError::Missing {
            name: name.to_string(),
            tried,
            dir: self.dir.display().to_string(),
        })
    }

    fn part(
        &self,
        reg: &Handlebars<'static>,
        lang: &str,
        name: &str,
        part: &str,
        ctx: &Value,
    ) -> Result<String, RenderError> {
        let key = format!("{lang}/{name}.{part}");
        reg.render(&key, ctx).map_err(|e| RenderError::Render {
            name: key,
            message: e.to_string(),
        })
    }

    /// Every problem with the templates for `languages`: missing parts, and renders of each
    /// template with its sample context failing in strict mode (unknown variables). Staff
    /// templates are checked in English only.
    pub fn check(&self, languages: &[String]) -> Vec<String> {
        let mut problems = Vec::new();
        let english = vec!["en".to_string()];
        for (name, audience, sample) in known_templates() {
            let languages = match audience {
                Audience::Customer => languages,
                Audience::Staff => &english,
            };
            for part in PARTS {
                if !self.present.contains(&format!("en/{name}.{part}")) {
                    problems.push(format!(
                        "{}: en/{name}.{part}.hbs is missing (English is the last fallback)",
                        self.dir.display()
                    ));
                }
            }
            for lang in languages {
                for part in PARTS {
                    let key = format!("{lang}/{name}.{part}");
                    if !self.present.contains(&key) {
                        problems.push(format!(
                            "{}: {key}.hbs is missing; {lang} readers will get another language",
                            self.dir.display()
                        ));
                        continue;
                    }
                    let reg = if part == "html" {
                        &self.html
                    } else {
                        &self.plain
                    };
                    if let Err(e) = reg.render(&key, &sample) {
                        problems.push(format!("{}: {key}.hbs: {e}", self.dir.display()));
                    }
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, key: &str, body: &str) {
        let p = dir.join(format!("{key}.hbs"));
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }

    #[test]
    fn falls_back_to_the_desk_language_then_english() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "en/ack.subject", "[{{ref}}] Received");
        write(dir.path(), "en/ack.txt", "Hello");
        write(dir.path(), "fr/ack.subject", "[{{ref}}] Reçu");
        write(dir.path(), "fr/ack.txt", "Bonjour");
        let t = Templates::load(dir.path()).expect("load");
        let ctx = serde_json::json!({"ref": "NL-0001"});
        let r = t.render("ack", "de", "fr", &ctx).expect("render");
        assert_eq!(
            (r.subject.as_str(), r.language.as_str()),
            ("[NL-0001] Reçu", "fr")
        );
        assert_eq!(r.warnings.len(), 1);
        let r = t.render("ack", "de", "it", &ctx).expect("render");
        assert_eq!(r.language, "en");
        let r = t.render("ack", "fr", "en", &ctx).expect("render");
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn strict_mode_refuses_unknown_variables_and_html_is_escaped() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "en/ack.subject", "{{nope}}");
        write(dir.path(), "en/ack.txt", "{{subject}}");
        write(dir.path(), "en/ack.html", "<p>{{subject}}</p>");
        let t = Templates::load(dir.path()).expect("load");
        assert!(t
            .render("ack", "en", "en", &serde_json::json!({"subject": "x"}))
            .is_err());
        write(dir.path(), "en/ack.subject", "{{subject}}");
        let t = Templates::load(dir.path()).expect("load");
        let r = t
            .render(
                "ack",
                "en",
                "en",
                &serde_json::json!({"subject": "<b>\r\nBcc: x@y"}),
            )
            .expect("render");
        assert_eq!(r.subject, "<b> Bcc: x@y", "one line, no header injection");
        assert_eq!(r.html.as_deref(), Some("<p>&lt;b&gt;\r\nBcc: x@y</p>"));
    }
}
