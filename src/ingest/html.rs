//! HTML replies read by their structure. Every client marks where the history it quotes
//! starts: Outlook with a `divRplyFwdMsg` or a `border-top` separator `div` above its header
//! block, Gmail with a `gmail_quote` container, Apple Mail and Thunderbird with `<blockquote
//! type="cite">` (Thunderbird's attribution in a `moz-cite-prefix` `div`). Converted to text,
//! those marks are gone and the history has to be guessed from its wording; read here, before
//! the conversion, they are certain. The result is plain text for `core::mail::text`: the
//! quote containers `>`-quoted, Outlook's history cut off, block elements on lines of their own.

/// The text of an HTML body rendered by its structure, for new-text extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructuredText {
    /// Block elements on lines of their own, quote containers as `>`-quoted lines.
    pub text: String,
    /// True when history that the structure marked was cut off.
    pub history_cut: bool,
}

/// Markers placed in the HTML before it is turned into text and read back afterwards. They are
/// private-use characters, taken out of the HTML first so that a mail cannot forge them.
const BLOCK: char = '\u{E000}';
/// A quote container starts.
const QUOTE: char = '\u{E001}';
/// A plain `<blockquote>` starts: a quote when the line above it ends with a colon (an
/// attribution, as Yandex and Mail.ru write it), an indent otherwise.
const QUOTE_IF_INTRODUCED: char = '\u{E002}';
/// A quote container (or a plain `<blockquote>`) ends.
const QUOTE_END: char = '\u{E003}';

/// Renders an HTML body by its structure:
///
/// - Outlook's history is cut off where it starts: `divRplyFwdMsg` (Outlook on the web and the
///   apps), the `border-top` separator `div` (Outlook for Windows), `OLK_SRC_BODY_SECTION`
///   (Outlook for Mac), new Outlook's reference-message container, Hotmail's `<hr
///   id="stopSpelling">`. Everything after them is history, not nested in them.
/// - The quote containers that hold their history are `>`-quoted with what they hold: Gmail's
///   `gmail_quote` and `gmail_extra`, Yahoo's `yahoo_quoted`, Thunderbird's `moz-cite-prefix`
///   (its attribution), `<blockquote type="cite">` (Apple Mail, Thunderbird), and a plain
///   `<blockquote>` under a line ending with a colon. Marking them rather than cutting there
///   keeps what the writer typed below or between them (bottom-posting, inline answers), and
///   lets the text rules drop the attribution above them.
/// - Block elements (`div`, `p`, `li`, `tr`, headings, `hr` …) start lines of their own, which
///   mail-parser's HTML-to-text does not do for `div`s. The `<hr>` above a header block (Outlook
///   on the web, older clients) is such a break: the header block below it is what new-text
///   extraction cuts at, as in a text reply (an `<hr>` alone is also a writer's own rule).
///
/// The cost is one pass over the HTML and one conversion to text.
pub fn structure_text(html: &str) -> StructuredText {
    let html: std::borrow::Cow<'_, str> =
        if html.contains([BLOCK, QUOTE, QUOTE_IF_INTRODUCED, QUOTE_END]) {
            html.replace([BLOCK, QUOTE, QUOTE_IF_INTRODUCED, QUOTE_END], " ")
                .into()
        } else {
            html.into()
        };
    let (marked, history_cut) = mark_structure(&html);
    let text = mail_parser::decoders::html::html_to_text(&marked);
    StructuredText {
        text: lines_from_marks(&text),
        history_cut,
    }
}

/// What a `<blockquote>` turned out to be, remembered until it closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blockquote {
    Quote,
    QuoteIfIntroduced,
    Indent,
}

