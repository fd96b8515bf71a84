//! Serving the admin router on an address of its own, with graceful shutdown.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Serves `router` on `addr` until `shutdown` completes, then lets in-flight requests finish.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let admin = obs_http::admin::AdminRouter::new().build();
/// let ctrl_c = async {
///     let _ = tokio::signal::ctrl_c().await;
/// };
/// obs_http::admin::serve("127.0.0.1:9090", admin, ctrl_c).await
/// # }
/// ```
///
/// # Errors
/// When `addr` cannot be bound, or accepting connections fails.
pub async fn serve(
    addr: impl ToSocketAddrs,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The admin router served in a background task; see [`AdminServer::spawn`].
///
/// Dropping the server starts its graceful shutdown without waiting for it.
pub struct AdminServer {
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl AdminServer {
    /// Binds `addr` and serves `router` on it in a spawned task. Bind port 0 and read
    /// [`local_addr`](Self::local_addr) to let the system choose the port.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use obs_http::admin::{AdminRouter, AdminServer};
    ///
    /// let server = AdminServer::spawn("127.0.0.1:0", AdminRouter::new().build()).await?;
    /// println!("admin endpoints on http://{}", server.local_addr());
    /// server.shutdown().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When `addr` cannot be bound.
    pub async fn spawn(addr: impl ToSocketAddrs, router: Router) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Self {
            local_addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections and waits for in-flight requests to finish.
    ///
    /// # Errors
    /// When serving failed, or the server task panicked.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl fmt::Debug for AdminServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}
