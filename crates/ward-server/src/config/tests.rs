#![allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error

use super::*;

#[test]
fn guests_are_off_and_read_only_by_default() {
    let c = RawConfig::default().validate().unwrap();
    assert!(!c.sessions.guests);
    let guest = c.roles.get("guest").unwrap();
    assert_eq!(guest.permissions, vec!["containers:read".to_string()]);
}

#[test]
fn defaults_validate() {
    let c = RawConfig::default().validate().unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.database_url, "sqlite://./ward-data/ward.db");
    assert_eq!(c.sessions.guest, 50 * 3600);
}

#[test]
fn bad_values_name_key_value_and_expectation() {
    let raw = RawConfig {
        listen: "nonsense".into(),
        ..RawConfig::default()
    };
    let msg = raw.validate().unwrap_err().to_string();
    assert_eq!(
        msg,
        "invalid configuration: listen = \"nonsense\": expected an address such as 127.0.0.1:8080"
    );
    let mut raw = RawConfig::default();
    raw.tokens.access_token_ttl = "soon".into();
    let msg = raw.validate().unwrap_err().to_string();
    assert!(msg.contains("tokens.access_token_ttl = \"soon\""), "{msg}");
}

#[test]
fn comma_lists() {
    let l = StringList::Comma("https://a.example, http://localhost:*".into());
    assert_eq!(l.items(), vec!["https://a.example", "http://localhost:*"]);
}

fn load_validated(flags: &FlagOverrides) -> Result<(Config, Vec<String>), String> {
    let (raw, warnings) = load(None, flags).map_err(|e| e.to_string())?;
    raw.validate()
        .map(|c| (c, warnings))
        .map_err(|e| e.to_string())
}

#[test]
fn precedence_defaults_file_env_flags() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "ward.toml",
            "listen = \"127.0.0.1:7000\"\ntoken_prefix = \"file\"\n[sessions]\ncli_ttl = \"2h\"\n",
        )?;
        let (c, _) = load_validated(&FlagOverrides::default()).map_err(|e| e.to_string())?;
        assert_eq!(c.listen.port(), 7000);
        assert_eq!(c.token_prefix, "file");
        assert_eq!(c.sessions.cli, 7200);
        jail.set_env("WARD_LISTEN", "127.0.0.1:7001");
        jail.set_env("WARD_TOKEN_PREFIX", "rexec");
        jail.set_env("WARD_SESSIONS__CLI_TTL", "1h");
        jail.set_env("WARD_BOOTSTRAP_ADMIN_EMAIL", "ops@example.com");
        jail.set_env("WARD_BOOTSTRAP_ADMIN_PASSWORD", "12345678");
        jail.set_env("ALLOWED_ORIGINS", "https://a.example,http://localhost:*");
        jail.set_env("BLOCK_EMPTY_ORIGIN", "true");
        let (c, _) = load_validated(&FlagOverrides::default()).map_err(|e| e.to_string())?;
        assert_eq!(c.listen.port(), 7001);
        assert_eq!(c.token_prefix, "rexec");
        assert_eq!(c.sessions.cli, 3600);
        assert_eq!(
            c.bootstrap_admin,
            Some(("ops@example.com".to_string(), "12345678".to_string()))
        );
        assert_eq!(
            c.allowed_origins,
            vec!["https://a.example", "http://localhost:*"]
        );
        assert!(c.block_empty_origin);
        let flags = FlagOverrides {
            listen: Some("127.0.0.1:7002".into()),
            ..FlagOverrides::default()
        };
        let (c, _) = load_validated(&flags).map_err(|e| e.to_string())?;
        assert_eq!(c.listen.port(), 7002);
        Ok(())
    });
}

#[test]
fn bad_environment_value_names_the_key() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("WARD_LISTEN", "nonsense");
        let err = load_validated(&FlagOverrides::default()).unwrap_err();
        assert_eq!(
            err,
            "invalid configuration: listen = \"nonsense\": expected an address such as 127.0.0.1:8080"
        );
        Ok(())
    });
}

#[test]
fn unknown_variables_are_warned_about_cli_ones_are_not() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("WARD_LISTN", "127.0.0.1:1");
        jail.set_env("WARD_TOKEN", "ward_x");
        jail.set_env("WARD_LOG", "debug");
        let (_, warnings) = load_validated(&FlagOverrides::default()).map_err(|e| e.to_string())?;
        assert_eq!(
            warnings,
            vec!["ignoring unknown environment variable WARD_LISTN"]
        );
        Ok(())
    });
}

fn idp(name: &str, kind: &str) -> RawIdp {
    RawIdp {
        name: name.into(),
        kind: kind.into(),
        issuer: (kind == "oidc").then(|| "https://idp.example.com".to_string()),
        client_id: "ward".into(),
        client_secret: Some("s3cret".into()),
        domains: vec!["Example.COM".into()],
        ..RawIdp::default()
    }
}

