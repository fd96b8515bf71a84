//! Quick match: a lobby that pairs waiting guests into rooms. The first to arrive waits (up to
//! [`MATCH_WAIT`]); the second creates the room, hosted by the first, and joins it as a guest.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use obs_rooms::ParticipantType;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::catalog::{MATCHING_FAILURES, MATCHING_LATENCY_MS};
use crate::error::{AppError, AppResult};
use crate::rooms::{create_room, join_room};
use crate::state::{AppState, Auth};
use crate::storage::RoomRow;

/// How long a guest waits in the lobby for a partner.
pub const MATCH_WAIT: Duration = Duration::from_secs(5);

/// The lobby: at most one guest waits at a time (everyone else is paired with them).
#[derive(Debug, Default)]
pub struct Lobby {
    waiting: Mutex<Option<Waiting>>,
}

#[derive(Debug)]
struct Waiting {
    user_id: String,
    since: Instant,
    ticket: u64,
    matched: oneshot::Sender<String>,
}

/// What the lobby answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct Matched {
    /// The room both are in; `None` when nobody came in time.
    pub room_id: Option<String>,
}

/// `POST /match`.
pub async fn quick_match(State(state): State<AppState>, auth: Auth) -> AppResult<Json<Matched>> {
    let me = auth.session.user_id;
    let since = Instant::now();
    if state.kv.is_blocked(&me).await? {
        MATCHING_FAILURES.with(&["blocked"]).increment(1);
        return Err(AppError::forbidden("you are on the blocklist"));
    }
    let partner = {
        let mut waiting = state
            .lobby
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match waiting.take() {
            Some(w) if w.user_id != me && !w.matched.is_closed() => Some(w),
            Some(w) if w.user_id == me => {
                // The same user asked twice: the newer request waits instead.
                drop(w);
                None
            }
            _ => None,
        }
    };
    if let Some(partner) = partner {
        let room = RoomRow {
            id: format!("r-{:016x}", rand::random::<u64>()),
            name: "quick match".into(),
            host_id: partner.user_id.clone(),
            max_participants: 2,
            status: "open".into(),
        };
        create_room(&state, &room).await?;
        state.media.open_room(&room.id);
        join_room(&state, &room, &me, ParticipantType::Guest).await?;
        MATCHING_LATENCY_MS
            .with(&[])
            .record(partner.since.elapsed().as_secs_f64() * 1_000.0);
        MATCHING_LATENCY_MS
            .with(&[])
            .record(since.elapsed().as_secs_f64() * 1_000.0);
        // A partner that gave up meanwhile finds the room in its room list; not worth an error.
        let _ = partner.matched.send(room.id.clone());
        return Ok(Json(Matched {
            room_id: Some(room.id),
        }));
    }
    let (tx, rx) = oneshot::channel();
    let ticket = rand::random::<u64>();
    *state
        .lobby
        .waiting
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(Waiting {
        user_id: me,
        since,
        ticket,
        matched: tx,
    });
    match tokio::time::timeout(MATCH_WAIT, rx).await {
        Ok(Ok(room_id)) => Ok(Json(Matched {
            room_id: Some(room_id),
        })),
        _ => {
            let mut waiting = state
                .lobby
                .waiting
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if waiting.as_ref().is_some_and(|w| w.ticket == ticket) {
                *waiting = None;
            }
            MATCHING_FAILURES.with(&["timeout"]).increment(1);
            Ok(Json(Matched { room_id: None }))
        }
    }
}
