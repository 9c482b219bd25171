//! The four faces of one [`Board`]: the HTML page, its JSON, the Atom feed and the iCalendar
//! feed of maintenance. Pure text; the server in `mod.rs` only picks one and sends it.
//!
//! The HTML is written once, with every word from the reader's [`Strings`] table and every
//! piece of data escaped. It needs no JavaScript and no other file: the CSS is inline, one
//! column, readable on a phone. Times are shown in the page's zone with their UTC offset; the
//! JSON, Atom and iCalendar carry UTC.

use std::fmt::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::strings::{self, Strings};
use super::view::{Board, Occurrence, State};
use super::{IncidentItem, StatusPage};
use crate::core::broadcasts::icalendar::{bcop_vevent, vcalendar, EventContext, Organizer};
use crate::core::broadcasts::maintenance::{Impact, Maintenance, Status};
use crate::core::lang::Lang;

/// The page's only style sheet. The banner's colours (the browser test samples the outage
/// red, #c62828) must keep white text readable (contrast of 4.5:1 or more).
const CSS: &str = "\
*{box-sizing:border-box}\
html{-webkit-text-size-adjust:100%}\
body{margin:0;font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"DejaVu Sans\",sans-serif;color:#1f2328;background:#f6f8fa}\
header{padding:20px 16px;color:#fff}\
header h1{margin:0;font-size:1.1rem;font-weight:600}\
header p{margin:4px 0 0;font-size:1.5rem;font-weight:700;line-height:1.25}\
.operational{background:#1e7e34}.degraded{background:#b45309}.outage{background:#c62828}\
main,footer{max-width:42rem;margin:0 auto;padding:0 16px}\
section{margin:24px 0}\
h2{font-size:1.15rem;margin:0 0 8px}\
article{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 16px;margin:0 0 12px}\
article.resolved{background:#f6f8fa;color:#57606a}\
h3{font-size:1rem;margin:0 0 6px;overflow-wrap:anywhere}\
.badge{display:inline-block;border-radius:4px;padding:0 8px;margin:0 4px 4px 0;font-size:.875rem;background:#eaeef2}\
.impact-outage{background:#ffebe9;color:#82071e}.impact-degraded{background:#fff1e5;color:#7d3c00}\
.resolved .status{background:#dafbe1;color:#116329}\
dl{display:grid;grid-template-columns:auto 1fr;gap:2px 12px;margin:6px 0}\
dt{color:#57606a}dd{margin:0;overflow-wrap:anywhere}\
ol{list-style:none;padding:0;margin:8px 0 0}\
li{padding:8px 0;border-top:1px solid #eaeef2;overflow-wrap:anywhere}\
time{white-space:nowrap}\
.none{color:#57606a}\
footer{padding-bottom:32px;color:#57606a;font-size:.9rem}\
footer ul{list-style:none;padding:0;margin:4px 0 12px;display:flex;flex-wrap:wrap;gap:8px}\
footer a,footer strong{display:inline-block;min-height:44px;padding:10px 12px;border:1px solid #d0d7de;border-radius:6px;background:#fff}\
a{color:#0550ae}";

/// The page's title: the configured one, else the language's "Service status".
fn title<'a>(page: &'a StatusPage, s: &'a Strings) -> &'a str {
    page.title.as_deref().unwrap_or(s.default_title)
}

