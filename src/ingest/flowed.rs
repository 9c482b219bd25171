//! `format=flowed` text (RFC 3676), as Thunderbird, K-9 and many other clients send plain text:
//! a line ending in a space continues on the next one. Read as it is, such a mail arrives
//! hard-wrapped at the client's width (about 72 characters) — relayed to a customer it shows
//! ragged breaks on a phone. Unflowed, each paragraph is one line again, and the reader's
//! client wraps it.

/// Joins the soft line breaks of `text` (lines ending in a space, within the same quote depth),
/// undoing space-stuffing; with `delsp` (`DelSp=yes`) the space before a soft break is removed
/// too. The signature separator `-- ` is never a soft break.
pub fn unflow(text: &str, delsp: bool) -> String {
    let mut out: Vec<String> = Vec::new();
    // The paragraph being joined: its quote depth and its text so far.
    let mut open: Option<(usize, String)> = None;
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let depth = line.chars().take_while(|c| *c == '>').count();
        let mut content = &line[depth..];
        // Space-stuffing: one leading space was added to lines starting with a space, `>`
        // or "From ".
        content = content.strip_prefix(' ').unwrap_or(content);
        let soft = content.ends_with(' ') && content != "-- ";
        let piece = if soft && delsp {
            &content[..content.len() - 1]
        } else {
            content
        };
        match &mut open {
            Some((d, para)) if *d == depth => para.push_str(piece),
            _ => {
                if let Some((d, para)) = open.take() {
                    out.push(with_quotes(d, &para));
                }
                open = Some((depth, piece.to_string()));
            }
        }
        if !soft {
            if let Some((d, para)) = open.take() {
                out.push(with_quotes(d, &para));
            }
        }
    }
    if let Some((d, para)) = open.take() {
        out.push(with_quotes(d, &para));
    }
    out.join("\n")
}

fn with_quotes(depth: usize, text: &str) -> String {
    if depth == 0 {
        text.to_string()
    } else {
        format!("{} {text}", ">".repeat(depth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_breaks_join_and_hard_breaks_stay() {
        // As Thunderbird writes it (format=flowed; delsp=no): a trailing space is a soft break.
        let sent = "Hello Jane,\r\n\r\nA field engineer is \r\non the way to AM11 and will \r\nreseat the optic.\r\n\r\nAlice\r\n";
        assert_eq!(
            unflow(sent, false),
            "Hello Jane,\n\nA field engineer is on the way to AM11 and will reseat the optic.\n\nAlice\n"
        );
    }

    #[test]
    fn delsp_removes_the_space_of_the_break() {
        // DelSp=yes (Apple Mail, some iOS versions): the space only marks the break.
        assert_eq!(
            unflow("Verbindungs \r\nabbruch", true),
            "Verbindungsabbruch"
        );
        assert_eq!(
            unflow("Verbindungs \r\nabbruch", false),
            "Verbindungs abbruch"
        );
    }

    #[test]
    fn quotes_keep_their_depth_and_do_not_merge_with_new_text() {
        let sent = "Yes, done. \r\nThanks!\r\n> On Monday you \r\n> wrote: \r\n>> the link \r\n>> is down\r\n";
        assert_eq!(
            unflow(sent, false),
            "Yes, done. Thanks!\n> On Monday you wrote: \n>> the link is down\n"
        );
    }

    #[test]
    fn stuffed_spaces_go_and_the_signature_separator_stays() {
        let sent = " From here on \r\nit works\r\n-- \r\nAlice Martin\r\n";
        assert_eq!(
            unflow(sent, false),
            "From here on it works\n-- \nAlice Martin\n"
        );
    }

    #[test]
    fn text_that_is_not_flowed_comes_out_the_same() {
        let plain = "line one\nline two\n\n> quoted\n";
        assert_eq!(unflow(plain, false), plain);
    }
}