/// Copies the HTML with a marker before every block element and around every quote container,
/// and cut before Outlook's history. Returns the copy and whether it was cut.
fn mark_structure(html: &str) -> (String, bool) {
    let mut out = String::with_capacity(html.len() + html.len() / 16);
    // For each open `<div>`: whether it is a quote container; for each open `<blockquote>`: what
    // it is. A close without an open is a plain block end.
    let mut divs: Vec<bool> = Vec::new();
    let mut blockquotes: Vec<Blockquote> = Vec::new();
    let mut copied = 0;
    let mut i = 0;
    while let Some(at) = html[i..].find('<').map(|p| i + p) {
        if html[at..].starts_with("<!--") {
            i = html[at + 4..]
                .find("-->")
                .map_or(html.len(), |p| at + 4 + p + 3);
            continue;
        }
        let tag = match Tag::at(html, at) {
            Ok(tag) => tag,
            Err(resume) => {
                i = resume;
                continue;
            }
        };
        i = tag.end;
        if !tag.closing && matches!(tag.name.as_str(), "style" | "script" | "template") {
            // Their content is not text (html_to_text skips it too): a `<div` in a script must
            // not count.
            i = find_ascii_ci(html, tag.end, &format!("</{}", tag.name)).unwrap_or(html.len());
            continue;
        }
        let attributes = tag.attributes.to_ascii_lowercase();
        if !tag.closing && starts_history(&tag.name, &attributes) {
            out.push_str(&html[copied..at]);
            return (out, true);
        }
        let marker = match (tag.name.as_str(), tag.closing) {
            ("div", false) => {
                let quote = is_quote_container(&attributes);
                divs.push(quote);
                Some(if quote { QUOTE } else { BLOCK })
            }
            ("div", true) => Some(if divs.pop() == Some(true) {
                QUOTE_END
            } else {
                BLOCK
            }),
            ("blockquote", false) => {
                let kind = if is_quote_container(&attributes) || is_cite(&attributes) {
                    Blockquote::Quote
                } else if attributes.contains("border:none") || attributes.contains("border: none")
                {
                    // Gmail's "indent" button: the writer's own text, indented.
                    Blockquote::Indent
                } else {
                    Blockquote::QuoteIfIntroduced
                };
                blockquotes.push(kind);
                Some(match kind {
                    Blockquote::Quote => QUOTE,
                    Blockquote::QuoteIfIntroduced => QUOTE_IF_INTRODUCED,
                    Blockquote::Indent => BLOCK,
                })
            }
            ("blockquote", true) => Some(match blockquotes.pop() {
                Some(Blockquote::Quote | Blockquote::QuoteIfIntroduced) => QUOTE_END,
                _ => BLOCK,
            }),
            (name, _) if is_block(name) => Some(BLOCK),
            _ => None,
        };
        if let Some(marker) = marker {
            out.push_str(&html[copied..at]);
            out.push(marker);
            copied = at;
        }
    }
    out.push_str(&html[copied..]);
    (out, false)
}

/// True for an element from which everything is quoted history (the start of Outlook's): the
/// reply header of Outlook on the web and the apps (`divRplyFwdMsg`), of Outlook for Mac
/// (`OLK_SRC_BODY_SECTION`) and of new Outlook, Hotmail's `<hr id="stopSpelling">`, and the
/// separator `div` Outlook for Windows draws above its header block (`border:none;border-top:
/// solid #E1E1E1 1.0pt`: no border but the top one, which a writer's own HTML has no reason to
/// draw).
fn starts_history(name: &str, attributes: &str) -> bool {
    let compact: String = attributes.chars().filter(|c| !c.is_whitespace()).collect();
    (name == "div" && compact.contains("border:none;border-top:solid"))
        || attributes.contains("divrplyfwdmsg")
        || attributes.contains("olk_src_body_section")
        || attributes.contains("mail-editor-reference-message-container")
        || (name == "hr" && attributes.contains("stopspelling"))
}

/// True for the classes and ids that clients give the element holding a quote.
fn is_quote_container(attributes: &str) -> bool {
    [
        "gmail_quote",
        "gmail_extra",
        "yahoo_quoted",
        "moz-cite-prefix",
    ]
    .iter()
    .any(|c| attributes.contains(c))
}

/// True for `type="cite"` (Apple Mail, Thunderbird).
fn is_cite(attributes: &str) -> bool {
    ["type=\"cite\"", "type='cite'", "type=cite"]
        .iter()
        .any(|c| attributes.contains(c))
}

/// Elements that start a line of their own in a rendered page.
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "li"
            | "ul"
            | "ol"
            | "tr"
            | "table"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "hr"
            | "pre"
            | "center"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "address"
            | "dl"
            | "dt"
            | "dd"
            | "form"
    )
}

/// One HTML tag.
struct Tag<'a> {
    /// Lower-case.
    name: String,
    closing: bool,
    attributes: &'a str,
    /// Just after the `>`.
    end: usize,
}

/// How far the `>` of a tag is looked for: an attribute longer than this is not a mail's.
const MAX_TAG_LEN: usize = 8 * 1024;

