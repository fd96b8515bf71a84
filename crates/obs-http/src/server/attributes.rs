//! Span attributes of a server request, by the stable OpenTelemetry HTTP conventions.

use std::cell::RefCell;
use std::io::Write as _;
use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Version, header};
use opentelemetry::{Array, KeyValue, StringValue, Value};

use super::layer::Config;
use super::scan::Found;
use crate::recent::{self, Recent};

/// A server address: the host, shared, and the port.
type HostPort = (StringValue, Option<i64>);

thread_local! {
    // Values that repeat across requests, shared rather than copied for each sampled span.
    static HOSTS: RefCell<Recent> = const { RefCell::new(Recent::new()) };
    static AGENTS: RefCell<Recent> = const { RefCell::new(Recent::new()) };
    static CLIENTS: RefCell<Recent> = const { RefCell::new(Recent::new()) };
    static AUTHORITIES: RefCell<Recent<Option<HostPort>>> = const { RefCell::new(Recent::new()) };
}

/// The span name: `{METHOD} {route}`, or `{METHOD}` alone when no route matched.
pub(crate) fn span_name(method: &'static str, route: Option<&str>) -> String {
    let method = if method == "_OTHER" { "HTTP" } else { method };
    match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `host[:port]` from the Host header (HTTP/1.1) or the URI authority (HTTP/2).
fn server_address<B>(req: &Request<B>, host: Option<&HeaderValue>) -> Option<HostPort> {
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| host.and_then(|v| v.to_str().ok()))?;
    // Split once per authority this thread saw lately: a server mostly sees the same few.
    recent::derived(&AUTHORITIES, authority, |authority| {
        let (host, port) = crate::host::split(authority)?;
        Some((recent::shared(&HOSTS, host), port.map(i64::from)))
    })
}

/// The client address: forwarded headers when trusted, else the peer of the connection.
fn client_address<B>(req: &Request<B>, trust_forwarded: bool) -> Option<StringValue> {
    if trust_forwarded {
        if let Some(first) = header_str(req.headers(), &HeaderName::from_static("x-forwarded-for"))
            .and_then(|v| v.split(',').next())
        {
            return Some(recent::shared(&CLIENTS, first.trim()));
        }
        if let Some(forwarded) = header_str(req.headers(), &header::FORWARDED) {
            let for_value = forwarded
                .split([';', ','])
                .filter_map(|p| p.trim().strip_prefix("for="))
                .next();
            if let Some(v) = for_value {
                return Some(recent::shared(&CLIENTS, v.trim_matches('"')));
            }
        }
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| {
            // Written on the stack (an IPv6 address is at most 45 characters), kept if repeated.
            let mut buf = [0u8; 48];
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            match write!(cursor, "{}", addr.ip()) {
                Ok(()) => {
                    let len = usize::try_from(cursor.position()).unwrap_or(0);
                    let text = std::str::from_utf8(&buf[..len]).unwrap_or_default();
                    recent::shared(&CLIENTS, text)
                }
                Err(_) => StringValue::from(addr.ip().to_string()),
            }
        })
}

fn scheme<B>(req: &Request<B>, trust_forwarded: bool) -> StringValue {
    if trust_forwarded
        && let Some(proto) =
            header_str(req.headers(), &HeaderName::from_static("x-forwarded-proto"))
    {
        return static_scheme(&proto.trim().to_ascii_lowercase());
    }
    static_scheme(req.uri().scheme_str().unwrap_or("http"))
}

/// `http` and `https` without allocating; anything else as given.
fn static_scheme(scheme: &str) -> StringValue {
    match scheme {
        "http" => StringValue::from("http"),
        "https" => StringValue::from("https"),
        other => StringValue::from(other.to_owned()),
    }
}

fn protocol_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "_OTHER",
    }
}

/// A recorded header, as the conventions say: a string array, redacted when sensitive.
pub(crate) fn header_attribute(
    prefix: &str,
    headers: &HeaderMap,
    name: &HeaderName,
) -> Option<KeyValue> {
    let values: Vec<StringValue> = headers
        .get_all(name)
        .iter()
        .map(|v| StringValue::from(obs_core::redact::header_value(name.as_str(), v).into_owned()))
        .collect();
    (!values.is_empty()).then(|| {
        KeyValue::new(
            format!("{prefix}.{}", name.as_str()),
            Value::Array(Array::String(values)),
        )
    })
}

