//! `ward ssh` and `ward tunnel` end to end (SPEC §2.17, §3.1): the real `ward` binary signs in,
//! gets a certificate for a fresh key, and runs the real `ssh` against a real `sshd` trusting
//! ward's CA, directly and through a TCP route with `ward tunnel` as the `ProxyCommand`. Then the
//! tunnel's throughput against a direct TCP connection, in the same run.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::sshd::{login_user, Sshd};
use crate::support::{Cli, Server};
use crate::{assert_ok, login_pkce};

const SSH_OPTS: [&str; 6] = [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
];

/// A TCP server that reads until it has `expect` bytes, then answers `done` and closes.
async fn sink(expect: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 256 * 1024];
                let mut got = 0usize;
                while got < expect {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got += n,
                    }
                }
                let _ = s.write_all(b"done").await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ward_ssh_direct_and_through_a_tunnel_and_tunnel_throughput() {
    let user = login_user();
    let ssh_port = Sshd::free_port();
    const BYTES: usize = 64 * 1024 * 1024;
    let sink_addr = sink(BYTES).await;
    let server = Server::start_with(&format!(
        "[ssh]\nenabled = true\n[ssh.principals]\nadmin = [\"{user}\"]\n\n\
         [[routes]]\nprefix = \"/tcp/ssh\"\ntcp = \"127.0.0.1:{ssh_port}\"\npermission = \"ssh:write\"\n\n\
         [[routes]]\nprefix = \"/tcp/sink\"\ntcp = \"{sink_addr}\"\npermission = \"ssh:write\"\n"
    ));
    let ca = Server::http()
        .get(format!("{}/api/ssh/ca", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let _sshd = Sshd::start(&ca, Some(ssh_port)).await;
    let cli = Cli::new();
    login_pkce(&server, &cli).await;

    // Directly: ward makes a key, gets a certificate, runs ssh.
    let port = ssh_port.to_string();
    let mut args = vec!["ssh", "127.0.0.1", "--", "-p", &port];
    args.extend(SSH_OPTS);
    args.extend(["echo", "hello-direct"]);
    let out = cli.run(&args).await;
    assert_ok(&out);
    assert_eq!(out.stdout.trim(), "hello-direct");
    // No key or certificate is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("ward-ssh-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Through the TCP route: ssh's ProxyCommand is `ward tunnel /tcp/ssh`.
    let mut args = vec!["ssh", "127.0.0.1", "--via", "/tcp/ssh", "--"];
    args.extend(SSH_OPTS);
    args.extend(["echo", "hello-tunnel"]);
    let out = cli.run(&args).await;
    assert_ok(&out);
    assert_eq!(out.stdout.trim(), "hello-tunnel");

    // A principal the role does not grant: refused by ward, ssh never runs.
    let mut args = vec!["ssh", "postgres@127.0.0.1", "--", "-p", &port];
    args.extend(SSH_OPTS);
    let out = cli.run(&args).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("Error: principal \"postgres\" is not granted"),
        "{}",
        out.stderr
    );

    // Throughput: 64 MiB through `ward tunnel` (stdin → WebSocket → TCP) against the same bytes
    // over a direct TCP connection, in the same run.
    let data = vec![0x5au8; BYTES];
    let file = cli.dir.path().join("payload");
    std::fs::write(&file, &data).unwrap();
    let started = Instant::now();
    let mut direct = tokio::net::TcpStream::connect(&sink_addr).await.unwrap();
    direct.write_all(&data).await.unwrap();
    let mut answer = Vec::new();
    direct.read_to_end(&mut answer).await.unwrap();
    let direct_time = started.elapsed();
    assert_eq!(answer, b"done");
    let mut cmd = cli.command(&["tunnel", "/tcp/sink"]);
    cmd.stdin(std::fs::File::open(&file).unwrap());
    let started = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .unwrap()
        .unwrap();
    let tunnel_time = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"done");
    let mib = BYTES as f64 / (1024.0 * 1024.0);
    let direct_rate = mib / direct_time.as_secs_f64();
    let tunnel_rate = mib / tunnel_time.as_secs_f64();
    eprintln!(
        "tunnel throughput: direct {direct_rate:.0} MiB/s ({direct_time:?}), ward tunnel {tunnel_rate:.0} MiB/s ({tunnel_time:?}), ratio {:.0} %",
        100.0 * tunnel_rate / direct_rate
    );
}
