//! What every rule of new-text extraction looks at: a line without its surrounding whitespace and
//! the invisible characters that clients and HTML conversion leave behind.

/// A line without surrounding whitespace and the invisible characters HTML conversion leaves
/// (zero-width spaces and joiners, byte-order marks), nor the `ᐧ` that Gmail add-ons such as
/// Streak and Mixmax put on a line of its own as a read-tracking mark. Used for recognising
/// lines, never for output.
pub(super) fn clean(line: &str) -> &str {
    // Every rule calls this on every line: most lines end in plain ASCII, trimmed byte-wise.
    let ascii = line.trim_ascii();
    let plain_end = |b: Option<&u8>| b.is_none_or(|b| b.is_ascii() && *b != 0x0b);
    if plain_end(ascii.as_bytes().first()) && plain_end(ascii.as_bytes().last()) {
        return ascii;
    }
    line.trim_matches(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}' | '\u{1427}'
            )
    })
}

/// True for a line with nothing a reader would see.
pub(super) fn is_blank(line: &str) -> bool {
    clean(line).is_empty()
}

/// The line cut to at most `max` bytes, on a character boundary: the rules look at the start of
/// a long line only, so that their cost per line stays bounded.
pub(super) fn head(line: &str, max: usize) -> &str {
    if line.len() <= max {
        return line;
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_characters_and_tracking_marks_are_blank() {
        assert!(is_blank("\u{200b} \u{feff}"));
        assert!(is_blank("ᐧ"));
        assert_eq!(clean("  text\u{200b} "), "text");
        assert_eq!(head("héllo", 2), "h");
    }
}
