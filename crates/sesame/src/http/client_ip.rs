//! The client's IP address: the socket peer, or — only when the peer is a reverse proxy named in
//! [`TrustedProxies`] — the address the proxies report in RFC 7239 `Forwarded` or in
//! `X-Forwarded-For`.
//!
//! # The rule
//! With no trusted proxies, or a peer that is not one, the answer is the peer and the headers
//! are not read. Otherwise the hops are read left to right (every header line, in order, each
//! split at commas) and walked from the right, starting at the peer: the first address that is
//! not a trusted proxy is the client. Everything left of it was written by parties we do not
//! trust, so a client can prepend whatever it likes without changing the answer. If every hop is
//! trusted, the left-most is the client. A hop that is not an address (garbage, `unknown`, an
//! obfuscated `_name`, an element without `for=`) stops the walk, and the last address reached
//! — a trusted proxy, or the peer itself — is the answer: unparsable input can only make the
//! answer coarser, never let a client choose it.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are treated as the IPv4 address, both as peer
//! and in headers, and the answer is always in that canonical form.
//!
//! # Which header
//! By default ([`ProxyHeader::PreferForwarded`]) `Forwarded` is read when a request has one and
//! `X-Forwarded-For` otherwise. That is only safe if the proxies write (or remove) the header
//! that will be read: a proxy that appends only to `X-Forwarded-For` and passes a client's
//! `Forwarded` through unchanged lets that client pick its address. Pin the header the proxies
//! write with [`TrustedProxies::reading`] when in doubt.
//!
//! This module does not extract anything from requests or read configuration: the caller hands
//! in the peer address, the headers and the parsed list.

use axum::http::header::FORWARDED;
use axum::http::{HeaderMap, HeaderName};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// An IPv4 or IPv6 address block, e.g. `10.0.0.0/8` or `2001:db8::/32`; a bare address is a
/// block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// A malformed proxy entry; the message names the entry and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error(
        "`{0}` is not an IP address or CIDR block (write e.g. 10.0.0.0/8, 192.168.1.10 or ::1/128)"
    )]
    NotAnAddress(String),
    #[error("`{entry}`: the prefix length must be a number from 0 to {max}")]
    BadPrefix { entry: String, max: u8 },
    #[error("`{entry}` has address bits set past its prefix length: did you mean {suggestion}?")]
    HostBitsSet { entry: String, suggestion: String },
}

fn v4_mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn v6_mask(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl Cidr {
    /// Whether `ip` lies in this block. IPv4 blocks hold IPv4 addresses (mapped ones included),
    /// IPv6 blocks the other IPv6 addresses.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                (u32::from(net) ^ u32::from(ip)) & v4_mask(self.prefix) == 0
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                (u128::from(net) ^ u128::from(ip)) & v6_mask(self.prefix) == 0
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// # Errors
    /// Not an address, a prefix length out of range, or address bits set past the prefix
    /// (`10.1.0.0/8`: a typo for `10.0.0.0/8` or for `10.1.0.0/16`, so it is not guessed).
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let entry = raw.trim();
        let (addr, prefix) = match entry.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (entry, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::NotAnAddress(entry.to_owned()))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix =
            match prefix {
                None => max,
                Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                    CidrError::BadPrefix {
                        entry: entry.to_owned(),
                        max,
                    }
                })?,
            };
        let (network, prefix) = match network {
            // `::ffff:10.0.0.0/104` is `10.0.0.0/8`: mapped addresses are matched as IPv4.
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (network, prefix),
            },
            _ => (network, prefix),
        };
        let masked = match network {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & v4_mask(prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & v6_mask(prefix))),
        };
        if masked != network {
            return Err(CidrError::HostBitsSet {
                entry: entry.to_owned(),
                suggestion: format!("{masked}/{prefix}"),
            });
        }
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Which forwarding header to read behind a trusted proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyHeader {
    /// `Forwarded` when the request has one, else `X-Forwarded-For`.
    #[default]
    PreferForwarded,
    /// Only RFC 7239 `Forwarded`.
    Forwarded,
    /// Only `X-Forwarded-For`.
    XForwardedFor,
}

