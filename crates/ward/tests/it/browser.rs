//! A scripted user with a browser: a cookie jar, manual redirects, and generic HTML form
//! handling (keep every hidden input, fill `email`, `password`, `user_code`, press
//! `decision=allow`). It knows no page by name, only the stable field names of SPEC §2.9.

use std::collections::HashMap;

use url::Url;

pub struct Browser {
    http: reqwest::Client,
    pub email: String,
    pub password: String,
    pub decision: &'static str,
}

/// Where a visit ended.
#[derive(Debug)]
pub enum Stop {
    /// A final page ("Login Successful!", "Device approved"): its URL and body.
    Page(#[allow(dead_code)] String, String),
    /// The redirect to the CLI's loopback callback, not followed.
    Loopback(String),
}

#[derive(Debug, Default)]
struct Form {
    action: Option<String>,
    method: String,
    inputs: Vec<HashMap<String, String>>,
    buttons: Vec<HashMap<String, String>>,
}

impl Browser {
    pub fn new(email: &str, password: &str) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        Self {
            http,
            email: email.into(),
            password: password.into(),
            decision: "allow",
        }
    }

    /// Visits `start` and acts like a user until a final page, or (with `stop_at_loopback`)
    /// until the redirect to `http://127.0.0.1:PORT/callback`.
    pub async fn visit(&self, start: &str, stop_at_loopback: bool) -> Result<Stop, String> {
        let server_port = Url::parse(start).map_err(|e| e.to_string())?.port();
        let mut next: (String, Option<Vec<(String, String)>>) = (start.to_owned(), None);
        for _ in 0..30 {
            let (url, form) = next.clone();
            let resp = match &form {
                None => self.http.get(&url).send().await,
                Some(fields) => self.http.post(&url).form(fields).send().await,
            }
            .map_err(|e| format!("{url}: {e}"))?;
            let status = resp.status();
            if status.is_redirection() {
                let loc = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| format!("{status} without Location at {url}"))?;
                let loc = Url::parse(&url)
                    .and_then(|u| u.join(loc))
                    .map_err(|e| e.to_string())?;
                let is_loopback = loc.path() == "/callback" && loc.port() != server_port;
                if stop_at_loopback && is_loopback {
                    return Ok(Stop::Loopback(loc.to_string()));
                }
                next = (loc.to_string(), None);
                continue;
            }
            let body = resp.text().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!("{status} at {url}: {body}"));
            }
            if body.contains("Login Successful!") || body.contains("Device approved") {
                return Ok(Stop::Page(url, body));
            }
            let forms = parse_forms(&body);
            let Some(form) = pick(&forms) else {
                return Err(format!("no usable form at {url}:\n{body}"));
            };
            if !form.method.eq_ignore_ascii_case("post") {
                return Err(format!("unexpected form method {} at {url}", form.method));
            }
            let user_code = Url::parse(&url).ok().and_then(|u| {
                u.query_pairs()
                    .find(|(k, _)| k == "user_code")
                    .map(|(_, v)| v.into_owned())
            });
            let fields = self.fill(form, user_code.as_deref());
            let action = form.action.clone().unwrap_or_else(|| url.clone());
            let action = Url::parse(&url)
                .and_then(|u| u.join(&action))
                .map_err(|e| e.to_string())?;
            next = (action.to_string(), Some(fields));
        }
        Err("too many steps".into())
    }

    fn fill(&self, form: &Form, user_code: Option<&str>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for input in &form.inputs {
            let Some(name) = input.get("name") else {
                continue;
            };
            let ty = input.get("type").map(String::as_str).unwrap_or("text");
            let value = input.get("value").cloned().unwrap_or_default();
            let value = match (name.as_str(), ty) {
                (_, "submit" | "button" | "image" | "reset") => continue,
                (_, "checkbox" | "radio") if !input.contains_key("checked") => continue,
                ("email", _) if value.is_empty() => self.email.clone(),
                ("password", _) => self.password.clone(),
                ("user_code", _) if value.is_empty() => user_code.unwrap_or_default().to_owned(),
                _ => value,
            };
            out.push((name.clone(), value));
        }
        if form
            .buttons
            .iter()
            .any(|b| b.get("name").map(String::as_str) == Some("decision"))
        {
            out.push(("decision".into(), self.decision.into()));
        }
        out
    }
}

