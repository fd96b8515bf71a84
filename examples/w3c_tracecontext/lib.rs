//! The service of the [W3C Trace Context test suite](https://github.com/w3c/trace-context/tree/main/test),
//! built from obs-http's layers.
//!
//! The suite posts to `/test` a JSON array of `{"url": ..., "arguments": [...]}` actions. For each
//! action, in order, the service posts `arguments` as JSON to `url` and waits for the answer; it
//! answers the suite once every action is done. Nothing here touches a header: [`HttpLayer`]
//! continues the caller's trace in the request's server span, and [`ClientLayer`] opens a client
//! span per call and injects its `traceparent` and `tracestate`. The service also answers with
//! the Level 2 `traceresponse` header ([`HttpLayer::traceresponse`]), naming its server span.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use obs_http::client::Client;
use obs_http::{ClientLayer, HttpLayer};
use serde::Deserialize;
use tower::{Layer as _, ServiceExt as _};

/// An HTTP client that traces every call and propagates the current trace.
type TracedClient = Client<hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>>;

/// One callback the suite asks for.
#[derive(Debug, Deserialize)]
struct Action {
    url: String,
    #[serde(default)]
    arguments: serde_json::Value,
}

/// The test service: `POST /test` behind the server layer.
pub fn app() -> Router {
    let hyper = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
    Router::new()
        .route("/test", post(run_actions))
        .with_state(ClientLayer::new().layer(hyper))
        .layer(HttpLayer::new().traceresponse(true))
}

/// Makes the callbacks one after the other, inside the request's server span.
async fn run_actions(
    State(client): State<TracedClient>,
    Json(actions): Json<Vec<Action>>,
) -> Json<()> {
    for action in actions {
        if let Err(error) = call(client.clone(), action).await {
            tracing::warn!(%error, "callback failed");
        }
    }
    Json(())
}

/// Posts the action's arguments to its URL and reads the whole answer, in a `tracing` span of
/// its own: the client span is its child, as in an application that instruments its functions.
#[tracing::instrument(skip_all)]
async fn call(client: TracedClient, action: Action) -> Result<(), Box<dyn std::error::Error>> {
    let arguments = match action.arguments {
        serde_json::Value::Null => serde_json::Value::Array(Vec::new()),
        arguments => arguments,
    };
    let request = http::Request::post(action.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::from(serde_json::to_vec(&arguments)?))?;
    let response = client.oneshot(request).await?;
    response.into_body().collect().await?;
    Ok(())
}
