//! [`InstrumentedPeerConnection`]: a webrtc-rs peer connection with spans and metrics.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use obs_core::metrics::{CounterVec, HistogramVec};
use obs_core::{OpOutcome, Operation, instrument};
use opentelemetry::Context;
use opentelemetry::trace::{SpanKind, TraceContextExt as _};
use webrtc::data_channel::{DataChannel, RTCDataChannelInit};
use webrtc::error::{Error, Result};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceCandidateInit,
    RTCSdpType, RTCSessionDescription,
};
use webrtc::rtp_transceiver::RtpSender;

use crate::catalog;
use crate::handler::InstrumentedHandler;
use crate::state::{ConnectionState, PeerContext};
use crate::stats::{Poller, PollerConfig};

static SIGNALING_DURATION: HistogramVec = HistogramVec::new(&catalog::SIGNALING_DURATION);
static SIGNALING_OPERATIONS: CounterVec = CounterVec::new(&catalog::SIGNALING_OPERATIONS);

/// The default interval of the stats poller.
pub const DEFAULT_STATS_INTERVAL: Duration = Duration::from_secs(5);
/// How long a connection may take to become connected before it counts as
/// `errors_total{type="connection_timeout"}`, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a local offer may wait for its answer before it counts as
/// `errors_total{type="offer_expired"}`, by default.
pub const DEFAULT_OFFER_TIMEOUT: Duration = Duration::from_secs(30);

/// A webrtc-rs [`PeerConnection`] that records its signaling calls, ICE candidates, state changes
/// and call quality.
///
/// Built by [`InstrumentedPeerConnection::builder`], which takes the application's
/// [`PeerConnectionBuilder`] and event handler: obs-webrtc installs its own handler in the
/// builder's single handler slot and forwards every event to the application's handler after
/// recording it.
///
/// The signaling calls ([`create_offer`](Self::create_offer), [`create_answer`](Self::create_answer),
/// [`set_local_description`](Self::set_local_description),
/// [`set_remote_description`](Self::set_remote_description),
/// [`add_ice_candidate`](Self::add_ice_candidate)) are spans named `webrtc.<operation>` (kind
/// `Internal`: they change local state, the network exchange is the application's signaling
/// channel) in the caller's trace, or in the connection's span when the caller has none. Each
/// returns exactly what webrtc-rs returned. Everything else is reached through
/// [`inner`](Self::inner).
///
/// Call [`close`](Self::close) when done: dropping the wrapper stops the stats poller (which then
/// removes its per-connection series) and ends the connection span, but webrtc-rs keeps an
/// unclosed connection's driver task running on the application's runtime.
///
/// ```no_run
/// use std::sync::Arc;
/// use obs_webrtc::{InstrumentedPeerConnection, PeerContext};
/// use webrtc::peer_connection::{PeerConnectionBuilder, PeerConnectionEventHandler};
///
/// struct App;
/// #[async_trait::async_trait]
/// impl PeerConnectionEventHandler for App {}
///
/// # async fn run() -> webrtc::error::Result<()> {
/// let pc = InstrumentedPeerConnection::builder(PeerContext::new("room-1", "alice", "publisher"))
///     .build(
///         PeerConnectionBuilder::new().with_udp_addrs(vec!["0.0.0.0:0"]),
///         Arc::new(App),
///     )
///     .await?;
/// let offer = pc.create_offer().await?;
/// pc.set_local_description(offer).await?;
/// // ... send the offer over the signaling channel ...
/// pc.close().await?;
/// # Ok(())
/// # }
/// ```
pub struct InstrumentedPeerConnection {
    inner: Arc<dyn PeerConnection>,
    state: Arc<ConnectionState>,
    poller: Mutex<Option<Poller>>,
    offer_timeout: Option<Duration>,
}

impl std::fmt::Debug for InstrumentedPeerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentedPeerConnection")
            .field("context", &self.state.context)
            .finish_non_exhaustive()
    }
}

/// Builds an [`InstrumentedPeerConnection`]; see [`InstrumentedPeerConnection::builder`].
#[derive(Debug, Clone)]
pub struct InstrumentedBuilder {
    context: PeerContext,
    poller: PollerConfig,
    connect_timeout: Option<Duration>,
    offer_timeout: Option<Duration>,
}

impl InstrumentedBuilder {
    /// How often the stats poller reads `get_stats()` (default 5 s).
    pub fn with_stats_interval(mut self, interval: Duration) -> Self {
        self.poller.interval = Some(interval);
        self
    }

