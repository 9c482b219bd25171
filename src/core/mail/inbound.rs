//! The inbound mail as the core sees it: only the fields that decisions need, already decoded.
//!
//! The parsing adapter (`crate::ingest::parse`) builds an [`InboundMail`] from raw bytes; everything in
//! `core` works on this type and never on raw MIME, so the core stays pure and testable with
//! hand-written values.

use crate::core::address::Address;
use crate::core::service::message::AttachmentInfo;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One parsed inbound mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct InboundMail {
    /// Message-ID without angle brackets. When the mail has none, a stable synthetic one derived
    /// from the raw bytes (so the same mail fetched twice still has one identity).
    pub message_id: String,
    /// True when `message_id` was synthesised because the mail had none.
    pub synthetic_id: bool,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from: Address,
    pub reply_to: Option<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    /// The readable text: text/plain, else HTML converted to text.
    pub text: String,
    /// For a mail whose only readable body is HTML: its text rendered from the HTML's structure,
    /// for new-text extraction (`text::new_text_of`). Block elements stand on lines of their own,
    /// the clients' quote containers (Gmail's `gmail_quote`, Apple's and Thunderbird's
    /// `<blockquote type="cite">`, Yahoo's `yahoo_quoted` …) are `>`-quoted lines, and Outlook's
    /// history (from `divRplyFwdMsg`, `OLK_SRC_BODY_SECTION`) is cut off. `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_text: Option<String>,
    /// True when `html_text` was cut before history that the HTML's structure marked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub html_history_cut: bool,
    /// Every header as (lower-case name, unfolded value), in order. Used by classification.
    pub headers: Vec<(String, String)>,
    /// Top-level MIME type, lower-case, e.g. `multipart/report`.
    pub content_type: String,
    /// The `report-type` parameter of a `multipart/report`, lower-case.
    pub report_type: Option<String>,
    /// MIME types of every part, lower-case, in document order (used to spot DSNs and ARF).
    pub part_types: Vec<String>,
    /// Message-ID of the original mail quoted inside a report (message/rfc822 or
    /// text/rfc822-headers part), without brackets.
    pub original_message_id: Option<String>,
    /// Text of a message/delivery-status part, when there is one.
    pub delivery_status: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
    /// Size of the raw mail in bytes.
    pub size: usize,
    /// Things the parser had to work around (unknown charset, broken MIME, …).
    pub warnings: Vec<String>,
    /// Set when the mail could not be parsed at all: it goes to quarantine with this reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_failed: Option<String>,
}

impl InboundMail {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every Message-ID this mail says it answers: In-Reply-To first, then References newest first.
    pub fn referenced_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for id in self.in_reply_to.iter().chain(self.references.iter().rev()) {
            if !ids.contains(&id.as_str()) {
                ids.push(id.as_str());
            }
        }
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_is_normalised() {
        let a = Address::new(Some(" \"Jane Doe\" "), "<Jane.Doe@Example.COM>");
        assert_eq!(a.email, "jane.doe@example.com");
        assert_eq!(a.name.as_deref(), Some("Jane Doe"));
        assert_eq!(a.domain(), "example.com");
    }

    #[test]
    fn referenced_ids_prefer_in_reply_to_then_newest_reference() {
        let m = InboundMail {
            in_reply_to: vec!["c@x".into()],
            references: vec!["a@x".into(), "b@x".into(), "c@x".into()],
            ..Default::default()
        };
        assert_eq!(m.referenced_ids(), vec!["c@x", "b@x", "a@x"]);
    }
}
