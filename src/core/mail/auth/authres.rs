//! RFC 8601 `Authentication-Results` header values, read leniently: who wrote the header (its
//! authserv-id) and each `method=result` clause with its properties. Whether to believe a header
//! is not this file's question; the verdict policy in `auth` decides that.

/// A parsed `Authentication-Results` header value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthResults {
    /// The server that added the header, lower-cased; empty when the header has none (Microsoft
    /// 365 writes its results that way), and then it cannot be trusted.
    pub authserv_id: String,
    /// One entry per `method=result` clause, in header order.
    pub results: Vec<MethodResult>,
}

/// One `method=result` clause with its properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MethodResult {
    /// `dkim`, `spf`, `dmarc`, `arc`, … lower-cased, without a `/version`.
    pub method: String,
    /// `pass`, `fail`, `softfail`, `none`, … lower-cased.
    pub result: String,
    /// `(name, value)` pairs such as `("header.d", "example.com")` or `("reason", "…")`: names
    /// lower-cased, values as written without quotes.
    pub properties: Vec<(String, String)>,
}

impl MethodResult {
    /// The first value of a property, by lower-case name.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}
/// Parses an `Authentication-Results` header value (RFC 8601), leniently: comments in
/// parentheses (nested, escaped) are dropped, quoted strings unquoted, spaces around `=`
/// tolerated, names case-insensitive, clauses it cannot read skipped. The folding is already
/// undone by the mail parser. Returns `None` only when the value holds neither an authserv-id
/// nor a result.
pub fn parse_authentication_results(value: &str) -> Option<AuthResults> {
    let tokens = tokenize(value);
    let mut segments = tokens.split(|t| *t == Token::Semi);
    let first = segments.next().unwrap_or(&[]);
    let mut out = AuthResults::default();
    // Microsoft 365 starts straight with `spf=pass …`: no authserv-id, the first clause a result.
    let starts_with_result = matches!(first.get(1), Some(Token::Eq));
    let rest_of_first = if starts_with_result {
        first
    } else {
        if let Some(Token::Word(id) | Token::Quoted(id)) = first.first() {
            out.authserv_id = id.to_lowercase();
        }
        let after_id = first.get(1..).unwrap_or(&[]);
        // An optional authres-version (`mx.google.com 1;`) follows the id.
        match after_id.first() {
            Some(Token::Word(v)) if v.chars().all(|c| c.is_ascii_digit()) => {
                after_id.get(1..).unwrap_or(&[])
            }
            _ => after_id,
        }
    };
    for segment in std::iter::once(rest_of_first).chain(segments) {
        if let Some(r) = method_result(segment) {
            out.results.push(r);
        }
    }
    (!out.authserv_id.is_empty() || !out.results.is_empty()).then_some(out)
}

/// A header value cut into words, quoted strings, `=` and `;`; comments are dropped.
#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Eq,
    Semi,
}