    /// Turns the stats poller off: no quality metrics for this connection.
    pub fn without_stats(mut self) -> Self {
        self.poller.interval = None;
        self
    }

    /// Also records this connection's latest RTT and quality score in the gauges
    /// `webrtc_peer_rtt_ms` and `webrtc_peer_quality_score` labelled by room and participant
    /// (default off: one series per connection). The series are removed when the connection is
    /// closed or dropped, and bounded by the catalog's series limit.
    pub fn with_per_connection_gauges(mut self, enabled: bool) -> Self {
        self.poller.per_connection_gauges = enabled;
        self
    }

    /// How long the connection may take from creation to `connected` (default 30 s): a
    /// connection that is by then neither connected, failed nor closed is counted in
    /// `errors_total{type="connection_timeout"}` and its span marked as an error. The connection
    /// itself is left alone (webrtc-rs's own ICE timeouts decide when it fails). `None` turns
    /// the timer off.
    pub fn with_connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a local offer may wait for its answer (default 30 s): an offer set with
    /// [`set_local_description`](InstrumentedPeerConnection::set_local_description) whose answer
    /// has not been applied with
    /// [`set_remote_description`](InstrumentedPeerConnection::set_remote_description) by then
    /// is counted in `errors_total{type="offer_expired"}`. An answer that webrtc-rs refuses while
    /// no offer of ours is pending (a stale or unknown offer's answer) is counted there too.
    /// `None` turns the timer off (stale answers are still counted).
    pub fn with_offer_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.offer_timeout = timeout;
        self
    }

    /// Builds the connection from `builder` (whose handler slot obs-webrtc fills), forwarding
    /// every event to `handler`. Starts the connection span and, unless turned off, the stats
    /// poller (which needs a Tokio runtime, as webrtc-rs's default runtime does).
    ///
    /// # Errors
    /// What [`PeerConnectionBuilder::build`] returns, unchanged.
    pub async fn build<A>(
        self,
        builder: PeerConnectionBuilder<A>,
        handler: Arc<dyn PeerConnectionEventHandler>,
    ) -> Result<InstrumentedPeerConnection>
    where
        A: std::net::ToSocketAddrs + Send + 'static,
    {
        let _ = obs_core::catalog::register(catalog::CATALOG);
        let state = Arc::new(ConnectionState::new(self.context));
        state.start_connect_timer(self.connect_timeout);
        let decorated = Arc::new(InstrumentedHandler {
            state: Arc::clone(&state),
            inner: handler,
        });
        let inner: Arc<dyn PeerConnection> = match builder.with_handler(decorated).build().await {
            Ok(pc) => Arc::new(pc),
            Err(error) => {
                state.fail(&error);
                return Err(error);
            }
        };
        let poller = Poller::start(&self.poller, Arc::clone(&inner), Arc::clone(&state));
        Ok(InstrumentedPeerConnection {
            inner,
            state,
            poller: Mutex::new(poller),
            offer_timeout: self.offer_timeout,
        })
    }
}

impl InstrumentedPeerConnection {
    /// A builder for a connection of the participant described by `context`.
    pub fn builder(context: PeerContext) -> InstrumentedBuilder {
        InstrumentedBuilder {
            context,
            poller: PollerConfig::default(),
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            offer_timeout: Some(DEFAULT_OFFER_TIMEOUT),
        }
    }

    /// The wrapped connection, for the calls obs-webrtc does not record.
    pub fn inner(&self) -> &Arc<dyn PeerConnection> {
        &self.inner
    }

    /// The participant this connection belongs to.
    pub fn context(&self) -> &PeerContext {
        &self.state.context
    }

    /// The connection span's context, to parent the application's own spans under it.
    pub fn span_context(&self) -> &Context {
        &self.state.span_cx
    }

    /// `create_offer`, recorded as `webrtc.create_offer`.
    pub async fn create_offer(&self) -> Result<RTCSessionDescription> {
        let inner = Arc::clone(&self.inner);
        self.signaling("create_offer", Some("offer".into()), async move {
            inner.create_offer(None).await
        })
        .await
    }

    /// `create_answer`, recorded as `webrtc.create_answer`.
    pub async fn create_answer(&self) -> Result<RTCSessionDescription> {
        let inner = Arc::clone(&self.inner);
        self.signaling("create_answer", Some("answer".into()), async move {
            inner.create_answer(None).await
        })
        .await
    }

