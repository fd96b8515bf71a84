//! Signaling messages that carry the sender's trace, and a relay helper for the server side.
//!
//! A [`SignalEnvelope`] is one offer, answer or ICE candidate from one participant to another in
//! a room, serialized as JSON with the sender's W3C `traceparent`:
//!
//! ```json
//! {"room_id":"r1","from":"alice","to":"bob","type":"offer","sdp":"v=0...","traceparent":"00-..."}
//! ```
//!
//! [`SignalingRelay::relay`] is what a signaling server runs for each message it receives (from a
//! WebSocket or anything else): it parses the message, opens a span `webrtc.signaling.relay`
//! that joins the sender's trace, rewrites the `traceparent` to that span so the receiver's
//! spans join it too, hands the message to the caller's `forward` function, and records the relay
//! time in `signaling_latency_ms{type}`. A malformed message is an error whose
//! [`reply`](RelayError::reply) is a JSON error message for the sender, counted in
//! `errors_total{type="malformed_message"}`; a message `forward` could not deliver is counted as
//! `delivery_failed`. SDP and candidates are never recorded on spans or metrics.
//!
//! [`SignalingHub`] keeps a server's participants by room and relays between them through a
//! bounded queue each; its docs show an axum WebSocket endpoint built on it.

use std::future::Future;

use obs_core::metrics::{CounterVec, HistogramVec};
use obs_core::propagation::traceparent;
use obs_core::{OpOutcome, Operation, instrument};
use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanKind, TraceContextExt as _, TraceState};
use serde::{Deserialize, Serialize};
use webrtc::peer_connection::{RTCIceCandidateInit, RTCSdpType, RTCSessionDescription};

use crate::catalog;

mod hub;

pub use hub::{DEFAULT_QUEUE_CAPACITY, HubMember, SignalingHub};

static LATENCY: HistogramVec = HistogramVec::new(&catalog::SIGNALING_LATENCY);
static RELAYED: CounterVec = CounterVec::new(&catalog::SIGNALING_RELAYED);
pub(crate) static ERRORS: CounterVec = CounterVec::new(&catalog::ERRORS);

/// What a signaling message carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SignalPayload {
    /// An SDP offer.
    Offer {
        /// The SDP text.
        sdp: String,
    },
    /// An SDP answer.
    Answer {
        /// The SDP text.
        sdp: String,
    },
    /// A trickled ICE candidate.
    Candidate {
        /// The candidate as webrtc-rs serializes it.
        candidate: RTCIceCandidateInit,
    },
}

impl SignalPayload {
    /// The payload for an offer or answer; `None` for the other SDP types (pranswer, rollback).
    pub fn from_description(description: &RTCSessionDescription) -> Option<Self> {
        let sdp = description.sdp.clone();
        match description.sdp_type {
            RTCSdpType::Offer => Some(Self::Offer { sdp }),
            RTCSdpType::Answer => Some(Self::Answer { sdp }),
            _ => None,
        }
    }

    /// The session description of an offer or answer, as webrtc-rs parses it; `None` for a
    /// candidate.
    pub fn to_description(&self) -> Option<webrtc::error::Result<RTCSessionDescription>> {
        match self {
            Self::Offer { sdp } => Some(RTCSessionDescription::offer(sdp.clone())),
            Self::Answer { sdp } => Some(RTCSessionDescription::answer(sdp.clone())),
            Self::Candidate { .. } => None,
        }
    }

    /// `offer`, `answer` or `candidate`: the `type` label of the relay metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Offer { .. } => "offer",
            Self::Answer { .. } => "answer",
            Self::Candidate { .. } => "candidate",
        }
    }
}