/// The ids recorded on the span.
pub(crate) struct Ids<'a> {
    pub(crate) request: &'a http::HeaderValue,
    /// Whether the request id is the correlation id (the caller sent none).
    pub(crate) same: bool,
    pub(crate) correlation: &'a obs_core::trace::CorrelationId,
}

/// What the layer read of a request before its span starts.
pub(crate) struct Read<'a> {
    /// The route template, shared (also the route label).
    pub(crate) route: Option<&'a std::sync::Arc<str>>,
    /// The headers found in the layer's one pass, if it made one.
    pub(crate) found: Option<&'a Found<'a>>,
    /// The request's `content-length`.
    pub(crate) request_size: Option<u64>,
    pub(crate) ids: Option<Ids<'a>>,
    /// The user's id and role.
    pub(crate) user: Option<&'a (Option<String>, Option<String>)>,
}

/// The request attributes; called only when the span is recording. Values that repeat across
/// requests are static or shared strings, so a sampled request allocates little.
pub(crate) fn request<B>(req: &Request<B>, config: &Config, read: Read<'_>) -> Vec<KeyValue> {
    let Read {
        route,
        found,
        request_size,
        ids,
        user,
    } = read;
    // The headers from the layer's pass over them, else looked up.
    let headers = req.headers();
    let (host, agent) = match found {
        Some(found) => (found.host, found.user_agent),
        None => (headers.get(header::HOST), headers.get(header::USER_AGENT)),
    };
    // The span keeps this `Vec`: room for the attributes the response adds too, at most 17. Keep
    // its size under 1 KiB (why: docs/performance-notes.md).
    let mut attrs = Vec::with_capacity(17);
    // A static label: no allocation unless the method is non-standard.
    let label = super::handles::method_label(req.method());
    attrs.push(KeyValue::new("http.request.method", label));
    if label == "_OTHER" {
        attrs.push(KeyValue::new(
            "http.request.method_original",
            req.method().as_str().to_owned(),
        ));
    }
    attrs.push(KeyValue::new("url.path", req.uri().path().to_owned()));
    if let Some(q) = req.uri().query() {
        attrs.push(KeyValue::new(
            "url.query",
            obs_core::redact::query(q).into_owned(),
        ));
    }
    attrs.push(KeyValue::new(
        "url.scheme",
        scheme(req, config.trust_forwarded),
    ));
    if let Some(route) = route {
        attrs.push(KeyValue::new(
            "http.route",
            StringValue::from(route.clone()),
        ));
    }
    if let Some((host, port)) = server_address(req, host) {
        attrs.push(KeyValue::new("server.address", host));
        if let Some(port) = port {
            attrs.push(KeyValue::new("server.port", port));
        }
    }
    if let Some(client) = client_address(req, config.trust_forwarded) {
        attrs.push(KeyValue::new("client.address", client));
    }
    if let Some(ua) = agent.and_then(|v| v.to_str().ok()) {
        attrs.push(KeyValue::new(
            "user_agent.original",
            recent::shared(&AGENTS, ua),
        ));
    }
    attrs.push(KeyValue::new(
        "network.protocol.version",
        protocol_version(req.version()),
    ));
    if let Some(len) = request_size {
        attrs.push(KeyValue::new("http.request.body.size", len as i64));
    }
    for name in &config.request_headers {
        attrs.extend(header_attribute("http.request.header", req.headers(), name));
    }
    if let Some(ids) = ids {
        // Shared: when the ids are one, both attributes hold the same copy.
        let correlation = StringValue::from(std::sync::Arc::<str>::from(ids.correlation.as_str()));
        let request = if ids.same {
            correlation.clone()
        } else {
            StringValue::from(ids.request.to_str().unwrap_or_default().to_owned())
        };
        attrs.push(KeyValue::new("request_id", request));
        attrs.push(KeyValue::new("correlation_id", correlation));
    }
    if let Some((id, role)) = user {
        if let Some(id) = id {
            attrs.push(KeyValue::new("user.id", id.clone()));
        }
        if let Some(role) = role {
            attrs.push(KeyValue::new(
                "user.roles",
                Value::Array(Array::String(vec![StringValue::from(role.clone())])),
            ));
        }
    }
    attrs
}

pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(parse_length)
}

/// A `content-length` value as a number; `None` if it is not one.
pub(crate) fn parse_length(value: &HeaderValue) -> Option<u64> {
    value.to_str().ok().and_then(|v| v.trim().parse().ok())
}