/// The HTML page in `lang`.
pub fn html(page: &StatusPage, board: &Board<'_>, lang: Lang) -> String {
    let s = strings::of(lang);
    let title = esc(title(page, s));
    let banner = match board.state {
        State::Operational => s.operational,
        State::Degraded => s.degraded,
        State::Outage => s.outage,
    };
    let mut out = String::with_capacity(8 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{code}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n\
         <link rel=\"alternate\" type=\"application/atom+xml\" href=\"feed.atom?lang={code}\" title=\"{feed}\">\n\
         <style>{CSS}</style>\n</head>\n<body>\n\
         <header id=\"state\" class=\"{state}\">\n<h1>{title}</h1>\n<p>{banner}</p>\n</header>\n<main>\n",
        code = lang.code(),
        feed = esc(s.atom_feed),
        state = board.state.code(),
        banner = esc(banner),
    );

    let _ = write!(
        out,
        "<section id=\"incidents\">\n<h2>{}</h2>\n",
        esc(s.current_incidents)
    );
    if board.incidents.is_empty() {
        let _ = writeln!(out, "<p class=\"none\">{}</p>", esc(s.no_incidents));
    }
    for incident in &board.incidents {
        incident_html(&mut out, page, incident, s);
    }
    out.push_str("</section>\n");

    let _ = write!(
        out,
        "<section id=\"ongoing\">\n<h2>{}</h2>\n",
        esc(s.ongoing_maintenance)
    );
    if board.ongoing.is_empty() {
        let _ = writeln!(out, "<p class=\"none\">{}</p>", esc(s.no_ongoing));
    }
    for o in &board.ongoing {
        occurrence_html(&mut out, page, o, s);
    }
    out.push_str("</section>\n");

    let _ = write!(
        out,
        "<section id=\"upcoming\">\n<h2>{}</h2>\n",
        esc(s.upcoming_maintenance)
    );
    if board.upcoming.is_empty() {
        let days = page.horizon.num_days().to_string();
        let _ = writeln!(
            out,
            "<p class=\"none\">{}</p>",
            esc(&s.no_upcoming.replace("{days}", &days))
        );
    }
    for o in &board.upcoming {
        occurrence_html(&mut out, page, o, s);
    }
    out.push_str("</section>\n</main>\n");

    let _ = write!(
        out,
        "<footer>\n<p>{updated}: {now}<br>{times_in}</p>\n<h2>{subscribe}</h2>\n<ul>\
         <li><a href=\"feed.atom?lang={code}\">{feed}</a></li>\
         <li><a href=\"maintenance.ics\">{calendar}</a></li>\
         <li><a href=\"status.json\">JSON</a></li></ul>\n<h2>{language}</h2>\n<ul>",
        updated = esc(s.last_updated),
        now = time_html(page, board.now),
        times_in = esc(&s.times_in.replace("{tz}", page.tz.name())),
        subscribe = esc(s.subscribe),
        code = lang.code(),
        feed = esc(s.atom_feed),
        calendar = esc(s.calendar),
        language = esc(s.language),
    );
    for other in &page.languages {
        if *other == lang {
            let _ = write!(
                out,
                "<li><strong aria-current=\"true\">{}</strong></li>",
                other.native_name()
            );
        } else {
            let _ = write!(
                out,
                "<li><a href=\"?lang={code}\" hreflang=\"{code}\" lang=\"{code}\">{name}</a></li>",
                code = other.code(),
                name = other.native_name()
            );
        }
    }
    out.push_str("</ul>\n</footer>\n</body>\n</html>\n");
    out
}

fn incident_html(out: &mut String, page: &StatusPage, i: &IncidentItem, s: &Strings) {
    let resolved = super::view::is_resolved(i);
    let _ = write!(
        out,
        "<article id=\"{anchor}\" class=\"incident{class}\">\n<h3>{title}</h3>\n<p>\
         <span class=\"badge impact-{impact}\">{impact_label}</span>\
         <span class=\"badge status\">{status}</span></p>\n<dl>\
         <dt>{opened}</dt><dd>{opened_at}</dd>",
        anchor = anchor("incident", &i.id),
        class = if resolved { " resolved" } else { "" },
        title = esc(&i.title),
        impact = impact_code(i.impact),
        impact_label = esc(impact_label(i.impact, s)),
        status = esc(&incident_status_label(&i.status, resolved, s)),
        opened = esc(s.opened),
        opened_at = time_html(page, i.opened),
    );
    if let Some(at) = i.resolved {
        let _ = write!(
            out,
            "<dt>{}</dt><dd>{}</dd>",
            esc(s.resolved_at),
            time_html(page, at)
        );
    }
    names_html(out, s.sites, &i.sites);
    names_html(out, s.services, &i.services);
    out.push_str("</dl>\n");
    if !i.updates.is_empty() {
        out.push_str("<ol>");
        // Newest first, as readers look for the latest word.
        for (at, status, message) in i.updates.iter().rev() {
            let _ = write!(
                out,
                "<li>{} <strong>{}</strong><br>{}</li>",
                time_html(page, *at),
                esc(&incident_status_label(status, false, s)),
                esc(message)
            );
        }
        out.push_str("</ol>\n");
    }
    out.push_str("</article>\n");
}

