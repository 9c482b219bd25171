//! The mbox format: many mails in one file, each opened by a `From ` envelope line.
//!
//! What is read (RFC 4155, appendix A; qmail's mbox(5)): a mail starts at a line beginning
//! with `From ` that opens the file or follows an empty line, or that looks like an envelope
//! line (`From sender Www Mmm …`) wherever it is; the envelope line itself is not part of the
//! mail; the empty line a writer puts before the next envelope is not either. Body lines that
//! a writer quoted as `>From `, `>>From `, … lose one `>` (mboxrd). A file written as mboxo
//! (only `From ` quoted, `>From ` left as it was) cannot be told apart: a body line that really
//! began with `>From ` comes back as `From ` — the mail's text, never its structure, changes.
//! Thunderbird's folders (`From - Mon Jan  1 00:00:00 2001`) and Apple Mail's exports (the
//! `mbox` file inside `Name.mbox/`) are mboxrd; line ends may be LF or CRLF.
//!
//! [`MboxReader`] reads one mail at a time from any [`BufRead`], so a file of any size costs
//! the memory of its largest mail.

use std::io::BufRead;

/// Reads the mails of an mbox one at a time, in file order.
pub struct MboxReader<R> {
    input: R,
    /// Whether the first envelope line has been read.
    started: bool,
    done: bool,
    line: Vec<u8>,
}

impl<R: BufRead> MboxReader<R> {
    pub fn new(input: R) -> MboxReader<R> {
        MboxReader {
            input,
            started: false,
            done: false,
            line: Vec::new(),
        }
    }

    /// Reads one line (with its end) into `self.line`; false at the end of the input.
    fn next_line(&mut self) -> std::io::Result<bool> {
        self.line.clear();
        Ok(self.input.read_until(b'\n', &mut self.line)? > 0)
    }

    /// The next mail, or None at the end; an I/O error ends the reading.
    pub fn next_mail(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        // Text before the first envelope line (there should be none) is skipped.
        while !self.started {
            if !self.next_line()? {
                self.done = true;
                return Ok(None);
            }
            if self.line.starts_with(b"From ") {
                self.started = true;
            }
        }
        let mut mail = Vec::new();
        // Whether the last line of `mail` is empty (a candidate for the writer's separator).
        let mut after_empty = false;
        loop {
            if !self.next_line()? {
                self.done = true;
                break;
            }
            let line = &self.line[..];
            if line.starts_with(b"From ") && (after_empty || looks_like_envelope(line)) {
                break;
            }
            after_empty = is_empty_line(line);
            mail.extend_from_slice(unquote(line));
        }
        // The empty line before the next envelope (or at the end) belongs to the file.
        if after_empty {
            let end = empty_line_end(&mail);
            mail.truncate(mail.len() - end);
        }
        Ok(Some(mail))
    }
}

impl<R: BufRead> Iterator for MboxReader<R> {
    type Item = std::io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_mail().transpose()
    }
}

/// Splits a whole mbox held in memory into its mails.
pub fn split(bytes: &[u8]) -> Vec<Vec<u8>> {
    // Reading from a slice cannot fail.
    MboxReader::new(bytes).map_while(Result::ok).collect()
}