impl<'a> Tag<'a> {
    /// The tag starting at the `<` at `at`, or, when it is none (`< 5`, `a<b` without a `>`),
    /// where to look for the next one. A tag ends at its `>`; a `<` outside quotes before it
    /// means it was text. Looking no further than where a failed look ended keeps the cost
    /// linear on text full of `<`.
    fn at(html: &'a str, at: usize) -> Result<Tag<'a>, usize> {
        let bytes = html.as_bytes();
        let mut j = at + 1;
        let closing = bytes.get(j) == Some(&b'/');
        if closing {
            j += 1;
        }
        let name_start = j;
        if !bytes.get(j).is_some_and(u8::is_ascii_alphabetic) {
            return Err(at + 1);
        }
        while j < bytes.len() && bytes[j].is_ascii_alphanumeric() {
            j += 1;
        }
        let name = html[name_start..j].to_ascii_lowercase();
        let attributes_start = j;
        let mut quote: Option<u8> = None;
        let limit = bytes.len().min(at + MAX_TAG_LEN);
        while j < limit {
            match (bytes[j], quote) {
                (b'"' | b'\'', None) => quote = Some(bytes[j]),
                (c, Some(q)) if c == q => quote = None,
                (b'>', None) => {
                    return Ok(Tag {
                        name,
                        closing,
                        attributes: &html[attributes_start..j],
                        end: j + 1,
                    })
                }
                (b'<', None) => return Err(j),
                _ => {}
            }
            j += 1;
        }
        Err(j.max(at + 1))
    }
}

/// The first position at or after `from` where `needle` (ASCII, lower-case) starts, ignoring
/// ASCII case.
fn find_ascii_ci(haystack: &str, from: usize, needle: &str) -> Option<usize> {
    let hay = haystack.as_bytes();
    let needle = needle.as_bytes();
    (from..hay.len().saturating_sub(needle.len() - 1))
        .find(|&p| hay[p..p + needle.len()].eq_ignore_ascii_case(needle))
}

/// Turns the markers left in the converted text into line breaks and `>` quote prefixes.
fn lines_from_marks(text: &str) -> String {
    struct Lines {
        out: String,
        line: String,
        depth: usize,
        last_ends_with_colon: bool,
    }
    impl Lines {
        /// Ends the current line; an empty one only when the text itself had a line break.
        fn end(&mut self, blank_too: bool) {
            let content = self.line.trim_end();
            if content.is_empty() && !blank_too {
                self.line.clear();
                return;
            }
            for _ in 0..self.depth {
                self.out.push('>');
            }
            if self.depth > 0 && !content.is_empty() {
                self.out.push(' ');
            }
            self.out.push_str(content);
            self.out.push('\n');
            if !content.is_empty() {
                self.last_ends_with_colon = content.ends_with(':') || content.ends_with('：');
            }
            self.line.clear();
        }
    }
    let mut lines = Lines {
        out: String::with_capacity(text.len()),
        line: String::new(),
        depth: 0,
        last_ends_with_colon: false,
    };
    // For each open quote marker: whether it counts as a quote.
    let mut open: Vec<bool> = Vec::new();
    for c in text.chars() {
        match c {
            BLOCK => lines.end(false),
            QUOTE | QUOTE_IF_INTRODUCED => {
                lines.end(false);
                let quote = c == QUOTE || lines.last_ends_with_colon;
                open.push(quote);
                lines.depth += usize::from(quote);
            }
            QUOTE_END => {
                lines.end(false);
                if open.pop() == Some(true) {
                    lines.depth -= 1;
                }
            }
            '\n' => lines.end(true),
            ' ' | '\t' if lines.line.is_empty() => {}
            c => lines.line.push(c),
        }
    }
    lines.end(false);
    lines.out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mail::text::extract_new_text;

    /// The new text of an HTML body read by its structure, and whether history was cut.
    fn new_text(html: &str) -> (String, bool) {
        let structured = structure_text(html);
        (
            extract_new_text(&structured.text).new_text,
            structured.history_cut,
        )
    }

    /// The shapes of the clients' HTML replies, trimmed to what marks the history (after
    /// replies written with Outlook on the web and Outlook 365 for Windows, Gmail's web client,
    /// Apple Mail on macOS and Thunderbird 115, and the reply fixtures of mailgun's talon).
    #[test]
    fn each_clients_history_is_found_by_its_structure() {
        let cases = [
            (
                "Outlook on the web",
                r#"<div dir="ltr">Thanks, fixed.</div><hr style="display:inline-block;width:98%" tabindex="-1"><div id="divRplyFwdMsg" dir="ltr"><font face="Calibri"><b>From:</b> NOC &lt;noc@example.net&gt;<br><b>Sent:</b> Monday, May 6, 2024 10:15<br><b>To:</b> Jane<br><b>Subject:</b> Port down</font><div>&nbsp;</div></div><div>Is it working?</div>"#,
                "Thanks, fixed.",
                true,
            ),
            (
                "Outlook for Windows",
                "<div class=WordSection1><p class=MsoNormal>Done.<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p><div><div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'><p class=MsoNormal><b>Von:</b> NOC &lt;noc@example.net&gt; <br><b>Gesendet:</b> Montag, 6. Mai 2024 10:15<br><b>An:</b> Jane<br><b>Betreff:</b> Port down</p></div></div><p class=MsoNormal>Is it working?</p></div>",
                "Done.",
                true,
            ),
            (
                "Gmail",
                r#"<div dir="ltr">Works now.</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, May 6, 2024 at 10:15 AM NOC &lt;<a href="mailto:noc@example.net">noc@example.net</a>&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex"><div dir="ltr">Is it working?</div></blockquote></div>"#,
                "Works now.",
                false,
            ),
            (
                "Apple Mail",
                r#"<html><body dir="auto"><div>Yes, since 10:00.</div><div><br><blockquote type="cite"><div>On 6 May 2024, at 10:15, NOC &lt;noc@example.net&gt; wrote:</div><br><div><div>Is it working?</div></div></blockquote></div></body></html>"#,
                "Yes, since 10:00.",
                false,
            ),
            (
                "Thunderbird",
                r#"<html><body><p>Fixed.</p><div class="moz-cite-prefix">On 06/05/2024 10:15, NOC wrote:<br></div><blockquote type="cite" cite="mid:1@example.net"><p>Is it working?</p></blockquote></body></html>"#,
                "Fixed.",
                false,
            ),
        ];
        for (client, html, expected, cut) in cases {
            assert_eq!(new_text(html), (expected.to_string(), cut), "{client}");
        }
    }

    #[test]
    fn quote_containers_become_quoted_lines() {
        let html = r#"<div>Answer</div><div class="gmail_quote">Jane wrote:<blockquote class="gmail_quote">old<blockquote type="cite">older</blockquote></blockquote></div>"#;
        assert_eq!(
            structure_text(html).text,
            "Answer\n> Jane wrote:\n>> old\n>>> older"
        );
    }

    /// Gmail's indent button and a quotation the writer set off are not history; a plain
    /// `<blockquote>` under a line ending with a colon (Yandex, Mail.ru) is.
    #[test]
    fn plain_blockquotes_are_quotes_only_when_introduced() {
        let indent = r#"<div>See:</div><blockquote style="margin:0 0 0 40px;border:none;padding:0px">the steps</blockquote>"#;
        assert_eq!(structure_text(indent).text, "See:\nthe steps");
        let introduced = "<div>Ok.</div><div>06.05.2024, 10:15, \"NOC\" &lt;noc@example.net&gt;:</div><blockquote>old</blockquote>";
        assert!(structure_text(introduced).text.ends_with(">:\n> old"));
        let set_off = "<div>The manual says</div><blockquote>reboot first</blockquote>";
        assert_eq!(
            structure_text(set_off).text,
            "The manual says\nreboot first"
        );
    }

    /// A mail cannot forge the markers: they are taken out of the HTML first.
    #[test]
    fn marker_characters_in_the_mail_are_neutralised() {
        let html = format!("<div>a{QUOTE}b{QUOTE_END}c{BLOCK}d</div>");
        assert_eq!(structure_text(&html).text, "a b c d");
    }

    #[test]
    fn scripts_comments_and_broken_tags_are_not_structure() {
        let html = "<div>a</div><script>if (x<div) {}</script><!-- <div class=gmail_quote> --><div>1 < 2 and <b</div>";
        let text = structure_text(html).text;
        assert!(!text.contains('>'), "{text}");
        assert!(text.starts_with("a\n"), "{text}");
    }
}
