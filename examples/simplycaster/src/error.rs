//! The app's error: an HTTP status, a short stable kind (the `error_type` of spans and metrics)
//! and a message for the client that never quotes what the client sent.

use std::borrow::Cow;
use std::fmt;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use obs_core::ErrorType;

/// An error answered to the client.
#[derive(Debug)]
pub struct AppError {
    /// The response status.
    pub status: StatusCode,
    /// A short, stable name: `not_found`, `db_error`, ...
    pub kind: &'static str,
    /// What to tell the client.
    pub message: Cow<'static, str>,
}

impl AppError {
    /// An error with this status, kind and message.
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    /// 400: the request is not what the endpoint takes.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: no valid session.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "log in first: send `Authorization: Bearer <token>`",
        )
    }

    /// 403: the user may not do this.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(what: &'static str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    /// 409.
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 500 from a backend failure; the details are logged by the instrumentation (classified,
    /// redacted), not sent to the client.
    pub fn internal(kind: &'static str) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, kind, "internal error")
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind)
    }
}

impl std::error::Error for AppError {}

impl ErrorType for AppError {
    fn error_type(&self) -> Cow<'static, str> {
        Cow::Borrowed(self.kind)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.kind, "message": self.message});
        (self.status, Json(body)).into_response()
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        // obs-db recorded the statement's error (classified, its text sanitized) on its span.
        tracing::warn!(error_type = %obs_db::classify(&error).class, "database error");
        Self::internal("db_error")
    }
}

impl From<obs_redis::CacheError> for AppError {
    fn from(error: obs_redis::CacheError) -> Self {
        let kind = match &error {
            obs_redis::CacheError::Redis(e) => obs_redis::error_type(e),
            obs_redis::CacheError::Json(_) => "json",
        };
        tracing::warn!(error_type = kind, "redis error");
        Self::internal("redis_error")
    }
}

impl From<redis::RedisError> for AppError {
    fn from(error: redis::RedisError) -> Self {
        tracing::warn!(error_type = obs_redis::error_type(&error), "redis error");
        Self::internal("redis_error")
    }
}

/// The result of a handler.
pub type AppResult<T> = Result<T, AppError>;
