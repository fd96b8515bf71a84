//! What every handler shares, and the extractors: the logged-in user and a JSON body whose
//! errors never quote what was sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use obs_flows::Flow;
use obs_rooms::Rooms;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::kv::{Kv, Session};
use crate::matching::Lobby;
use crate::media::Media;
use crate::storage::Db;

/// The app's state, cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

/// What the state holds.
#[derive(Debug)]
pub struct Inner {
    /// Rows.
    pub db: Db,
    /// Sessions, cache, rate limit, blocklist.
    pub kv: Kv,
    /// Room operations and their live gauges.
    pub rooms: Rooms,
    /// The quick-match lobby.
    pub lobby: Lobby,
    /// Signaling and the server-side peers.
    pub media: Media,
    /// The key a registration carries to make a moderator.
    pub moderator_key: String,
    /// The object storage's circuit breaker (recordings are uploaded there); also a readiness
    /// check.
    pub storage: obs_flows::CircuitBreaker,
    /// Where recordings are uploaded (the object store's base URL).
    pub storage_url: String,
    /// The instrumented HTTP client uploads go through.
    pub http: obs_http::client::HttpClient,
    /// Recordings in progress, by room: the recording id and its flow.
    pub recordings: Mutex<HashMap<String, (String, Flow)>>,
}

impl AppState {
    /// The state over these parts.
    pub fn new(db: Db, kv: Kv, moderator_key: String, storage_url: String) -> Self {
        Self(Arc::new(Inner {
            db,
            kv,
            rooms: Rooms::builder().component("simplycaster").build(),
            lobby: Lobby::default(),
            media: Media::new(),
            moderator_key,
            storage: obs_flows::CircuitBreaker::new("object_storage"),
            storage_url,
            http: obs_http::client::HttpClient::new(),
            recordings: Mutex::default(),
        }))
    }

    /// The recordings in progress.
    pub(crate) fn recordings(&self) -> MutexGuard<'_, HashMap<String, (String, Flow)>> {
        self.0
            .recordings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The logged-in user, from `Authorization: Bearer <token>`.
#[derive(Clone, Debug)]
pub struct Auth {
    /// The session.
    pub session: Session,
    /// The token, to log out.
    pub token: String,
}

/// The bearer token of a request, if any.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Some(token) = bearer(&parts.headers) else {
            return Err(AppError::unauthorized());
        };
        match state.kv.session(token).await? {
            Some(session) => Ok(Self {
                session,
                token: token.to_owned(),
            }),
            None => {
                obs_flows::security_event(obs_flows::SecurityEvent::TokenRejected);
                Err(AppError::unauthorized())
            }
        }
    }
}

/// A JSON body. Unlike axum's `Json`, a body that does not parse is answered with what kind of
/// problem it has and where, never with the values it holds (a password in a wrong field).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| AppError::bad_request("the body could not be read"))?;
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Syntax => "not JSON",
                serde_json::error::Category::Eof => "cut short",
                serde_json::error::Category::Data => "JSON with missing or mistyped fields",
                serde_json::error::Category::Io => "unreadable",
            };
            AppError::bad_request(format!(
                "malformed body: {what} (line {}, column {})",
                e.line(),
                e.column()
            ))
        })
    }
}
