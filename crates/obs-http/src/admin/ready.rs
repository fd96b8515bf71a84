//! `GET /healthz` and `GET /readyz`: liveness, and every readiness check run concurrently.

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use obs_core::health::{CheckError, ReadinessCheck};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The registered checks, shared by every `/readyz` request.
pub(crate) type Checks = Arc<[Arc<dyn ReadinessCheck>]>;

/// What `/readyz` runs: checks that decide readiness, and checks reported as information only.
pub(crate) struct Readiness {
    pub(crate) checks: Checks,
    pub(crate) info: Checks,
}

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

pub(crate) async fn readyz(readiness: Arc<Readiness>) -> Response {
    let (result, info) = tokio::join!(run_checks(&readiness.checks), run_info(&readiness.info));
    match result {
        Ok(()) => Json(json!({"status": "ready", "info": info})).into_response(),
        Err((name, error)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "not_ready",
                "failed_check": name,
                "error": error.message(),
                "info": info,
            })),
        )
            .into_response(),
    }
}

/// Runs the informational checks, one after the other (they are cheap), each as a readiness
/// check would run: `{"name": {"ok": true}}` or `{"name": {"ok": false, "message": "…"}}`.
async fn run_info(
    checks: &[Arc<dyn ReadinessCheck>],
) -> serde_json::Map<String, serde_json::Value> {
    let mut info = serde_json::Map::new();
    for check in checks {
        let entry = match run_checks(std::slice::from_ref(check)).await {
            Ok(()) => json!({"ok": true}),
            Err((_, error)) => json!({"ok": false, "message": error.message()}),
        };
        info.insert(check.name().into_owned(), entry);
    }
    info
}

/// Aborts the check's task when `/readyz` no longer waits for it (answered, or the client left).
struct Running {
    name: Cow<'static, str>,
    timeout: Duration,
    task: JoinHandle<Result<(), CheckError>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs every check in a task of its own, all at once, each bounded by its timeout. Returns the
/// first failure in registration order. A task, not just a future, so that a panicking check
/// fails alone and a check that hogs its thread still times out.
pub(crate) async fn run_checks(
    checks: &[Arc<dyn ReadinessCheck>],
) -> Result<(), (Cow<'static, str>, CheckError)> {
    let start = Instant::now();
    let running: Vec<Running> = checks
        .iter()
        .map(|check| {
            let check = Arc::clone(check);
            Running {
                name: check.name(),
                timeout: check.timeout(),
                task: tokio::spawn(async move { check.check().await }),
            }
        })
        .collect();
    for mut run in running {
        let result = match tokio::time::timeout_at(start + run.timeout, &mut run.task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) if join.is_panic() => Err(CheckError::new(format!(
                "check panicked: {}",
                panic_message(join.into_panic())
            ))),
            Ok(Err(_)) => Err(CheckError::new("check was cancelled")),
            Err(_) => Err(CheckError::timed_out(run.timeout)),
        };
        if let Err(error) = result {
            return Err((run.name.clone(), error));
        }
    }
    Ok(())
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast_ref::<&str>().map_or_else(
            || "non-string panic payload".to_owned(),
            |s| (*s).to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use obs_core::health::check_fn;

    fn checks(list: Vec<Arc<dyn ReadinessCheck>>) -> Vec<Arc<dyn ReadinessCheck>> {
        list
    }

    #[tokio::test]
    async fn first_failure_in_registration_order() {
        let list = checks(vec![
            Arc::new(check_fn("a", || async { Ok(()) })),
            Arc::new(check_fn("b", || async { Err("b down".into()) })),
            Arc::new(check_fn("c", || async { Err("c down".into()) })),
        ]);
        let (name, error) = run_checks(&list).await.unwrap_err();
        assert_eq!((&*name, error.message()), ("b", "b down"));
        assert_eq!(run_checks(&list[..1]).await, Ok(()));
        assert_eq!(run_checks(&[]).await, Ok(()));
    }

    #[tokio::test]
    async fn timeouts_and_panics_are_failures() {
        let slow = check_fn("slow", || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        })
        .with_timeout(Duration::from_millis(20));
        let (name, error) = run_checks(&checks(vec![Arc::new(slow)])).await.unwrap_err();
        assert_eq!((&*name, error.message()), ("slow", "timed out after 20 ms"));

        let panics = check_fn("boom", || async { panic!("kaboom") });
        let (name, error) = run_checks(&checks(vec![Arc::new(panics)]))
            .await
            .unwrap_err();
        assert_eq!(
            (&*name, error.message()),
            ("boom", "check panicked: kaboom")
        );
    }
}
