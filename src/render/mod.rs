//! Templates: handlebars in strict mode. The shipped `templates/<lang>/<name>.<part>.hbs` are
//! compiled into the binary (by `build.rs`); files of the same key in the overrides folder
//! (`[general] templates`) replace them one by one, so a deployment needs nothing on disk.
//!
//! A mail is three templates (`subject`, `txt`, `html`). The HTML part is escaped by handlebars;
//! the subject and text parts are not (they are not HTML), and the subject is collapsed onto one
//! line before it becomes a header, so no input can inject a header. Language fallback: the
//! requested language, then the desk's, then English, with a warning.
//!
//! Owns: the templates and their typed contexts. An adapter: may import the core only; never
//! the store, the other adapters or the pipeline.

pub mod context;
mod vars;

/// The templates compiled in from `templates/` by `build.rs`.
mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_templates.rs"));
}

use context::{samples, value};
use handlebars::Handlebars;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};

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
    #[error("templates do not compile: {}", .problems.join("; "))]
    Compile { problems: Vec<String> },
    #[error("no template {name} in {tried:?} (built in, overrides in {dir})")]
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

/// Where one template file (`lang/name.part`) in force comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Compiled into the binary from the repository's `templates/`.
    BuiltIn,
    /// A file in the overrides folder (`[general] templates`), which wins over the built-in one.
    Override(PathBuf),
}

/// The templates in force: the built-in set, with the files of the overrides folder in place of
/// the built-in ones they name (and any they add).
///
/// Overrides are compiled when loaded, so that a broken one is reported at once. Built-in
/// templates are compiled the first time they are rendered: compiling all of them (seven
/// languages) took about 180 ms, which every CLI command paid before it could list a ticket,
/// and the built-in set is checked by the tests instead.
pub struct Templates {
    html: RwLock<Handlebars<'static>>,
    plain: RwLock<Handlebars<'static>>,
    /// The built-in sources not overridden, compiled on first use.
    builtin_sources: BTreeMap<String, &'static str>,
    /// The overrides folder, when one was named (it need not exist).
    dir: Option<PathBuf>,
    /// `lang/name.part` → where the template in force comes from.
    present: BTreeMap<String, Origin>,
}

impl Templates {
    /// The built-in templates only.
    pub fn builtin() -> Result<Templates, RenderError> {
        Templates::build(None, Vec::new())
    }

    /// The built-in templates, with every `<lang>/<name>.<part>.hbs` under `dir` in place of
    /// the built-in one of the same key. A `dir` that does not exist holds no overrides (the
    /// built-in set is complete); one that cannot be read is an error. Compile errors are
    /// reported together, each with its file.
    pub fn load(dir: &Path) -> Result<Templates, RenderError> {
        let overrides = override_files(dir)?;
        Templates::build(Some(dir.to_path_buf()), overrides)
    }

    fn build(
        dir: Option<PathBuf>,
        overrides: Vec<(String, PathBuf)>,
    ) -> Result<Templates, RenderError> {
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        let mut plain = Handlebars::new();
        plain.set_strict_mode(true);
        plain.register_escape_fn(handlebars::no_escape);
        let mut present = BTreeMap::new();
        let mut builtin_sources = BTreeMap::new();
        for (key, source) in builtin::BUILTIN {
            present.insert(key.to_string(), Origin::BuiltIn);
            builtin_sources.insert(key.to_string(), *source);
        }
        let mut problems = Vec::new();
        for (key, path) in overrides {
            let registry = if key.ends_with(".html") {
                &mut html
            } else {
                &mut plain
            };
            let origin = Origin::Override(path.clone());
            match std::fs::read_to_string(&path) {
                Ok(source) => match registry.register_template_string(&key, source) {
                    Ok(()) => {
                        builtin_sources.remove(&key);
                        present.insert(key, origin);
                    }
                    Err(e) => problems.push(format!("{}: {e}", origin_name(&key, &origin))),
                },
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            }
        }
        if !problems.is_empty() {
            return Err(RenderError::Compile { problems });
        }
        Ok(Templates {
            html: RwLock::new(html),
            plain: RwLock::new(plain),
            builtin_sources,
            dir,
            present,
        })
    }

