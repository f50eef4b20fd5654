//! Request-path normalisation (SPEC §2.12): the one form of a path that ward matches routes on,
//! checks locks against and forwards, so that ward and the backend behind it never disagree on
//! which resource a request names.
//!
//! RFC 3986 §6.2.2: percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded
//! and the hex digits of every other escape upper-cased; §5.2.4: dot segments are removed.
//! Runs of `/` are merged into one (as nginx's `merge_slashes` does). What cannot be made
//! unambiguous is refused ([`PathError`]): an encoded `/` or `\`, a backslash, a NUL or other
//! control character, a malformed escape, a `..` that climbs above the root, and a segment that
//! servlet containers read as a dot segment (`..;x`, `.;x`).
//!
//! No `percent-encoding` crate function does §5.2.4 or the selective decoding of §6.2.2, so both
//! are written here over bytes.

use std::borrow::Cow;

/// Why a path was refused. The text names the problem and is safe to send to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path must start with '/'")]
    NotAbsolute,
    #[error("the path holds an encoded '/' (%2F)")]
    EncodedSlash,
    #[error("the path holds an encoded '\\' (%5C)")]
    EncodedBackslash,
    #[error("the path holds a backslash")]
    Backslash,
    #[error("the path holds a NUL or another control character")]
    Control,
    #[error("the path holds a malformed percent escape")]
    BadEscape,
    #[error("the path holds a '..' segment that climbs above the root")]
    AboveRoot,
    #[error("the path holds a dot segment with parameters (such as '..;')")]
    DotParameter,
}

/// RFC 3986 §2.3.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Whether `path` is already in normal form as far as a cheap scan can tell: no escape, no
/// backslash, no control byte, no empty segment and no segment starting with `.`. Most
/// requests take this path and are not copied.
fn obviously_normal(path: &[u8]) -> bool {
    let mut previous = b'/';
    for (i, &b) in path.iter().enumerate() {
        let dot_after_slash = b == b'.' && previous == b'/';
        let empty_segment = b == b'/' && previous == b'/' && i > 0;
        if b == b'%' || b == b'\\' || b < 0x20 || b == 0x7f || dot_after_slash || empty_segment {
            return false;
        }
        previous = b;
    }
    true
}

/// Normalises an origin-form path (no query: split it off first).
///
/// # Errors
/// [`PathError`] for a path that cannot be made unambiguous.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if obviously_normal(bytes) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(bytes)?;
    let mut out: Vec<&[u8]> = Vec::new();
    let segments: Vec<&[u8]> = decoded.split(|&b| b == b'/').skip(1).collect();
    for segment in &segments {
        match *segment {
            // Empty segments (`a//b`) are merged away; `.` names the current directory.
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            s => {
                let before_parameters = s.split(|&b| b == b';').next().unwrap_or_default();
                if s.contains(&b';') && matches!(before_parameters, b"." | b"..") {
                    return Err(PathError::DotParameter);
                }
                out.push(s);
            }
        }
    }
    // §5.2.4: `/a/.` and `/a/..` end in a directory, like `/a/`.
    let trailing_slash = matches!(segments.last(), Some(&(b"" | b"." | b"..")));
    let mut result = String::with_capacity(decoded.len());
    for segment in &out {
        result.push('/');
        // Every byte is ASCII or part of the original UTF-8 (only ASCII escapes are decoded).
        result.push_str(&String::from_utf8_lossy(segment));
    }
    if out.is_empty() || trailing_slash {
        result.push('/');
    }
    Ok(Cow::Owned(result))
}