fn has_input(form: &Form, name: &str) -> bool {
    form.inputs
        .iter()
        .any(|i| i.get("name").map(String::as_str) == Some(name))
}

fn pick(forms: &[Form]) -> Option<&Form> {
    for key in ["password", "email", "user_code"] {
        if let Some(f) = forms.iter().find(|f| has_input(f, key)) {
            return Some(f);
        }
    }
    forms.iter().find(|f| {
        f.buttons
            .iter()
            .any(|b| b.get("name").map(String::as_str) == Some("decision"))
    })
}

fn parse_forms(html: &str) -> Vec<Form> {
    let lower = html.to_ascii_lowercase();
    let mut forms = Vec::new();
    let mut pos = 0;
    while let Some(start) = lower[pos..].find("<form").map(|i| i + pos) {
        let end = lower[start..]
            .find("</form>")
            .map_or(html.len(), |i| i + start);
        let tag_end = lower[start..].find('>').map_or(end, |i| i + start);
        let attrs = parse_attrs(&html[start + 5..tag_end]);
        let mut form = Form {
            action: attrs.get("action").cloned(),
            method: attrs.get("method").cloned().unwrap_or_else(|| "get".into()),
            ..Form::default()
        };
        let inner = &html[tag_end..end];
        let inner_lower = &lower[tag_end..end];
        for (tag, list) in [("<input", &mut form.inputs), ("<button", &mut form.buttons)] {
            let mut p = 0;
            while let Some(s) = inner_lower[p..].find(tag).map(|i| i + p) {
                let e = inner_lower[s..].find('>').map_or(inner.len(), |i| i + s);
                list.push(parse_attrs(&inner[s + tag.len()..e]));
                p = e;
            }
        }
        forms.push(form);
        pos = end;
    }
    forms
}

fn parse_attrs(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let ns = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        let name = s[ns..i].to_ascii_lowercase();
        if name.is_empty() {
            i += 1;
            continue;
        }
        if i < b.len() && b[i] == b'=' {
            i += 1;
            let value = if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let vs = i + 1;
                i = vs;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                let v = &s[vs..i.min(s.len())];
                i += 1;
                v
            } else {
                let vs = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                &s[vs..i]
            };
            out.insert(name, unescape(value));
        } else {
            out.insert(name, String::new());
        }
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[test]
fn parses_forms_generically() {
    let html = r#"<html><form method="post" action="/login/password">
      <input type="hidden" name="csrf_token" value="a&amp;b">
      <input type=email name="email" value="x@y.z" autocomplete="username">
      <input type="password" name="password" autocomplete="current-password">
      <button type="submit">Sign in</button></form>
      <form method="post" action="/consent"><input type="hidden" name="request" value="r">
      <button name="decision" value="allow">Allow</button><button name="decision" value="deny">Deny</button></form>"#;
    let forms = parse_forms(html);
    assert_eq!(forms.len(), 2);
    let b = Browser::new("a@b.c", "pw");
    let f = pick(&forms).unwrap();
    let fields = b.fill(f, None);
    assert!(fields.contains(&("csrf_token".into(), "a&b".into())));
    assert!(fields.contains(&("email".into(), "x@y.z".into())));
    assert!(fields.contains(&("password".into(), "pw".into())));
    let fields = b.fill(&forms[1], None);
    assert_eq!(
        fields,
        vec![
            ("request".into(), "r".into()),
            ("decision".into(), "allow".into())
        ]
    );
}
