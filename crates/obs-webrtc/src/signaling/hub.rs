//! [`SignalingHub`]: the participants of a signaling server and the relay between them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use super::{RelayError, SignalEnvelope, SignalingRelay};

/// The default number of messages waiting for one participant before more are refused.
pub const DEFAULT_QUEUE_CAPACITY: usize = 64;

type Key = (String, String);

#[derive(Default)]
struct Members {
    next: AtomicU64,
    queues: Mutex<HashMap<Key, (u64, mpsc::Sender<String>)>>,
}

impl Members {
    fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (u64, mpsc::Sender<String>)>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The participants connected to a signaling server, by room, and a [`SignalingRelay`] between
/// them: what a WebSocket (or any other) signaling endpoint needs besides its transport.
///
/// Each connection [`join`](Self::join)s as one participant of one room and gets a
/// [`HubMember`]: it hands the messages it receives to [`HubMember::relay`] (a span in the
/// sender's trace, timed, counted; malformed or undeliverable messages are errors with a reply
/// for the sender) and sends what [`HubMember::recv`] returns to its peer. Each participant has
/// a bounded queue: a message for a participant whose queue is full, or who is not connected,
/// is not delivered (`errors_total{type="delivery_failed"}`); the relay never waits for a slow
/// reader. Cloning the hub shares it.
///
/// The endpoint authenticates its peer and decides the room and participant it joins as; a
/// message's `from` is the sender's claim, relayed as it is.
///
/// An axum WebSocket endpoint on obs-http's traced socket (feature `ws` of obs-http):
///
/// ```
/// use axum::Router;
/// use axum::extract::ws::{Message, WebSocketUpgrade};
/// use axum::extract::{Path, State};
/// use axum::response::Response;
/// use axum::routing::get;
/// use obs_http::ws::{TracedWebSocket, WebSocketUpgradeExt};
/// use obs_webrtc::signaling::{HubMember, SignalingHub};
///
/// async fn signal(
///     upgrade: WebSocketUpgrade,
///     Path((room, participant)): Path<(String, String)>,
///     State(hub): State<SignalingHub>,
/// ) -> Response {
///     // Authenticate the participant here.
///     let member = hub.join(room, participant);
///     upgrade.on_upgrade_traced(move |socket| session(socket, member))
/// }
///
/// async fn session(mut socket: TracedWebSocket, mut member: HubMember) {
///     loop {
///         tokio::select! {
///             incoming = socket.recv() => match incoming {
///                 Some(Ok(Message::Text(text))) => {
///                     if let Err(error) = member.relay(&text).await {
///                         let reply = Message::Text(error.reply().into());
///                         if socket.send(reply).await.is_err() {
///                             break;
///                         }
///                     }
///                 }
///                 Some(Ok(Message::Close(_)) | Err(_)) | None => break,
///                 Some(Ok(_)) => {}
///             },
///             Some(json) = member.recv() => {
///                 if socket.send(Message::Text(json.into())).await.is_err() {
///                     break;
///                 }
///             }
///         }
///     }
///     // Dropping `member` leaves the room.
/// }
///
/// let app: Router = Router::new()
///     .route("/signal/{room}/{participant}", get(signal))
///     .with_state(SignalingHub::new());
/// ```
#[derive(Clone)]
pub struct SignalingHub {
    relay: SignalingRelay,
    members: Arc<Members>,
    capacity: usize,
}

impl std::fmt::Debug for SignalingHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalingHub")
            .field("participants", &self.members.queues().len())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Default for SignalingHub {
    fn default() -> Self {
        Self::new()
    }
}

impl SignalingHub {
    /// An empty hub whose participants' queues hold [`DEFAULT_QUEUE_CAPACITY`] messages.
    pub fn new() -> Self {
        Self {
            relay: SignalingRelay::new(),
            members: Arc::default(),
            capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }

    /// How many messages may wait for one participant (at least 1).
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Joins `participant` to `room`. A participant who joins again (a reconnect) replaces the
    /// earlier connection, which then receives nothing more.
    pub fn join(&self, room: impl Into<String>, participant: impl Into<String>) -> HubMember {
        let key = (room.into(), participant.into());
        let (tx, rx) = mpsc::channel(self.capacity);
        let id = self.members.next.fetch_add(1, Ordering::Relaxed);
        self.members.queues().insert(key.clone(), (id, tx));
        HubMember {
            hub: self.clone(),
            key,
            id,
            rx,
        }
    }

    /// How many participants are connected.
    pub fn len(&self) -> usize {
        self.members.queues().len()
    }

    /// Whether no participant is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One participant's connection to a [`SignalingHub`]; dropping it leaves the room.
pub struct HubMember {
    hub: SignalingHub,
    key: Key,
    id: u64,
    rx: mpsc::Receiver<String>,
}

impl std::fmt::Debug for HubMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubMember")
            .field("room", &self.key.0)
            .field("participant", &self.key.1)
            .finish_non_exhaustive()
    }
}

impl HubMember {
    /// The room this participant is in.
    pub fn room(&self) -> &str {
        &self.key.0
    }

