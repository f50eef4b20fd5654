//! A scripted user with a browser: a cookie jar, manual redirects, and generic HTML form
//! handling (keep every hidden input, fill `email`, `password`, `user_code`, press
//! `decision=allow`; the forms are read by the test kit's `html`). It knows no page by name,
//! only the stable field names of SPEC §2.9.

use url::Url;
use ward_testkit::html::{self, Form};

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
            let forms = html::forms(&body);
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
        if form.has_button("decision") {
            out.push(("decision".into(), self.decision.into()));
        }
        out
    }
}

fn pick(forms: &[Form]) -> Option<&Form> {
    for key in ["password", "email", "user_code"] {
        if let Some(f) = forms.iter().find(|f| f.has_input(key)) {
            return Some(f);
        }
    }
    forms.iter().find(|f| f.has_button("decision"))
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
    let forms = html::forms(html);
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
