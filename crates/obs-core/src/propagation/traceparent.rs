//! The `traceparent` header (W3C Trace Context, section 3.2).

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// The `sampled` trace flag: the caller may have recorded trace data.
pub const FLAG_SAMPLED: u8 = 0x01;
/// Level 2's `random-trace-id` trace flag: at least the right-most 7 bytes of the trace id are
/// random. obs keeps it from the caller's `traceparent` and sets it on the traces it starts.
pub const FLAG_RANDOM: u8 = 0x02;

/// The flags obs keeps from an incoming header: `sampled` and Level 2's `random`. Other bits are
/// unknown to version 00 and are not propagated.
const KNOWN_FLAGS: u8 = FLAG_SAMPLED | FLAG_RANDOM;

/// The length of a version-00 `traceparent`: `vv-<32 hex>-<16 hex>-ff`.
const LEN_V00: usize = 55;

/// Parses one `traceparent` value.
///
/// Returns `None` when the value is invalid by the spec: wrong length or delimiters, uppercase or
/// non-hex digits, version `ff`, an all-zero trace id or parent id, or a future version whose extra
/// data does not start with `-`. A future version is parsed by the version-00 rules.
pub fn parse(value: &str) -> Option<(TraceId, SpanId, TraceFlags)> {
    parse_bytes(value.as_bytes())
}

/// [`parse`] on the raw bytes of a header value, with no UTF-8 check first: the version-00 part
/// is checked byte by byte (hex digits and dashes), and a future version's extra data is ignored
/// after its leading `-`, as the spec says, whatever it holds.
pub(crate) fn parse_bytes(value: &[u8]) -> Option<(TraceId, SpanId, TraceFlags)> {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !blank(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    let v = &value[start..end];
    if v.len() < LEN_V00 {
        return None;
    }
    let version = hex_u8(&v[0..2])?;
    if version == 0xff {
        return None;
    }
    if version == 0 && v.len() != LEN_V00 {
        return None;
    }
    if v.len() > LEN_V00 && v[LEN_V00] != b'-' {
        return None;
    }
    if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let trace_id = parse_hex_u128(&v[3..35])?;
    let span_id = hex_u64(&v[36..52])?;
    let flags = hex_u8(&v[53..55])?;
    if trace_id == 0 || span_id == 0 {
        return None;
    }
    Some((
        TraceId::from(trace_id),
        SpanId::from(span_id),
        TraceFlags::new(flags & KNOWN_FLAGS),
    ))
}

/// Formats a span context as a version-00 `traceparent` value.
pub fn format(cx: &SpanContext) -> String {
    let bytes = encode(cx);
    // The buffer holds only ASCII hex digits and dashes.
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Encodes a span context as a version-00 `traceparent` value into a fixed buffer, without
/// allocating (for hot paths that build a header value from it).
///
/// Public as the allocation-free form of [`format()`]: a header value can own the buffer, e.g.
/// `HeaderValue::from_maybe_shared(Bytes::from_owner(encode(cx)))`, with no `String` between.
pub fn encode(cx: &SpanContext) -> [u8; LEN_V00] {
    let mut out = [b'-'; LEN_V00];
    out[0] = b'0';
    out[1] = b'0';
    write_hex(&mut out[3..35], &cx.trace_id().to_bytes());
    write_hex(&mut out[36..52], &cx.span_id().to_bytes());
    write_hex(&mut out[53..55], &[cx.trace_flags().to_u8() & KNOWN_FLAGS]);
    out
}

/// The two lowercase hex digits of every byte value.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = [HEX[b >> 4], HEX[b & 0x0f]];
        b += 1;
    }
    table
};

