//! A real SMTP server for the mail tests: Python's aiosmtpd (Debian `python3-aiosmtpd`),
//! started here on a free port with STARTTLS required and a certificate made here (rcgen), so
//! a mail that arrives crossed the wire in TLS. Each message is decoded by Python's `email`
//! package (an implementation independent of lettre) into a JSON file the test reads.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use crate::harness::missing_component;

const SERVER: &str = r#"
import email, email.policy, json, os, ssl, sys
from aiosmtpd.controller import Controller
out, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = {}
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                parts[part.get_content_type()] = part.get_content()
        n = len([f for f in os.listdir(out) if f.endswith(".json")])
        record = {
            "to": envelope.rcpt_tos, "from": envelope.mail_from,
            "subject": str(msg["subject"]), "content_type": msg.get_content_type(),
            "text": parts.get("text/plain", ""), "html": parts.get("text/html", ""),
            "tls": session.ssl is not None,
        }
        tmp = os.path.join(out, "%04d.tmp" % n)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(out, "%04d.json" % n))
        return "250 OK"
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
c = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True)
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"#;

/// A CA (its PEM is what ward trusts, `smtp.ca_file`) and a server certificate for 127.0.0.1.
pub struct Pki {
    _dir: tempfile::TempDir,
    pub ca_file: PathBuf,
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl Pki {
    pub fn new() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mail test CA");
        let ca = params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])
                .unwrap();
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        let cert_file = dir.path().join("cert.pem");
        let key_file = dir.path().join("key.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        Pki {
            _dir: dir,
            ca_file,
            cert_file,
            key_file,
        }
    }
}

/// A free port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Smtp {
    child: tokio::process::Child,
    out: tempfile::TempDir,
}

impl Smtp {
    /// Starts aiosmtpd on `port`; `None` (after reporting the missing component) without it.
    pub async fn start(port: u16, pki: &Pki) -> Option<Smtp> {
        // Debian's package is for the system interpreter, which a `python3` earlier on PATH
        // (pyenv, a venv) may not be.
        let python = ["/usr/bin/python3", "python3"].into_iter().find(|p| {
            std::process::Command::new(p)
                .args(["-c", "import aiosmtpd"])
                .output()
                .is_ok_and(|o| o.status.success())
        });
        let Some(python) = python else {
            missing_component(
                "the mail tests",
                "aiosmtpd (apt-get install -y python3-aiosmtpd)",
            );
            return None;
        };
        let out = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(python)
            .arg("-c")
            .arg(SERVER)
            .arg(out.path())
            .arg(port.to_string())
            .arg(&pki.cert_file)
            .arg(&pki.key_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("aiosmtpd starts in time")
            .unwrap();
        assert_eq!(ready.as_deref(), Some("ready"));
        Some(Smtp { child, out })
    }

    /// The messages received so far, in order.
    pub fn received(&self) -> Vec<Value> {
        let mut names: Vec<_> = std::fs::read_dir(self.out.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    /// Waits (up to 30 s) until `n` messages arrived; returns message `n` (1-based).
    pub async fn wait_for(&self, n: usize) -> Value {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got[n - 1].clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "only {} mail(s) arrived: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The first link in a mail's text that contains `needle`.
pub fn link_in(mail: &Value, needle: &str) -> String {
    mail["text"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .find(|w| w.contains(needle))
        .unwrap_or_else(|| panic!("no {needle} link in {mail}"))
        .to_string()
}