    /// `set_local_description`, recorded as `webrtc.set_local_description` with the SDP type.
    /// An offer set here starts the offer timer (see
    /// [`InstrumentedBuilder::with_offer_timeout`]); a rollback stops it.
    pub async fn set_local_description(&self, desc: RTCSessionDescription) -> Result<()> {
        let kind = desc.sdp_type;
        let inner = Arc::clone(&self.inner);
        let result = self
            .signaling(
                "set_local_description",
                Some(kind.to_string()),
                async move { inner.set_local_description(desc).await },
            )
            .await;
        if result.is_ok() {
            match kind {
                RTCSdpType::Offer => self.state.offer_sent(self.offer_timeout),
                RTCSdpType::Rollback => self.state.offer_withdrawn(),
                _ => {}
            }
        }
        result
    }

    /// `set_remote_description`, recorded as `webrtc.set_remote_description` with the SDP type.
    /// An answer applied here settles the pending offer; an answer refused while no offer was
    /// pending counts as `errors_total{type="offer_expired"}`.
    pub async fn set_remote_description(&self, desc: RTCSessionDescription) -> Result<()> {
        let kind = desc.sdp_type;
        let inner = Arc::clone(&self.inner);
        let result = self
            .signaling(
                "set_remote_description",
                Some(kind.to_string()),
                async move { inner.set_remote_description(desc).await },
            )
            .await;
        if kind == RTCSdpType::Answer {
            self.state.answer_received(result.is_ok());
        }
        result
    }

    /// `add_ice_candidate`, recorded as `webrtc.add_ice_candidate`; a candidate that was added
    /// is counted in `webrtc_ice_candidates_total{direction="remote"}` by its type.
    pub async fn add_ice_candidate(&self, candidate: RTCIceCandidateInit) -> Result<()> {
        let candidate_type = candidate_type(&candidate.candidate);
        let inner = Arc::clone(&self.inner);
        let result = self
            .signaling("add_ice_candidate", None, async move {
                inner.add_ice_candidate(candidate).await
            })
            .await;
        if result.is_ok() {
            self.state.record_candidate(candidate_type, "remote");
        }
        result
    }

    /// `create_data_channel`, unrecorded (data channels have no metrics yet).
    pub async fn create_data_channel(
        &self,
        label: &str,
        options: Option<RTCDataChannelInit>,
    ) -> Result<Arc<dyn DataChannel>> {
        self.inner.create_data_channel(label, options).await
    }

    /// `add_track`, counted in `webrtc_media_operations_total{operation="track_added"}`.
    pub async fn add_track(&self, track: Arc<dyn TrackLocal>) -> Result<Arc<dyn RtpSender>> {
        let kind = track.kind().await.to_string();
        let result = self.inner.add_track(track).await;
        if result.is_ok() {
            self.state.record_media(&kind, "track_added");
        }
        result
    }

    /// `remove_track`, counted in `webrtc_media_operations_total{operation="track_removed"}`.
    pub async fn remove_track(&self, sender: &Arc<dyn RtpSender>) -> Result<()> {
        let kind = sender.track().kind().await.to_string();
        let result = self.inner.remove_track(sender).await;
        if result.is_ok() {
            self.state.record_media(&kind, "track_removed");
        }
        result
    }

