//! A virtual user's media: a webrtc-rs client peer (not instrumented: it stands for the user's
//! browser) that signals over the app's WebSocket and sends Opus audio to the server's peer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use obs_webrtc::signaling::{SignalEnvelope, SignalPayload};
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_OPUS;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use webrtc::media_stream::Track as _;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceCandidateInit, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState,
};

use crate::media::{SERVER, peer_builder, until_true};

/// An Opus frame of silence (TOC 0xf8: CELT FB 20 ms, one frame).
const OPUS_SILENCE: [u8; 3] = [0xf8, 0xff, 0xfe];
/// How long a peer may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected client peer sending audio; [`close`](Self::close) it.
pub(crate) struct MediaClient {
    pc: Arc<dyn PeerConnection>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

struct Handler {
    room_id: String,
    user_id: String,
    out: mpsc::UnboundedSender<String>,
    state: watch::Sender<RTCPeerConnectionState>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(candidate) = event.candidate.to_json() {
            let envelope = SignalEnvelope::new(
                self.room_id.clone(),
                self.user_id.clone(),
                SERVER,
                SignalPayload::Candidate { candidate },
            );
            let _ = self.out.send(envelope.to_json());
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.state.send_replace(state);
    }
}

fn audio_track() -> Result<Arc<TrackLocalStaticSample>, String> {
    let track = MediaStreamTrack::new(
        "mic".to_owned(),
        "mic-audio".to_owned(),
        "microphone".to_owned(),
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(rand::random()),
                ..Default::default()
            },
            codec: RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: String::new(),
                rtcp_feedback: vec![],
            },
            ..Default::default()
        }],
    );
    TrackLocalStaticSample::new(Instant::now(), track)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

