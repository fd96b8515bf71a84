//! The virtual users' HTTP client: JSON in and out, every request timed and counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use super::Stats;

/// An HTTP client for the app's API.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    addr: SocketAddr,
    stats: Arc<Stats>,
}

impl Client {
    /// A client of the app at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self::with_stats(addr, Arc::default())
    }

    pub(crate) fn with_stats(addr: SocketAddr, stats: Arc<Stats>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(4)
            .build()
            .unwrap_or_default();
        Self { http, addr, stats }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends a request: the JSON answer (`Null` for an empty one), or the status (0 when no
    /// answer came).
    ///
    /// # Errors
    /// The status of a non-2xx answer, or 0.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, u16> {
        let mut request = self
            .http
            .request(method, format!("http://{}{path}", self.addr));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let start = Instant::now();
        let response = request.send().await;
        let elapsed = start.elapsed().as_secs_f64() * 1_000.0;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        self.stats
            .latencies_ms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(elapsed);
        let response = match response {
            Ok(r) => r,
            Err(_) => {
                self.stats.server_errors.fetch_add(1, Ordering::Relaxed);
                return Err(0);
            }
        };
        let status = response.status();
        if status.is_server_error() {
            self.stats.server_errors.fetch_add(1, Ordering::Relaxed);
        } else if status.is_client_error() {
            self.stats.client_errors.fetch_add(1, Ordering::Relaxed);
        }
        if !status.is_success() {
            return Err(status.as_u16());
        }
        let bytes = response.bytes().await.map_err(|_| 0_u16)?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|_| 0)
    }

    /// POSTs `body`; the answer when 2xx.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Option<Value> {
        self.request(Method::POST, path, token, Some(body))
            .await
            .ok()
    }

    /// GETs `path`; the answer when 2xx.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Option<Value> {
        self.request(Method::GET, path, token, None).await.ok()
    }
}
