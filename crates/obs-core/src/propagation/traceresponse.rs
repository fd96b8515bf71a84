//! The `traceresponse` response header (W3C Trace Context Level 2, "Trace Context HTTP Response
//! Headers Format").
//!
//! A callee answers with `version-traceid-childid-flags`: the trace it recorded the request in,
//! the id of its own span for the request (the `child-id`), and its `sampled` and `random`
//! flags. The value has the shape of a `traceparent` and is parsed by the same rules; a caller
//! ignores a value that breaks them.
//!
//! ```
//! use obs_core::propagation::traceresponse::TraceResponse;
//!
//! let tr = TraceResponse::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03").unwrap();
//! assert_eq!(tr.child_id().to_string(), "00f067aa0ba902b7");
//! assert!(tr.is_sampled() && tr.is_random());
//! assert!(TraceResponse::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01").is_none());
//! ```

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId};

use super::traceparent;

/// The `traceresponse` header name.
pub const TRACERESPONSE: &str = "traceresponse";

/// A callee's `traceresponse`: which span handled the request, and how it sampled it.
///
/// obs-http's client layer puts one in the extensions of a response that carried a valid
/// `traceresponse` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceResponse {
    trace_id: TraceId,
    child_id: SpanId,
    flags: TraceFlags,
}

impl TraceResponse {
    /// Parses a `traceresponse` value by the `traceparent` rules: version `00` exactly 55
    /// characters, a higher version's extra fields after a `-` ignored, version `ff`, an
    /// all-zero id or any character but lowercase hex invalid (`None`). Flags other than
    /// `sampled` and `random` are masked off.
    pub fn parse(value: &[u8]) -> Option<Self> {
        traceparent::parse_bytes(value).map(|(trace_id, child_id, flags)| Self {
            trace_id,
            child_id,
            flags,
        })
    }

    /// The response of the span `cx`: its trace id, its span id as the `child-id`, its flags.
    pub fn from_span_context(cx: &SpanContext) -> Self {
        Self {
            trace_id: cx.trace_id(),
            child_id: cx.span_id(),
            flags: TraceFlags::new(
                cx.trace_flags().to_u8() & (traceparent::FLAG_SAMPLED | traceparent::FLAG_RANDOM),
            ),
        }
    }

    /// Encodes the version-00 value into a fixed buffer, without allocating.
    pub fn encode(&self) -> [u8; 55] {
        let cx = SpanContext::new(
            self.trace_id,
            self.child_id,
            self.flags,
            false,
            opentelemetry::trace::TraceState::NONE,
        );
        traceparent::encode(&cx)
    }

    /// The trace the callee recorded the request in (it differs from the caller's when the
    /// callee restarted the trace).
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The callee's span for the request.
    pub fn child_id(&self) -> SpanId {
        self.child_id
    }

    /// The trace flags, `sampled` and `random` only.
    pub fn trace_flags(&self) -> TraceFlags {
        self.flags
    }

    /// Whether the callee may have recorded the request (`sampled`).
    pub fn is_sampled(&self) -> bool {
        self.flags.to_u8() & traceparent::FLAG_SAMPLED != 0
    }

    /// Whether the callee's trace id is random (`random-trace-id`).
    pub fn is_random(&self) -> bool {
        self.flags.to_u8() & traceparent::FLAG_RANDOM != 0
    }
}

impl std::fmt::Display for TraceResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The buffer holds only ASCII hex digits and dashes.
        f.write_str(&String::from_utf8_lossy(&self.encode()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const CHILD: &str = "00f067aa0ba902b7";

    /// "version-format = trace-id "-" child-id "-" trace-flags"; flags "sampled" and
    /// "random-trace-id", other flags masked ("The same requirement to properly mask").
    #[test]
    fn valid_values() {
        for (flags, sampled, random) in [
            ("00", false, false),
            ("01", true, false),
            ("02", false, true),
            ("ff", true, true),
        ] {
            let value = format!("00-{TRACE}-{CHILD}-{flags}");
            let tr = TraceResponse::parse(value.as_bytes()).unwrap();
            assert_eq!(tr.trace_id().to_string(), TRACE);
            assert_eq!(tr.child_id().to_string(), CHILD);
            assert_eq!(
                (tr.is_sampled(), tr.is_random()),
                (sampled, random),
                "{value}"
            );
        }
        // A higher version is parsed by the version-00 fields.
        let future = format!("cc-{TRACE}-{CHILD}-01-more");
        assert!(TraceResponse::parse(future.as_bytes()).is_some());
    }

    /// "Vendors MUST ignore the `traceresponse` header when the `child-id` is invalid"; the
    /// trace id as in `traceparent`; "Version ff is forbidden".
    #[test]
    fn invalid_values_are_ignored() {
        let zeros = "0".repeat(32);
        let cases = [
            String::new(),
            "garbage".into(),
            format!("ff-{TRACE}-{CHILD}-01"),
            format!("00-{TRACE}-{}-01", &zeros[..16]),
            format!("00-{zeros}-{CHILD}-01"),
            format!("00-{TRACE}-{}-01", CHILD.to_uppercase()),
            format!("00-{TRACE}-{CHILD}-01-extra"),
            format!("00-{TRACE}-{CHILD}"),
        ];
        for value in cases {
            assert!(
                TraceResponse::parse(value.as_bytes()).is_none(),
                "{value:?}"
            );
        }
        assert!(
            TraceResponse::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\xff")
                .is_none()
        );
    }

    #[test]
    fn encodes_a_span_context() {
        let cx = SpanContext::new(
            TraceId::from_hex(TRACE).unwrap(),
            SpanId::from_hex(CHILD).unwrap(),
            TraceFlags::new(0xff),
            false,
            opentelemetry::trace::TraceState::NONE,
        );
        let tr = TraceResponse::from_span_context(&cx);
        assert_eq!(tr.to_string(), format!("00-{TRACE}-{CHILD}-03"));
        assert_eq!(TraceResponse::parse(&tr.encode()), Some(tr));
    }
}