/// Decodes escapes of unreserved characters, upper-cases the others, and refuses the escapes
/// and bytes that would change the path's structure.
fn decode_unreserved(bytes: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let (Some(h), Some(l)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let value = h * 16 + l;
                match value {
                    b'/' => return Err(PathError::EncodedSlash),
                    b'\\' => return Err(PathError::EncodedBackslash),
                    v if v < 0x20 || v == 0x7f => return Err(PathError::Control),
                    v if is_unreserved(v) => out.push(v),
                    v => {
                        out.push(b'%');
                        out.extend_from_slice(format!("{v:02X}").as_bytes());
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            b if b < 0x20 || b == 0x7f => return Err(PathError::Control),
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Whether `id` may name a lockable resource: not empty, not a dot segment, no `/`, `\`, `%`,
/// `;` or control character. A resource id comes from a normalised path segment, so this only
/// fails for a request that bypassed normalisation; it is checked again where locks are
/// decided so that no route can admit `.`, `..` or an empty id.
pub fn is_resource_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && !id
            .bytes()
            .any(|b| matches!(b, b'/' | b'\\' | b'%' | b';') || b < 0x20 || b == 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str) -> Result<String, PathError> {
        normalize(p).map(Cow::into_owned)
    }

    #[test]
    fn examples() {
        let ok = [
            ("/", "/"),
            ("/api/containers/42", "/api/containers/42"),
            ("/api/%63ontainers/42", "/api/containers/42"),
            ("/api/termin%61l/abc", "/api/terminal/abc"),
            ("/api/containers/../terminal/abc", "/api/terminal/abc"),
            ("/api/terminal/./abc", "/api/terminal/abc"),
            ("/api/terminal/x/../abc", "/api/terminal/abc"),
            ("/api/terminal/%2e%2E/abc", "/api/abc"),
            ("/api/terminal/.", "/api/terminal/"),
            ("/api/terminal/..", "/api/"),
            ("/a//b///c", "/a/b/c"),
            ("/a/b/", "/a/b/"),
            ("//", "/"),
            ("/a/%7e%41%2d", "/a/~A-"),
            ("/ab%3f", "/ab%3F"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/café", "/café"),
            ("/a/..%3B/b", "/a/..%3B/b"),
            ("/.well-known/x", "/.well-known/x"),
            ("/a/...", "/a/..."),
        ];
        for (input, expected) in ok {
            assert_eq!(n(input).as_deref(), Ok(expected), "{input}");
        }
        let refused = [
            ("api", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
            ("/a%2Fb", PathError::EncodedSlash),
            ("/a%2fb", PathError::EncodedSlash),
            ("/a%5cb", PathError::EncodedBackslash),
            ("/a\\b", PathError::Backslash),
            ("/a%00", PathError::Control),
            ("/a\0", PathError::Control),
            ("/a%0a", PathError::Control),
            ("/a%", PathError::BadEscape),
            ("/a%g0", PathError::BadEscape),
            ("/..", PathError::AboveRoot),
            ("/a/../../etc/passwd", PathError::AboveRoot),
            ("/%2e%2e/x", PathError::AboveRoot),
            ("/api/containers/..;/terminal", PathError::DotParameter),
            ("/api/x/.;jsessionid=1/y", PathError::DotParameter),
        ];
        for (input, expected) in refused {
            assert_eq!(n(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn unchanged_paths_are_not_copied() {
        assert!(matches!(
            normalize("/api/containers/42"),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn resource_ids() {
        assert!(is_resource_id("t1"));
        assert!(is_resource_id("a.b"));
        for bad in ["", ".", "..", "a/b", "a\\b", "a%2e", "..;x", "a\0"] {
            assert!(!is_resource_id(bad), "{bad:?}");
        }
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Paths made of the pieces that matter: separators, dots, escapes, parameters.
        fn tricky_path() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just("/".to_string()),
                Just(".".to_string()),
                Just("..".to_string()),
                Just("%2e".to_string()),
                Just("%2E".to_string()),
                Just("%2F".to_string()),
                Just("%5c".to_string()),
                Just("%41".to_string()),
                Just("%3b".to_string()),
                Just(";".to_string()),
                Just("%".to_string()),
                Just("é".to_string()),
                "[a-z0-9~_-]{1,4}",
            ];
            proptest::collection::vec(piece, 0..12).prop_map(|v| format!("/{}", v.concat()))
        }

        /// Percent-encodes the unreserved characters of `path` that `mask` selects (never the
        /// two characters after a `%`, which belong to an escape).
        fn encode_some(path: &str, mask: &[bool]) -> String {
            let mut out = String::new();
            let mut in_escape = 0u8;
            for (i, c) in path.chars().enumerate() {
                let encode = in_escape == 0
                    && c.is_ascii()
                    && is_unreserved(c as u8)
                    && mask.get(i % mask.len().max(1)).copied().unwrap_or(false);
                in_escape = if c == '%' {
                    2
                } else {
                    in_escape.saturating_sub(1)
                };
                if encode {
                    out.push_str(&format!("%{:02x}", c as u8));
                } else {
                    out.push(c);
                }
            }
            out
        }

        proptest! {
            #[test]
            fn idempotent(p in tricky_path()) {
                if let Ok(once) = normalize(&p) {
                    let twice = normalize(&once);
                    prop_assert_eq!(twice.as_deref(), Ok(once.as_ref()));
                }
            }

            #[test]
            fn never_yields_dot_segments(p in tricky_path()) {
                if let Ok(out) = normalize(&p) {
                    prop_assert!(out.starts_with('/'));
                    for segment in out.split('/').skip(1) {
                        prop_assert!(segment != ".." && segment != ".", "{out}");
                    }
                    prop_assert!(!out.contains("//"), "{out}");
                    prop_assert!(!out.contains('\\'));
                }
            }

            #[test]
            fn encoded_twin_normalises_the_same(
                p in tricky_path(),
                mask in proptest::collection::vec(any::<bool>(), 1..8),
            ) {
                let twin = encode_some(&p, &mask);
                prop_assert_eq!(normalize(&p), normalize(&twin), "{} / {}", p, twin);
            }

            #[test]
            fn no_panic_on_arbitrary_input(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
                let text = String::from_utf8_lossy(&bytes);
                let _ = normalize(&text);
                let _ = normalize(&format!("/{text}"));
            }
        }
    }
}
