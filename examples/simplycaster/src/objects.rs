//! A stand-in for the object storage recordings are uploaded to (S3 and the like), served on a
//! loopback port of its own. The upload is a real HTTP call to another service through
//! obs-http's instrumented client: the recording flow's trace and flow id cross an HTTP hop, and
//! the outgoing-request metrics are real.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::put;
use obs_http::HttpLayer;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Object sizes by key.
type Objects = Arc<Mutex<HashMap<String, usize>>>;

/// The running store: where it listens, and its task (which ends when `stop` turns true).
#[derive(Debug)]
pub struct ObjectStore {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The serving task.
    pub task: JoinHandle<()>,
}

/// Starts the store on a free loopback port; it stops when `stop` turns true.
///
/// # Errors
/// When no loopback port can be bound.
pub async fn start(mut stop: watch::Receiver<bool>) -> std::io::Result<ObjectStore> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = Router::new()
        .route("/objects/{*key}", put(store))
        .with_state(Objects::default())
        .layer(HttpLayer::new());
    let task = tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!(error = %e, "object store stopped with an error");
        }
    });
    Ok(ObjectStore { url, task })
}

/// `PUT /objects/{key}`: keeps the object's size (the demo has no use for its bytes).
async fn store(State(objects): State<Objects>, Path(key): Path<String>, body: Bytes) -> StatusCode {
    objects
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(key, body.len());
    StatusCode::CREATED
}