    /// Mutes the track `sender` sends, as an application mutes a microphone or camera: clears
    /// the track's `enabled` flag (W3C `MediaStreamTrack.enabled = false`) and counts
    /// `webrtc_media_operations_total{operation="mute"}` when the track was enabled. Returns
    /// whether the track was enabled.
    ///
    /// webrtc-rs 0.21 sends what the application writes to its tracks whatever the flag says
    /// (it has no null track to replace a sender's with, and a direction change needs a new
    /// offer), so the application's media loop reads `enabled()` and stops writing samples, or
    /// writes silence, while the track is muted:
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use webrtc::media_stream::Track as _;
    /// # use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
    /// # async fn send(pc: &obs_webrtc::InstrumentedPeerConnection, track: Arc<TrackLocalStaticSample>,
    /// #     sample: rtc::media::Sample, ssrc: u32, pt: u8) -> webrtc::error::Result<()> {
    /// let sender = pc.add_track(Arc::clone(&track) as _).await?;
    /// pc.mute(&sender).await;
    /// // ... in the media loop:
    /// if track.enabled().await {
    ///     track.sample_writer(ssrc, pt).write_sample(&sample).await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn mute(&self, sender: &Arc<dyn RtpSender>) -> bool {
        self.set_enabled(sender, false, "mute").await
    }

    /// Unmutes the track `sender` sends: sets its `enabled` flag and counts
    /// `webrtc_media_operations_total{operation="unmute"}` when the track was disabled. Returns
    /// whether the track was disabled. See [`mute`](Self::mute).
    pub async fn unmute(&self, sender: &Arc<dyn RtpSender>) -> bool {
        self.set_enabled(sender, true, "unmute").await
    }

    async fn set_enabled(
        &self,
        sender: &Arc<dyn RtpSender>,
        enabled: bool,
        operation: &'static str,
    ) -> bool {
        let track = sender.track();
        if track.enabled().await == enabled {
            return false;
        }
        track.set_enabled(enabled).await;
        let kind = track.kind().await.to_string();
        self.state.record_media(&kind, operation);
        true
    }

    /// Closes the connection, stops the stats poller (waiting for it, so no task is left
    /// running and the per-connection gauges are gone when this returns), and ends the
    /// connection span. Returns what webrtc-rs's `close` returned.
    pub async fn close(&self) -> Result<()> {
        let poller = self
            .poller
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(poller) = poller {
            poller.stop().await;
        }
        let result = self.inner.close().await;
        self.state.end();
        result
    }

    async fn signaling<T, F>(
        &self,
        operation: &'static str,
        sdp_type: Option<String>,
        call: F,
    ) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let mut op = Operation::new(span_name(operation))
            .kind(SpanKind::Internal)
            .attribute("webrtc.signaling.type", operation)
            .metrics(&SIGNALING_DURATION, &SIGNALING_OPERATIONS, [operation]);
        for kv in self.state.context.attributes() {
            op = op.attribute(kv.key, kv.value);
        }
        if let Some(sdp_type) = sdp_type {
            op = op.attribute("webrtc.sdp.type", sdp_type);
        }
        let op = op.classify(|e: &Error| OpOutcome::Error(error_type(e).into()));
        let current = Context::current();
        let parent = if current.has_active_span() {
            current
        } else {
            self.state.span_cx.clone()
        };
        let instrumented = {
            let _attached = parent.attach();
            instrument(op, call)
        };
        instrumented.await
    }
}

impl Drop for InstrumentedPeerConnection {
    fn drop(&mut self) {
        // Dropping the poller's stop handle ends its task at its next wake-up; the task then
        // removes the per-connection gauges and releases its handle on the connection.
        drop(
            self.poller
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        self.state.end();
    }
}

fn span_name(operation: &'static str) -> &'static str {
    match operation {
        "create_offer" => "webrtc.create_offer",
        "create_answer" => "webrtc.create_answer",
        "set_local_description" => "webrtc.set_local_description",
        "set_remote_description" => "webrtc.set_remote_description",
        "add_ice_candidate" => "webrtc.add_ice_candidate",
        _ => "webrtc.signaling",
    }
}

/// The `typ` of an ICE candidate line (`candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host`).
pub(crate) fn candidate_type(candidate: &str) -> &'static str {
    let mut words = candidate.split_ascii_whitespace();
    while let Some(word) = words.next() {
        if word == "typ" {
            return match words.next() {
                Some("host") => "host",
                Some("srflx") => "srflx",
                Some("prflx") => "prflx",
                Some("relay") => "relay",
                _ => "unknown",
            };
        }
    }
    "unknown"
}

/// The error's variant name (`ErrConnectionClosed`): low-cardinality, free of addresses and SDP.
pub(crate) fn error_type(error: &Error) -> String {
    let debug = format!("{error:?}");
    let name: String = debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect();
    if name.is_empty() {
        "webrtc".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_types_are_read_from_the_candidate_line() {
        let cases = [
            (
                "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
                "host",
            ),
            (
                "candidate:2 1 udp 1694498815 1.2.3.4 6000 typ srflx raddr 10.0.0.1 rport 5000",
                "srflx",
            ),
            (
                "candidate:3 1 udp 1 5.6.7.8 7000 typ relay raddr 0.0.0.0 rport 0",
                "relay",
            ),
            ("candidate:4 1 udp 1 5.6.7.8 7000 typ prflx", "prflx"),
            ("candidate:5 1 udp 1 5.6.7.8 7000 typ", "unknown"),
            ("candidate:6 1 udp 1 5.6.7.8 7000 typ bogus", "unknown"),
            ("", "unknown"),
        ];
        for (line, expected) in cases {
            assert_eq!(candidate_type(line), expected, "{line}");
        }
    }

    #[test]
    fn error_types_are_variant_names() {
        assert_eq!(
            error_type(&Error::ErrConnectionClosed),
            "ErrConnectionClosed"
        );
        let with_payload = error_type(&Error::OtherIceErr("secret 10.0.0.1".into()));
        assert_eq!(with_payload, "OtherIceErr");
    }
}
