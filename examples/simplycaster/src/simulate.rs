//! Virtual users over real HTTP, WebSocket and webrtc-rs: they register, log in (one also with a
//! wrong password), host rooms or join them, quick-match, connect media and send audio, record,
//! report a troll, leave and log out; a moderator decides the reports.

mod client;
mod media;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

pub use client::Client;
use media::MediaClient;

/// What a simulation does.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Simulation {
    /// Virtual users (besides the moderator and the troll).
    pub users: usize,
    /// How long they keep going.
    pub duration: Duration,
    /// Whether they connect WebRTC peers and send audio.
    pub media: bool,
    /// The server's moderator key, for the moderator user.
    pub moderator_key: String,
    /// Whether to draw a progress bar on stderr.
    pub progress: bool,
}

impl Simulation {
    /// `users` users for `duration`, with media, and a progress bar.
    pub fn new(users: usize, duration: Duration, moderator_key: impl Into<String>) -> Self {
        Self {
            users: users.max(1),
            duration,
            media: true,
            moderator_key: moderator_key.into(),
            progress: true,
        }
    }

    /// Without WebRTC peers.
    pub fn without_media(mut self) -> Self {
        self.media = false;
        self
    }

    /// Without the progress bar.
    pub fn quiet(mut self) -> Self {
        self.progress = false;
        self
    }
}

/// What the virtual users saw.
#[derive(Debug, Default)]
pub struct Stats {
    pub(crate) requests: AtomicU64,
    pub(crate) server_errors: AtomicU64,
    pub(crate) client_errors: AtomicU64,
    pub(crate) latencies_ms: Mutex<Vec<f64>>,
    pub(crate) rooms: AtomicU64,
    pub(crate) matches: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) media_failures: AtomicU64,
    pub(crate) recordings: AtomicU64,
    pub(crate) reports: AtomicU64,
    pub(crate) logins: AtomicU64,
}

/// A simulation's summary.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Summary {
    /// HTTP requests sent.
    pub requests: u64,
    /// Of which answered 5xx or not at all.
    pub server_errors: u64,
    /// Of which answered 4xx (wrong passwords, rate limits, a blocked troll: on purpose).
    pub client_errors: u64,
    /// Median request latency, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// Rooms created (by hosts and the lobby).
    pub rooms: u64,
    /// Quick matches made.
    pub matches: u64,
    /// Client peers that reached `connected`.
    pub connections: u64,
    /// Client peers that did not.
    pub media_failures: u64,
    /// Recordings made.
    pub recordings: u64,
    /// Reports filed.
    pub reports: u64,
    /// Successful logins.
    pub logins: u64,
}

impl Stats {
    fn summary(&self) -> Summary {
        let mut latencies = self
            .latencies_ms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        latencies.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            if latencies.is_empty() {
                0.0
            } else {
                let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
                latencies[i.min(latencies.len() - 1)]
            }
        };
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Summary {
            requests: get(&self.requests),
            server_errors: get(&self.server_errors),
            client_errors: get(&self.client_errors),
            p50_ms: pct(0.5),
            p95_ms: pct(0.95),
            rooms: get(&self.rooms),
            matches: get(&self.matches),
            connections: get(&self.connections),
            media_failures: get(&self.media_failures),
            recordings: get(&self.recordings),
            reports: get(&self.reports),
            logins: get(&self.logins),
        }
    }
}

/// What the users share: the rooms open for guests, and where the troll is.
#[derive(Debug, Default)]
struct Board {
    rooms: Mutex<Vec<String>>,
    troll: Mutex<Option<(String, String)>>,
}

