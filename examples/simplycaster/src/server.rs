//! The server: stores connected (and Redis started when needed), the router with obs-http's
//! layer and admin routes, and a graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use obs_http::HttpLayer;
use obs_http::admin::AdminRouter;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::kv::{Kv, RedisChild};
use crate::state::AppState;
use crate::storage::Db;
use crate::{accounts, matching, media, moderation, rooms};

/// Why the server did not start.
#[derive(Debug)]
pub enum StartError {
    /// The database (its URL is not repeated: it may hold a password).
    Database(sqlx::Error),
    /// Redis at `REDIS_URL`, or the `redis-server` child.
    Redis(String),
    /// The listening address.
    Bind(SocketAddr, std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Database(e) => write!(
                f,
                "cannot open the database ({}); check DATABASE_URL, or unset it for a SQLite file",
                obs_db::classify(e).class
            ),
            Self::Redis(e) => write!(f, "cannot use Redis: {e}; check REDIS_URL, or unset it"),
            Self::Bind(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// The API routes (the admin routes are added by [`router`]).
pub fn api() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(accounts::register))
        .route("/auth/login", post(accounts::login))
        .route("/auth/logout", post(accounts::logout))
        .route("/rooms", post(rooms::create))
        .route("/rooms/{id}", get(rooms::get))
        .route("/rooms/{id}/join", post(rooms::join))
        .route("/rooms/{id}/leave", post(rooms::leave))
        .route("/rooms/{id}/kick", post(rooms::kick))
        .route("/rooms/{id}/close", post(rooms::close))
        .route("/rooms/{id}/recordings/start", post(rooms::start_recording))
        .route("/rooms/{id}/recordings/stop", post(rooms::stop_recording))
        .route("/rooms/{id}/reports", post(moderation::report))
        .route("/rooms/{id}/signal", get(media::signal))
        .route("/match", post(matching::quick_match))
        .route("/moderation/reports", get(moderation::pending))
        .route("/moderation/reports/{id}", post(moderation::decide))
}

/// The whole app: the API, `/metrics`, `/metrics/json`, `/healthz`, `/readyz` (database and,
/// with Redis, Redis), and obs-http's layer on all of it.
pub fn router(state: AppState) -> Router {
    let mut admin = AdminRouter::new()
        .shared_readiness_check(state.db.readiness())
        .readiness_check(state.storage.clone());
    if let Some(redis) = state.kv.readiness() {
        admin = admin.readiness_check(redis);
    }
    api()
        .with_state(state)
        .merge(admin.build())
        .layer(HttpLayer::new())
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    _sampler: obs_flows::ResourceSampler,
    redis: Option<RedisChild>,
    /// Stops the object store, after the app.
    objects_stop: watch::Sender<bool>,
}

impl Server {
    /// Connects the stores and starts serving on `config.addr`.
    ///
    /// # Errors
    /// When a store or the address is unusable.
    pub async fn start(config: &Config) -> Result<Self, StartError> {
        let _ = obs_core::catalog::register(crate::catalog::CATALOG);
        std::fs::create_dir_all(&config.data_dir).map_err(|e| StartError::Bind(config.addr, e))?;
        let db = Db::connect(&config.database_url())
            .await
            .map_err(StartError::Database)?;
        let (kv, redis) = connect_kv(config).await?;
        tracing::info!(database = db.kind(), store = kv.kind(), "stores ready");
        let (stop, mut stopped) = watch::channel(false);
        // Stopped after the app, so uploads in flight at shutdown still find it.
        let (objects_stop, objects_stopped) = watch::channel(false);
        let objects = crate::objects::start(objects_stopped)
            .await
            .map_err(|e| StartError::Bind(config.addr, e))?;
        let state = AppState::new(db, kv, config.moderator_key.clone(), objects.url);
        if let Err(e) = crate::moderation::refresh_gauges(&state).await {
            tracing::warn!(error = %e, "moderation gauges not set at start");
        }
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|e| StartError::Bind(config.addr, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(config.addr, e))?;
        let sampler = obs_flows::ResourceSampler::builder()
            .scratch_dir(&config.data_dir)
            .start();
        let app = router(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        });
        tracing::info!(%addr, "listening");
        Ok(Self {
            addr,
            state,
            stop,
            task,
            _sampler: sampler,
            redis,
            objects_stop,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its state (for the demo's summary).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting, finishes the requests in flight, closes the signaling sessions and
    /// peers, closes the database pool and stops the Redis child.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        self.state.media.close_all(Duration::from_secs(5)).await;
        match tokio::time::timeout(Duration::from_secs(10), self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "server stopped with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "server task failed"),
            Err(_) => tracing::warn!("requests still in flight after 10 s; stopped anyway"),
        }
        self.objects_stop.send_replace(true);
        let recordings: Vec<_> = self.state.recordings().drain().collect();
        for (_, (_, flow)) in recordings {
            flow.fail("shutdown");
        }
        self.state.db.close().await;
        drop(self.redis);
    }
}

async fn connect_kv(config: &Config) -> Result<(Kv, Option<RedisChild>), StartError> {
    if let Some(url) = &config.redis_url {
        let kv = Kv::redis(url)
            .await
            .map_err(|e| StartError::Redis(obs_redis::error_type(&e).to_owned()))?;
        return Ok((kv, None));
    }
    if config.spawn_redis {
        let spawned = RedisChild::spawn(&config.data_dir.join("redis"))
            .map_err(|e| StartError::Redis(format!("redis-server did not start: {e}")))?;
        if let Some(mut child) = spawned {
            child
                .wait_ready(Duration::from_secs(5))
                .await
                .map_err(|e| StartError::Redis(e.to_string()))?;
            let kv = Kv::redis(&child.url())
                .await
                .map_err(|e| StartError::Redis(obs_redis::error_type(&e).to_owned()))?;
            tracing::info!(url = %child.url(), "started a redis-server child for sessions, cache, rate limits and the blocklist");
            return Ok((kv, Some(child)));
        }
    }
    tracing::warn!(
        "no REDIS_URL and no redis-server on PATH: sessions, the room cache, login rate limits and the blocklist live in this process (install redis-server or set REDIS_URL to share them)"
    );
    Ok((Kv::memory(), None))
}
