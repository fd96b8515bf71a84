//! Media: the WebSocket signaling endpoint and a server-side webrtc-rs peer per participant that
//! receives the participant's audio into the room's recording sink.
//!
//! A participant opens `GET /rooms/{id}/signal` (a WebSocket, traced by obs-http) and sends
//! obs-webrtc [`SignalEnvelope`]s: to `"server"` for its own media (an offer with an audio track,
//! then trickled candidates; the server answers), or to another participant's id, which the
//! relay forwards to that participant's socket. Every message goes through the
//! [`SignalingRelay`], so it joins the sender's trace and is timed; a malformed one is answered
//! with an error and counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use obs_http::ws::{TracedWebSocket, WebSocketUpgradeExt as _};
use obs_webrtc::signaling::{SignalEnvelope, SignalPayload, SignalingRelay};
use obs_webrtc::{InstrumentedPeerConnection, PeerContext};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnectionBuilder, PeerConnectionEventHandler, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, SettingEngineBuilder,
};

use crate::error::{AppError, AppResult};
use crate::rooms::open_room;
use crate::state::{AppState, Auth};

/// The recipient id of messages for the server's own peer.
pub const SERVER: &str = "server";

/// Signaling sessions and server peers, by room.
#[derive(Debug, Clone)]
pub struct Media {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    relay: SignalingRelay,
    rooms: Mutex<HashMap<String, RoomMedia>>,
    shutdown: watch::Sender<bool>,
    active: AtomicUsize,
    connected: AtomicU64,
    packets: AtomicU64,
}

#[derive(Debug, Default)]
struct RoomMedia {
    sink: Arc<Sink>,
    sessions: HashMap<String, Participant>,
}

#[derive(Debug)]
struct Participant {
    session: u64,
    out: mpsc::UnboundedSender<Outgoing>,
}