    /// The participant's id.
    pub fn participant(&self) -> &str {
        &self.key.1
    }

    /// Relays `text`, a message this participant sent, to its recipient in the same room
    /// through [`SignalingRelay::relay`].
    ///
    /// # Errors
    /// [`RelayError::Malformed`], or [`RelayError::DeliveryFailed`] when the recipient is not
    /// connected or its queue is full. Send [`RelayError::reply`] back to the sender.
    pub async fn relay(&self, text: &str) -> Result<SignalEnvelope, RelayError> {
        let members = &self.hub.members;
        let room = &self.key.0;
        self.hub
            .relay
            .relay(text, |to, json| {
                let queue = members
                    .queues()
                    .get(&(room.clone(), to))
                    .map(|(_, queue)| queue.clone());
                let delivered = match queue {
                    None => Err("the recipient is not connected"),
                    Some(queue) => queue.try_send(json).map_err(|e| match e {
                        mpsc::error::TrySendError::Full(_) => "the recipient's queue is full",
                        mpsc::error::TrySendError::Closed(_) => "the recipient is not connected",
                    }),
                };
                std::future::ready(delivered)
            })
            .await
    }

    /// The next message relayed to this participant (JSON, its `traceparent` the relay span's);
    /// `None` once another connection joined as the same participant.
    pub async fn recv(&mut self) -> Option<String> {
        self.rx.recv().await
    }
}

impl Drop for HubMember {
    fn drop(&mut self) {
        let mut queues = self.hub.members.queues();
        // A reconnect replaced this registration: leave the new one in place.
        if queues.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            queues.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signaling::SignalPayload;

    fn offer(to: &str) -> String {
        SignalEnvelope::new("r", "alice", to, SignalPayload::Offer { sdp: "v=0".into() }).to_json()
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn a_full_queue_refuses_instead_of_waiting() {
        block_on(async {
            let hub = SignalingHub::new().with_queue_capacity(1);
            let alice = hub.join("r", "alice");
            let mut bob = hub.join("r", "bob");
            alice.relay(&offer("bob")).await.unwrap();
            let error = alice.relay(&offer("bob")).await.unwrap_err();
            assert!(matches!(&error, RelayError::DeliveryFailed(why) if why.contains("full")));
            let delivered = SignalEnvelope::from_json(&bob.recv().await.unwrap()).unwrap();
            assert_eq!(delivered.to, "bob");
            // Rooms are separate: no bob in room "s".
            let carol = hub.join("s", "carol");
            let error = carol.relay(&offer("bob")).await.unwrap_err();
            assert!(matches!(error, RelayError::DeliveryFailed(_)));
        });
    }

    #[test]
    fn a_reconnect_replaces_the_earlier_connection() {
        block_on(async {
            let hub = SignalingHub::new();
            let alice = hub.join("r", "alice");
            let mut first = hub.join("r", "bob");
            let mut second = hub.join("r", "bob");
            assert_eq!(hub.len(), 2);
            assert_eq!(
                first.recv().await,
                None,
                "the replaced connection gets nothing"
            );
            drop(first);
            assert_eq!(hub.len(), 2, "dropping the replaced one leaves the new one");
            alice.relay(&offer("bob")).await.unwrap();
            assert!(second.recv().await.is_some());
            drop(second);
            drop(alice);
            assert!(hub.is_empty());
        });
    }
}
