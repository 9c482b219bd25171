//! The mails tests put into a desk's mailbox: plain-text mails as a customer's or an engineer's
//! client writes them, with the headers a test needs and CRLF line ends.

/// The `Date:` of a mail unless a test sets another (a Monday, the week the tests were written).
pub const DATE: &str = "Mon, 23 Nov 2026 10:00:00 +0100";

/// A plain-text UTF-8 mail: `From`, `To`, `Subject`, `Message-ID`, `Date`, the test's own
/// headers, then the body. Build it with [`TextMail::new`] and the setters; [`TextMail::bytes`]
/// gives what is appended to a mailbox or dropped into a Maildir.
#[derive(Debug, Clone)]
pub struct TextMail {
    from: String,
    to: String,
    subject: String,
    message_id: String,
    date: String,
    headers: String,
    body: String,
}

impl TextMail {
    /// A mail from `from` (an address, or `Name <address>`) to desk `nl`'s address, with
    /// Message-ID `<message_id>`, dated [`DATE`], saying that a link is down.
    pub fn new(from: &str, subject: &str, message_id: &str) -> TextMail {
        TextMail {
            from: from.to_string(),
            to: "servicedesk.nl@example.net".to_string(),
            subject: subject.to_string(),
            message_id: message_id.to_string(),
            date: DATE.to_string(),
            headers: String::new(),
            body: "Hello desk,\nour link is down.".to_string(),
        }
    }

    pub fn to(mut self, to: &str) -> TextMail {
        self.to = to.to_string();
        self
    }

    pub fn date(mut self, date: &str) -> TextMail {
        self.date = date.to_string();
        self
    }

    /// Header lines placed after `Date:`, each ending in CRLF (`In-Reply-To: <…>\r\n`).
    pub fn headers(mut self, headers: &str) -> TextMail {
        self.headers = headers.to_string();
        self
    }

    /// The text, with `\n` line ends (sent as CRLF, with a final line end).
    pub fn body(mut self, body: &str) -> TextMail {
        self.body = body.to_string();
        self
    }

    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The mail as it goes on the wire.
    pub fn bytes(&self) -> Vec<u8> {
        format!(
            "From: {}\r\nTo: {}\r\nSubject: {}\r\nMessage-ID: <{}>\r\nDate: {}\r\n{}\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
            self.from,
            self.to,
            self.subject,
            self.message_id,
            self.date,
            self.headers,
            self.body.replace('\n', "\r\n"),
        )
        .into_bytes()
    }
}