#[derive(Debug)]
enum Outgoing {
    Text(String),
    Close(u16, &'static str),
}

/// What a room's recording receives.
#[derive(Debug, Default)]
struct Sink {
    recording: AtomicBool,
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl Default for Media {
    fn default() -> Self {
        Self::new()
    }
}

impl Media {
    /// No rooms yet.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                relay: SignalingRelay::new(),
                rooms: Mutex::default(),
                shutdown: watch::channel(false).0,
                active: AtomicUsize::new(0),
                connected: AtomicU64::new(0),
                packets: AtomicU64::new(0),
            }),
        }
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<String, RoomMedia>> {
        self.inner
            .rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Prepares a room's media (its recording sink).
    pub fn open_room(&self, room_id: &str) {
        self.rooms().entry(room_id.to_owned()).or_default();
    }

    /// Starts counting what the room's participants send into its recording.
    pub fn start_recording(&self, room_id: &str) {
        let mut rooms = self.rooms();
        let sink = &rooms.entry(room_id.to_owned()).or_default().sink;
        sink.packets.store(0, Ordering::Relaxed);
        sink.bytes.store(0, Ordering::Relaxed);
        sink.recording.store(true, Ordering::Relaxed);
    }

    /// Stops the room's recording; the RTP packets and payload bytes it received.
    pub fn stop_recording(&self, room_id: &str) -> (u64, u64) {
        self.rooms().get(room_id).map_or((0, 0), |room| {
            room.sink.recording.store(false, Ordering::Relaxed);
            (
                room.sink.packets.load(Ordering::Relaxed),
                room.sink.bytes.load(Ordering::Relaxed),
            )
        })
    }

    /// Ends a participant's signaling session and server peer.
    pub async fn disconnect(&self, room_id: &str, user_id: &str) {
        if let Some(room) = self.rooms().get_mut(room_id)
            && let Some(p) = room.sessions.remove(user_id)
        {
            let _ = p.out.send(Outgoing::Close(1000, "left the room"));
        }
    }

    /// Ends every session of a user (blocked by a moderator).
    pub async fn disconnect_user(&self, user_id: &str) {
        for room in self.rooms().values_mut() {
            if let Some(p) = room.sessions.remove(user_id) {
                let _ = p.out.send(Outgoing::Close(1008, "blocked"));
            }
        }
    }

    /// Ends every session of a room and forgets it.
    pub async fn close_room(&self, room_id: &str) {
        if let Some(room) = self.rooms().remove(room_id) {
            for p in room.sessions.into_values() {
                let _ = p.out.send(Outgoing::Close(1000, "room closed"));
            }
        }
    }

    /// Closes every session and server peer (server shutdown), waiting up to `timeout`.
    pub async fn close_all(&self, timeout: Duration) {
        self.inner.shutdown.send_replace(true);
        let deadline = tokio::time::Instant::now() + timeout;
        while self.inner.active.load(Ordering::Acquire) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Server peers that reached `connected` so far.
    pub fn connected(&self) -> u64 {
        self.inner.connected.load(Ordering::Relaxed)
    }

    /// Audio RTP packets the server peers received so far.
    pub fn packets(&self) -> u64 {
        self.inner.packets.load(Ordering::Relaxed)
    }

    /// Signaling sessions open now.
    pub fn active_sessions(&self) -> usize {
        self.inner.active.load(Ordering::Acquire)
    }
}

/// `GET /rooms/{id}/signal`: the participant's signaling WebSocket.
pub async fn signal(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    upgrade: WebSocketUpgrade,
) -> AppResult<Response> {
    let room = open_room(&state, &id).await?;
    let user = auth.session.user_id;
    if state.db.participant(&room.id, &user).await?.is_none() {
        return Err(AppError::forbidden("join the room first"));
    }
    let media = state.media.clone();
    Ok(upgrade.on_upgrade_traced(move |socket| async move {
        media.session(room.id, user, socket).await;
    }))
}

struct ServerPeer {
    room_id: String,
    user_id: String,
    out: mpsc::UnboundedSender<Outgoing>,
    sink: Arc<Sink>,
    media: Arc<Inner>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for ServerPeer {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(candidate) = event.candidate.to_json() {
            let envelope = SignalEnvelope::new(
                self.room_id.clone(),
                SERVER,
                self.user_id.clone(),
                SignalPayload::Candidate { candidate },
            );
            let _ = self.out.send(Outgoing::Text(envelope.to_json()));
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if state == RTCPeerConnectionState::Connected {
            self.media.connected.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        // The recording sink: count what arrives while the room records.
        let sink = Arc::clone(&self.sink);
        let media = Arc::clone(&self.media);
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(packet) => {
                        media.packets.fetch_add(1, Ordering::Relaxed);
                        if sink.recording.load(Ordering::Relaxed) {
                            sink.packets.fetch_add(1, Ordering::Relaxed);
                            sink.bytes
                                .fetch_add(packet.payload.len() as u64, Ordering::Relaxed);
                        }
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
        });
    }
}

/// A peer bound to loopback with host candidates only (no STUN), mDNS off: the demo's clients run
/// on the same machine. A deployment would bind a reachable address and add STUN/TURN servers.
pub(crate) fn peer_builder() -> PeerConnectionBuilder<&'static str> {
    let mut media = MediaEngine::default();
    // The default codecs register without error; an engine without them only fails the offer.
    let _ = media.register_default_codecs();
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    PeerConnectionBuilder::new()
        .with_media_engine(media)
        .with_setting_engine(settings)
        .with_udp_addrs(vec!["127.0.0.1:0"])
}

impl Media {
    async fn session(self, room_id: String, user_id: String, socket: TracedWebSocket) {
        self.inner.active.fetch_add(1, Ordering::AcqRel);
        let session = rand::random::<u64>();
        let (out, mut outgoing) = mpsc::unbounded_channel();
        let sink = {
            let mut rooms = self.rooms();
            let room = rooms.entry(room_id.clone()).or_default();
            if let Some(old) = room.sessions.insert(
                user_id.clone(),
                Participant {
                    session,
                    out: out.clone(),
                },
            ) {
                let _ = old
                    .out
                    .send(Outgoing::Close(1000, "replaced by a newer session"));
            }
            Arc::clone(&room.sink)
        };
        let peer = InstrumentedPeerConnection::builder(PeerContext::new(
            room_id.clone(),
            user_id.clone(),
            "publisher",
        ))
        .with_stats_interval(Duration::from_secs(1))
        .build(
            peer_builder(),
            Arc::new(ServerPeer {
                room_id: room_id.clone(),
                user_id: user_id.clone(),
                out: out.clone(),
                sink,
                media: Arc::clone(&self.inner),
            }),
        )
        .await;
        let mut socket = socket;
        match peer {
            Ok(peer) => {
                let peer = Arc::new(peer);
                self.run(&room_id, &user_id, &mut socket, &peer, &out, &mut outgoing)
                    .await;
                let _ = peer.close().await;
            }
            Err(error) => {
                tracing::warn!(%error, "could not create the server peer");
                let _ = socket
                    .close(Some(CloseFrame {
                        code: 1011,
                        reason: "media unavailable".into(),
                    }))
                    .await;
            }
        }
        if let Some(room) = self.rooms().get_mut(&room_id)
            && room
                .sessions
                .get(&user_id)
                .is_some_and(|p| p.session == session)
        {
            room.sessions.remove(&user_id);
        }
        self.inner.active.fetch_sub(1, Ordering::AcqRel);
    }

    async fn run(
        &self,
        room_id: &str,
        user_id: &str,
        socket: &mut TracedWebSocket,
        peer: &Arc<InstrumentedPeerConnection>,
        out: &mpsc::UnboundedSender<Outgoing>,
        outgoing: &mut mpsc::UnboundedReceiver<Outgoing>,
    ) {
        let mut shutdown = self.inner.shutdown.subscribe();
        loop {
            tokio::select! {
                received = socket.recv() => {
                    let text = match received {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                        Some(Ok(_)) => continue,
                    };
                    let relayed = self
                        .inner
                        .relay
                        .relay(text.as_str(), |to, json| self.forward(room_id, user_id, peer, out, to, json))
                        .await;
                    if let Err(error) = relayed
                        && socket.send(Message::Text(error.reply().into())).await.is_err()
                    {
                        return;
                    }
                }
                next = outgoing.recv() => match next {
                    Some(Outgoing::Text(text)) => {
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            return;
                        }
                    }
                    Some(Outgoing::Close(code, reason)) => {
                        let _ = socket.close(Some(CloseFrame { code, reason: reason.into() })).await;
                        return;
                    }
                    None => return,
                },
                () = until_true(&mut shutdown) => {
                    let _ = socket
                        .close(Some(CloseFrame { code: 1001, reason: "server shutting down".into() }))
                        .await;
                    return;
                }
            }
        }
    }

    /// Delivers one relayed message: to the server's peer, or to another participant's socket.
    async fn forward(
        &self,
        room_id: &str,
        user_id: &str,
        peer: &Arc<InstrumentedPeerConnection>,
        out: &mpsc::UnboundedSender<Outgoing>,
        to: String,
        json: String,
    ) -> Result<(), String> {
        let envelope = SignalEnvelope::from_json(&json).map_err(|e| e.to_string())?;
        if envelope.from != user_id || envelope.room_id != room_id {
            return Err("`from` and `room_id` must be your own".into());
        }
        if to != SERVER {
            let rooms = self.rooms();
            let recipient = rooms
                .get(room_id)
                .and_then(|room| room.sessions.get(&to))
                .ok_or("the recipient is not connected")?;
            return recipient
                .out
                .send(Outgoing::Text(json))
                .map_err(|_| "the recipient is gone".to_owned());
        }
        match envelope.payload {
            SignalPayload::Offer { .. } => {
                let Some(Ok(offer)) = envelope.payload.to_description() else {
                    return Err("the offer's SDP does not parse".into());
                };
                peer.set_remote_description(offer)
                    .await
                    .map_err(|e| e.to_string())?;
                let answer = peer.create_answer().await.map_err(|e| e.to_string())?;
                peer.set_local_description(answer.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                let payload = SignalPayload::from_description(&answer).ok_or("no answer")?;
                let reply =
                    SignalEnvelope::new(room_id.to_owned(), SERVER, user_id.to_owned(), payload);
                out.send(Outgoing::Text(reply.to_json()))
                    .map_err(|_| "the socket is gone".to_owned())
            }
            SignalPayload::Candidate { candidate } => peer
                .add_ice_candidate(candidate)
                .await
                .map_err(|e| e.to_string()),
            SignalPayload::Answer { .. } => Err("the server does not take answers".into()),
        }
    }
}

/// Waits until `rx` holds `true` (or its sender is gone). Unlike `wait_for`, the future holds no
/// lock guard, so it stays `Send`.
pub(crate) async fn until_true(rx: &mut watch::Receiver<bool>) {
    loop {
        let done = *rx.borrow_and_update();
        if done || rx.changed().await.is_err() {
            return;
        }
    }
}