/// Writes mails as an mboxrd file: an envelope line before each, `From ` lines quoted with
/// one more `>`, an empty line after each. A mail that does not end with a line end gets one.
pub fn join(mails: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for mail in mails {
        out.extend_from_slice(b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n");
        for line in mail.split_inclusive(|b| *b == b'\n') {
            if line.iter().skip_while(|b| **b == b'>').take(5).eq(b"From ") {
                out.push(b'>');
            }
            out.extend_from_slice(line);
        }
        if !mail.is_empty() && !mail.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

/// True when the file starts like an mbox (its first line is an envelope line).
pub fn is_mbox(start: &[u8]) -> bool {
    start.starts_with(b"From ")
}

fn is_empty_line(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

/// The length of the empty line ending `mail` (0 when it does not end with one).
fn empty_line_end(mail: &[u8]) -> usize {
    if mail == b"\n" || (mail.ends_with(b"\n\n")) {
        1
    } else if mail == b"\r\n" || mail.ends_with(b"\n\r\n") {
        2
    } else {
        0
    }
}

/// A `>From ` line (any number of `>`) loses one `>`; other lines are kept as they are.
fn unquote(line: &[u8]) -> &[u8] {
    let quotes = line.iter().take_while(|b| **b == b'>').count();
    if quotes > 0 && line[quotes..].starts_with(b"From ") {
        &line[1..]
    } else {
        line
    }
}

/// `From sender Www Mmm …`: an envelope line, as every writer makes them (`From - Mon …` in
/// Thunderbird, `From MAILER-DAEMON Fri …`, `From jane@acme.example Sat …`), unlike a sentence
/// that happens to begin with "From " in an unquoted (mboxo) body.
fn looks_like_envelope(line: &[u8]) -> bool {
    const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    let mut words = line[5..].split(|b| *b == b' ').filter(|w| !w.is_empty());
    let sender = words.next().is_some_and(|w| !w.is_empty());
    let day = words.next().is_some_and(|w| DAYS.contains(&w));
    sender && day
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An mboxrd file as RFC 4155 and mbox(5) show one: two mails, a quoted body line, an
    /// unquoted "From " sentence after a text line (mboxo writers leave those).
    const TWO: &[u8] = b"From jane@acme.example Sat Nov 21 09:12:44 2026\n\
Message-ID: <1@acme.example>\n\
Subject: link down\n\
\n\
>From the rack we see no light.\n\
>>From here quoted twice.\n\
\n\
From MAILER-DAEMON Sat Nov 21 10:00:00 2026\n\
Message-ID: <2@acme.example>\n\
\n\
Line one\n\
From a sentence that is not an envelope.\n";

    #[test]
    fn an_mboxrd_file_splits_into_its_mails_unquoted() {
        let mails = split(TWO);
        assert_eq!(mails.len(), 2);
        assert_eq!(
            mails[0],
            b"Message-ID: <1@acme.example>\nSubject: link down\n\nFrom the rack we see no light.\n>From here quoted twice.\n"
        );
        assert_eq!(
            mails[1],
            b"Message-ID: <2@acme.example>\n\nLine one\nFrom a sentence that is not an envelope.\n"
        );
    }

    #[test]
    fn thunderbird_envelopes_and_crlf_lines_are_read() {
        let file = b"From - Mon Nov 23 08:00:00 2026\r\nX-Mozilla-Status: 0001\r\nSubject: a\r\n\r\nbody\r\n\r\nFrom - Mon Nov 23 09:00:00 2026\r\nSubject: b\r\n\r\nbody b\r\n";
        let mails = split(file);
        assert_eq!(mails.len(), 2);
        assert_eq!(
            mails[0],
            b"X-Mozilla-Status: 0001\r\nSubject: a\r\n\r\nbody\r\n"
        );
        assert_eq!(mails[1], b"Subject: b\r\n\r\nbody b\r\n");
    }

    #[test]
    fn an_envelope_without_the_empty_line_before_it_still_starts_a_mail() {
        let file = b"From a@b Mon Nov 23 08:00:00 2026\nSubject: a\n\nx\nFrom a@b Tue Nov 24 08:00:00 2026\nSubject: b\n\ny\n";
        assert_eq!(
            split(file),
            vec![b"Subject: a\n\nx\n".to_vec(), b"Subject: b\n\ny\n".to_vec()]
        );
    }

    #[test]
    fn an_empty_file_or_one_without_envelopes_holds_no_mail() {
        assert!(split(b"").is_empty());
        assert!(split(b"Subject: not an mbox\n\nx\n").is_empty());
    }

    fn line() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            // The lines that matter: envelope-like, quoted, empty, with CR.
            Just(b"From jane@acme.example Sat Nov 21 09:12:44 2026".to_vec()),
            Just(b"From here".to_vec()),
            Just(b">From there".to_vec()),
            Just(b">>>From".to_vec()),
            Just(b"From ".to_vec()),
            Just(Vec::new()),
            Just(b"\r".to_vec()),
            proptest::collection::vec(
                any::<u8>().prop_filter("no line end", |b| *b != b'\n'),
                0..20
            ),
        ]
    }

    fn mail() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(line(), 0..8).prop_map(|lines| {
            let mut m = Vec::new();
            for l in lines {
                m.extend_from_slice(&l);
                m.push(b'\n');
            }
            m
        })
    }

    proptest! {
        #[test]
        fn split_undoes_join(mails in proptest::collection::vec(mail(), 0..6)) {
            prop_assert_eq!(split(&join(&mails)), mails);
        }
    }
}
