//! `host[:port]` from an authority (a Host header, or a URI's authority), for `server.address` and
//! `server.port` on both sides.

/// The host (IPv6 without its brackets, user info dropped) and the port of `authority`; `None`
/// when it is not a valid authority.
///
/// The usual Host, a plain name or IPv4 address with an optional port, is split by hand; anything
/// else is validated by `http::uri::Authority` first (a costlier parse).
pub(crate) fn split(authority: &str) -> Option<(&str, Option<u16>)> {
    if let Some(plain) = plain(authority) {
        return Some(plain);
    }
    let parsed: http::uri::Authority = authority.parse().ok()?;
    // The host borrows from `authority`, not from the parsed copy.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or(rest, |(h, _)| h),
        None => host_port.split_once(':').map_or(host_port, |(h, _)| h),
    };
    Some((host, parsed.port_u16()))
}

/// `name[:port]` where the name is letters, digits, dots and dashes and the port a `u16`.
fn plain(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
    if host.is_empty() || !host.bytes().all(plain) {
        return None;
    }
    let port = match port {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
        None => None,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_authority_without_brackets() {
        let cases = [
            "api.example.com",
            "api.example.com:8080",
            "127.0.0.1:3000",
            "localhost",
            "a-b.c:65535",
            "host:",
            "host:65536",
            "host:8x",
            "[::1]:9000",
            "[2001:db8::1]",
            "user@host:1",
            "u:p@10.0.0.1",
            "ho st",
            "",
        ];
        for raw in cases {
            let expected = raw.parse::<http::uri::Authority>().ok().map(|a| {
                let host = a.host();
                let host = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(host)
                    .to_owned();
                (host, a.port_u16())
            });
            let got = split(raw).map(|(h, p)| (h.to_owned(), p));
            assert_eq!(got, expected, "{raw:?}");
            if let Some((host, port)) = plain(raw) {
                assert_eq!(Some((host.to_owned(), port)), expected, "{raw:?}");
            }
        }
    }
}