impl MediaClient {
    /// Opens the signaling socket of `room_id`, offers an audio track to the server's peer, and
    /// waits until the connection is `connected`; then audio flows until `close`.
    pub(crate) async fn connect(
        addr: std::net::SocketAddr,
        room_id: &str,
        user_id: &str,
        token: &str,
    ) -> Result<Self, String> {
        let mut request = format!("ws://{addr}/rooms/{room_id}/signal")
            .into_client_request()
            .map_err(|e| e.to_string())?;
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().map_err(|_| "bad token")?,
        );
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| format!("websocket: {e}"))?;
        let (mut ws_tx, mut ws_rx) = ws.split();
        let (out, mut outgoing) = mpsc::unbounded_channel::<String>();
        let (state_tx, mut state) = watch::channel(RTCPeerConnectionState::New);
        let (stop, mut stopped) = watch::channel(false);
        let pc: Arc<dyn PeerConnection> = Arc::new(
            peer_builder()
                .with_handler(Arc::new(Handler {
                    room_id: room_id.to_owned(),
                    user_id: user_id.to_owned(),
                    out: out.clone(),
                    state: state_tx,
                }))
                .build()
                .await
                .map_err(|e| e.to_string())?,
        );
        let mut tasks = Vec::new();
        let mut writer_stop = stop.subscribe();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    next = outgoing.recv() => match next {
                        Some(text) => {
                            if ws_tx.send(Message::Text(text.into())).await.is_err() {
                                return;
                            }
                        }
                        None => return,
                    },
                    () = until_true(&mut writer_stop) => {
                        let _ = ws_tx.send(Message::Close(None)).await;
                        return;
                    }
                }
            }
        }));
        let reader_pc = Arc::clone(&pc);
        tasks.push(tokio::spawn(async move {
            // Candidates that arrive before the answer wait for it.
            let mut pending: Vec<RTCIceCandidateInit> = Vec::new();
            let mut answered = false;
            while let Some(Ok(message)) = ws_rx.next().await {
                let Message::Text(text) = message else {
                    if matches!(message, Message::Close(_)) {
                        return;
                    }
                    continue;
                };
                let Ok(envelope) = SignalEnvelope::from_json(text.as_str()) else {
                    continue;
                };
                match envelope.payload {
                    SignalPayload::Answer { .. } => {
                        if let Some(Ok(answer)) = envelope.payload.to_description()
                            && reader_pc.set_remote_description(answer).await.is_ok()
                        {
                            answered = true;
                            for candidate in pending.drain(..) {
                                let _ = reader_pc.add_ice_candidate(candidate).await;
                            }
                        }
                    }
                    SignalPayload::Candidate { candidate } if answered => {
                        let _ = reader_pc.add_ice_candidate(candidate).await;
                    }
                    SignalPayload::Candidate { candidate } => pending.push(candidate),
                    SignalPayload::Offer { .. } => {}
                }
            }
        }));
        let client = Self { pc, stop, tasks };
        match client.negotiate(room_id, user_id, &out, &mut state).await {
            Ok(sender) => {
                let (track, payload_type, ssrc) = sender;
                client.spawn_audio(track, payload_type, ssrc, &mut stopped);
                Ok(client)
            }
            Err(e) => {
                client.close().await;
                Err(e)
            }
        }
    }

    async fn negotiate(
        &self,
        room_id: &str,
        user_id: &str,
        out: &mpsc::UnboundedSender<String>,
        state: &mut watch::Receiver<RTCPeerConnectionState>,
    ) -> Result<(Arc<TrackLocalStaticSample>, u8, u32), String> {
        let track = audio_track()?;
        let sender = self
            .pc
            .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
            .await
            .map_err(|e| e.to_string())?;
        let offer = self
            .pc
            .create_offer(None)
            .await
            .map_err(|e| e.to_string())?;
        self.pc
            .set_local_description(offer.clone())
            .await
            .map_err(|e| e.to_string())?;
        let payload = SignalPayload::from_description(&offer).ok_or("no offer")?;
        let _ = out.send(SignalEnvelope::new(room_id, user_id, SERVER, payload).to_json());
        tokio::time::timeout(
            CONNECT_TIMEOUT,
            state.wait_for(|s| {
                matches!(
                    s,
                    RTCPeerConnectionState::Connected | RTCPeerConnectionState::Failed
                )
            }),
        )
        .await
        .map_err(|_| "not connected in time".to_owned())?
        .map_err(|_| "peer gone".to_owned())
        .and_then(|s| {
            if *s == RTCPeerConnectionState::Connected {
                Ok(())
            } else {
                Err("connection failed".to_owned())
            }
        })?;
        let payload_type = sender
            .get_parameters()
            .await
            .map_err(|e| e.to_string())?
            .rtp_parameters
            .codecs
            .first()
            .map(|c| c.payload_type)
            .ok_or("no codec")?;
        let ssrc = *track.ssrcs().await.first().ok_or("no ssrc")?;
        Ok((track, payload_type, ssrc))
    }

    fn spawn_audio(
        &self,
        track: Arc<TrackLocalStaticSample>,
        payload_type: u8,
        ssrc: u32,
        stopped: &mut watch::Receiver<bool>,
    ) {
        let mut stopped = stopped.clone();
        // The audio task is not kept in `tasks` by handle order; it ends with `stop`.
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(20));
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        let sample = Sample {
                            data: bytes::Bytes::from_static(&OPUS_SILENCE),
                            duration: Duration::from_millis(20),
                            ..Sample::new(Instant::now())
                        };
                        if track.sample_writer(ssrc, payload_type).write_sample(&sample).await.is_err() {
                            return;
                        }
                    }
                    () = until_true(&mut stopped) => return,
                }
            }
        });
    }

    /// Stops the audio, closes the socket and the peer.
    pub(crate) async fn close(self) {
        self.stop.send_replace(true);
        let _ = self.pc.close().await;
        for task in self.tasks {
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                tracing::debug!("a media task did not end in time");
            }
        }
    }
}
