//! The request edge (SPEC §2.12): one layer in front of the router that every request passes
//! before anything else looks at it. It normalises the path ([`ward_core::path`]; refused paths
//! get 400 here, so ward's routes, the proxy's `[[routes]]` and lock ids all see one form) and
//! decides the client's address once ([`ClientAddr`]): the TCP peer, or, when the peer is one
//! of `trusted_proxies`, the right-most untrusted address of its `X-Forwarded-For` (or
//! `Forwarded`). Every per-IP limit, audit event, session and log line takes it from here,
//! through [`crate::extract::ClientIp`].

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::uri::{PathAndQuery, Uri};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use crate::error::ApiError;
use crate::state::AppState;

/// The client's address as ward decided it, in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client: the peer, or the right-most untrusted address its trusted proxies report.
    pub ip: IpAddr,
    /// The hops from the client to ward, client first, peer last: what ward forwards as
    /// `X-Forwarded-For` (addresses left of the client are the client's own claims: dropped).
    pub chain: Vec<IpAddr>,
}

impl ClientAddr {
    /// `X-Forwarded-For` for an upstream: `client, proxy1, …, peer`.
    pub fn forwarded_for(&self) -> String {
        let hops: Vec<String> = self.chain.iter().map(IpAddr::to_string).collect();
        hops.join(", ")
    }
}

/// The layer: normalise, decide the client address, go on.
pub async fn layer(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let addr = peer.map(|peer| client_addr(&state.config.trusted_proxies, peer, request.headers()));
    if let Err(e) = normalize_uri(request.uri_mut()) {
        // Never reaches the request log (which runs after routing): logged here, without the
        // path, which may hold control characters.
        tracing::info!(
            target: "ward::http",
            method = %request.method(),
            status = e.status.as_u16(),
            ip = %addr.as_ref().map(|a| a.ip.to_string()).unwrap_or_default(),
            reason = %e.description,
            "request path refused"
        );
        return close_if_body_unread(request_has_body(&request), e.into_response());
    }
    if let Some(addr) = addr {
        request.extensions_mut().insert(addr);
    }
    let has_body = request_has_body(&request);
    close_if_body_unread(has_body, next.run(request).await)
}

/// Whether an HTTP/1 request came with a body on the connection.
fn request_has_body(request: &Request) -> bool {
    if request.version() > axum::http::Version::HTTP_11 {
        return false;
    }
    let headers = request.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

/// An error answered to a request with a body may not have read that body (a 413 over the
/// limit, a 415, a refusal before the handler ran): the connection then holds unread bytes and
/// the server closes it after answering. Saying so with `Connection: close` lets the client
/// open a new connection instead of reusing one that is about to close (a pooled client's
/// next request would otherwise fail with an incomplete message).
fn close_if_body_unread(has_body: bool, mut response: Response) -> Response {
    let status = response.status();
    if has_body && (status.is_client_error() || status.is_server_error()) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The error for a refused path: 400 `invalid_path`, naming the problem.
pub fn path_refused(e: ward_core::path::PathError) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", e.to_string())
}

/// Replaces the path of `uri` by its normal form; the query is kept as sent.
fn normalize_uri(uri: &mut Uri) -> Result<(), ApiError> {
    let path = uri.path();
    // `OPTIONS *` and the like: nothing to normalise (the router answers 404).
    if !path.starts_with('/') {
        return Ok(());
    }
    let normal = ward_core::path::normalize(path).map_err(path_refused)?;
    if normal == path {
        return Ok(());
    }
    let path_and_query = match uri.query() {
        Some(q) => format!("{normal}?{q}"),
        None => normal.into_owned(),
    };
    let mut parts = std::mem::take(uri).into_parts();
    parts.path_and_query = Some(
        PathAndQuery::try_from(path_and_query)
            .map_err(|_| ApiError::bad_request("the request path cannot be parsed"))?,
    );
    *uri = Uri::from_parts(parts)
        .map_err(|_| ApiError::bad_request("the request path cannot be parsed"))?;
    Ok(())
}

fn is_trusted(trusted: &[IpNet], ip: IpAddr) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|net| net.contains(&ip))
}