fn tokenize(value: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut chars = value.chars();
    let flush = |word: &mut String, tokens: &mut Vec<Token>| {
        if !word.is_empty() {
            tokens.push(Token::Word(std::mem::take(word)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '(' => {
                flush(&mut word, &mut tokens);
                // A comment ends at its matching parenthesis; an unclosed one runs to the end.
                let mut depth = 1usize;
                while depth > 0 {
                    match chars.next() {
                        Some('\\') => {
                            chars.next();
                        }
                        Some('(') => depth += 1,
                        Some(')') => depth -= 1,
                        Some(_) => {}
                        None => break,
                    }
                }
            }
            '"' => {
                flush(&mut word, &mut tokens);
                let mut quoted = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => quoted.extend(chars.next()),
                        Some('"') | None => break,
                        Some(c) => quoted.push(c),
                    }
                }
                tokens.push(Token::Quoted(quoted));
            }
            ';' => {
                flush(&mut word, &mut tokens);
                tokens.push(Token::Semi);
            }
            '=' => {
                flush(&mut word, &mut tokens);
                tokens.push(Token::Eq);
            }
            c if c.is_whitespace() || c.is_control() => flush(&mut word, &mut tokens),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut tokens);
    tokens
}

/// One clause: its first `name=value` pair is the method and result, the others properties.
fn method_result(segment: &[Token]) -> Option<MethodResult> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < segment.len() {
        let is_pair = matches!(segment.get(i + 1), Some(Token::Eq));
        match (&segment[i], is_pair) {
            (Token::Word(name), true) => {
                let mut value = match segment.get(i + 2) {
                    Some(Token::Word(v) | Token::Quoted(v)) => {
                        i += 3;
                        v.clone()
                    }
                    _ => {
                        i += 2;
                        String::new()
                    }
                };
                // Unquoted base64 (`header.b=abc=`) splits at its padding; glue it back.
                while matches!(segment.get(i), Some(Token::Eq)) {
                    value.push('=');
                    i += 1;
                }
                pairs.push((name.to_lowercase(), value));
            }
            _ => i += 1,
        }
    }
    let mut pairs = pairs.into_iter();
    let (method, result) = pairs.next()?;
    // `dkim/1=pass`: the method version does not matter here.
    let method = method.split('/').next().unwrap_or("").trim().to_string();
    if method.is_empty() {
        return None;
    }
    Some(MethodResult {
        method,
        result: result.to_lowercase(),
        properties: pairs.collect(),
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) const GMAIL: &str = "mx.google.com; dkim=pass header.i=@example.com header.s=20230601 header.b=Hbo9bXYS; spf=pass (google.com: domain of alice@example.com designates 209.85.220.41 as permitted sender) smtp.mailfrom=alice@example.com; dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com";
    pub(crate) const M365: &str = "spf=pass (sender IP is 40.107.22.53) smtp.mailfrom=example.com; dkim=pass (signature was verified) header.d=example.com;dmarc=pass action=none header.from=example.com;compauth=pass reason=100";
    pub(crate) const OPENDKIM: &str = "mx.provider.example; dkim=pass (2048-bit key; unprotected) header.d=provider.example header.i=@provider.example header.b=\"abc\"";

    fn result(method: &str, result: &str, props: &[(&str, &str)]) -> MethodResult {
        MethodResult {
            method: method.into(),
            result: result.into(),
            properties: props
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn parsing_reads_every_shape() {
        let rows: Vec<(&str, Option<AuthResults>)> = vec![
            (
                GMAIL,
                Some(AuthResults {
                    authserv_id: "mx.google.com".into(),
                    results: vec![
                        result(
                            "dkim",
                            "pass",
                            &[
                                ("header.i", "@example.com"),
                                ("header.s", "20230601"),
                                ("header.b", "Hbo9bXYS"),
                            ],
                        ),
                        result("spf", "pass", &[("smtp.mailfrom", "alice@example.com")]),
                        result("dmarc", "pass", &[("header.from", "example.com")]),
                    ],
                }),
            ),
            (
                M365,
                Some(AuthResults {
                    authserv_id: String::new(),
                    results: vec![
                        result("spf", "pass", &[("smtp.mailfrom", "example.com")]),
                        result("dkim", "pass", &[("header.d", "example.com")]),
                        result(
                            "dmarc",
                            "pass",
                            &[("action", "none"), ("header.from", "example.com")],
                        ),
                        result("compauth", "pass", &[("reason", "100")]),
                    ],
                }),
            ),
            (
                OPENDKIM,
                Some(AuthResults {
                    authserv_id: "mx.provider.example".into(),
                    results: vec![result(
                        "dkim",
                        "pass",
                        &[
                            ("header.d", "provider.example"),
                            ("header.i", "@provider.example"),
                            ("header.b", "abc"),
                        ],
                    )],
                }),
            ),
            (
                "mx.example.org 1; none",
                Some(AuthResults {
                    authserv_id: "mx.example.org".into(),
                    results: vec![],
                }),
            ),
            (
                "mx.example.org; dkim/1 = pass (good (nested) comment) header.d = \"ex;ample.org\" header.b=ab+c/d==; ; arc=none",
                Some(AuthResults {
                    authserv_id: "mx.example.org".into(),
                    results: vec![
                        result(
                            "dkim",
                            "pass",
                            &[("header.d", "ex;ample.org"), ("header.b", "ab+c/d==")],
                        ),
                        result("arc", "none", &[]),
                    ],
                }),
            ),
            (
                "mx.example.org; spf=pass (unclosed comment smtp.mailfrom=x",
                Some(AuthResults {
                    authserv_id: "mx.example.org".into(),
                    results: vec![result("spf", "pass", &[])],
                }),
            ),
            ("", None),
            ("   (only a comment)  ", None),
            (";;", None),
        ];
        for (value, want) in rows {
            assert_eq!(parse_authentication_results(value), want, "{value}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(value in any::<String>()) {
            let _ = parse_authentication_results(&value);
        }
    }
}
