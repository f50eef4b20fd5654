//! The pages' server-rendered forms, read with `scraper` (html5ever's parser and CSS
//! selectors): input values, form actions, and every form of a page with its fields, so a test
//! posts what a browser would.

use std::collections::HashMap;

use scraper::{ElementRef, Html, Selector};

/// The parser itself, for a test's own queries.
pub use scraper;

/// An element's attributes (names lowercased by the parser, values unescaped).
pub type Attributes = HashMap<String, String>;

/// One `<form>`: where it posts, how, and its `<input>`s and `<button>`s in document order.
#[derive(Debug, Clone, Default)]
pub struct Form {
    pub action: Option<String>,
    /// `get` when the form names none.
    pub method: String,
    pub inputs: Vec<Attributes>,
    pub buttons: Vec<Attributes>,
}

impl Form {
    /// Whether the form has an input named `name`.
    pub fn has_input(&self, name: &str) -> bool {
        self.inputs
            .iter()
            .any(|i| i.get("name").map(String::as_str) == Some(name))
    }

    /// Whether the form has a button named `name`.
    pub fn has_button(&self, name: &str) -> bool {
        self.buttons
            .iter()
            .any(|b| b.get("name").map(String::as_str) == Some(name))
    }

    /// The value of the input named `name`.
    pub fn input_value(&self, name: &str) -> Option<String> {
        self.inputs
            .iter()
            .find(|i| i.get("name").map(String::as_str) == Some(name))
            .and_then(|i| i.get("value").cloned())
    }
}

fn selector(css: &str) -> Selector {
    Selector::parse(css).unwrap_or_else(|e| panic!("bad CSS selector {css:?}: {e}"))
}

/// `css` for an attribute equal to `value` (quoted, so any value is literal).
fn attribute_is(attribute: &str, value: &str) -> String {
    let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("[{attribute}=\"{quoted}\"]")
}

fn attributes(e: ElementRef<'_>) -> Attributes {
    e.value()
        .attrs()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The attribute `attribute` of the first element matching `css`.
pub fn attribute(html: &str, css: &str, attribute: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    let first = doc.select(&selector(css)).next()?;
    first.value().attr(attribute).map(str::to_owned)
}

/// The attribute `attribute` of every element matching `css`, in document order.
pub fn attributes_of_all(html: &str, css: &str, attribute: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    doc.select(&selector(css))
        .filter_map(|e| e.value().attr(attribute).map(str::to_owned))
        .collect()
}

/// The `value` of the first element named `name` (`<input … name="NAME" … value="VALUE">`).
pub fn input_value(html: &str, name: &str) -> Option<String> {
    attribute(html, &attribute_is("name", name), "value")
}

/// The `action` of the page's first form.
pub fn form_action(html: &str) -> Option<String> {
    attribute(html, "form", "action")
}

/// The HTML of the first form posting to `action` (to submit that form of a page with several).
pub fn form_posting_to(html: &str, action: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    let css = format!("form{}", attribute_is("action", action));
    doc.select(&selector(&css)).next().map(|f| f.html())
}

/// Every form of the page.
pub fn forms(html: &str) -> Vec<Form> {
    let doc = Html::parse_document(html);
    let (inputs, buttons) = (selector("input"), selector("button"));
    doc.select(&selector("form"))
        .map(|f| Form {
            action: f.value().attr("action").map(str::to_owned),
            method: f.value().attr("method").unwrap_or("get").to_owned(),
            inputs: f.select(&inputs).map(attributes).collect(),
            buttons: f.select(&buttons).map(attributes).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<html><form method="post" action="/login/password">
      <input type="hidden" name="csrf_token" value="a&amp;b">
      <input type=email name="email" value="x@y.z" autocomplete="username">
      <input type="password" name="password" autocomplete="current-password">
      <button type="submit">Sign in</button></form>
      <form method="post" action="/consent"><input type="hidden" name="request" value='r"q'>
      <button name="decision" value="allow">Allow</button><button name="decision" value="deny">Deny</button></form>"#;

    #[test]
    fn reads_values_unescaped_and_actions() {
        assert_eq!(input_value(PAGE, "csrf_token").as_deref(), Some("a&b"));
        assert_eq!(input_value(PAGE, "request").as_deref(), Some("r\"q"));
        assert_eq!(input_value(PAGE, "password"), None);
        assert_eq!(input_value(PAGE, "nope"), None);
        assert_eq!(form_action(PAGE).as_deref(), Some("/login/password"));
        assert_eq!(
            attributes_of_all(PAGE, "[name=decision]", "value"),
            ["allow", "deny"]
        );
    }

    #[test]
    fn finds_every_form_and_the_one_posting_somewhere() {
        let all = forms(PAGE);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].method, "post");
        assert!(all[0].has_input("email") && !all[0].has_button("decision"));
        assert_eq!(all[1].buttons.len(), 2);
        assert!(all[1].has_button("decision"));
        let consent = form_posting_to(PAGE, "/consent").unwrap();
        assert_eq!(form_action(&consent).as_deref(), Some("/consent"));
        assert_eq!(input_value(&consent, "request").as_deref(), Some("r\"q"));
        assert_eq!(input_value(&consent, "csrf_token"), None);
    }
}