/// One signaling message from a participant to another, with the sender's trace context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalEnvelope {
    /// The room both participants are in.
    pub room_id: String,
    /// The sending participant.
    pub from: String,
    /// The receiving participant.
    pub to: String,
    /// The offer, answer or candidate.
    #[serde(flatten)]
    pub payload: SignalPayload,
    /// The sender's W3C `traceparent`, if it was in a trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl SignalEnvelope {
    /// A message carrying the current trace context (if any) as its `traceparent`.
    pub fn new(
        room_id: impl Into<String>,
        from: impl Into<String>,
        to: impl Into<String>,
        payload: SignalPayload,
    ) -> Self {
        let cx = Context::current();
        let span = cx.span();
        let sc = span.span_context();
        Self {
            room_id: room_id.into(),
            from: from.into(),
            to: to.into(),
            payload,
            traceparent: sc.is_valid().then(|| traceparent::format(sc)),
        }
    }

    /// The message as JSON.
    pub fn to_json(&self) -> String {
        // Serializing strings and an enum of strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a message; the error says what is wrong with it.
    ///
    /// # Errors
    /// [`RelayError::Malformed`] when `text` is not a signaling message.
    pub fn from_json(text: &str) -> Result<Self, RelayError> {
        serde_json::from_str(text).map_err(|e| RelayError::Malformed(without_values(&e)))
    }

    /// The sender's trace context as a remote parent; the empty context when there is none or
    /// it is invalid (an invalid `traceparent` is ignored, as W3C Trace Context says).
    pub fn parent_context(&self) -> Context {
        match self.traceparent.as_deref().and_then(traceparent::parse) {
            Some((trace_id, span_id, flags)) => Context::new().with_remote_span_context(
                SpanContext::new(trace_id, span_id, flags, true, TraceState::NONE),
            ),
            None => Context::new(),
        }
    }
}

/// The parser's explanation without the values it quotes (`invalid type: string "a=ice-pwd:…"`,
/// ``unknown variant `…` ``): an error that is logged or sent back must not carry SDP or
/// candidates. Field and variant names (short lowercase words in backticks) stay.
fn without_values(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let mut out = String::with_capacity(message.len());
    let mut rest = message.as_str();
    while let Some(open) = rest.find(['"', '`']) {
        out.push_str(&rest[..open]);
        let quote = rest.as_bytes()[open] as char;
        let inner = &rest[open + 1..];
        let Some(close) = inner.find(quote) else {
            rest = "";
            break;
        };
        let value = &inner[..close];
        let name = quote == '`'
            && value.len() <= 16
            && value.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        out.push(quote);
        out.push_str(if name { value } else { "…" });
        out.push(quote);
        rest = &inner[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Why a message was not relayed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayError {
    /// The message is not a signaling message: not JSON, or a field is missing or of the wrong
    /// type. Holds the parser's explanation.
    Malformed(String),
    /// `forward` could not deliver it (the recipient is not connected, say). Holds its error.
    DeliveryFailed(String),
}

impl RelayError {
    /// The `errors_total` type of this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed_message",
            Self::DeliveryFailed(_) => "delivery_failed",
        }
    }

    /// A JSON error message to send back to the sender:
    /// `{"type":"error","error":"malformed_message","message":"..."}`.
    pub fn reply(&self) -> String {
        serde_json::json!({
            "type": "error",
            "error": self.error_type(),
            "message": self.to_string(),
        })
        .to_string()
    }
}

impl std::fmt::Display for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(
                f,
                "malformed signaling message ({why}); expected JSON with room_id, from, to, \
                 type (offer, answer or candidate) and sdp or candidate"
            ),
            Self::DeliveryFailed(why) => write!(f, "the message could not be delivered: {why}"),
        }
    }
}

impl std::error::Error for RelayError {}

/// The server side of signaling: relays messages between participants; see the
/// [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct SignalingRelay {
    _private: (),
}

impl SignalingRelay {
    /// A relay; registers obs-webrtc's catalog.
    pub fn new() -> Self {
        let _ = obs_core::catalog::register(catalog::CATALOG);
        Self { _private: () }
    }