fn idp_error(idps: Vec<RawIdp>) -> String {
    RawConfig {
        idp: idps,
        ..RawConfig::default()
    }
    .validate()
    .unwrap_err()
    .to_string()
}

#[test]
fn idp_defaults() {
    let c = RawConfig {
        idp: vec![idp("corp", "oidc"), {
            let mut g = idp("gh", "github");
            g.domains = vec!["gh.example".into()];
            g.allowed_domains = Some(vec!["*".into()]);
            g
        }],
        ..RawConfig::default()
    }
    .validate()
    .unwrap();
    let corp = &c.idps[0];
    assert_eq!(corp.domains, vec!["example.com"]);
    assert_eq!(
        corp.allowed_domains,
        vec!["example.com"],
        "defaults to domains"
    );
    assert_eq!(corp.scopes, vec!["openid", "email", "profile"]);
    assert!(!corp.link_existing_accounts);
    assert!(format!("{corp:?}").contains("[redacted]"));
    let gh = &c.idps[1];
    assert_eq!(
        gh.kind,
        IdpKind::Github {
            authorize_url: Url::parse("https://github.com/login/oauth/authorize").unwrap(),
            token_url: Url::parse("https://github.com/login/oauth/access_token").unwrap(),
            api_url: Url::parse("https://api.github.com").unwrap(),
        }
    );
    assert!(gh.allows_domain("anything.example"));
    assert_eq!(
        idp_for_email(&c.idps, "a@EXAMPLE.com").unwrap().name,
        "corp"
    );
    assert!(idp_for_email(&c.idps, "a@other.example").is_none());
}

#[test]
fn idp_errors_name_key_value_and_expectation() {
    let mut bad_kind = idp("corp", "saml");
    bad_kind.issuer = None;
    assert_eq!(
        idp_error(vec![bad_kind]),
        "invalid configuration: idp.corp.kind = \"saml\": expected oidc or github"
    );
    let mut plain_http = idp("corp", "oidc");
    plain_http.issuer = Some("http://idp.example.com".into());
    assert!(idp_error(vec![plain_http])
        .starts_with("invalid configuration: idp.corp.issuer = \"http://idp.example.com\": expected an https issuer URL"));
    let mut no_issuer = idp("corp", "oidc");
    no_issuer.issuer = None;
    assert!(idp_error(vec![no_issuer]).contains("idp.corp.issuer"));
    let mut two_secrets = idp("corp", "oidc");
    two_secrets.client_secret_file = Some("/run/secret".into());
    assert!(idp_error(vec![two_secrets]).contains("idp.corp.client_secret_file"));
    let mut gh_issuer = idp("gh", "github");
    gh_issuer.issuer = Some("https://github.com".into());
    assert!(idp_error(vec![gh_issuer]).contains("GitHub is not an OIDC provider"));
    assert!(idp_error(vec![idp("Corp!", "oidc")]).contains("idp[0].name = \"Corp!\""));
    let msg = idp_error(vec![idp("a", "oidc"), idp("b", "oidc")]);
    assert!(
        msg.contains("idp.b.domains = \"example.com\"") && msg.contains("routed to a already"),
        "{msg}"
    );
    let mut bad_domain = idp("corp", "oidc");
    bad_domain.allowed_domains = Some(vec!["not a domain".into()]);
    assert!(idp_error(vec![bad_domain]).contains("idp.corp.allowed_domains"));
}

#[test]
fn a_client_role_must_be_configured() {
    let client = |role: &str| RawClient {
        id: "ci".into(),
        secret: Some("a secret of some length".into()),
        grant_types: vec!["client_credentials".into()],
        role: Some(role.into()),
        ..RawClient::default()
    };
    let raw = RawConfig {
        clients: vec![client("deployer")],
        ..RawConfig::default()
    };
    let e = raw.validate().unwrap_err().to_string();
    assert!(
        e.contains("clients[0].role") && e.contains("deployer"),
        "{e}"
    );
    let raw = RawConfig {
        clients: vec![client("user")],
        ..RawConfig::default()
    };
    assert!(raw.validate().is_ok());
}

#[test]
fn duplicate_client_ids_are_refused() {
    let client = RawClient {
        id: "app".into(),
        secret: None,
        secret_file: None,
        redirect_uris: vec![],
        grant_types: vec![],
        scopes: vec![],
        introspect: false,
        ..RawClient::default()
    };
    let raw = RawConfig {
        clients: vec![client.clone(), client],
        ..RawConfig::default()
    };
    assert!(raw
        .validate()
        .unwrap_err()
        .to_string()
        .contains("clients[1].id"));
}
