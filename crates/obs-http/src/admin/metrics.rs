//! `GET /metrics` (Prometheus text) and `GET /metrics/json`.

use std::time::SystemTime;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The content type of the Prometheus text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const NOT_INITIALIZED: &str = "metrics are unavailable: obs_core::init was not called in this \
    process, so no Prometheus recorder is installed\n";

fn not_initialized() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, NOT_INITIALIZED).into_response()
}

pub(crate) async fn text() -> Response {
    match obs_core::prometheus_handle() {
        Some(handle) => (
            [(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
            handle.render(),
        )
            .into_response(),
        None => not_initialized(),
    }
}

pub(crate) async fn json() -> Response {
    match obs_core::prometheus_handle() {
        Some(handle) => {
            Json(super::json::to_json(&handle.snapshot(), SystemTime::now())).into_response()
        }
        None => not_initialized(),
    }
}
