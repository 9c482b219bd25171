//! The variables a template names, checked against the shape of its context.
//!
//! Strict mode catches an unknown variable only when the render reaches it: a misspelt key in a
//! branch the sample context does not take, or in an `{{#if}}` (whose key strict mode does not
//! check at all), would go unnoticed until the day a customer's mail takes that branch. So
//! `deskgate check` also walks the template's syntax tree and looks every path up in the sample
//! context, following `{{#each}}` into an array's element and `{{#with}}` into an object.
//! What it cannot follow (block parameters, other block helpers, partials) it does not judge.

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use serde_json::Value;

/// The helpers handlebars ships: a name among these followed by parameters is a call, not a
/// variable.
const HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "log", "eq", "ne", "gt", "gte", "lt", "lte", "and",
    "or", "not", "len",
];

/// The paths `template` names that `context` does not have, in the order they appear, each once.
pub(crate) fn unknown_paths(template: &Template, context: &Value) -> Vec<String> {
    let mut walk = Walk {
        scopes: vec![Some(context)],
        unknown: Vec::new(),
    };
    walk.template(template);
    walk.unknown
}

struct Walk<'a> {
    /// The context of each enclosing block, innermost last; `None` where the shape is not known.
    scopes: Vec<Option<&'a Value>>,
    unknown: Vec<String>,
}

/// What a lookup found.
enum Found<'a> {
    Value(&'a Value),
    /// Nothing to judge: a local (`@index`), a shape not known here.
    Unjudged,
    Missing,
}

impl<'a> Walk<'a> {
    fn template(&mut self, t: &Template) {
        for element in &t.elements {
            self.element(element);
        }
    }

    fn element(&mut self, element: &TemplateElement) {
        match element {
            TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                self.expression(h)
            }
            TemplateElement::HelperBlock(h) => self.block(h),
            // Raw text, comments, decorators and partials name no variable of ours.
            _ => {}
        }
    }

    /// `{{x.y}}`, or `{{helper a b}}`.
    fn expression(&mut self, h: &HelperTemplate) {
        match &h.name {
            Parameter::Name(name)
                if h.params.is_empty()
                    && h.hash.is_empty()
                    && !HELPERS.contains(&name.as_str()) =>
            {
                self.check(name)
            }
            Parameter::Path(_) | Parameter::Name(_) | Parameter::Subexpression(_) => {
                self.parameter(&h.name)
            }
            _ => {}
        }
        for p in h.params.iter().chain(h.hash.values()) {
            self.parameter(p);
        }
    }

    /// A helper's parameter (the helper's own name is not a variable).
    fn parameter(&mut self, p: &Parameter) {
        match p {
            Parameter::Path(handlebars::Path::Relative((_, raw))) => self.check(raw),
            Parameter::Subexpression(sub) => self.element(sub.as_element()),
            _ => {}
        }
    }

    /// `{{#if x}}…{{else}}…{{/if}}`, `{{#each xs}}`, `{{#with x}}`, or another block helper.
    fn block(&mut self, h: &HelperTemplate) {
        for p in &h.params {
            self.parameter(p);
        }
        let helper = match &h.name {
            Parameter::Name(n) => n.as_str(),
            _ => "",
        };
        let inner = match (helper, h.params.first(), &h.block_param) {
            ("if" | "unless", _, _) => self.current(),
            ("each", Some(p), None) => match self.param_value(p) {
                Some(Value::Array(items)) => items.first(),
                // An object's values have no common shape to check against.
                _ => None,
            },
            ("with", Some(p), None) => self.param_value(p),
            // A block parameter or a helper of its own: not judged.
            _ => None,
        };
        if let Some(t) = &h.template {
            self.scopes.push(inner);
            self.template(t);
            self.scopes.pop();
        }
        if let Some(t) = &h.inverse {
            self.template(t);
        }
    }

    fn current(&self) -> Option<&'a Value> {
        self.scopes.last().copied().flatten()
    }

    fn param_value(&self, p: &Parameter) -> Option<&'a Value> {
        let raw = match p {
            Parameter::Path(handlebars::Path::Relative((_, raw))) => raw,
            Parameter::Name(n) => n,
            _ => return None,
        };
        match self.lookup(raw) {
            Found::Value(v) => Some(v),
            Found::Unjudged | Found::Missing => None,
        }
    }

    fn check(&mut self, raw: &str) {
        if matches!(self.lookup(raw), Found::Missing) && !self.unknown.iter().any(|u| u == raw) {
            self.unknown.push(raw.to_string());
        }
    }

    /// Looks `raw` (`a.b`, `a/b`, `../a`, `this.a`) up from the innermost scope.
    fn lookup(&self, raw: &str) -> Found<'a> {
        let mut rest = raw.trim();
        let mut depth = self.scopes.len();
        while let Some(r) = rest.strip_prefix("../") {
            rest = r;
            depth = depth.saturating_sub(1);
        }
        for prefix in ["this.", "this/", "./"] {
            if let Some(r) = rest.strip_prefix(prefix) {
                rest = r;
            }
        }
        if rest.starts_with('@') || rest.contains('[') || depth == 0 {
            return Found::Unjudged;
        }
        let Some(mut value) = self.scopes.get(depth - 1).copied().flatten() else {
            return Found::Unjudged;
        };
        if rest.is_empty() || rest == "this" || rest == "." {
            return Found::Value(value);
        }
        for seg in rest.split(['.', '/']) {
            value = match value {
                Value::Object(map) => match map.get(seg) {
                    Some(v) => v,
                    None => return Found::Missing,
                },
                // Keys under an empty value, or an index into an array: not judged.
                _ => return Found::Unjudged,
            };
        }
        Found::Value(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn unknown(source: &str) -> Vec<String> {
        let t = Template::compile(source).expect("compiles");
        let ctx = json!({
            "ref": "NL-1", "desk": {"name": "nl"}, "empty": "",
            "tickets": [{"subject": "x", "owner": ""}], "is": {"reminder": false},
        });
        unknown_paths(&t, &ctx)
    }

    #[test]
    fn finds_misspelt_variables_in_every_branch_and_block() {
        let cases: &[(&str, &[&str])] = &[
            ("{{ref}} {{desk.name}}", &[]),
            ("{{reff}}", &["reff"]),
            ("{{desk.nmae}}", &["desk.nmae"]),
            ("{{#if is.remindr}}x{{/if}}", &["is.remindr"]),
            (
                "{{#if empty}}{{nope}}{{else}}{{nada}}{{/if}}",
                &["nope", "nada"],
            ),
            (
                "{{#each tickets}}{{subject}} {{owner}} {{@index}}{{/each}}",
                &[],
            ),
            (
                "{{#each tickets}}{{subjet}} {{../ref}} {{../reff}}{{/each}}",
                &["subjet", "../reff"],
            ),
            ("{{#with desk}}{{name}}{{adres}}{{/with}}", &["adres"]),
            ("{{#each tickets as |t|}}{{t.whatever}}{{/each}}", &[]),
            (
                "{{#if (eq ref \"x\")}}y{{/if}}{{#if (eq reff \"x\")}}y{{/if}}",
                &["reff"],
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(&unknown(source), expected, "{source}");
        }
    }
}
