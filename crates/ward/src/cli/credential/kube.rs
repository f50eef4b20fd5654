//! `ward credential kube`: a kubectl exec credential plugin (client.authentication.k8s.io).
//! kubectl sets `KUBERNETES_EXEC_INFO` to an `ExecCredential` naming the API version it speaks
//! (`v1` or `v1beta1`) and whether the plugin may interact; ward answers with the same version,
//! `status.token` and `status.expirationTimestamp`. With a cached valid token this touches no
//! network, since kubectl runs it on every command. When signed out it signs in (device flow
//! where no browser can open, all on stderr) only if kubectl says interaction is allowed.
//! `--print-kubeconfig` prints the `users:` entry that runs this.

use std::io::{IsTerminal, Write};

use serde::Deserialize;
use serde_json::json;
use ward_client::format_rfc3339;

use super::{current_exe, Target};
use crate::cli::{CliError, CliResult, Ctx};

const V1: &str = "client.authentication.k8s.io/v1";
const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

#[derive(clap::Args, Debug)]
pub struct KubeArgs {
    /// Print a kubeconfig `users:` entry that runs this plugin, instead of a credential.
    #[arg(long)]
    pub print_kubeconfig: bool,
}

/// The part of kubectl's `KUBERNETES_EXEC_INFO` ward reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecInfo {
    api_version: String,
    #[serde(default)]
    spec: ExecSpec,
}

#[derive(Deserialize, Default)]
struct ExecSpec {
    #[serde(default)]
    interactive: bool,
}

/// The API version to answer with and whether sign-in may interact: from kubectl's
/// `KUBERNETES_EXEC_INFO`, else `v1` and whether stdin is a terminal.
fn exec_info(raw: Option<&str>) -> CliResult<(&'static str, bool)> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok((V1, std::io::stdin().is_terminal()));
    };
    let info: ExecInfo = serde_json::from_str(raw).map_err(|e| {
        CliError::new(format!(
            "KUBERNETES_EXEC_INFO is not an ExecCredential: {e}"
        ))
    })?;
    let version = match info.api_version.as_str() {
        V1 => V1,
        V1BETA1 => V1BETA1,
        other => {
            return Err(CliError::new(format!(
                "kubectl asked for {other}, which ward does not speak"
            ))
            .hint(format!(
                "Use apiVersion {V1} (or {V1BETA1}) in the kubeconfig's exec entry"
            )))
        }
    };
    Ok((version, info.spec.interactive))
}

pub async fn run(ctx: &Ctx, args: KubeArgs) -> CliResult {
    let target = Target::resolve(ctx)?;
    if args.print_kubeconfig {
        return print_kubeconfig(&target.alias);
    }
    let raw = std::env::var("KUBERNETES_EXEC_INFO").ok();
    let (version, interactive) = exec_info(raw.as_deref())?;
    let token = match target.token().await {
        Ok(t) => t,
        Err(e)
            if interactive
                && can_sign_in(&target)
                && (e.is_not_signed_in() || e.is_session_expired()) =>
        {
            sign_in(ctx, &target).await?;
            target.token().await?
        }
        Err(e) => return Err(e.into()),
    };
    let mut status = json!({ "token": token.token.expose() });
    if let Some(exp) = token.expires_at {
        status["expirationTimestamp"] = json!(format_rfc3339(exp));
    }
    let credential = json!({
        "apiVersion": version,
        "kind": "ExecCredential",
        "status": status,
    });
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &credential)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
        .map_err(|e| CliError::new(format!("cannot answer kubectl: {e}")))
}

/// Not with a token override: signing in cannot replace it.
fn can_sign_in(target: &Target) -> bool {
    !target.client.has_token_override()
}

/// Signs in with the profile's server (browser, else device flow), everything on stderr.
async fn sign_in(ctx: &Ctx, target: &Target) -> CliResult {
    eprintln!(
        "ward: signing in to {} for kubectl (profile {})",
        target.url.as_str().trim_end_matches('/'),
        target.alias
    );
    let client = ctx.bare_client();
    let opts = client.login_options(target.alias.clone(), target.url.clone());
    let outcome = client.login(opts).await?;
    ctx.progress.finish();
    eprintln!(
        "ward: signed in as {}",
        outcome.profile.email.as_deref().unwrap_or("(unknown)")
    );
    Ok(())
}

/// The kubeconfig `users:` entry. The profile is pinned: a kubeconfig user belongs to one
/// cluster, which one ward server guards (decision 133). Strings are JSON, which YAML reads.
fn print_kubeconfig(alias: &str) -> CliResult {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let yaml = format!(
        "users:
- name: {name}
  user:
    exec:
      apiVersion: {V1}
      command: {exe}
      args:
      - credential
      - kube
      - --profile
      - {alias}
      interactiveMode: IfAvailable
      provideClusterInfo: false
",
        name = q(&format!("ward-{alias}")),
        exe = q(&current_exe()?),
        alias = q(alias),
    );
    let mut out = std::io::stdout().lock();
    out.write_all(yaml.as_bytes())
        .map_err(|e| CliError::new(format!("cannot write: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_info_versions() {
        let v1 = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":true}}"#;
        assert_eq!(exec_info(Some(v1)).ok(), Some((V1, true)));
        let beta = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{}}"#;
        assert_eq!(exec_info(Some(beta)).ok(), Some((V1BETA1, false)));
        let alpha = r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1"}"#;
        assert!(exec_info(Some(alpha)).is_err());
        assert!(exec_info(Some("{")).is_err());
    }
}
