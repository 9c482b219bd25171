//! Names listed in a message about an unknown one ("no desk \"xx\" in the config (desks: nl,
//! fr)", "unknown site \"AM1\" (… known: AM11, LS1, PA3)"): enough to spot a typo, short enough
//! for one line with thousands of accounts.

/// At most this many names are listed.
pub const LISTED: usize = 20;

/// `a, b, c`: the first [`LISTED`] of `names` and how many more; `none` when there are none.
pub fn listed<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    let total = names.len();
    let shown: Vec<&str> = names.take(LISTED).collect();
    if shown.is_empty() {
        return "none".into();
    }
    let mut text = shown.join(", ");
    if total > shown.len() {
        text.push_str(&format!(", and {} more", total - shown.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_list_is_cut_with_a_count() {
        assert_eq!(listed(std::iter::empty()), "none");
        assert_eq!(listed(["nl", "fr"].into_iter()), "nl, fr");
        let many: Vec<String> = (0..25).map(|i| format!("s{i}")).collect();
        let text = listed(many.iter().map(String::as_str));
        assert!(
            text.starts_with("s0, s1,") && text.ends_with("s19, and 5 more"),
            "{text}"
        );
    }
}
