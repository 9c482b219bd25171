//! A message as kept on a ticket: inbound mail and the mail deskgate sent, in one list.

use crate::core::address::Address;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

/// An attachment's metadata; the bytes stay in the raw message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    /// File name, sanitised: no path separators, no control characters, at most 200 bytes.
    pub name: String,
    pub content_type: String,
    pub size: usize,
}

/// What a message is, for the people reading the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A customer's mail.
    Customer,
    /// An automatic reply (out of office, robot) or list mail: kept, never answered.
    Automatic,
    /// A delivery status notification.
    Bounce,
    /// The acknowledgement deskgate sent for a new ticket.
    Ack,
    /// A staff member's answer, relayed to the customer.
    Staff,
    /// An internal note: never shown or sent to the customer.
    Note,
    /// Another automatic mail to the customer (e.g. a registration hint).
    Notice,
}

impl MessageKind {
    /// Whether the customer saw (or wrote) this message.
    pub fn customer_visible(self) -> bool {
        !matches!(self, MessageKind::Note)
    }
}

/// One message of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub ticket: String,
    /// Position in the ticket, from 1.
    pub seq: u32,
    pub message_id: String,
    pub direction: Direction,
    pub kind: MessageKind,
    pub from: Address,
    pub to: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<Address>,
    pub date: DateTime<Utc>,
    pub subject: String,
    /// The whole text of the mail (for an engineer's answer or note: what was kept of it).
    pub text: String,
    /// What the writer wrote in this mail, without quoted history and signature, when it
    /// differs from `text` (see `core::mail::text`); shown first to engineers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_text: Option<String>,
    pub attachments: Vec<AttachmentInfo>,
    /// The desk whose mailbox it came from (inbound) or which sent it (outbound).
    pub desk: String,
    /// Outbox entry id, for outbound messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_id: Option<u64>,
    /// How classification saw an inbound mail, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