    /// The registry that holds template `key` (`lang/name.part`), with the template compiled
    /// in it (a built-in one is compiled here on first use).
    fn registry(&self, key: &str) -> Result<RwLockReadGuard<'_, Handlebars<'static>>, RenderError> {
        let lock = if key.ends_with(".html") {
            &self.html
        } else {
            &self.plain
        };
        // A panic while rendering cannot leave a registry half-changed: carry on with it.
        let read = || lock.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let registry = read();
        if registry.has_template(key) {
            return Ok(registry);
        }
        drop(registry);
        if let Some(source) = self.builtin_sources.get(key) {
            let mut registry = lock
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if !registry.has_template(key) {
                registry
                    .register_template_string(key, *source)
                    .map_err(|e| RenderError::Compile {
                        problems: vec![format!("{}: {e}", origin_name(key, &Origin::BuiltIn))],
                    })?;
            }
        }
        Ok(read())
    }

    /// Compiles every template in force, reporting every one that does not compile.
    pub fn compile_all(&self) -> Result<(), RenderError> {
        let problems: Vec<String> = self
            .present
            .keys()
            .filter_map(|key| match self.registry(key) {
                Err(RenderError::Compile { problems }) => Some(problems),
                _ => None,
            })
            .flatten()
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(RenderError::Compile { problems })
        }
    }

    /// The overrides folder named in the config, if any.
    pub fn overrides_dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Every template file in force, `lang/name.part`, with where it comes from.
    pub fn files(&self) -> impl Iterator<Item = (&str, &Origin)> {
        self.present.iter().map(|(k, o)| (k.as_str(), o))
    }

    /// The override files in force, `lang/name.part` with their paths.
    pub fn overrides(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.present.iter().filter_map(|(k, o)| match o {
            Origin::Override(p) => Some((k.as_str(), p.as_path())),
            Origin::BuiltIn => None,
        })
    }

    /// The languages in which template `name` is complete (subject and text; HTML is optional).
    pub fn languages_of(&self, name: &str) -> BTreeSet<String> {
        self.languages()
            .into_iter()
            .filter(|lang| {
                ["subject", "txt"]
                    .iter()
                    .all(|part| self.present.contains_key(&format!("{lang}/{name}.{part}")))
            })
            .collect()
    }

    fn describe_dir(&self) -> String {
        self.dir
            .as_ref()
            .map_or_else(|| "(none)".to_string(), |d| d.display().to_string())
    }

    /// Languages that have at least one template.
    pub fn languages(&self) -> BTreeSet<String> {
        self.present
            .keys()
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
            if !self.present.contains_key(&format!("{lang}/{name}.subject"))
                || !self.present.contains_key(&format!("{lang}/{name}.txt"))
            {
                warnings.push(format!("no {name} template in {lang:?}"));
                continue;
            }
            let subject = self.part(lang, name, "subject", ctx)?;
            let text = self.part(lang, name, "txt", ctx)?;
            let html = if self.present.contains_key(&format!("{lang}/{name}.html")) {
                Some(self.part(lang, name, "html", ctx)?)
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
            dir: self.describe_dir(),
        })
    }

    fn part(&self, lang: &str, name: &str, part: &str, ctx: &Value) -> Result<String, RenderError> {
        let key = format!("{lang}/{name}.{part}");
        self.registry(&key)?
            .render(&key, ctx)
            .map_err(|e| RenderError::Render {
                name: key,
                message: e.to_string(),
            })
    }

    /// Every problem with the templates in force for desks speaking `languages`:
    /// - an override that names no template deskgate sends, or no part of one (it would never
    ///   be used: a misspelt file name);
    /// - a template missing in a desk's language (its readers get another language);
    /// - a template that fails to render its sample context in strict mode, or that names a
    ///   variable its context does not provide in a branch the sample does not take
    ///   ([`vars::unknown_paths`]).
    ///
    /// Every override is checked, in whatever language; built-in templates in the desks'
    /// languages (staff templates in English only).
    pub fn check(&self, languages: &[String]) -> Vec<String> {
        let mut problems = Vec::new();
        let known = known_templates();
        let names: Vec<&str> = known.iter().map(|(n, _, _)| *n).collect();
        let mut to_check: BTreeSet<String> = BTreeSet::new();
        for (key, path) in self.overrides() {
            let (name, part) = split_key(key);
            if !PARTS.contains(&part) {
                problems.push(format!(
                    "{}: {part:?} is not a template part (subject, txt, html); the file is never used",
                    path.display()
                ));
            } else if !names.contains(&name) {
                problems.push(format!(
                    "{}: no template is called {name:?} (known: {}); the file is never used",
                    path.display(),
                    names.join(", ")
                ));
            } else {
                to_check.insert(key.to_string());
            }
        }
        let english = vec!["en".to_string()];
        for (name, audience, _) in &known {
            let languages = match audience {
                Audience::Customer => languages,
                Audience::Staff => &english,
            };
            for lang in languages.iter().chain(&english) {
                for part in PARTS {
                    let key = format!("{lang}/{name}.{part}");
                    if self.present.contains_key(&key) {
                        to_check.insert(key);
                    } else if lang == "en" {
                        problems.push(format!(
                            "{key}.hbs is missing (English is the last fallback)"
                        ));
                    } else {
                        problems.push(format!(
                            "{key}.hbs is missing; {lang} readers will get another language"
                        ));
                    }
                }
            }
        }
        for key in &to_check {
            let (name, _) = split_key(key);
            let Some((_, _, sample)) = known.iter().find(|(n, _, _)| *n == name) else {
                continue;
            };
            let Some(origin) = self.present.get(key) else {
                continue;
            };
            let reg = match self.registry(key) {
                Ok(reg) => reg,
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            };
            if let Err(e) = reg.render(key, sample) {
                problems.push(format!("{}: {e}", origin_name(key, origin)));
            }
            if let Some(template) = reg.get_template(key) {
                for path in vars::unknown_paths(template, sample) {
                    problems.push(format!(
                        "{}: {{{{{path}}}}} is not a variable of {name} (see templates/README.md)",
                        origin_name(key, origin)
                    ));
                }
            }
        }
        problems
    }
}

