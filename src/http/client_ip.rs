//! The real client address of a request, and how addresses are grouped for per-IP limits.
//!
//! `X-Forwarded-For` is attacker-controlled unless it was written by our own proxy, so it is
//! read only when the TCP peer is a configured trusted proxy; then the right-most address that
//! is not itself a trusted proxy is the client (everything left of it could be forged).

use std::net::IpAddr;

use hyper::HeaderMap;

pub use crate::cidr::Cidr;
use crate::cidr::mask;

/// The client address: the peer, or (behind a trusted proxy) the right-most untrusted
/// `X-Forwarded-For` entry. IPv4-mapped IPv6 addresses come back as IPv4.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted.iter().any(|c| c.contains(client)) {
        return client;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else { break };
        client = ip.to_canonical();
        if !trusted.iter().any(|c| c.contains(client)) {
            break;
        }
    }
    client
}

/// The key per-IP limits use: IPv4 as is, IPv6 cut to `ipv6_prefix` bits.
pub fn limit_key(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        v4 @ IpAddr::V4(_) => v4,
        v6 => mask(v6, ipv6_prefix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = [Cidr::parse("127.0.0.1").unwrap(), Cidr::parse("10.0.0.0/8").unwrap()];
        // Untrusted peer: the header is ignored.
        assert_eq!(resolve(ip("203.0.113.9"), &xff("1.2.3.4"), &trusted), ip("203.0.113.9"));
        // Trusted peer: the right-most untrusted hop; forged entries to its left are ignored.
        assert_eq!(resolve(ip("127.0.0.1"), &xff("6.6.6.6, 198.51.100.7, 10.0.0.5"), &trusted), ip("198.51.100.7"));
        // Garbage stops the walk at the last good hop.
        assert_eq!(resolve(ip("127.0.0.1"), &xff("junk"), &trusted), ip("127.0.0.1"));
        assert_eq!(resolve(ip("::ffff:127.0.0.1"), &HeaderMap::new(), &[]), ip("127.0.0.1"));
    }

    #[test]
    fn ipv6_clients_are_grouped_by_prefix() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1"), 64), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("2001:db8:1:2:bbbb::9"), 64), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("::ffff:192.0.2.1"), 64), ip("192.0.2.1"));
    }
}
