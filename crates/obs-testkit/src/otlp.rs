//! An in-process OTLP receiver: gRPC (tonic, from opentelemetry-proto) and HTTP/protobuf, on
//! 127.0.0.1, running on its own thread so it serves whatever runtime the test uses.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::response::IntoResponse as _;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prost::Message as _;
use tokio::sync::oneshot;

/// One span as the receiver got it, flattened with its resource's `service.name`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedSpan {
    /// The span name.
    pub name: String,
    /// The trace id, lowercase hex.
    pub trace_id: String,
    /// The span id, lowercase hex.
    pub span_id: String,
    /// The parent span id, lowercase hex, empty for a root.
    pub parent_span_id: String,
    /// The OTLP span kind (1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    pub kind: i32,
    /// The OTLP status code (0 unset, 1 ok, 2 error).
    pub status_code: i32,
    /// The attributes, values rendered as strings.
    pub attributes: Vec<(String, String)>,
    /// The names of the span's events.
    pub events: Vec<String>,
    /// When the span started, in nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// When the span ended, in nanoseconds since the Unix epoch.
    pub end_time_unix_nano: u64,
    /// The resource's `service.name`.
    pub service_name: String,
    /// Every resource attribute.
    pub resource: Vec<(String, String)>,
}

impl ReceivedSpan {
    /// The value of an attribute, if present.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// How long the span lasted (zero if its end precedes its start).
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(
            self.end_time_unix_nano
                .saturating_sub(self.start_time_unix_nano),
        )
    }
}

type Store = Arc<Mutex<Vec<ExportTraceServiceRequest>>>;

#[derive(Clone)]
struct Collector {
    store: Store,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// An OTLP trace receiver on 127.0.0.1 (gRPC and HTTP/protobuf on two ports).
///
/// ```
/// let receiver = obs_testkit::OtlpReceiver::start().unwrap();
/// assert!(receiver.grpc_endpoint().starts_with("http://127.0.0.1:"));
/// assert!(receiver.spans().is_empty());
/// ```
#[derive(Debug)]
pub struct OtlpReceiver {
    store: Store,
    grpc: SocketAddr,
    http: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Collector")
    }
}

impl OtlpReceiver {
    /// Starts the receiver on a thread of its own.
    ///
    /// # Errors
    /// When the ports cannot be bound or the thread cannot start.
    pub fn start() -> std::io::Result<Self> {
        let store = Store::default();
        let grpc_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let http_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        grpc_listener.set_nonblocking(true)?;
        http_listener.set_nonblocking(true)?;
        let (grpc, http) = (grpc_listener.local_addr()?, http_listener.local_addr()?);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let collector = Collector {
            store: store.clone(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("otlp-receiver".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let grpc_listener = tokio::net::TcpListener::from_std(grpc_listener)
                        .expect("receiver: register gRPC listener");
                    let http_listener = tokio::net::TcpListener::from_std(http_listener)
                        .expect("receiver: register HTTP listener");
                    let http_store = collector.store.clone();
                    let app = axum::Router::new().route(
                        "/v1/traces",
                        axum::routing::post(move |body: Bytes| {
                            let store = http_store.clone();
                            async move {
                                match ExportTraceServiceRequest::decode(body) {
                                    Ok(req) => {
                                        store
                                            .lock()
                                            .unwrap_or_else(PoisonError::into_inner)
                                            .push(req);
                                        (
                                            [("content-type", "application/x-protobuf")],
                                            ExportTraceServiceResponse {
                                                partial_success: None,
                                            }
                                            .encode_to_vec(),
                                        )
                                            .into_response()
                                    }
                                    Err(_) => (axum::http::StatusCode::BAD_REQUEST, "bad protobuf")
                                        .into_response(),
                                }
                            }
                        }),
                    );
                    let grpc_server = tonic::transport::Server::builder()
                        .add_service(TraceServiceServer::new(collector))
                        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(
                            grpc_listener,
                        ));
                    let http_server = axum::serve(http_listener, app);
                    tokio::select! {
                        _ = grpc_server => {}
                        _ = http_server => {}
                        _ = stop_rx => {}
                    }
                });
            })?;
        Ok(Self {
            store,
            grpc,
            http,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The gRPC endpoint, for `OTEL_EXPORTER_OTLP_ENDPOINT` with protocol `grpc`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// The HTTP endpoint, for `OTEL_EXPORTER_OTLP_ENDPOINT` with protocol `http/protobuf`.
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Every export request received so far.
    pub fn requests(&self) -> Vec<ExportTraceServiceRequest> {
        self.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        let requests = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        for request in requests.iter() {
            for rs in &request.resource_spans {
                let resource: Vec<(String, String)> = rs
                    .resource
                    .as_ref()
                    .map(|r| r.attributes.iter().map(attribute).collect())
                    .unwrap_or_default();
                let service_name = resource
                    .iter()
                    .find(|(k, _)| k == "service.name")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                for ss in &rs.scope_spans {
                    for span in &ss.spans {
                        out.push(ReceivedSpan {
                            name: span.name.clone(),
                            trace_id: hex(&span.trace_id),
                            span_id: hex(&span.span_id),
                            parent_span_id: hex(&span.parent_span_id),
                            kind: span.kind,
                            status_code: span.status.as_ref().map_or(0, |s| s.code),
                            attributes: span.attributes.iter().map(attribute).collect(),
                            events: span.events.iter().map(|e| e.name.clone()).collect(),
                            start_time_unix_nano: span.start_time_unix_nano,
                            end_time_unix_nano: span.end_time_unix_nano,
                            service_name: service_name.clone(),
                            resource: resource.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Waits until `done` holds for the spans received, polling every 10 ms, at most `timeout`.
    /// Returns the spans either way; assert on them.
    pub fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if done(&spans) || Instant::now() >= deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until a span named `name` arrived, at most `timeout`.
    pub fn wait_for_span(&self, name: &str, timeout: Duration) -> Option<ReceivedSpan> {
        self.wait_for(timeout, |s| s.iter().any(|s| s.name == name))
            .into_iter()
            .find(|s| s.name == name)
    }

    /// Stops serving: later exports fail with a refused connection.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(kv: &KeyValue) -> (String, String) {
    (
        kv.key.clone(),
        kv.value.as_ref().map(render).unwrap_or_default(),
    )
}

fn render(value: &AnyValue) -> String {
    match &value.value {
        Some(AnyValueKind::StringValue(s)) => s.clone(),
        Some(AnyValueKind::BoolValue(b)) => b.to_string(),
        Some(AnyValueKind::IntValue(i)) => i.to_string(),
        Some(AnyValueKind::DoubleValue(d)) => d.to_string(),
        Some(AnyValueKind::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(render).collect();
            format!("[{}]", items.join(","))
        }
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}