fn occurrence_html(out: &mut String, page: &StatusPage, o: &Occurrence<'_>, s: &Strings) {
    let m = o.maintenance;
    let _ = write!(
        out,
        "<article id=\"{anchor}\" class=\"maintenance\">\n<h3>{title}</h3>\n<p>\
         <span class=\"badge impact-{impact}\">{impact_label}</span>\
         <span class=\"badge status-{status_code}\">{status}</span></p>\n<dl>\
         <dt>{start}</dt><dd>{start_at}</dd><dt>{end}</dt><dd>{end_at}</dd>",
        anchor = anchor("maintenance", &o.id()),
        title = esc(m.title()),
        impact = impact_code(m.impact()),
        impact_label = esc(impact_label(m.impact(), s)),
        status_code = o.status,
        status = esc(maintenance_status_label(o.status, s)),
        start = esc(s.start),
        start_at = time_html(page, o.window.start),
        end = esc(s.end),
        end_at = time_html(page, o.window.end),
    );
    names_html(out, s.sites, m.sites());
    names_html(out, s.services, m.services());
    out.push_str("</dl>\n</article>\n");
}

fn names_html(out: &mut String, label: &str, names: &[String]) {
    if !names.is_empty() {
        let _ = write!(
            out,
            "<dt>{}</dt><dd>{}</dd>",
            esc(label),
            esc(&names.join(", "))
        );
    }
}

/// `<time datetime="…Z">2026-03-04 13:00 UTC+01:00</time>`: local time with its offset.
fn time_html(page: &StatusPage, at: DateTime<Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        rfc3339(at),
        local(page, at)
    )
}

/// A time in the page's zone, with its UTC offset: `2026-03-04 13:00 UTC+01:00`.
pub fn local(page: &StatusPage, at: DateTime<Utc>) -> String {
    at.with_timezone(&page.tz)
        .format("%Y-%m-%d %H:%M UTC%:z")
        .to_string()
}

