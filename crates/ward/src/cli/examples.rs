//! The "Examples:" block of every command's `--help` (issue 18 item 18), kept in one table and
//! attached to the clap command tree at start-up. A test walks `ward --help` and fails on a
//! command without one.

use clap::Command;

/// `(command path after "ward", example lines)`; `""` is `ward` itself.
pub const EXAMPLES: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "ward login prod https://ward.example.com",
            "ward status",
            "ward api /api/profile",
            "ward server --data-dir ./ward-data",
        ],
    ),
    (
        "server",
        &[
            "ward server",
            "ward server --config ward.toml",
            "ward server --data-dir /var/lib/ward --listen 0.0.0.0:8080",
        ],
    ),
    ("server rotate-keys", &["ward server rotate-keys --data-dir /var/lib/ward"]),
    (
        "server rotate-ssh-ca",
        &["ward server rotate-ssh-ca --data-dir /var/lib/ward"],
    ),
    (
        "login",
        &[
            "ward login prod https://ward.example.com",
            "ward login http://localhost:8080",
            "ward login prod --auth-flow device_code",
            "ward login prod --auth-flow password --email ada@example.com",
            "ward login prod --scope containers:read",
            "echo \"$TOKEN\" | ward login ci https://ward.example.com --token -",
        ],
    ),
    ("status", &["ward status", "ward status --output json"]),
    ("logout", &["ward logout", "ward logout --profile prod", "ward logout --all"]),
    (
        "password",
        &[
            "ward password",
            "printf '%s\\n%s\\n' \"$OLD\" \"$NEW\" | ward password --password-stdin",
        ],
    ),
    (
        "token",
        &["curl -H \"Authorization: Bearer $(ward token)\" https://ward.example.com/api/profile"],
    ),
    ("profiles", &["ward profiles", "ward profiles use staging"]),
    ("profiles list", &["ward profiles list", "ward profiles list --output json"]),
    ("profiles use", &["ward profiles use staging"]),
    ("profiles remove", &["ward profiles remove staging"]),
    ("switch", &["ward switch staging"]),
    (
        "api",
        &[
            "ward api /api/profile",
            "ward api -X DELETE /api/sessions/ses_123",
            "ward api /api/tokens -d '{\"name\":\"ci\",\"scopes\":[\"containers:read\"]}'",
        ],
    ),
    ("tokens", &["ward tokens", "ward tokens create --name ci-deploy --scope containers:read"]),
    (
        "tokens create",
        &[
            "ward tokens create --name ci-deploy --scope containers:read",
            "ward tokens create --name nightly --scope containers:read --scope containers:write --expires 30d",
            "ward tokens create --name kiosk --scope agent:read --expires never --output json",
        ],
    ),
    ("tokens list", &["ward tokens list", "ward tokens list --output json"]),
    ("tokens revoke", &["ward tokens revoke tok_123"]),
    ("sessions", &["ward sessions", "ward sessions revoke ses_123"]),
    ("sessions list", &["ward sessions list", "ward sessions list --output json"]),
    ("sessions revoke", &["ward sessions revoke ses_123"]),
    ("mfa", &["ward mfa status", "ward mfa enable"]),
    ("mfa status", &["ward mfa status"]),
    ("mfa enable", &["ward mfa enable", "ward mfa enable --code 123456"]),
    ("mfa disable", &["ward mfa disable", "ward mfa disable --code 123456"]),
    ("mfa backup-codes", &["ward mfa backup-codes --code 123456"]),
    ("lock", &["ward lock terminal t1"]),
    ("unlock", &["ward unlock terminal t1 --code 123456"]),
    ("verify", &["ward verify terminal t1", "ward verify terminal t1 --code ABCD-EFGH"]),
    (
        "ssh",
        &[
            "ward ssh build-7.internal",
            "ward ssh deploy@db-1 -- -p 2222 uptime",
            "ward ssh db-1 --via /tcp/db-1",
        ],
    ),
    (
        "tunnel",
        &[
            "ward tunnel /tcp/db-1",
            "ssh -o ProxyCommand='ward tunnel /tcp/db-1' dev@db-1",
        ],
    ),
    (
        "credential",
        &[
            "ward auth setup-git",
            "ward credential kube --print-kubeconfig",
            "ln -s \"$(command -v ward)\" ~/.local/bin/docker-credential-ward",
        ],
    ),
    (
        "credential kube",
        &[
            "ward credential kube --print-kubeconfig",
            "KUBERNETES_EXEC_INFO='{\"apiVersion\":\"client.authentication.k8s.io/v1\"}' ward credential kube",
        ],
    ),
    (
        "credential git",
        &[
            "printf 'protocol=https\\nhost=ward.example.com\\n\\n' | ward credential git get",
            "git config --global credential.https://git.example.com.helper '!ward credential git --host git.example.com'",
        ],
    ),
    (
        "credential docker",
        &[
            "echo registry.example.com | ward credential docker get",
            "ward credential docker list",
        ],
    ),
    (
        "env",
        &[
            "ward env",
            "export $(ward env)",
            "ward env --format json",
            "docker run --env-file <(ward env) my-image",
        ],
    ),
    ("auth", &["ward auth setup-git"]),
    (
        "auth setup-git",
        &[
            "ward auth setup-git",
            "ward auth setup-git --host git.example.com",
            "ward auth setup-git --profile work",
        ],
    ),
    ("admin", &["ward admin users list", "ward admin audit --type signin"]),
    ("admin users", &["ward admin users list", "ward admin users create bob@example.com"]),
    ("admin users list", &["ward admin users list", "ward admin users list --output json"]),
    (
        "admin users create",
        &[
            "ward admin users create bob@example.com --role developer",
            "echo \"$PASSWORD\" | ward admin users create bob@example.com --password-stdin",
        ],
    ),
    ("admin users set-role", &["ward admin users set-role bob@example.com admin"]),
    ("admin users disable", &["ward admin users disable bob@example.com"]),
    ("admin users enable", &["ward admin users enable bob@example.com"]),
    ("admin users recover", &["ward admin users recover bob@example.com"]),
    ("admin users reset-mfa", &["ward admin users reset-mfa bob@example.com"]),
    (
        "admin users delete",
        &["ward admin users delete bob@example.com", "ward admin users delete usr_123 --yes"],
    ),
    (
        "admin service-accounts",
        &[
            "ward admin service-accounts",
            "ward admin service-accounts create ci-deploy --role user",
        ],
    ),
    (
        "admin service-accounts list",
        &["ward admin service-accounts list", "ward admin service-accounts list --output json"],
    ),
    (
        "admin service-accounts create",
        &["ward admin service-accounts create ci-deploy --role user"],
    ),
    (
        "admin service-accounts token",
        &["ward admin service-accounts token ci-deploy --name github-actions --scope containers:read --expires 30d"],
    ),
    (
        "admin service-accounts delete",
        &["ward admin service-accounts delete ci-deploy"],
    ),
    ("admin clients", &["ward admin clients", "ward admin clients delete reg_0123abcd"]),
    ("admin clients list", &["ward admin clients list", "ward admin clients list --output json"]),
    ("admin clients delete", &["ward admin clients delete reg_0123abcd"]),
    ("admin sessions", &["ward admin sessions list", "ward admin sessions revoke ses_123"]),
    ("admin sessions list", &["ward admin sessions list", "ward admin sessions list --user bob@example.com"]),
    ("admin sessions revoke", &["ward admin sessions revoke ses_123"]),
    (
        "admin audit",
        &[
            "ward admin audit",
            "ward admin audit --user bob@example.com --type session.revoked",
            "ward admin audit --limit 500 --output json",
        ],
    ),
    (
        "admin events",
        &[
            "ward admin events",
            "ward admin events --type session.revoked --type user.disabled",
            "ward admin events --output json | jq -r .data.target",
            "ward admin events --last-event-id 1f0c5b9e0a6d4c1e9b7f2a3d4e5f6a7b --count 10",
        ],
    ),
];

fn block(path: &str) -> Option<String> {
    let (_, lines) = EXAMPLES.iter().find(|(p, _)| *p == path)?;
    let mut out = String::from("Examples:");
    for line in *lines {
        out.push_str("\n  $ ");
        out.push_str(line);
    }
    Some(out)
}

/// `command` (at `path`) and all its subcommands with their examples as `after_help`.
pub fn with_examples(command: Command, path: &str) -> Command {
    let mut command = match block(path) {
        Some(text) => command.after_help(text),
        None => command,
    };
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    for name in names {
        let sub_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path} {name}")
        };
        command = command.mut_subcommand(name, |c| with_examples(c, &sub_path));
    }
    command
}
