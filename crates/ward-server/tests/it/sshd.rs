//! A real OpenSSH server for tests (Debian's `openssh-server`): sshd on a loopback port, run as
//! the current user, trusting a given user CA; the real `ssh` client and `ssh-keygen`. Shared by
//! ward-server's and the CLI's integration tests (included by path), so it uses only std, tokio
//! and tempfile.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The user the tests (and so sshd) run as: the one principal sshd accepts for a login as it.
pub fn login_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install Debian's {package} (.ci/packages.sh)"
    );
}

/// `ssh-keygen -t TYPE [-b BITS]` into `dir/name`; returns the public key line.
pub fn keygen(dir: &Path, name: &str, args: &[&str]) -> String {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(args)
        .args(["-q", "-N", "", "-C", "test", "-f"])
        .arg(&path)
        .output()
        .expect("ssh-keygen runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string()
}

/// A running sshd, killed when dropped.
pub struct Sshd {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    /// A free loopback port (for an sshd started later, once its CA is known).
    pub fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// Starts sshd on `port` (or a free loopback port) trusting the CA keys in `ca_keys`.
    pub async fn start(ca_keys: &str, port: Option<u16>) -> Sshd {
        require("/usr/sbin/sshd", "openssh-server");
        let dir = tempfile::tempdir().unwrap();
        let _ = std::fs::create_dir_all("/run/sshd");
        let host_key = dir.path().join("host_ed25519");
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&host_key)
            .output()
            .unwrap();
        assert!(out.status.success());
        let ca = dir.path().join("ca.pub");
        std::fs::write(&ca, ca_keys).unwrap();
        let port = port.unwrap_or_else(Sshd::free_port);
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                 TrustedUserCAKeys {}\nAuthorizedKeysFile none\nPubkeyAuthentication yes\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 StrictModes no\nPermitRootLogin prohibit-password\nLogLevel VERBOSE\n",
                host_key.display(),
                dir.path().join("sshd.pid").display(),
                ca.display(),
            ),
        )
        .unwrap();
        let mut child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Sshd {
                    port,
                    child,
                    _dir: dir,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("sshd did not listen on {port}");
    }
}

/// Runs `ssh … user@127.0.0.1 echo ok` with the key `key` and its certificate; returns
/// (success, stdout, stderr).
pub fn ssh_run(port: u16, key: &Path, user: &str, extra: &[&str]) -> (bool, String, String) {
    let cert = PathBuf::from(format!("{}-cert.pub", key.display()));
    let out = Command::new("ssh")
        .args(["-F", "/dev/null", "-i"])
        .arg(key)
        .arg("-o")
        .arg(format!("CertificateFile={}", cert.display()))
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "-p",
            &port.to_string(),
        ])
        .args(extra)
        .arg(format!("{user}@127.0.0.1"))
        .args(["echo", "hello-from-sshd"])
        .stdin(Stdio::null())
        .output()
        .expect("ssh runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}