/// The reverse proxies whose forwarding headers are believed. Empty (the default): none, and
/// the socket peer is always the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    blocks: Vec<Cidr>,
    header: ProxyHeader,
}

impl TrustedProxies {
    /// Parses a comma-separated list such as `10.0.0.0/8, 192.168.1.10, ::1/128`; empty
    /// entries are skipped, so an empty string means no trusted proxies.
    ///
    /// # Errors
    /// The first malformed entry.
    pub fn parse(list: &str) -> Result<Self, CidrError> {
        let blocks = list
            .split(',')
            .filter(|entry| !entry.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            blocks,
            header: ProxyHeader::default(),
        })
    }

    /// Reads only `header` (see [`ProxyHeader`]).
    #[must_use]
    pub fn reading(mut self, header: ProxyHeader) -> Self {
        self.header = header;
        self
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    #[must_use]
    pub fn blocks(&self) -> &[Cidr] {
        &self.blocks
    }

    /// Whether `ip` is one of the trusted proxies.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|block| block.contains(ip))
    }
}

impl FromStr for TrustedProxies {
    type Err = CidrError;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        Self::parse(list)
    }
}

/// The client's address for a request from `peer` carrying `headers`. See the module
/// documentation for the rule.
#[must_use]
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let read_forwarded = match trusted.header {
        ProxyHeader::PreferForwarded => headers.contains_key(FORWARDED),
        ProxyHeader::Forwarded => true,
        ProxyHeader::XForwardedFor => false,
    };
    let hops = if read_forwarded {
        forwarded_hops(headers)
    } else {
        x_forwarded_for_hops(headers)
    };
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = hop else { break };
        client = ip.to_canonical();
        if !trusted.contains(client) {
            break;
        }
    }
    client
}

/// Every `X-Forwarded-For` entry, left to right; `None` for one that is not an address.
fn x_forwarded_for_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all(X_FORWARDED_FOR) {
        match value.to_str() {
            Ok(value) => hops.extend(value.split(',').map(parse_node)),
            Err(_) => hops.push(None),
        }
    }
    hops
}

/// Every `Forwarded` element's `for=` address, left to right; `None` for an element without a
/// usable one.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all(FORWARDED) {
        match value.to_str() {
            Ok(value) => hops.extend(split_outside_quotes(value, ',').map(forwarded_for)),
            Err(_) => hops.push(None),
        }
    }
    hops
}

/// The `for` parameter of one forwarded-element (`for=192.0.2.60;proto=http;by=203.0.113.43`).
/// A repeated `for` is malformed (RFC 7239 §4) and gives `None`.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in split_outside_quotes(element, ';') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("for") {
            if found.is_some() {
                return None;
            }
            found = Some(unquote(value.trim())?);
        }
    }
    parse_node(&found?)
}

/// Splits at `sep` except inside quoted strings (where `\` escapes the next character).
fn split_outside_quotes(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut pieces = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            pieces.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    pieces.push(&s[start..]);
    pieces.into_iter()
}

/// A token as is, or a quoted string without its quotes and escapes; `None` for a broken quote.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return (!value.contains('"')).then(|| value.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// A node (RFC 7239 §6): `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]`, `[2001:db8::1]:4711`;
/// also a bare IPv6 address, as some proxies write it. `unknown`, obfuscated names and anything
/// else give `None`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    if let Some(rest) = node.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = ip.parse().ok()?;
        return (after.is_empty() || after.strip_prefix(':').is_some_and(is_port))
            .then_some(IpAddr::V6(ip));
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    let (ip, port) = node.rsplit_once(':')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    is_port(port).then_some(IpAddr::V4(ip))
}