/// `lang/name.part` → (name, part).
fn split_key(key: &str) -> (&str, &str) {
    let stem = key.split_once('/').map_or(key, |(_, s)| s);
    stem.rsplit_once('.').unwrap_or((stem, ""))
}

/// How a problem names a template: its file for an override, `built-in …` otherwise.
fn origin_name(key: &str, origin: &Origin) -> String {
    match origin {
        Origin::BuiltIn => format!("built-in {key}.hbs"),
        Origin::Override(p) => p.display().to_string(),
    }
}

/// The `<lang>/<name>.<part>.hbs` files under `dir`, sorted, as (key, path); none when `dir`
/// does not exist.
fn override_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, RenderError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(RenderError::Load {
                path: dir.display().to_string(),
                message: e.to_string(),
            })
        }
    };
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
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CLI command that renders nothing compiles nothing; a render compiles only its parts.
    #[test]
    fn built_in_templates_compile_on_first_use() {
        let t = Templates::builtin().expect("load");
        let compiled = |key: &str| t.plain.read().expect("registry").has_template(key);
        assert!(!compiled("en/ack.subject"));
        t.render("ack", "en", "en", &value(&samples::ack()))
            .expect("render");
        assert!(compiled("en/ack.subject") && compiled("en/ack.txt"));
        assert!(!compiled("fr/ack.subject"));
        assert!(t.compile_all().is_ok());
        assert!(compiled("fr/ack.subject"));
    }

    fn write(dir: &Path, key: &str, body: &str) {
        let p = dir.join(format!("{key}.hbs"));
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }

    fn ack_sample() -> Value {
        value(&samples::ack())
    }

    #[test]
    fn an_override_on_disk_wins_and_the_other_templates_stay_built_in() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "fr/ack.subject", "[{{ref}}] Reçu, merci");
        let t = Templates::load(dir.path()).expect("load");
        let r = t.render("ack", "fr", "en", &ack_sample()).expect("render");
        assert_eq!(r.subject, "[NL-000001] Reçu, merci");
        assert!(
            r.text.contains("NL-000001"),
            "the built-in text: {}",
            r.text
        );
        let builtin = Templates::builtin().expect("built in");
        let b = builtin
            .render("ack", "fr", "en", &ack_sample())
            .expect("render");
        assert_eq!((&r.text, &r.html), (&b.text, &b.html));
        assert_ne!(r.subject, b.subject);
        let overrides: Vec<(&str, &Path)> = t.overrides().collect();
        assert_eq!(overrides.len(), 1);
        assert_eq!(overrides[0].0, "fr/ack.subject");
    }

    #[test]
    fn a_missing_overrides_folder_means_the_built_in_set() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = Templates::load(&dir.path().join("nowhere")).expect("load");
        assert_eq!(t.overrides().count(), 0);
        assert!(t.languages().contains("fr"));
        let r = t.render("ack", "nl", "en", &ack_sample()).expect("render");
        assert_eq!(r.language, "nl");
    }

    #[test]
    fn a_language_without_templates_falls_back_to_the_desk_language_then_english() {
        let t = Templates::builtin().expect("built in");
        let r = t.render("ack", "sv", "fr", &ack_sample()).expect("render");
        assert_eq!(r.language, "fr");
        assert_eq!(r.warnings.len(), 1);
        let r = t.render("ack", "sv", "fi", &ack_sample()).expect("render");
        assert_eq!(r.language, "en");
        let r = t.render("ack", "fr", "en", &ack_sample()).expect("render");
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn check_names_each_broken_override_by_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "fr/akc.subject", "x");
        write(dir.path(), "fr/ack.text", "x");
        write(
            dir.path(),
            "nl/ack.subject",
            "[{{ref}}] {{#if requester.nmae}}x{{/if}}",
        );
        write(dir.path(), "en/reply.txt", "{{staff.name}} {{texte}}");
        let t = Templates::load(dir.path()).expect("load");
        let problems = t.check(&["en".to_string(), "nl".to_string()]);
        let path = |key: &str| dir.path().join(format!("{key}.hbs")).display().to_string();
        let expect = [
            (path("fr/akc.subject"), "no template is called \"akc\""),
            (path("fr/ack.text"), "\"text\" is not a template part"),
            (
                path("nl/ack.subject"),
                "{{requester.nmae}} is not a variable of ack",
            ),
            (path("en/reply.txt"), "strict mode"),
            (path("en/reply.txt"), "{{texte}} is not a variable of reply"),
        ];
        for (file, what) in &expect {
            assert!(
                problems
                    .iter()
                    .any(|p| p.starts_with(file.as_str()) && p.contains(what)),
                "{file}: {what} in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expect.len(), "{problems:#?}");
        assert_eq!(
            Templates::builtin()
                .expect("built in")
                .check(&["fr".into()]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn an_override_that_does_not_compile_is_refused_with_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "de/ack.txt", "{{#if ref}}unclosed");
        let Err(RenderError::Compile { problems }) = Templates::load(dir.path()) else {
            panic!("an unclosed block must not load");
        };
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with(&dir.path().join("de/ack.txt.hbs").display().to_string()));
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
