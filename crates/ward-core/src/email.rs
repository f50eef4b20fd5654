//! Email addresses in one canonical form, and the look-alike rules (SPEC §2.13).
//!
//! Every address is normalised here before it is stored, compared or routed: NFKC (fullwidth
//! `ａ` is `a`), lower case, the domain without trailing dots and in its IDNA ASCII form
//! (UTS 46, so `Bücher.example` and `xn--bcher-kva.example` are one domain). A new account's
//! local part must be in one script (Unicode TR39 mixed-script detection) and must not have the
//! TR39 skeleton of an existing account's at the same domain ([`skeleton`]).

use unicode_normalization::UnicodeNormalization;
use unicode_security::MixedScript;

/// The canonical form of `email`. Infallible: whether the result is an address at all is
/// [`crate::model::is_plausible_email`]'s question.
pub fn normalize(email: &str) -> String {
    // NFKC again after lower-casing: a few lower-case forms are not NFKC-stable.
    let folded: String = email
        .nfkc()
        .collect::<String>()
        .to_lowercase()
        .nfkc()
        .collect();
    let folded = folded.trim();
    match folded.rsplit_once('@') {
        Some((local, domain)) => {
            let domain = domain.trim_end_matches(|c: char| c == '.' || c.is_whitespace());
            // A domain IDNA refuses stays as typed (lower case, NFKC); it routes nowhere.
            // IDNA maps other full stops (`。`) to `.`: trim again after it.
            let domain = idna::domain_to_ascii(domain)
                .map(|d| d.trim_end_matches('.').to_string())
                .unwrap_or_else(|_| domain.to_string());
            format!("{local}@{domain}")
        }
        None => folded.to_string(),
    }
}

/// Why a new account's address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookAlike {
    #[error(
        "the part before @ mixes scripts (for example Latin and Cyrillic letters); use letters of one script"
    )]
    MixedScript,
    #[error("the address looks like the address of another account; choose another")]
    Confusable,
}

fn local_part(email: &str) -> &str {
    email.rsplit_once('@').map_or(email, |(local, _)| local)
}

/// `Err(MixedScript)` when the local part of a normalised address mixes scripts. Digits and
/// punctuation (scripts Common and Inherited) mix with anything.
pub fn single_script(email: &str) -> Result<(), LookAlike> {
    if local_part(email).is_single_script() {
        Ok(())
    } else {
        Err(LookAlike::MixedScript)
    }
}

/// The TR39 skeleton of a normalised address's local part, with its domain: two addresses with
/// the same skeleton look alike (`аdmin` with a Cyrillic `а` and `admin`, `rn` and `m`).
pub fn skeleton(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            format!(
                "{}@{domain}",
                unicode_security::skeleton(local).collect::<String>()
            )
        }
        None => unicode_security::skeleton(email).collect(),
    }
}

/// Whether `new` may be created beside `existing` (normalised addresses at the same domain):
/// the same address is not a look-alike (the caller reports it as taken).
pub fn confusable(new: &str, existing: &str) -> bool {
    new != existing && skeleton(new) == skeleton(existing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn one_form_for_twins() {
        assert_eq!(normalize("  Admin@Example.COM "), "admin@example.com");
        assert_eq!(normalize("ａdmin@example.com"), "admin@example.com");
        assert_eq!(normalize("bob@corp.example."), "bob@corp.example");
        assert_eq!(normalize("bob@ｃｏｒｐ.example"), "bob@corp.example");
        assert_eq!(normalize("bob@Bücher.example"), "bob@xn--bcher-kva.example");
        assert_eq!(normalize("no-at-sign"), "no-at-sign");
        assert_eq!(normalize("bob@corp.example\u{3002}"), "bob@corp.example");
    }

    #[test]
    fn mixed_scripts_and_confusables() {
        let cyrillic_a = normalize("\u{430}dmin@example.com");
        assert_eq!(single_script(&cyrillic_a), Err(LookAlike::MixedScript));
        assert_eq!(single_script("admin2@example.com"), Ok(()));
        assert_eq!(single_script("\u{430}\u{441}\u{435}@example.com"), Ok(()));
        // All-Cyrillic "асе" looks like Latin "ace".
        assert!(confusable(
            "\u{430}\u{441}\u{435}@example.com",
            "ace@example.com"
        ));
        assert!(confusable("rnodern@example.com", "modern@example.com"));
        assert!(!confusable("admin@example.com", "admin@example.com"));
        assert!(!confusable("ace@example.com", "ace@other.example"));
        assert!(!confusable("alice@example.com", "bob@example.com"));
    }

    proptest! {
        #[test]
        fn normalize_is_idempotent_and_never_panics(s in "\\PC{0,40}(@\\PC{0,20})?") {
            let once = normalize(&s);
            prop_assert_eq!(normalize(&once), once.clone());
            let _ = skeleton(&once);
            let _ = single_script(&once);
        }
    }
}