/// The JSON of the board: stable codes and UTC times (RFC 3339), not translated.
pub fn json(page: &StatusPage, board: &Board<'_>) -> String {
    let incidents: Vec<Value> = board
        .incidents
        .iter()
        .map(|i| {
            json!({
                "id": i.id,
                "title": i.title,
                "impact": impact_code(i.impact),
                "status": i.status,
                "resolved": i.resolved.map(rfc3339),
                "opened": rfc3339(i.opened),
                "sites": i.sites,
                "services": i.services,
                "updates": i.updates.iter().map(|(at, status, message)| json!({
                    "at": rfc3339(*at),
                    "status": status,
                    "message": message,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let occurrences = |list: &[Occurrence<'_>]| -> Vec<Value> {
        list.iter()
            .map(|o| {
                let m = o.maintenance;
                json!({
                    "id": o.id(),
                    "maintenance_id": m.id(),
                    "title": m.title(),
                    "impact": impact_code(m.impact()),
                    "status": o.status.to_string(),
                    "start": rfc3339(o.window.start),
                    "end": rfc3339(o.window.end),
                    "sites": m.sites(),
                    "services": m.services(),
                    "sequence": m.sequence(),
                })
            })
            .collect()
    };
    let value = json!({
        "title": title(page, strings::of(page.languages.first().copied().unwrap_or(Lang::En))),
        "generated": rfc3339(board.now),
        "timezone": page.tz.name(),
        "state": board.state.code(),
        "incidents": incidents,
        "maintenance": {
            "ongoing": occurrences(&board.ongoing),
            "upcoming": occurrences(&board.upcoming),
        },
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// One Atom entry before it is written.
struct Entry {
    id: String,
    title: String,
    updated: DateTime<Utc>,
    link: String,
    content: String,
}

/// The Atom 1.0 feed in `lang`: an entry per incident update (or, for an incident without
/// updates, its opening) and one per maintenance occurrence shown, newest first. Ids are
/// `tag:` URIs built from the provider's domain and each item's own date, so they never change;
/// a maintenance entry's `updated` is its last revision, so readers see reschedules.
pub fn atom(page: &StatusPage, board: &Board<'_>, lang: Lang) -> String {
    let s = strings::of(lang);
    let authority = page.provider.to_ascii_lowercase();
    let mut entries = Vec::new();
    for i in &board.incidents {
        let base = format!(
            "tag:{authority},{}:incident/{}",
            i.opened.format("%Y-%m-%d"),
            tag_part(&i.id)
        );
        let link = format!("./#{}", anchor("incident", &i.id));
        if i.updates.is_empty() {
            entries.push(Entry {
                id: format!("{base}/opened"),
                title: format!("{}: {}", s.incident, i.title),
                updated: i.opened,
                link: link.clone(),
                content: impact_label(i.impact, s).to_string(),
            });
        }
        for (n, (at, status, message)) in i.updates.iter().enumerate() {
            entries.push(Entry {
                id: format!("{base}/update/{}", n + 1),
                title: format!(
                    "{}: {} — {}",
                    s.incident,
                    i.title,
                    incident_status_label(status, false, s)
                ),
                updated: *at,
                link: link.clone(),
                content: message.clone(),
            });
        }
    }
    for o in board.ongoing.iter().chain(&board.upcoming) {
        let m = o.maintenance;
        entries.push(Entry {
            id: format!(
                "tag:{authority},{}:maintenance/{}",
                m.created().format("%Y-%m-%d"),
                tag_part(&o.id())
            ),
            title: format!("{}: {}", s.maintenance, m.title()),
            updated: last_revision(m),
            link: format!("./#{}", anchor("maintenance", &o.id())),
            content: format!(
                "{}: {}\n{}: {}\n{}: {}\n{}",
                s.start,
                local(page, o.window.start),
                s.end,
                local(page, o.window.end),
                s.impact,
                impact_label(m.impact(), s),
                maintenance_status_label(o.status, s),
            ),
        });
    }
    entries.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.id.cmp(&b.id)));
    let updated = entries.iter().map(|e| e.updated).max().unwrap_or(board.now);
    let title = esc(title(page, s));
    let mut out = String::with_capacity(4 * 1024);
    // The feed's own id must never change, so its tag date is fixed: the year the status page
    // came to deskgate (RFC 4151 asks only for a date on which the authority held the name).
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"{code}\">\n\
         <id>tag:{authority},2026:status</id>\n<title>{title}</title>\n\
         <updated>{updated}</updated>\n<author><name>{title}</name></author>\n\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"feed.atom?lang={code}\"/>\n\
         <link rel=\"alternate\" type=\"text/html\" href=\"./?lang={code}\"/>\n",
        code = lang.code(),
        authority = esc(&authority),
        updated = rfc3339(updated),
    );
    for e in entries {
        let _ = write!(
            out,
            "<entry>\n<id>{}</id>\n<title>{}</title>\n<updated>{}</updated>\n\
             <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n\
             <content type=\"text\">{}</content>\n</entry>\n",
            esc(&e.id),
            esc(&e.title),
            rfc3339(e.updated),
            esc(&e.link),
            esc(&e.content),
        );
    }
    out.push_str("</feed>\n");
    out
}

/// The iCalendar feed: one BCOP VEVENT per ongoing or upcoming occurrence, without METHOD (a
/// feed, not a message). The BCOP parsers refuse an empty account, and a public feed is for no
/// account in particular, so the provider's domain stands in; DTSTAMP is the maintenance's last
/// revision, as RFC 5545 asks of a calendar without METHOD.
pub fn ics(page: &StatusPage, board: &Board<'_>) -> String {
    let organizer = page.organizer.as_ref().map(|c| Organizer {
        name: c.name.as_deref(),
        email: &c.email,
    });
    let events: Vec<String> = board
        .ongoing
        .iter()
        .chain(&board.upcoming)
        .map(|o| {
            let cx = EventContext {
                provider: &page.provider,
                account: &page.provider,
                object_ids: &[],
                organizer,
                dtstamp: last_revision(o.maintenance),
            };
            bcop_vevent(o.maintenance, &o.window, o.status, &cx)
        })
        .collect();
    vcalendar(None, &events)
}

/// When a maintenance last changed.
fn last_revision(m: &Maintenance) -> DateTime<Utc> {
    m.history().last().map(|h| h.at).unwrap_or(m.created())
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The JSON and CSS code of an impact: `outage`, `degraded`, `reduced-redundancy`, `no-impact`.
pub fn impact_code(impact: Impact) -> String {
    impact.bcop().to_ascii_lowercase()
}

fn impact_label(impact: Impact, s: &Strings) -> &'static str {
    match impact {
        Impact::Outage => s.impact_outage,
        Impact::Degraded => s.impact_degraded,
        Impact::ReducedRedundancy => s.impact_reduced_redundancy,
        Impact::NoImpact => s.impact_none,
    }
}

/// An incident status in words; a status the page does not know is shown as given.
fn incident_status_label(status: &str, resolved: bool, s: &Strings) -> String {
    if resolved {
        return s.resolved.to_string();
    }
    match status.trim().to_ascii_lowercase().as_str() {
        "investigating" => s.investigating.to_string(),
        "identified" => s.identified.to_string(),
        "monitoring" => s.monitoring.to_string(),
        "resolved" => s.resolved.to_string(),
        _ => status.to_string(),
    }
}

fn maintenance_status_label(status: Status, s: &Strings) -> &'static str {
    match status {
        Status::Tentative => s.tentative,
        Status::Ongoing => s.in_progress,
        _ => s.scheduled,
    }
}

/// An HTML id (and URL fragment) for an item: the kind, then the id with anything but
/// letters, digits, `-`, `_` and `.` replaced by `-`.
pub fn anchor(kind: &str, id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{kind}-{clean}")
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for the specific part of a
/// `tag:` URI.
fn tag_part(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Escapes text for HTML and XML (content and quoted attributes alike), and drops the control
/// characters XML 1.0 cannot hold, so the Atom feed stays well-formed whatever a title holds.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup_and_no_illegal_xml() {
        let table = [
            (
                "<script>alert('x')</script>",
                "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;",
            ),
            ("a & \"b\"", "a &amp; &quot;b&quot;"),
            ("bell\u{7}\u{0}gone\u{FFFF}", "bellgone"),
            ("line\nnext\ttab", "line\nnext\ttab"),
            ("été — 東京", "été — 東京"),
        ];
        for (raw, escaped) in table {
            assert_eq!(esc(raw), escaped, "{raw:?}");
        }
    }

    #[test]
    fn anchors_and_tag_parts_hold_only_safe_characters() {
        assert_eq!(anchor("incident", "INC-7"), "incident-INC-7");
        assert_eq!(anchor("incident", "a b\"<c>"), "incident-a-b--c-");
        assert_eq!(
            tag_part("PLAT-1-20260101T230000Z"),
            "PLAT-1-20260101T230000Z"
        );
        assert_eq!(tag_part("a b/é"), "a%20b%2F%C3%A9");
    }

    #[test]
    fn an_unknown_incident_status_is_shown_as_given_and_resolved_wins() {
        let s = strings::of(Lang::Fr);
        assert_eq!(
            incident_status_label("Monitoring", false, s),
            "Sous surveillance"
        );
        assert_eq!(incident_status_label("escalated", false, s), "escalated");
        assert_eq!(incident_status_label("monitoring", true, s), "Résolu");
    }
}
