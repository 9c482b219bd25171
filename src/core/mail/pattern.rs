//! The one way the mail readers build their built-in regular expressions.

use regex::Regex;

/// Compiles a pattern written into the source. The patterns are literals that the readers' unit
/// tests exercise; a bad one is a programming error found by the first test run, never something
/// a mail can cause.
pub(super) fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in pattern must compile")
}
