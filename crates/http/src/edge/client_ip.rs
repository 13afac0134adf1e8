//! The client's address: the socket's, unless the socket is a trusted
//! proxy (`PORTCULLIS_TRUSTED_PROXIES`), in which case the nearest address
//! in `X-Forwarded-For` that is not itself a trusted proxy.
//!
//! Read from the right: each proxy appends the address it received the
//! request from, so only the entries added by trusted proxies can be
//! believed; anything to the left of the first untrusted entry was written
//! by the client and is ignored. A request that does not come from a
//! trusted proxy keeps its socket address whatever its headers say.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Most `X-Forwarded-For` entries read (a longer chain is cut from the left).
const MAX_HOPS: usize = 16;

/// The client address of a request that arrived from `peer`.
pub(crate) fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    if trusted.is_empty() || !is_trusted(peer, trusted) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .rev()
        .flat_map(|v| {
            // A header that is not text is not believed at all.
            let text = v.to_str().unwrap_or("");
            text.rsplit(',').map(str::trim).collect::<Vec<_>>()
        })
        .take(MAX_HOPS);
    for hop in hops {
        let Some(addr) = parse_hop(hop) else {
            // Garbage from a hop: stop at the last address we could trust.
            break;
        };
        client = addr;
        if !is_trusted(addr, trusted) {
            break;
        }
    }
    client
}

fn is_trusted(addr: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&addr))
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// An entry of `X-Forwarded-For`: an address, optionally with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(a) = hop.parse::<IpAddr>() {
        return Some(canonical(a));
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    let bare = hop.strip_prefix('[').and_then(|h| h.strip_suffix(']'))?;
    bare.parse::<IpAddr>().ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(xff: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", HeaderValue::from_static(v));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_keep_their_address() {
        let h = headers(&["203.0.113.9"]);
        assert_eq!(resolve(ip("198.51.100.7"), &h, &[]), ip("198.51.100.7"));
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            resolve(ip("198.51.100.7"), &h, &trusted),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        // A client-forged entry on the left is ignored; the first untrusted
        // entry from the right is the client.
        let h = headers(&["1.1.1.1, 203.0.113.9, 10.0.0.5"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &trusted), ip("203.0.113.9"));
        // Several headers read as one list.
        let h = headers(&["1.1.1.1", "203.0.113.9", "10.0.0.5"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &trusted), ip("203.0.113.9"));
        // Ports and brackets.
        let h = headers(&["[2001:db8::7]:443"]);
        assert_eq!(resolve(ip("::1"), &h, &trusted), ip("2001:db8::7"));
        let h = headers(&["203.0.113.9:5000"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &trusted), ip("203.0.113.9"));
        // Garbage stops the walk at the last good address.
        let h = headers(&["203.0.113.9, <script>, 10.0.0.5"]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.5"));
        // No header: the proxy itself.
        assert_eq!(
            resolve(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
        // Mapped addresses are IPv4.
        assert_eq!(
            resolve(ip("::ffff:10.0.0.1"), &headers(&["203.0.113.9"]), &trusted),
            ip("203.0.113.9")
        );
    }
}
