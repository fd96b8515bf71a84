//! Rooms: create, look up (cached), join, leave, kick, close, and recordings, each an obs-rooms
//! operation; creation and recording are obs-flows flows (`room_creation`, `recording`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use obs_flows::{
    ExternalCall, ExternalError, InflightJob, Job, JobStatus, SecurityEvent, flows, security_event,
    stage,
};
use obs_rooms::{Participant, ParticipantType, RoomSpec};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::kv::Session;
use crate::state::{AppState, Auth, Body, bearer};
use crate::storage::RoomRow;

/// The most participants a room may ask for.
pub const MAX_PARTICIPANTS: i64 = 50;

/// A room to create.
#[derive(Debug, Deserialize)]
pub struct CreateRoom {
    /// Its display name (1 to 100 bytes).
    pub name: String,
    /// The most participants (2 to 50, default 8).
    #[serde(default)]
    pub max_participants: Option<i64>,
}

/// A join.
#[derive(Debug, Default, Deserialize)]
pub struct Join {
    /// `guest` (default) or `viewer`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// Whom to kick.
#[derive(Debug, Deserialize)]
pub struct Kick {
    /// The user id.
    pub user_id: String,
}

/// A recording's summary.
#[derive(Debug, Serialize, Deserialize)]
pub struct Recording {
    /// The recording id.
    pub recording_id: String,
    /// RTP packets the recording sink received from the room's participants.
    pub packets: u64,
    /// Their payload bytes.
    pub bytes: u64,
}

/// The session of the request's bearer token, as a flow step does it.
pub(crate) async fn authenticate(state: &AppState, headers: &HeaderMap) -> AppResult<Session> {
    let token = bearer(headers).ok_or_else(AppError::unauthorized)?;
    match state.kv.session(token).await? {
        Some(session) => Ok(session),
        None => {
            security_event(SecurityEvent::TokenRejected);
            Err(AppError::unauthorized())
        }
    }
}

/// The room `id`, from the cache or the database; open rooms only.
pub(crate) async fn open_room(state: &AppState, id: &str) -> AppResult<RoomRow> {
    let db = state.db.clone();
    let owned = id.to_owned();
    let room = state
        .kv
        .room(id, || async move { db.room(&owned).await })
        .await?
        .ok_or_else(|| AppError::not_found("room"))?;
    if room.status != "open" {
        return Err(AppError::conflict("the room is closed"));
    }
    // A room created before this process started is counted from its first operation here.
    if state.rooms.stats(&room.id).is_none() {
        state.rooms.track(spec(&room));
    }
    Ok(room)
}

fn spec(room: &RoomRow) -> RoomSpec {
    RoomSpec::new(room.id.as_str())
        .host(room.host_id.clone())
        .max_participants(u32::try_from(room.max_participants).unwrap_or(u32::MAX))
}

/// Creates a room hosted by `host`, and puts the host in it: the `persist` step of room creation,
/// also what the lobby does for a match.
pub(crate) async fn create_room(state: &AppState, room: &RoomRow) -> AppResult<()> {
    state
        .rooms
        .create(spec(room), async {
            Ok::<_, AppError>(state.db.insert_room(room).await?)
        })
        .await?;
    let host = Participant::new(
        room.id.as_str(),
        room.host_id.as_str(),
        ParticipantType::Host,
    );
    state
        .rooms
        .join(&host, async {
            Ok::<_, AppError>(state.db.join(&room.id, &room.host_id, "host").await?)
        })
        .await
}

/// Puts `user_id` in an open room as `kind`, unless blocked or the room is full.
pub(crate) async fn join_room(
    state: &AppState,
    room: &RoomRow,
    user_id: &str,
    kind: ParticipantType,
) -> AppResult<()> {
    if state.kv.is_blocked(user_id).await? {
        return Err(AppError::forbidden("you are on the blocklist"));
    }
    let participant = Participant::new(room.id.as_str(), user_id.to_owned(), kind);
    state
        .rooms
        .join(&participant, async {
            if state.db.participant(&room.id, user_id).await?.is_none()
                && state.db.participant_count(&room.id).await? >= room.max_participants
            {
                return Err(AppError::conflict("the room is full"));
            }
            Ok(state.db.join(&room.id, user_id, kind.as_str()).await?)
        })
        .await
}

/// `POST /rooms`.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(req): Body<CreateRoom>,
) -> AppResult<(StatusCode, Json<RoomRow>)> {
    let flow = flows::ROOM_CREATION.start();
    let result: AppResult<RoomRow> = async {
        let session = flow
            .step("authenticate", authenticate(&state, &headers))
            .await?;
        let room = flow
            .step("validate", async {
                let max = req.max_participants.unwrap_or(8);
                if req.name.is_empty() || req.name.len() > 100 {
                    return Err(AppError::bad_request("name: 1 to 100 bytes"));
                }
                if !(2..=MAX_PARTICIPANTS).contains(&max) {
                    return Err(AppError::bad_request("max_participants: 2 to 50"));
                }
                if state.kv.is_blocked(&session.user_id).await? {
                    return Err(AppError::forbidden("you are on the blocklist"));
                }
                Ok(RoomRow {
                    id: format!("r-{:016x}", rand::random::<u64>()),
                    name: req.name,
                    host_id: session.user_id.clone(),
                    max_participants: max,
                    status: "open".into(),
                })
            })
            .await?;
        flow.step("persist", create_room(&state, &room)).await?;
        flow.step("initialize_webrtc", async {
            state.media.open_room(&room.id);
            Ok::<_, AppError>(())
        })
        .await?;
        Ok(room)
    }
    .await;
    flow.finish();
    Ok((StatusCode::CREATED, Json(result?)))
}