/// `::ffff:10.0.0.1` is `10.0.0.1` (a dual-stack listener reports IPv4 peers that way).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// SPEC §2.12: only a trusted peer's forwarding headers are read; walking them from the right,
/// trusted hops are skipped and the first untrusted address is the client. An entry that is not
/// an address ends the walk (the hop right of it is then the client): nothing left of a
/// malformed entry can be trusted.
pub fn client_addr(trusted: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> ClientAddr {
    let peer = canonical(peer);
    let mut chain = vec![peer];
    if is_trusted(trusted, peer) {
        for hop in reported_hops(headers).into_iter().rev() {
            let Some(ip) = hop.map(canonical) else { break };
            chain.push(ip);
            if !is_trusted(trusted, ip) {
                break;
            }
        }
    }
    chain.reverse();
    let ip = chain.first().copied().unwrap_or(peer);
    ClientAddr { ip, chain }
}

/// The addresses a proxy reports, left to right: `X-Forwarded-For` when present, otherwise the
/// `for=` parameters of `Forwarded` (RFC 7239). `None` for an entry that is not an address
/// (`unknown`, an obfuscated identifier, garbage).
fn reported_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let xff: Vec<Option<IpAddr>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().map(|s| s.split(',')).into_iter().flatten())
        .map(|entry| parse_node(entry.trim()))
        .collect();
    if !xff.is_empty() {
        return xff;
    }
    headers
        .get_all("forwarded")
        .iter()
        .flat_map(|v| v.to_str().map(|s| s.split(',')).into_iter().flatten())
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_node(v.trim().trim_matches('"')))
            })
        })
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:80`.
fn parse_node(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|v6| v6.parse::<IpAddr>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        let a = client_addr(&[], ip("203.0.113.9"), &h);
        assert_eq!(a.ip, ip("203.0.113.9"));
        assert_eq!(a.forwarded_for(), "203.0.113.9");
        let a = client_addr(&nets(&["10.0.0.0/8"]), ip("203.0.113.9"), &h);
        assert_eq!(a.ip, ip("203.0.113.9"));
    }

    #[test]
    fn right_most_untrusted_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "192.168.1.1/32"]);
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 198.51.100.7"),
            ("x-forwarded-for", "10.1.1.1"),
        ]);
        let a = client_addr(&trusted, ip("192.168.1.1"), &h);
        assert_eq!(a.ip, ip("198.51.100.7"));
        assert_eq!(a.forwarded_for(), "198.51.100.7, 10.1.1.1, 192.168.1.1");
        // All trusted: the left-most.
        let h = headers(&[("x-forwarded-for", "10.2.2.2")]);
        assert_eq!(client_addr(&trusted, ip("10.0.0.1"), &h).ip, ip("10.2.2.2"));
        // No header: the peer.
        assert_eq!(
            client_addr(&trusted, ip("10.0.0.1"), &HeaderMap::new()).ip,
            ip("10.0.0.1")
        );
        // Garbage stops the walk.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, nonsense, 10.3.3.3")]);
        assert_eq!(client_addr(&trusted, ip("10.0.0.1"), &h).ip, ip("10.3.3.3"));
    }

    #[test]
    fn forwarded_header_and_forms() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[(
            "forwarded",
            "for=1.1.1.1, for=\"[2001:db8::7]:4711\";proto=https, For=10.0.0.5:80",
        )]);
        let a = client_addr(&trusted, ip("::ffff:10.0.0.1"), &h);
        assert_eq!(a.ip, ip("2001:db8::7"));
        assert_eq!(a.forwarded_for(), "2001:db8::7, 10.0.0.5, 10.0.0.1");
        // X-Forwarded-For wins when both are present.
        let h = headers(&[("forwarded", "for=1.1.1.1"), ("x-forwarded-for", "2.2.2.2")]);
        assert_eq!(client_addr(&trusted, ip("10.0.0.1"), &h).ip, ip("2.2.2.2"));
    }

    #[test]
    fn paths_are_rewritten_with_their_query() {
        let mut uri: Uri = "/api/%63ontainers/../x?a=%2F".parse().unwrap();
        normalize_uri(&mut uri).unwrap();
        assert_eq!(uri, "/api/x?a=%2F");
        let mut uri: Uri = "/a%2Fb".parse().unwrap();
        let e = normalize_uri(&mut uri).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.description, "the path holds an encoded '/' (%2F)");
    }
}