/// A node-port: a number from 0 to 65535, or an obfuscated `_name`.
fn is_port(port: &str) -> bool {
    let digits = port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok();
    let obfuscated = port.len() > 1
        && port.starts_with('_')
        && port
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    digits || obfuscated
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    const PROXY: &str = "10.0.0.1";
    const CLIENT: &str = "203.0.113.9";

    #[test]
    fn cidr_lists_accept_blocks_bare_addresses_and_stray_commas() {
        let t = trusted(" 10.0.0.0/8, 192.168.1.10 ,::1/128, 2001:db8::/32,,0.0.0.0/0 ,");
        let shown: Vec<String> = t.blocks().iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "10.0.0.0/8",
                "192.168.1.10/32",
                "::1/128",
                "2001:db8::/32",
                "0.0.0.0/0"
            ]
        );
        assert!(trusted("").is_empty());
        assert!(trusted(" , ").is_empty());
        assert_eq!(
            trusted("::ffff:10.0.0.0/104").blocks()[0].to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            "10.0.0.0/8".parse::<TrustedProxies>(),
            Ok(trusted("10.0.0.0/8"))
        );
    }

    #[test]
    fn a_bad_cidr_entry_is_named_in_the_error() {
        for (list, expected) in [
            (
                "10.0.0.0/8, proxy.local",
                CidrError::NotAnAddress("proxy.local".into()),
            ),
            ("10.0.0/8", CidrError::NotAnAddress("10.0.0/8".into())),
            ("/8", CidrError::NotAnAddress("/8".into())),
            (
                "10.0.0.0/33",
                CidrError::BadPrefix {
                    entry: "10.0.0.0/33".into(),
                    max: 32,
                },
            ),
            (
                "::/129",
                CidrError::BadPrefix {
                    entry: "::/129".into(),
                    max: 128,
                },
            ),
            (
                "10.0.0.0/-1",
                CidrError::BadPrefix {
                    entry: "10.0.0.0/-1".into(),
                    max: 32,
                },
            ),
            (
                "10.0.0.0/",
                CidrError::BadPrefix {
                    entry: "10.0.0.0/".into(),
                    max: 32,
                },
            ),
            (
                "10.1.0.0/8",
                CidrError::HostBitsSet {
                    entry: "10.1.0.0/8".into(),
                    suggestion: "10.0.0.0/8".into(),
                },
            ),
            (
                "2001:db8::1/64",
                CidrError::HostBitsSet {
                    entry: "2001:db8::1/64".into(),
                    suggestion: "2001:db8::/64".into(),
                },
            ),
        ] {
            assert_eq!(TrustedProxies::parse(list), Err(expected), "{list}");
        }
        let message = TrustedProxies::parse("10.1.0.0/8").unwrap_err().to_string();
        assert!(message.contains("10.0.0.0/8"), "{message}");
    }

    #[test]
    fn ipv4_blocks_match_by_prefix_including_0_and_32() {
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("1.2.3.4")) && all.contains(ip("255.255.255.255")));
        assert!(
            !all.contains(ip("::1")),
            "an IPv4 block holds no IPv6 address"
        );
        let one: Cidr = "192.168.1.10/32".parse().unwrap();
        assert!(one.contains(ip("192.168.1.10")));
        assert!(!one.contains(ip("192.168.1.11")) && !one.contains(ip("192.168.1.9")));
        let eight: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(eight.contains(ip("10.0.0.0")) && eight.contains(ip("10.255.255.255")));
        assert!(!eight.contains(ip("11.0.0.0")) && !eight.contains(ip("9.255.255.255")));
        let odd: Cidr = "172.16.0.0/12".parse().unwrap();
        assert!(odd.contains(ip("172.31.255.255")) && !odd.contains(ip("172.32.0.0")));
        assert!(
            eight.contains(ip("::ffff:10.1.2.3")),
            "mapped addresses are IPv4"
        );
    }

    #[test]
    fn ipv6_blocks_match_by_prefix_including_0_and_128() {
        let all: Cidr = "::/0".parse().unwrap();
        assert!(all.contains(ip("2001:db8::1")) && all.contains(ip("::1")));
        assert!(!all.contains(ip("1.2.3.4")) && !all.contains(ip("::ffff:1.2.3.4")));
        let one: Cidr = "::1/128".parse().unwrap();
        assert!(one.contains(ip("::1")) && !one.contains(ip("::2")));
        let net: Cidr = "2001:db8:0:1::/64".parse().unwrap();
        assert!(net.contains(ip("2001:db8:0:1:ffff:ffff:ffff:ffff")));
        assert!(!net.contains(ip("2001:db8:0:2::")) && !net.contains(ip("2001:db8::ffff")));
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say() {
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1, 2.2.2.2"),
            ("forwarded", "for=3.3.3.3"),
        ]);
        let none = TrustedProxies::default();
        assert_eq!(client_ip(ip(CLIENT), &h, &none), ip(CLIENT));
        assert_eq!(client_ip(ip(PROXY), &h, &none), ip(PROXY));
    }

    #[test]
    fn an_untrusted_peers_headers_are_ignored() {
        let h = headers(&[
            ("x-forwarded-for", "10.0.0.7"),
            ("forwarded", "for=10.0.0.7"),
        ]);
        assert_eq!(
            client_ip(ip(CLIENT), &h, &trusted("10.0.0.0/8")),
            ip(CLIENT)
        );
    }

    #[test]
    fn a_chain_through_two_trusted_proxies_yields_the_real_client() {
        // client → 10.0.0.2 (adds the client) → 10.0.0.1 (adds 10.0.0.2) → us
        let h = headers(&[("x-forwarded-for", "203.0.113.9, 10.0.0.2")]);
        let t = trusted("10.0.0.1, 10.0.0.2");
        assert_eq!(client_ip(ip(PROXY), &h, &t), ip(CLIENT));
        let h = headers(&[("forwarded", "for=203.0.113.9, for=10.0.0.2")]);
        assert_eq!(client_ip(ip(PROXY), &h, &t), ip(CLIENT));
    }

    #[test]
    fn spoofed_left_most_entries_never_change_the_result() {
        let t = trusted("10.0.0.0/8");
        for spoof in [
            "",
            "1.1.1.1, ",
            "10.0.0.5, ",
            "garbage, 10.9.9.9, ",
            "::1, unknown, ",
            "1.1.1.1, 2.2.2.2, 3.3.3.3, ",
        ] {
            // The client sends `spoof`; the trusted proxy appends the address it saw.
            let h = headers(&[("x-forwarded-for", &format!("{spoof}{CLIENT}"))]);
            assert_eq!(client_ip(ip(PROXY), &h, &t), ip(CLIENT), "{spoof:?}");
            assert_eq!(
                client_ip(ip(PROXY), &h, &TrustedProxies::default()),
                ip(PROXY),
                "{spoof:?}"
            );
            // The same with the spoof in a header line of its own.
            let mut h = headers(&[("x-forwarded-for", CLIENT)]);
            if !spoof.is_empty() {
                h = headers(&[
                    ("x-forwarded-for", spoof.trim_end_matches([',', ' '])),
                    ("x-forwarded-for", CLIENT),
                ]);
            }
            assert_eq!(client_ip(ip(PROXY), &h, &t), ip(CLIENT), "{spoof:?}");
        }
    }

    #[test]
    fn several_x_forwarded_for_lines_are_one_list_in_order() {
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "203.0.113.9, 10.0.0.3"),
            ("x-forwarded-for", "10.0.0.2"),
        ]);
        assert_eq!(client_ip(ip(PROXY), &h, &trusted("10.0.0.0/8")), ip(CLIENT));
    }

    #[test]
    fn when_every_hop_is_trusted_the_left_most_is_the_client() {
        let h = headers(&[("x-forwarded-for", "10.0.0.3, 10.0.0.2")]);
        assert_eq!(
            client_ip(ip(PROXY), &h, &trusted("10.0.0.0/8")),
            ip("10.0.0.3")
        );
        assert_eq!(
            client_ip(ip(PROXY), &HeaderMap::new(), &trusted("10.0.0.0/8")),
            ip(PROXY)
        );
    }

    #[test]
    fn forwarded_with_ipv6_ports_and_parameters_is_understood() {
        let t = trusted("10.0.0.0/8, 2001:db8:ffff::/48");
        for (value, expected) in [
            (r#"for="[2001:db8::1]:4711""#, "2001:db8::1"),
            (r#"for="[2001:db8::1]""#, "2001:db8::1"),
            ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
            ("proto=https;For=192.0.2.60:8080", "192.0.2.60"),
            (r#"for="192.0.2.60:_port""#, "192.0.2.60"),
            (
                r#"for="[2001:db8::1]:4711", for="[2001:db8:ffff::9]";proto=https, for=10.0.0.2"#,
                "2001:db8::1",
            ),
            (r#"for="[::ffff:192.0.2.7]""#, "192.0.2.7"),
        ] {
            let h = headers(&[("forwarded", value)]);
            assert_eq!(client_ip(ip(PROXY), &h, &t), ip(expected), "{value}");
        }
        // An IPv6 proxy, seen as an IPv4-mapped peer by a dual-stack socket, works the same.
        let h = headers(&[("forwarded", "for=192.0.2.60")]);
        assert_eq!(client_ip(ip("::ffff:10.0.0.1"), &h, &t), ip("192.0.2.60"));
    }

    #[test]
    fn ipv4_mapped_peers_are_treated_as_ipv4() {
        let h = HeaderMap::new();
        assert_eq!(
            client_ip(ip("::ffff:192.0.2.1"), &h, &TrustedProxies::default()),
            ip("192.0.2.1")
        );
        let h = headers(&[("x-forwarded-for", "::ffff:203.0.113.9")]);
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &h, &trusted("10.0.0.0/8")),
            ip(CLIENT)
        );
    }

    #[test]
    fn forwarded_is_preferred_over_x_forwarded_for_unless_pinned() {
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=203.0.113.9"),
        ]);
        let t = trusted("10.0.0.0/8");
        assert_eq!(client_ip(ip(PROXY), &h, &t), ip(CLIENT));
        let xff_only = t.clone().reading(ProxyHeader::XForwardedFor);
        assert_eq!(client_ip(ip(PROXY), &h, &xff_only), ip("198.51.100.1"));
        let forwarded_only = t.reading(ProxyHeader::Forwarded);
        let h = headers(&[("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(client_ip(ip(PROXY), &h, &forwarded_only), ip(PROXY));
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_good_address() {
        let t = trusted("10.0.0.0/8");
        for (name, value, expected) in [
            (
                "x-forwarded-for",
                "203.0.113.9, not-an-ip, 10.0.0.2",
                "10.0.0.2",
            ),
            ("x-forwarded-for", "203.0.113.9, , 10.0.0.2", "10.0.0.2"),
            ("x-forwarded-for", "203.0.113.9:99999", PROXY),
            ("x-forwarded-for", "", PROXY),
            // A bare IPv6 address is read whole, never as address:port.
            ("x-forwarded-for", "2001:db8::1:80", "2001:db8::1:80"),
            ("forwarded", "for=203.0.113.9, for=unknown", PROXY),
            (
                "forwarded",
                "for=203.0.113.9, for=_hidden, for=10.0.0.2",
                "10.0.0.2",
            ),
            ("forwarded", "for=203.0.113.9, proto=https", PROXY),
            ("forwarded", "for=203.0.113.9;for=198.51.100.1", PROXY),
            ("forwarded", r#"for="203.0.113.9"#, PROXY),
            ("forwarded", "for=2001:db8::1", "2001:db8::1"),
            ("forwarded", r#"for="[2001:db8::1]:x""#, PROXY),
            // A quoted comma does not start a new element.
            ("forwarded", r#"for="198.51.100.1, for=203.0.113.9""#, PROXY),
        ] {
            let h = headers(&[(name, value)]);
            assert_eq!(
                client_ip(ip(PROXY), &h, &t),
                ip(expected),
                "{name}: {value}"
            );
        }
        let mut h = HeaderMap::new();
        h.append(X_FORWARDED_FOR, HeaderValue::from_static(CLIENT));
        h.append(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        assert_eq!(client_ip(ip(PROXY), &h, &t), ip(PROXY));
    }
}