/// `GET /rooms/{id}`.
pub async fn get(
    State(state): State<AppState>,
    _auth: Auth,
    Path(id): Path<String>,
) -> AppResult<Json<RoomRow>> {
    Ok(Json(open_room(&state, &id).await?))
}

/// `POST /rooms/{id}/join`.
pub async fn join(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> AppResult<StatusCode> {
    // The body is optional: `{"type": "viewer"}`, or nothing for a guest.
    let join: Join = if body.is_empty() {
        Join::default()
    } else {
        serde_json::from_slice(&body).map_err(|_| {
            AppError::bad_request("malformed body: expected {\"type\": \"guest\" or \"viewer\"}")
        })?
    };
    let kind = match join.kind.as_deref() {
        None | Some("guest") => ParticipantType::Guest,
        Some("viewer") => ParticipantType::Viewer,
        Some(_) => return Err(AppError::bad_request("type: guest or viewer")),
    };
    let room = open_room(&state, &id).await?;
    join_room(&state, &room, &auth.session.user_id, kind).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn participant_kind(
    state: &AppState,
    room_id: &str,
    user_id: &str,
) -> AppResult<ParticipantType> {
    Ok(
        match state.db.participant(room_id, user_id).await?.as_deref() {
            Some("host") => ParticipantType::Host,
            Some("viewer") => ParticipantType::Viewer,
            Some(_) => ParticipantType::Guest,
            None => return Err(AppError::not_found("participant")),
        },
    )
}

/// `POST /rooms/{id}/leave`.
pub async fn leave(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let room = open_room(&state, &id).await?;
    let user = &auth.session.user_id;
    let kind = participant_kind(&state, &room.id, user).await?;
    let participant = Participant::new(room.id.as_str(), user.clone(), kind);
    state
        .rooms
        .leave(&participant, async {
            Ok::<_, AppError>(state.db.leave(&room.id, user).await?)
        })
        .await?;
    state.media.disconnect(&room.id, user).await;
    Ok(StatusCode::NO_CONTENT)
}

fn host_only(room: &RoomRow, auth: &Auth) -> AppResult<()> {
    if room.host_id == auth.session.user_id {
        Ok(())
    } else {
        Err(AppError::forbidden("only the host can do that"))
    }
}

/// `POST /rooms/{id}/kick`.
pub async fn kick(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Body(req): Body<Kick>,
) -> AppResult<StatusCode> {
    let room = open_room(&state, &id).await?;
    host_only(&room, &auth)?;
    let kind = participant_kind(&state, &room.id, &req.user_id).await?;
    let participant = Participant::new(room.id.as_str(), req.user_id.clone(), kind);
    state
        .rooms
        .kick(&participant, async {
            Ok::<_, AppError>(state.db.leave(&room.id, &req.user_id).await?)
        })
        .await?;
    state.media.disconnect(&room.id, &req.user_id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /rooms/{id}/close`.
pub async fn close(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let room = open_room(&state, &id).await?;
    host_only(&room, &auth)?;
    let recording = state.recordings().remove(&room.id);
    if let Some((recording_id, flow)) = recording {
        // Closing a room that records ends its recording first.
        finish_recording(&state, &room.id, &recording_id, &flow).await?;
        flow.finish();
    }
    state
        .rooms
        .close(&room.id, async {
            Ok::<_, AppError>(state.db.close_room(&room.id).await?)
        })
        .await?;
    state.kv.forget_room(&room.id).await;
    state.media.close_room(&room.id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /rooms/{id}/recordings/start`: the recording flow's first two steps.
pub async fn start_recording(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<(StatusCode, Json<Recording>)> {
    let room = open_room(&state, &id).await?;
    host_only(&room, &auth)?;
    if state.recordings().contains_key(&room.id) {
        return Err(AppError::conflict("the room is recording already"));
    }
    let flow = flows::RECORDING.start();
    let recording_id = format!("rec-{:016x}", rand::random::<u64>());
    let started = flow
        .step(
            "start",
            state.rooms.start_recording(&room.id, async {
                Ok::<_, AppError>(state.db.insert_recording(&recording_id, &room.id).await?)
            }),
        )
        .await;
    if let Err(e) = started {
        flow.finish();
        return Err(e);
    }
    flow.step("coordinate_participants", async {
        state.media.start_recording(&room.id);
        Ok::<_, AppError>(())
    })
    .await?;
    state
        .recordings()
        .insert(room.id.clone(), (recording_id.clone(), flow));
    Ok((
        StatusCode::CREATED,
        Json(Recording {
            recording_id,
            packets: 0,
            bytes: 0,
        }),
    ))
}

/// The recording flow's last two steps: stop and store what the sink got, then "upload" it as
/// a job.
async fn finish_recording(
    state: &AppState,
    room_id: &str,
    recording_id: &str,
    flow: &obs_flows::Flow,
) -> AppResult<(u64, u64)> {
    let (packets, bytes) = flow
        .step(
            "process_media",
            state.rooms.stop_recording(room_id, async {
                let (packets, bytes) = state.media.stop_recording(room_id);
                state
                    .db
                    .finish_recording(recording_id, packets, bytes)
                    .await?;
                Ok::<_, AppError>((packets, bytes))
            }),
        )
        .await?;
    flow.step("upload", async {
        let job = Job::created();
        let _inflight = InflightJob::start();
        job.transition(JobStatus::RUNNING);
        let uploaded = stage("upload", async {
            // The recording goes to object storage: a call to another service, through the
            // instrumented client, with a time limit and a circuit breaker.
            ExternalCall::new("object_storage", "put")
                .timeout(std::time::Duration::from_secs(2))
                .breaker(state.storage.clone())
                .call(upload(state, recording_id, packets, bytes))
                .await
        })
        .await
        .map_err(|e| match e {
            ExternalError::Failed(e) => e,
            _ => AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "storage is unavailable",
            ),
        });
        job.transition(if uploaded.is_ok() {
            JobStatus::SUCCEEDED
        } else {
            JobStatus::FAILED
        });
        uploaded
    })
    .await?;
    Ok((packets, bytes))
}

/// PUTs the recording (here, its counts) to the object store.
async fn upload(state: &AppState, recording_id: &str, packets: u64, bytes: u64) -> AppResult<()> {
    let unavailable = || {
        AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "storage is unavailable",
        )
    };
    let request = axum::http::Request::put(format!(
        "{}/objects/recordings/{recording_id}",
        state.storage_url
    ))
    .body(axum::body::Body::from(format!(
        "{packets} packets, {bytes} bytes"
    )))
    .map_err(|_| unavailable())?;
    let response = state
        .http
        .request(request)
        .await
        .map_err(|_| unavailable())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(unavailable())
    }
}

/// `POST /rooms/{id}/recordings/stop`.
pub async fn stop_recording(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> AppResult<Json<Recording>> {
    let room = open_room(&state, &id).await?;
    host_only(&room, &auth)?;
    let recording = state.recordings().remove(&room.id);
    let Some((recording_id, flow)) = recording else {
        return Err(AppError::conflict("the room is not recording"));
    };
    let result = finish_recording(&state, &room.id, &recording_id, &flow).await;
    flow.finish();
    let (packets, bytes) = result?;
    Ok(Json(Recording {
        recording_id,
        packets,
        bytes,
    }))
}