/// Writes `bytes` as lowercase hex into `out`, which is exactly twice as long.
pub(crate) fn write_hex(out: &mut [u8], bytes: &[u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
}

/// 128 bits as 32 lowercase hex characters, without going through `fmt`.
pub(crate) fn hex_u128(n: u128) -> [u8; 32] {
    let mut out = [0u8; 32];
    write_hex(&mut out, &n.to_be_bytes());
    out
}

/// Builds the remote span context of a parsed header.
pub(crate) fn remote_context(
    (trace_id, span_id, flags): (TraceId, SpanId, TraceFlags),
    state: TraceState,
) -> SpanContext {
    SpanContext::new(trace_id, span_id, flags, true, state)
}

/// Hex digit values by byte; `INVALID` for anything but `0-9a-f` (uppercase is invalid by the spec).
const INVALID: u8 = 0xff;
static HEX_VALUE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

fn hex_u8(s: &[u8]) -> Option<u8> {
    let (hi, lo) = (HEX_VALUE[usize::from(s[0])], HEX_VALUE[usize::from(s[1])]);
    ((hi | lo) & 0xf0 == 0).then_some(hi << 4 | lo)
}

/// 16 lowercase hex digits as a `u64`, eight at a time.
fn hex_u64(s: &[u8]) -> Option<u64> {
    let (hi, lo) = s.split_at_checked(8)?;
    let hi = hex8(hi.try_into().ok()?)?;
    let lo = hex8(lo.try_into().ok()?)?;
    Some(u64::from(hi) << 32 | u64::from(lo))
}

/// Eight lowercase hex digits as a `u32`, all in one 64-bit word (SWAR): range checks on every
/// byte at once, then the nibbles folded together.
fn hex8(digits: [u8; 8]) -> Option<u32> {
    const H: u64 = 0x8080_8080_8080_8080;
    const L: u64 = 0x0101_0101_0101_0101;
    let x = u64::from_be_bytes(digits);
    if x & H != 0 {
        return None;
    }
    // For bytes below 0x80: the high bit of each byte of `(x | H) - n * L` is set iff byte >= n.
    let at_least = |n: u64| ((x | H) - n * L) & H;
    let digit = at_least(0x30) & !at_least(0x3a);
    let letter = at_least(0x61) & !at_least(0x67);
    if digit | letter != H {
        return None;
    }
    // '0'..'9' keep their low nibble; 'a'..'f' have 1..6 there, plus 9.
    let mut n = (x & 0x0f0f_0f0f_0f0f_0f0f) + (letter >> 7) * 9;
    n = (n | n >> 4) & 0x00ff_00ff_00ff_00ff;
    n = (n | n >> 8) & 0x0000_ffff_0000_ffff;
    n = (n | n >> 16) & 0x0000_0000_ffff_ffff;
    u32::try_from(n).ok()
}

/// 32 hex digits as a `u128`, parsed as two `u64` halves (cheaper than 128-bit shifts).
fn parse_hex_u128(s: &[u8]) -> Option<u128> {
    let (hi, lo) = s.split_at(s.len() - 16);
    Some(u128::from(hex_u64(hi)?) << 64 | u128::from(hex_u64(lo)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    #[test]
    fn valid_values() {
        let cases = [
            (format!("00-{TRACE}-{SPAN}-01"), 1),
            (format!("00-{TRACE}-{SPAN}-00"), 0),
            (format!("00-{TRACE}-{SPAN}-09"), 1),
            (format!("01-{TRACE}-{SPAN}-01"), 1),
            (
                format!("cc-{TRACE}-{SPAN}-01-what-the-future-will-be-like"),
                1,
            ),
            (format!("cc-{TRACE}-{SPAN}-03"), 3),
            (format!(" 00-{TRACE}-{SPAN}-01\t"), 1),
        ];
        for (value, flags) in cases {
            let (t, s, f) = parse(&value).unwrap_or_else(|| panic!("{value}"));
            assert_eq!(t.to_string(), TRACE);
            assert_eq!(s.to_string(), SPAN);
            assert_eq!(f.to_u8(), flags, "{value}");
        }
    }

    #[test]
    fn invalid_values() {
        let cases = [
            String::new(),
            "00".into(),
            format!("ff-{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}-{SPAN}-01-extra"),
            format!("cc-{TRACE}-{SPAN}-01.extra"),
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
            format!("00-{TRACE}-{}-01", SPAN.to_uppercase()),
            format!("0A-{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}-{SPAN}-0A"),
            format!("00-{}-{SPAN}-01", "0".repeat(32)),
            format!("00-{TRACE}-{}-01", "0".repeat(16)),
            format!("00_{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}_{SPAN}-01"),
            format!("00-{TRACE}-{SPAN}_01"),
            format!("00-{}z-{SPAN}-01", &TRACE[..31]),
            format!("00-{TRACE}-{SPAN}-1"),
            format!("0-{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}-{SPAN}-01-"),
        ];
        for value in cases {
            assert!(parse(&value).is_none(), "{value:?}");
        }
    }

    #[test]
    fn every_byte_in_every_field() {
        // Each field accepts exactly the lowercase hex digits, wherever the byte sits.
        let value = format!("00-{TRACE}-{SPAN}-01");
        for pos in [0, 1, 3, 18, 19, 34, 36, 44, 51, 53, 54] {
            for b in 0..=255u8 {
                let mut bytes = value.clone().into_bytes();
                bytes[pos] = b;
                let Ok(candidate) = String::from_utf8(bytes) else {
                    continue;
                };
                let hex = b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
                let parsed = parse(&candidate);
                // Version `ff` is the one hex value refused, and only in the version field.
                let version_ff = pos <= 1 && candidate.starts_with("ff");
                assert_eq!(parsed.is_some(), hex && !version_ff, "{candidate:?}");
                if let Some((t, s, f)) = parsed
                    && (3..52).contains(&pos)
                {
                    let round = format!("00-{}-{}-{:02x}", t, s, f.to_u8());
                    assert_eq!(round.as_bytes()[pos], b, "{candidate:?}");
                }
            }
        }
    }

    #[test]
    fn hex8_matches_a_plain_parse() {
        // Every byte value in every position, around a known-good word.
        let base = *b"00f067aa";
        for pos in 0..8 {
            for b in 0..=255u8 {
                let mut digits = base;
                digits[pos] = b;
                let plain = std::str::from_utf8(&digits)
                    .ok()
                    .filter(|s| {
                        s.bytes()
                            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
                    })
                    .and_then(|s| u32::from_str_radix(s, 16).ok());
                assert_eq!(hex8(digits), plain, "{digits:?}");
            }
        }
        assert_eq!(hex8(*b"ffffffff"), Some(u32::MAX));
        assert_eq!(hex8(*b"00000000"), Some(0));
        assert_eq!(hex8(*b"0123abcd"), Some(0x0123_abcd));
        assert_eq!(hex_u64(b"0123456789abcdef"), Some(0x0123_4567_89ab_cdef));
    }

    /// Level 2, "random-trace-id flag": the second bit is kept from the caller and written out
    /// again; "other flags" are unknown to version 00 and "MUST" be set to zero on output.
    #[test]
    fn random_flag_is_kept_and_unknown_flags_are_not() {
        for (flags, kept) in [("02", 2), ("03", 3), ("06", 2), ("ff", 3), ("fc", 0)] {
            let value = format!("00-{TRACE}-{SPAN}-{flags}");
            let parsed = parse(&value).unwrap();
            assert_eq!(parsed.2.to_u8(), kept, "{value}");
            let out = format(&remote_context(parsed, TraceState::NONE));
            assert_eq!(out, format!("00-{TRACE}-{SPAN}-{kept:02x}"));
        }
    }

    #[test]
    fn format_round_trips() {
        let value = format!("00-{TRACE}-{SPAN}-01");
        let cx = remote_context(parse(&value).unwrap(), TraceState::NONE);
        assert_eq!(format(&cx), value);
    }
}