impl Board {
    fn open_rooms(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn troll(&self) -> Option<(String, String)> {
        self.troll
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Ctx {
    client: Client,
    stats: Arc<Stats>,
    board: Board,
    deadline: Instant,
    media: bool,
    run: String,
}

impl Ctx {
    fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Runs the simulation against the server at `addr`.
pub async fn run(addr: std::net::SocketAddr, sim: &Simulation) -> Summary {
    let stats = Arc::new(Stats::default());
    let ctx = Arc::new(Ctx {
        client: Client::with_stats(addr, Arc::clone(&stats)),
        stats: Arc::clone(&stats),
        board: Board::default(),
        deadline: Instant::now() + sim.duration,
        media: sim.media,
        run: format!("{:06x}", rand::random::<u32>() & 0xff_ffff),
    });
    let bar = progress_bar(sim);
    let ticker = bar.clone().map(|bar| {
        let stats = Arc::clone(&stats);
        let start = Instant::now();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                bar.set_position(start.elapsed().as_secs());
                bar.set_message(format!(
                    "{} requests, {} rooms, {} peers connected",
                    stats.requests.load(Ordering::Relaxed),
                    stats.rooms.load(Ordering::Relaxed),
                    stats.connections.load(Ordering::Relaxed),
                ));
            }
        })
    });
    let mut tasks = Vec::new();
    for i in 0..sim.users {
        let ctx = Arc::clone(&ctx);
        tasks.push(tokio::spawn(async move {
            // Start a little apart, as real users do.
            tokio::time::sleep(Duration::from_millis(40 * i as u64)).await;
            user(&ctx, i).await;
        }));
    }
    {
        let ctx1 = Arc::clone(&ctx);
        tasks.push(tokio::spawn(async move { troll(&ctx1).await }));
        let ctx2 = Arc::clone(&ctx);
        let key = sim.moderator_key.clone();
        tasks.push(tokio::spawn(async move { moderator(&ctx2, &key).await }));
    }
    for task in tasks {
        let _ = task.await;
    }
    if let Some(ticker) = ticker {
        ticker.abort();
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    stats.summary()
}

fn progress_bar(sim: &Simulation) -> Option<ProgressBar> {
    if !sim.progress {
        return None;
    }
    let bar = ProgressBar::new(sim.duration.as_secs().max(1));
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{bar:30}] {pos:>2}/{len} s  {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

/// A user's name and password in this run.
fn credentials(ctx: &Ctx, who: &str) -> (String, String) {
    (
        format!("vu-{}-{who}", ctx.run),
        format!("pw-{:032x}", rand::random::<u128>()),
    )
}

/// Registers and logs in: the user id and a session token.
async fn sign_up(ctx: &Ctx, who: &str, moderator_key: Option<&str>) -> Option<(String, String)> {
    let (name, password) = credentials(ctx, who);
    let mut body = json!({"name": name, "password": password});
    if let Some(key) = moderator_key {
        body["moderator_key"] = json!(key);
    }
    ctx.client.post("/auth/register", None, &body).await?;
    let login = ctx
        .client
        .post(
            "/auth/login",
            None,
            &json!({"name": name, "password": password}),
        )
        .await?;
    ctx.stats.logins.fetch_add(1, Ordering::Relaxed);
    Some((
        login["user_id"].as_str()?.to_owned(),
        login["token"].as_str()?.to_owned(),
    ))
}

async fn user(ctx: &Ctx, i: usize) {
    let who = format!("u{i}");
    if i == 0 {
        // Someone guessing a password: wrong passwords until the login rate limit answers 429
        // (failed logins and the rate limit counted as security events).
        let (name, _) = credentials(ctx, "guessed");
        for attempt in 0..=crate::kv::LOGIN_LIMIT {
            let _ = ctx
                .client
                .post(
                    "/auth/login",
                    None,
                    &json!({"name": name, "password": format!("guess-{attempt}")}),
                )
                .await;
        }
    } else if i.is_multiple_of(4) {
        // A mistyped password: one failed login.
        let (name, _) = credentials(ctx, &who);
        let _ = ctx
            .client
            .post(
                "/auth/login",
                None,
                &json!({"name": name, "password": "wrong password"}),
            )
            .await;
    }
    let Some((user_id, token)) = sign_up(ctx, &who, None).await else {
        return;
    };
    while ctx.time_left() > Duration::from_secs(4) {
        if i.is_multiple_of(2) {
            host_round(ctx, &user_id, &token).await;
        } else {
            guest_round(ctx, &user_id, &token).await;
        }
    }
    let _ = ctx
        .client
        .post("/auth/logout", Some(&token), &json!({}))
        .await;
}

async fn connect(ctx: &Ctx, room: &str, user_id: &str, token: &str) -> Option<MediaClient> {
    if !ctx.media {
        return None;
    }
    match MediaClient::connect(ctx.client.addr(), room, user_id, token).await {
        Ok(media) => {
            ctx.stats.connections.fetch_add(1, Ordering::Relaxed);
            Some(media)
        }
        Err(error) => {
            tracing::debug!(%error, "a virtual user's media did not connect");
            ctx.stats.media_failures.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

async fn host_round(ctx: &Ctx, user_id: &str, token: &str) {
    let Some(room) = ctx
        .client
        .post(
            "/rooms",
            Some(token),
            &json!({"name": "weekly episode", "max_participants": 6}),
        )
        .await
    else {
        tokio::time::sleep(Duration::from_millis(500)).await;
        return;
    };
    ctx.stats.rooms.fetch_add(1, Ordering::Relaxed);
    let Some(room_id) = room["id"].as_str().map(str::to_owned) else {
        return;
    };
    ctx.board.open_rooms().push(room_id.clone());
    let media = connect(ctx, &room_id, user_id, token).await;
    let started = ctx
        .client
        .post(
            &format!("/rooms/{room_id}/recordings/start"),
            Some(token),
            &json!({}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(2_500).min(ctx.time_left())).await;
    let _ = ctx
        .client
        .get(&format!("/rooms/{room_id}"), Some(token))
        .await;
    if started.is_some()
        && ctx
            .client
            .post(
                &format!("/rooms/{room_id}/recordings/stop"),
                Some(token),
                &json!({}),
            )
            .await
            .is_some()
    {
        ctx.stats.recordings.fetch_add(1, Ordering::Relaxed);
    }
    if let Some((troll_room, troll_id)) = ctx.board.troll()
        && troll_room == room_id
    {
        let _ = ctx
            .client
            .post(
                &format!("/rooms/{room_id}/kick"),
                Some(token),
                &json!({"user_id": troll_id}),
            )
            .await;
    }
    ctx.board.open_rooms().retain(|r| *r != room_id);
    let _ = ctx
        .client
        .post(&format!("/rooms/{room_id}/close"), Some(token), &json!({}))
        .await;
    if let Some(media) = media {
        media.close().await;
    }
}

async fn guest_round(ctx: &Ctx, user_id: &str, token: &str) {
    // Quick match first: two guests in the lobby at once get a room of their own.
    if let Some(matched) = ctx.client.post("/match", Some(token), &json!({})).await
        && let Some(room_id) = matched["room_id"].as_str()
    {
        ctx.stats.matches.fetch_add(1, Ordering::Relaxed);
        let _ = ctx
            .client
            .post(&format!("/rooms/{room_id}/leave"), Some(token), &json!({}))
            .await;
    }
    let room = {
        let rooms = ctx.board.open_rooms();
        (!rooms.is_empty()).then(|| rooms[rand::random_range(0..rooms.len())].clone())
    };
    let Some(room_id) = room else {
        tokio::time::sleep(Duration::from_millis(300)).await;
        return;
    };
    if ctx
        .client
        .post(
            &format!("/rooms/{room_id}/join"),
            Some(token),
            &json!({"type": "guest"}),
        )
        .await
        .is_none()
    {
        return;
    }
    let media = connect(ctx, &room_id, user_id, token).await;
    let _ = ctx
        .client
        .get(&format!("/rooms/{room_id}"), Some(token))
        .await;
    if let Some((troll_room, troll_id)) = ctx.board.troll()
        && troll_room == room_id
    {
        let reason = ["spam", "harassment", "inappropriate"][rand::random_range(0..3)];
        if ctx
            .client
            .post(
                &format!("/rooms/{room_id}/reports"),
                Some(token),
                &json!({"user_id": troll_id, "reason": reason}),
            )
            .await
            .is_some()
        {
            ctx.stats.reports.fetch_add(1, Ordering::Relaxed);
        }
    }
    tokio::time::sleep(Duration::from_millis(1_500).min(ctx.time_left())).await;
    let _ = ctx
        .client
        .post(&format!("/rooms/{room_id}/leave"), Some(token), &json!({}))
        .await;
    if let Some(media) = media {
        media.close().await;
    }
}

/// Joins rooms until blocked; the guests report it, the moderator blocks it.
async fn troll(ctx: &Ctx) {
    let Some((troll_id, token)) = sign_up(ctx, "troll", None).await else {
        return;
    };
    while ctx.time_left() > Duration::from_secs(4) {
        let room = ctx.board.open_rooms().first().cloned();
        let Some(room_id) = room else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        match ctx
            .client
            .request(
                reqwest::Method::POST,
                &format!("/rooms/{room_id}/join"),
                Some(&token),
                Some(&json!({})),
            )
            .await
        {
            Ok(_) => {
                *ctx.board
                    .troll
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) =
                    Some((room_id.clone(), troll_id.clone()));
                tokio::time::sleep(Duration::from_millis(1_500)).await;
            }
            Err(status) => {
                if status == 403 {
                    // Blocked by the moderator: the lobby refuses it too (matching_failed_total).
                    let _ = ctx.client.post("/match", Some(&token), &json!({})).await;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}

/// Decides the reports: the troll's are accepted, others rejected.
async fn moderator(ctx: &Ctx, key: &str) {
    let Some((_, token)) = sign_up(ctx, "moderator", Some(key)).await else {
        return;
    };
    let mut decided = 0_u32;
    while !ctx.time_left().is_zero() {
        tokio::time::sleep(Duration::from_millis(700).min(ctx.time_left())).await;
        let Some(reports) = ctx.client.get("/moderation/reports", Some(&token)).await else {
            continue;
        };
        let troll = ctx.board.troll().map(|(_, id)| id);
        for report in reports.as_array().into_iter().flatten() {
            let (Some(id), Some(reported)) =
                (report["id"].as_str(), report["reported_id"].as_str())
            else {
                continue;
            };
            // The first report is rejected (a misunderstanding), the rest against the troll accepted.
            let decision = if decided > 0 && troll.as_deref() == Some(reported) {
                "accept"
            } else {
                "reject"
            };
            decided += 1;
            let _ = ctx
                .client
                .post(
                    &format!("/moderation/reports/{id}"),
                    Some(&token),
                    &json!({"decision": decision}),
                )
                .await;
        }
    }
}
