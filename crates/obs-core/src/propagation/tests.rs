use super::*;
use http::HeaderMap;
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId};
use proptest::prelude::*;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(*k, v.parse().unwrap());
    }
    map
}

fn extract(pairs: &[(&'static str, &str)]) -> Context {
    W3CPropagator::new().extract(&HeaderExtractor(&headers(pairs)))
}

#[test]
fn round_trip_through_headers() {
    let cx = extract(&[
        (TRACEPARENT, PARENT),
        (TRACESTATE, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
        (BAGGAGE, "userId=alice,isProduction=false;p"),
    ]);
    let span = cx.span();
    let sc = span.span_context();
    assert!(sc.is_remote() && sc.is_sampled());
    let mut out = HeaderMap::new();
    W3CPropagator::new().inject_context(&cx, &mut HeaderInjector(&mut out));
    assert_eq!(out[TRACEPARENT], PARENT);
    assert_eq!(out[TRACESTATE], "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    let bag = baggage::parse([out[BAGGAGE].to_str().unwrap()]);
    assert_eq!(bag.get("userId").unwrap().as_str(), "alice");
    assert_eq!(
        bag.get_with_metadata("isProduction").unwrap().1.as_str(),
        "p"
    );
    let mut fast = HeaderMap::new();
    W3CPropagator::new().inject_headers(&cx, &mut fast);
    assert_eq!(fast, out);
}

#[test]
fn repeated_traceparent_gives_no_parent() {
    let cx = extract(&[(TRACEPARENT, PARENT), (TRACEPARENT, PARENT)]);
    assert!(!cx.span().span_context().is_valid());
}

#[test]
fn invalid_tracestate_keeps_the_parent() {
    let cx = extract(&[
        (TRACEPARENT, PARENT),
        (TRACESTATE, "a=1"),
        (TRACESTATE, "B=2"),
    ]);
    let span = cx.span();
    assert!(span.span_context().is_valid());
    assert_eq!(span.span_context().trace_state().header(), "");
}

#[test]
fn several_tracestate_headers_are_joined() {
    let cx = extract(&[
        (TRACEPARENT, PARENT),
        (TRACESTATE, "a=1"),
        (TRACESTATE, "b=2"),
    ]);
    assert_eq!(cx.span().span_context().trace_state().header(), "a=1,b=2");
}

#[test]
fn malformed_traceparent_still_extracts_baggage() {
    let cx = extract(&[(TRACEPARENT, "00-xyz"), (BAGGAGE, "k=v")]);
    assert!(!cx.span().span_context().is_valid());
    assert_eq!(cx.baggage().get("k").unwrap().as_str(), "v");
}

#[test]
fn invalid_context_injects_nothing() {
    let mut out = HeaderMap::new();
    W3CPropagator::new().inject_context(&Context::new(), &mut HeaderInjector(&mut out));
    assert!(out.is_empty());
}

/// The one-value paths obs-http's header scan takes: bytes parsed as they are, no UTF-8 check.
#[test]
fn lone_traceparent_from_bytes() {
    let value = PARENT.as_bytes();
    let (trace, span, flags) = traceparent::parse_bytes(value).unwrap();
    assert_eq!(trace.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(span.to_string(), "00f067aa0ba902b7");
    assert!(flags.is_sampled());
    let bad = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\xff";
    assert!(traceparent::parse_bytes(bad).is_none());

    let p = W3CPropagator::new();
    let cx = p.extract_traceparent(&Context::new(), Some(value));
    let sc = cx.span().span_context().clone();
    assert_eq!(sc.trace_id(), trace);
    assert!(sc.is_remote());
    let slow = p.extract(&HeaderExtractor(&headers(&[(TRACEPARENT, PARENT)])));
    assert_eq!(slow.span().span_context(), &sc);
    assert!(
        !p.extract_traceparent(&Context::new(), Some(b"00-bad"))
            .has_active_span()
    );
    assert_eq!(
        &traceparent::encode(&sc)[..],
        PARENT.as_bytes(),
        "encode writes what parse read"
    );
}

fn hex(n: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(b"0123456789abcdef".to_vec()), n)
        .prop_map(|v| String::from_utf8(v).unwrap())
}

proptest! {
    #[test]
    fn arbitrary_headers_never_panic(tp in ".{0,80}", ts in ".{0,600}", bg in ".{0,600}") {
        let mut map = HeaderMap::new();
        for (k, v) in [(TRACEPARENT, &tp), (TRACESTATE, &ts), (BAGGAGE, &bg)] {
            if let Ok(v) = v.parse() {
                map.insert(k, v);
            }
        }
        let cx = W3CPropagator::new().extract(&HeaderExtractor(&map));
        let mut out = HeaderMap::new();
        W3CPropagator::new().inject_context(&cx, &mut HeaderInjector(&mut out));
        if let Some(v) = out.get(TRACESTATE) {
            prop_assert!(v.to_str().unwrap().split(',').count() <= tracestate::MAX_MEMBERS);
        }
        if let Some(v) = out.get(BAGGAGE) {
            prop_assert!(v.len() <= baggage::MAX_BYTES);
        }
        // The HeaderMap fast path writes exactly what the Injector path writes.
        let mut fast = HeaderMap::new();
        W3CPropagator::new().inject_headers(&cx, &mut fast);
        prop_assert_eq!(fast, out);
    }

    #[test]
    fn near_valid_traceparents_never_panic(version in hex(2), t in hex(32), s in hex(16), f in hex(2), tail in "[-a-z0-9.]{0,8}") {
        let value = format!("{version}-{t}-{s}-{f}{tail}");
        if let Some((trace, span, _)) = traceparent::parse(&value) {
            prop_assert_eq!(trace.to_string(), t);
            prop_assert_eq!(span.to_string(), s);
            prop_assert!(version != "ff");
        }
    }

    #[test]
    fn valid_traceparents_round_trip(t in hex(32), s in hex(16), sampled in any::<bool>()) {
        prop_assume!(t.bytes().any(|b| b != b'0') && s.bytes().any(|b| b != b'0'));
        let value = format!("00-{t}-{s}-{}", if sampled { "01" } else { "00" });
        let (trace, span, flags) = traceparent::parse(&value).unwrap();
        let cx = SpanContext::new(trace, span, flags, true, TraceState::NONE);
        prop_assert_eq!(traceparent::format(&cx), value);
    }

    #[test]
    fn baggage_is_always_within_limits(members in proptest::collection::vec("[a-z]{1,8}=[a-zA-Z0-9%]{0,300}", 0..200)) {
        let header = members.join(",");
        let bag = baggage::parse([header.as_str()]);
        prop_assert!(bag.len() <= baggage::MAX_MEMBERS);
        prop_assert!(baggage::format(&bag).len() <= baggage::MAX_BYTES);
    }
}

#[test]
fn span_context_format_masks_unknown_flags() {
    let cx = SpanContext::new(
        TraceId::from(1u128),
        SpanId::from(2u64),
        TraceFlags::new(0xff),
        false,
        TraceState::NONE,
    );
    assert!(traceparent::format(&cx).ends_with("-03"));
}

#[test]
fn header_map_fast_path_matches_the_extractor_path() {
    let cases: Vec<Vec<(&'static str, &str)>> = vec![
        vec![(TRACEPARENT, PARENT)],
        vec![(TRACEPARENT, PARENT), (TRACEPARENT, PARENT)],
        vec![
            (TRACEPARENT, PARENT),
            (TRACESTATE, "a=1"),
            (TRACESTATE, "b=2"),
        ],
        vec![(TRACEPARENT, PARENT), (TRACESTATE, "A=1")],
        vec![
            (TRACEPARENT, "00-bad"),
            (BAGGAGE, "k=v"),
            (BAGGAGE, "k2=v2"),
        ],
        vec![],
    ];
    for case in cases {
        let map = headers(&case);
        let slow = W3CPropagator::new().extract(&HeaderExtractor(&map));
        let fast = W3CPropagator::new().extract_headers(&Context::new(), &map);
        assert_eq!(
            slow.span().span_context(),
            fast.span().span_context(),
            "{case:?}"
        );
        assert_eq!(slow.baggage().len(), fast.baggage().len(), "{case:?}");
    }
}

/// Level 2 keys and repeated keys reach the outgoing `tracestate` through both inject paths,
/// and the `random` flag the caller sent stays on the outgoing `traceparent`.
#[test]
fn level_2_context_round_trips() {
    let long = format!("t@{}", "v".repeat(40));
    let state = format!("foo@=1,{long}=x,foo@=2,bar=2");
    let random = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02";
    let cx = extract(&[(TRACEPARENT, random), (TRACESTATE, &state)]);
    let mut out = HeaderMap::new();
    W3CPropagator::new().inject_context(&cx, &mut HeaderInjector(&mut out));
    assert_eq!(out[TRACEPARENT], random);
    assert_eq!(out[TRACESTATE], format!("foo@=1,{long}=x,bar=2").as_str());
    let mut fast = HeaderMap::new();
    W3CPropagator::new().inject_headers(&cx, &mut fast);
    assert_eq!(fast, out);
}