    /// Relays the message `text`: parses it, and calls `forward(to, json)` with the recipient and
    /// the message to send it, its `traceparent` now the relay span's. Returns the parsed message.
    ///
    /// # Errors
    /// [`RelayError::Malformed`] (nothing is forwarded; send [`RelayError::reply`] to the
    /// sender), or [`RelayError::DeliveryFailed`] with `forward`'s error.
    pub async fn relay<F, Fut, E>(
        &self,
        text: &str,
        forward: F,
    ) -> Result<SignalEnvelope, RelayError>
    where
        F: FnOnce(String, String) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let mut envelope = match SignalEnvelope::from_json(text) {
            Ok(envelope) => envelope,
            Err(error) => {
                ERRORS.with(&[error.error_type()]).increment(1);
                return Err(error);
            }
        };
        let kind = envelope.payload.kind();
        let op = Operation::new("webrtc.signaling.relay")
            .kind(SpanKind::Server)
            .attribute("webrtc.signaling.type", kind)
            .attribute("webrtc.room.id", envelope.room_id.clone())
            .attribute("webrtc.signaling.from", envelope.from.clone())
            .attribute("webrtc.signaling.to", envelope.to.clone())
            .metrics(&LATENCY, &RELAYED, [kind])
            .classify(|e: &RelayError| OpOutcome::Error(e.error_type().into()));
        let relayed = {
            let _parent = envelope.parent_context().attach();
            instrument(op, async move {
                let cx = Context::current();
                let span = cx.span();
                let sc = span.span_context();
                if sc.is_valid() {
                    envelope.traceparent = Some(traceparent::format(sc));
                }
                let to = envelope.to.clone();
                match forward(to, envelope.to_json()).await {
                    Ok(()) => Ok(envelope),
                    Err(e) => Err(RelayError::DeliveryFailed(e.to_string())),
                }
            })
        };
        let result = relayed.await;
        if let Err(error) = &result {
            ERRORS.with(&[error.error_type()]).increment(1);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_through_json() {
        let envelope = SignalEnvelope {
            room_id: "r".into(),
            from: "a".into(),
            to: "b".into(),
            payload: SignalPayload::Candidate {
                candidate: RTCIceCandidateInit {
                    candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
                    ..RTCIceCandidateInit::default()
                },
            },
            traceparent: None,
        };
        let json = envelope.to_json();
        assert!(json.contains(r#""type":"candidate""#), "{json}");
        assert_eq!(SignalEnvelope::from_json(&json).unwrap(), envelope);
    }

    #[test]
    fn malformed_messages_say_what_is_wrong() {
        let cases = [
            "not json",
            "{}",
            r#"{"room_id":"r","from":"a","to":"b","type":"offer"}"#,
            r#"{"room_id":"r","from":"a","to":"b","type":"hello","sdp":"x"}"#,
            r#"{"room_id":1,"from":"a","to":"b","type":"offer","sdp":"x"}"#,
        ];
        for text in cases {
            let error = SignalEnvelope::from_json(text).expect_err(text);
            assert_eq!(error.error_type(), "malformed_message");
            let reply: serde_json::Value = serde_json::from_str(&error.reply()).unwrap();
            assert_eq!(reply["type"], "error");
            assert_eq!(reply["error"], "malformed_message");
            assert!(reply["message"].as_str().unwrap().contains("expected JSON"));
        }
    }

    #[test]
    fn malformed_errors_do_not_quote_the_message() {
        let cases = [
            r#"{"room_id":"r","from":"a","to":"b","type":"candidate","candidate":"a=ice-pwd:s3cretpwd"}"#,
            r#"{"room_id":"r","from":"a","to":"b","type":"a=ice-pwd:s3cretpwd","sdp":"x"}"#,
        ];
        for text in cases {
            let error = SignalEnvelope::from_json(text).expect_err(text);
            let message = error.to_string();
            assert!(!message.contains("s3cretpwd"), "{message}");
            assert!(message.contains("line 1"), "{message}");
        }
        let error = SignalEnvelope::from_json(r#"{"room_id":"r"}"#).expect_err("fields missing");
        assert!(error.to_string().contains("`from`"), "{error}");
    }

    #[test]
    fn an_invalid_traceparent_is_ignored() {
        for tp in [
            None,
            Some("garbage"),
            Some("00-00000000000000000000000000000000-0000000000000000-01"),
        ] {
            let envelope = SignalEnvelope {
                room_id: "r".into(),
                from: "a".into(),
                to: "b".into(),
                payload: SignalPayload::Offer { sdp: "v=0".into() },
                traceparent: tp.map(str::to_owned),
            };
            assert!(!envelope.parent_context().has_active_span(), "{tp:?}");
        }
    }
}
