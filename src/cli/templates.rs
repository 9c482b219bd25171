//! `deskgate templates list` and `deskgate templates preview`: which templates are in force
//! (built in, or overridden by a file in `[general] templates`) and what a reader would receive,
//! rendered with the sample contexts `deskgate check` uses, so a desk can review its wording
//! before going live.

use crate::render::{known_templates, Audience, Origin, Templates, PARTS};
use anyhow::Context as _;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Every template: who reads it, its languages, and whether a file on disk overrides it.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Renders a template with sample data, as a reader in LANG would receive it.
    Preview {
        /// The template, e.g. `ack` (see `templates list`).
        name: String,
        /// The reader's language (falls back to English, as for real mail).
        #[arg(long, default_value = "en")]
        lang: String,
        /// Print the HTML part instead of the subject and text.
        #[arg(long)]
        html: bool,
    },
}

pub fn templates(config: Option<&PathBuf>, command: TemplatesCommand) -> anyhow::Result<i32> {
    let config = super::load_config(config)?;
    let templates = Templates::load(&config.general.templates)
        .with_context(|| "the templates do not load (see `deskgate check`)")?;
    match command {
        TemplatesCommand::List { json } => {
            let rows = rows(&templates);
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print_out(&table(&rows, &templates));
            }
            Ok(0)
        }
        TemplatesCommand::Preview { name, lang, html } => preview(&templates, &name, &lang, html),
    }
}

/// One template as `templates list` shows it.
#[derive(Debug, serde::Serialize)]
struct Row {
    name: &'static str,
    audience: &'static str,
    languages: Vec<String>,
    /// `built-in` or `overridden`.
    source: &'static str,
    /// The files that override it, `lang/name.part` → path.
    overrides: Vec<Override>,
}

#[derive(Debug, serde::Serialize)]
struct Override {
    template: String,
    path: PathBuf,
}

fn rows(templates: &Templates) -> Vec<Row> {
    known_templates()
        .into_iter()
        .map(|(name, audience, _)| {
            let overrides: Vec<Override> = templates
                .overrides()
                .filter(|(key, _)| {
                    key.split_once('/')
                        .and_then(|(_, stem)| stem.rsplit_once('.'))
                        .is_some_and(|(n, part)| n == name && PARTS.contains(&part))
                })
                .map(|(key, path)| Override {
                    template: key.to_string(),
                    path: path.to_path_buf(),
                })
                .collect();
            Row {
                name,
                audience: match audience {
                    Audience::Customer => "customer",
                    Audience::Staff => "staff",
                },
                languages: templates.languages_of(name).into_iter().collect(),
                source: if overrides.is_empty() {
                    "built-in"
                } else {
                    "overridden"
                },
                overrides,
            }
        })
        .collect()
}

/// The human table: one line per template, then one per override file.
fn table(rows: &[Row], templates: &Templates) -> String {
    let mut out = format!(
        "{:<20} {:<9} {:<22} {}\n",
        "TEMPLATE", "READERS", "LANGUAGES", "SOURCE"
    );
    for r in rows {
        let source = if r.overrides.is_empty() {
            "built-in".to_string()
        } else {
            let keys: Vec<&str> = r.overrides.iter().map(|o| o.template.as_str()).collect();
            format!("overridden: {}", keys.join(", "))
        };
        out.push_str(&format!(
            "{:<20} {:<9} {:<22} {}\n",
            r.name,
            r.audience,
            r.languages.join(","),
            source
        ));
    }
    let dir = templates
        .overrides_dir()
        .map_or_else(|| "(none)".to_string(), |d| d.display().to_string());
    let files: Vec<(&str, &std::path::Path)> = templates.overrides().collect();
    if files.is_empty() {
        out.push_str(&format!(
            "\nNo overrides in {dir}: every template is built in.\n"
        ));
    } else {
        out.push_str(&format!("\nOverrides in {dir}:\n"));
        for (key, path) in files {
            out.push_str(&format!("  {key:<36} {}\n", path.display()));
        }
    }
    out
}

/// Prints template `name` rendered for a reader of `lang`; exit 1 when there is no such
/// template or it fails to render.
fn preview(templates: &Templates, name: &str, lang: &str, html: bool) -> anyhow::Result<i32> {
    let known = known_templates();
    let Some((_, _, sample)) = known.iter().find(|(n, _, _)| *n == name) else {
        let names: Vec<&str> = known.iter().map(|(n, _, _)| *n).collect();
        eprintln!(
            "deskgate: no template is called {name:?}; known: {}",
            names.join(", ")
        );
        return Ok(1);
    };
    let r = templates.render(name, lang, "en", sample)?;
    if r.language != lang {
        eprintln!(
            "deskgate: no {name} template in {lang:?}: a {lang} reader gets the {} one",
            r.language
        );
    }
    let origin = |part: &str| match templates
        .files()
        .find(|(k, _)| *k == format!("{}/{name}.{part}", r.language))
        .map(|(_, o)| o)
    {
        Some(Origin::Override(p)) => format!("override {}", p.display()),
        _ => "built-in".to_string(),
    };
    if html {
        match &r.html {
            Some(h) => {
                eprintln!("deskgate: {}/{name}.html ({})", r.language, origin("html"));
                print_out(h);
            }
            None => {
                eprintln!("deskgate: {}/{name} has no HTML part", r.language);
                return Ok(1);
            }
        }
    } else {
        eprintln!(
            "deskgate: {}/{name}: subject {}, text {}",
            r.language,
            origin("subject"),
            origin("txt")
        );
        print_out(&format!("Subject: {}\n\n{}", r.subject, r.text));
    }
    Ok(0)
}

/// Prints `text` and a final newline on stdout; a reader that went away (`| head`) is not an
/// error.
fn print_out(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", text.trim_end_matches('\n')).and_then(|()| out.flush());
}
