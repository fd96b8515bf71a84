//! The secret-leak corpus: 50 distinct secrets placed everywhere a service handles them (URL
//! credentials, path and query; request headers; JSON, form and text request bodies; response
//! headers and JSON and text bodies; a panic message; application log lines with Debug-formatted
//! headers; the errors of `instrument`ed operations and `#[tracing::instrument(err)]` functions;
//! the client layer's outgoing requests and their responses), driven through a real axum server
//! with [`HttpLayer`] and the [`ClientLayer`] on 127.0.0.1. Every exported span (names,
//! attributes, events, status, resource), every log line and the `/metrics` output is searched:
//! no secret may appear, with the defaults and with every capture option on, in text and in JSON
//! logs. Values obs records as ids or status words must stay readable.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use http::{HeaderMap, HeaderName, Request, StatusCode};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use obs_core::{LogFormat, ObsConfig};
use obs_http::server::BodyCaptureLayer;
use obs_http::{ClientLayer, HttpLayer};
use obs_testkit::{LogCapture, MetricsSnapshot, OtlpReceiver, isolated};
use tower::{Service as _, ServiceBuilder, ServiceExt as _};

const WAIT: Duration = Duration::from_secs(10);
/// A caller's request id: an id, not a secret.
const REQUEST_ID: &str = "550e8400-e29b-41d4-a716-446655440000";

// Shape-only secrets: found by what they look like, wherever they are.
const JWT_PATH: &str = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAidXNlcjAiLCAiaWF0IjogMTcwMDkyNzA3NX0.uHxP3zGf0_y0DD9RtSKYMm-iIPqg7vAjEJqsbp-vNsU";
const JWT_QUERY: &str = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAidXNlcjEiLCAiaWF0IjogMTcwMDMwNDU2Mn0.1Vf5uANS02gXjU04nw9Ur54vJxtjKQDxJu4f58MADqE";
const JWT_BEARER: &str = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAidXNlcjIiLCAiaWF0IjogMTcwMDQ4ODYyMX0.-3ihBMFrVBosnW1Z1gAYLjdd4sbiXBSS2KArBiFFDHU";
const JWT_JSON_NOTE: &str = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAidXNlcjMiLCAiaWF0IjogMTcwMDY2OTA0OX0.6U3vUigktgxoGARMCB6juJlH1cmtpbRojnlDkmJbUVk";
const JWT_TEXT_RESPONSE: &str = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAidXNlcjQiLCAiaWF0IjogMTcwMDE4MDI3Nn0.nC_xVXVnNlputYDxKRqFjOS7Ii4L7dPuGu77Xn8Mt6w";
const JWT_CLIENT_PATH: &str = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAidXNlcjUiLCAiaWF0IjogMTcwMDUyMDMwOH0.BenQf3vXNbQbNAO_CmNILryaxhtj2EEScXZlGS9d_7A";
const HEX_PATH: &str = "bb89b0fae22b6e87d78a25169d01c95f4f68e78a";
const HEX_QUERY: &str = "019de0d168c9ff0af9acd195cd4f92f729f3d9ac";
const HEX_PANIC: &str = "da9c8dbf1e8bbf7ba1859c42ec734bd6f5aa17a3";
const HEX_LOG: &str = "a97c8e0540e36d1792bdf68a43c3d5905544acfdfb5e93092f9712ac5b5c2665";
const B64_PATH: &str = "nXe5r08UE0gcvwcmiClDA1GknUgwMDGO";
const B64_HEADER: &str = "Qc25g7JzupyvuSRIDowTlOVS1tLmnMkU";
const B64_TEXT_BODY: &str = "jeSORnItYJ5fGe6Oyp5nP44OiMrvoQnH";
const B64_ERROR: &str = "u9aXynzBkMaPpw1M4TzKWqVhZkK5l7as";
const BASIC: &str = "c3ZjOnZ5VWZBZm54TnZpeA==";
const GITHUB_TOKEN: &str = "ghp_uAN17isQJ6ZNKPTxf18E4g8uSBogCAHbft4I";
const AWS_KEY_ID: &str = "AKIAK8YA6TXT1XUCUBZ9";
const STRIPE_KEY: &str = "sk_live_RYGL9Idou7JVRLT3BQBp9iZp";
const SLACK_TOKEN: &str = "xoxb-329572508534-CuniAtyrBqSpbEjqn98HWeqA";
// Named secrets: found by the name they are given (header, parameter, field or key).
const URL_PASSWORD: &str = "zhhnu7d5ll";
const Q_TOKEN: &str = "21tj296y83";
const Q_PWD: &str = "o3appf9yc9";
const Q_SESSION_ID: &str = "vbt8n8o87g";
const Q_ACCESS_KEY: &str = "jnwgcq9s92";
const Q_AUTH: &str = "0f06zu3oei";
const Q_CODE: &str = "v72rllki6p";
const Q_SIG: &str = "mt9glj4hde";
const Q_CLIENT_SECRET: &str = "u4ozahf264";
const COOKIE: &str = "r0g9chtmgv";
const API_KEY_HEADER: &str = "3mqgqs7ahc";
const AUTH_TOKEN_HEADER: &str = "siq2yi444j";
const JSON_PASSWORD: &str = "hunter2-7f3kq";
const JSON_NESTED_KEY: &str = "k9x2-nested-apikey";
const FORM_PASSWORD: &str = "form-pw-8812x";
const FORM_OTP: &str = "otp-secret-55k1";
const TEXT_BODY_TOKEN: &str = "txt-tok-91jd2";
const SET_COOKIE: &str = "sid-4f9c2e1a";
const RESPONSE_ACCESS_TOKEN: &str = "resp-at-77q1w";
const RESPONSE_REFRESH_TOKEN: &str = "resp-rt-0p2m3";
const TEXT_RESPONSE_PASSWORD: &str = "plainpw-2k9xv";
const TEXT_RESPONSE_API_KEY: &str = "plainkey-5n1cc";
const PANIC_PASSWORD: &str = "panic-pw-hunter2";
const PANIC_TOKEN: &str = "panic-tok-3v8d";
const PANIC_DSN_PASSWORD: &str = "dsnpw-6c1qz";
const OP_DSN_PASSWORD: &str = "opdsn-91kd7";
const OP_PASSWORD: &str = "op-pw-2b7xq";
const INSTRUMENT_ARG_PASSWORD: &str = "arg-pw-5tq91";
const CLIENT_URL_PASSWORD: &str = "cli-pw-1x8vb";
const CLIENT_ACCESS_TOKEN: &str = "cli-at-0q3nf";
const CLIENT_SIGNATURE: &str = "cli-sig-7yy2d";
const DOWNSTREAM_SET_COOKIE: &str = "down-sid-4j2k";
const DOWNSTREAM_SECRET: &str = "down-secret-9z7u";

const CORPUS: &[&str] = &[
    JWT_PATH,
    JWT_QUERY,
    JWT_BEARER,
    JWT_JSON_NOTE,
    JWT_TEXT_RESPONSE,
    JWT_CLIENT_PATH,
    HEX_PATH,
    HEX_QUERY,
    HEX_PANIC,
    HEX_LOG,
    B64_PATH,
    B64_HEADER,
    B64_TEXT_BODY,
    B64_ERROR,
    BASIC,
    GITHUB_TOKEN,
    AWS_KEY_ID,
    STRIPE_KEY,
    SLACK_TOKEN,
    URL_PASSWORD,
    Q_TOKEN,
    Q_PWD,
    Q_SESSION_ID,
    Q_ACCESS_KEY,
    Q_AUTH,
    Q_CODE,
    Q_SIG,
    Q_CLIENT_SECRET,
    COOKIE,
    API_KEY_HEADER,
    AUTH_TOKEN_HEADER,
    JSON_PASSWORD,
    JSON_NESTED_KEY,
    FORM_PASSWORD,
    FORM_OTP,
    TEXT_BODY_TOKEN,
    SET_COOKIE,
    RESPONSE_ACCESS_TOKEN,
    RESPONSE_REFRESH_TOKEN,
    TEXT_RESPONSE_PASSWORD,
    TEXT_RESPONSE_API_KEY,
    PANIC_PASSWORD,
    PANIC_TOKEN,
    PANIC_DSN_PASSWORD,
    OP_DSN_PASSWORD,
    OP_PASSWORD,
    INSTRUMENT_ARG_PASSWORD,
    CLIENT_URL_PASSWORD,
    CLIENT_ACCESS_TOKEN,
    CLIENT_SIGNATURE,
    DOWNSTREAM_SET_COOKIE,
    DOWNSTREAM_SECRET,
];

type HttpClient = obs_http::client::Client<Client<HttpConnector, Body>>;

fn client() -> HttpClient {
    ServiceBuilder::new()
        .layer(ClientLayer::new())
        .service(Client::builder(TokioExecutor::new()).build_http::<Body>())
}

#[tracing::instrument(err)]
async fn fetch_profile(user: &str, password: &str) -> Result<(), String> {
    Err(format!(
        "profile service rejected {user}: Bearer {B64_ERROR} (key {STRIPE_KEY})"
    ))
}

async fn login(headers: HeaderMap, body: String) -> impl IntoResponse {
    // The way applications log headers: Debug-formatted, one or all of them.
    tracing::info!(
        "login attempt, auth header {:?}",
        headers.get("authorization")
    );
    tracing::debug!(?headers, "login headers");
    tracing::info!(len = body.len(), "login body read");
    (
        [
            ("set-cookie", format!("sid={SET_COOKIE}; Path=/; HttpOnly")),
            ("content-type", "application/json".to_owned()),
            ("x-debug-token", B64_HEADER.to_owned()),
        ],
        format!(
            r#"{{"ok":true,"access_token":"{RESPONSE_ACCESS_TOKEN}","refresh_token":"{RESPONSE_REFRESH_TOKEN}","status":"Unavailable"}}"#
        ),
    )
}

async fn note(body: String) -> impl IntoResponse {
    tracing::info!(note = %body, "note received");
    (
        [("content-type", "text/plain; charset=utf-8")],
        format!(
            "saved.\nyour api key: {TEXT_RESPONSE_API_KEY}\npassword={TEXT_RESPONSE_PASSWORD}\nsession {JWT_TEXT_RESPONSE}\n"
        ),
    )
}

async fn db() -> impl IntoResponse {
    let dsn = format!("postgres://app:{OP_DSN_PASSWORD}@db.internal:5432/app");
    let result = obs_core::instrument(obs_core::Operation::new("db.login"), async {
        // A driver's error, as it carries the DSN.
        Err::<(), _>(std::io::Error::other(format!(
            "connect to {dsn} failed: password authentication failed (password={OP_PASSWORD})"
        )))
    })
    .await;
    if let Err(error) = result {
        tracing::error!(%error, "database call failed");
    }
    let _ = fetch_profile("bob", INSTRUMENT_ARG_PASSWORD).await;
    tracing::warn!("cache miss for digest {HEX_LOG}; key {AWS_KEY_ID}; status: Unavailable");
    StatusCode::SERVICE_UNAVAILABLE
}

async fn panics() -> &'static str {
    panic!(
        "db login failed: password={PANIC_PASSWORD} token={PANIC_TOKEN} dsn=postgres://app:{PANIC_DSN_PASSWORD}@db/app digest {HEX_PANIC}"
    )
}

/// A handler that calls a downstream service through the client layer.
async fn proxy(axum::extract::State(port): axum::extract::State<u16>) -> impl IntoResponse {
    let request = Request::get(format!(
        "http://svc:{CLIENT_URL_PASSWORD}@127.0.0.1:{port}/downstream/{JWT_CLIENT_PATH}?access_token={CLIENT_ACCESS_TOKEN}&signature={CLIENT_SIGNATURE}&page=2"
    ))
    .header("authorization", format!("Bearer {JWT_BEARER}"))
    .body(Body::empty())
    .unwrap();
    let mut client = client();
    let response = client.ready().await.unwrap().call(request).await.unwrap();
    tracing::info!(headers = ?response.headers(), "downstream answered");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    tracing::debug!(body = %String::from_utf8_lossy(&body), "downstream body");
    StatusCode::OK
}

async fn downstream(Path(_key): Path<String>) -> impl IntoResponse {
    (
        [
            ("set-cookie", format!("session={DOWNSTREAM_SET_COOKIE}")),
            ("content-type", "application/json".to_owned()),
        ],
        format!(r#"{{"client_secret":"{DOWNSTREAM_SECRET}","github":"{GITHUB_TOKEN}"}}"#),
    )
}

fn app(capture: bool, port: u16) -> Router {
    let router = Router::new()
        .route("/reset/{token}", get(|| async { "ok" }))
        .route("/files/{digest}/{key}", get(|| async { "ok" }))
        .route("/search", get(|| async { "ok" }))
        .route("/login", post(login))
        .route("/note", post(note))
        .route(
            "/form",
            post(|body: String| async move { body.len().to_string() }),
        )
        .route("/db", get(db))
        .route("/panic", get(panics))
        .route("/proxy", get(proxy))
        .route("/downstream/{key}", get(downstream))
        .with_state(port);
    if !capture {
        return router.layer(HttpLayer::new());
    }
    let mut layer = HttpLayer::new().trust_forwarded_headers(true);
    for name in [
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "x-auth-token",
        "x-upstream",
        "x-forwarded-for",
        "content-type",
        "user-agent",
    ] {
        layer = layer.record_request_header(HeaderName::from_static(name));
    }
    for name in ["set-cookie", "content-type", "x-debug-token"] {
        layer = layer.record_response_header(HeaderName::from_static(name));
    }
    router
        .layer(BodyCaptureLayer::new().max_bytes(64 * 1024))
        .layer(layer)
}

/// The requests of the corpus, each through the client layer.
fn requests(addr: std::net::SocketAddr) -> Vec<Request<Body>> {
    let json = format!(
        r#"{{"user":"bob","password":"{JSON_PASSWORD}","profile":{{"api_key":"{JSON_NESTED_KEY}"}},"note":"forwarded {JWT_JSON_NOTE}"}}"#
    );
    vec![
        Request::get(format!("http://{addr}/reset/{JWT_PATH}"))
            .body(Body::empty())
            .unwrap(),
        Request::get(format!("http://{addr}/files/{HEX_PATH}/{B64_PATH}"))
            .body(Body::empty())
            .unwrap(),
        Request::get(format!(
            "http://user:{URL_PASSWORD}@{addr}/search?q=shoes&token={Q_TOKEN}&pwd={Q_PWD}&session_id={Q_SESSION_ID}&access_key={Q_ACCESS_KEY}&auth={Q_AUTH}&jwt={JWT_QUERY}&code={Q_CODE}&sig={Q_SIG}&client_secret={Q_CLIENT_SECRET}&state={HEX_QUERY}&page=1"
        ))
        .header("x-request-id", REQUEST_ID)
        .body(Body::empty())
        .unwrap(),
        Request::post(format!("http://{addr}/login"))
            .header("authorization", format!("Bearer {JWT_BEARER}"))
            .header("proxy-authorization", format!("Basic {BASIC}"))
            .header("cookie", format!("theme=dark; session={COOKIE}"))
            .header("x-api-key", API_KEY_HEADER)
            .header("x-auth-token", AUTH_TOKEN_HEADER)
            .header("x-upstream", format!("Bearer {SLACK_TOKEN}"))
            .header("x-forwarded-for", "203.0.113.7")
            .header("content-type", "application/json")
            .body(Body::from(json))
            .unwrap(),
        Request::post(format!("http://{addr}/form"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "username=bob&password={FORM_PASSWORD}&otp_secret={FORM_OTP}&remember=1"
            )))
            .unwrap(),
        Request::post(format!("http://{addr}/note"))
            .header("content-type", "text/plain")
            .body(Body::from(format!(
                "token={TEXT_BODY_TOKEN} then the key {B64_TEXT_BODY} and done"
            )))
            .unwrap(),
        Request::get(format!("http://{addr}/db"))
            .body(Body::empty())
            .unwrap(),
        Request::get(format!("http://{addr}/panic"))
            .body(Body::empty())
            .unwrap(),
        Request::get(format!("http://{addr}/proxy"))
            .body(Body::empty())
            .unwrap(),
    ]
}

/// Where each secret was found; empty when nothing leaked.
fn leaks(places: &[(&str, &str)]) -> Vec<String> {
    let mut found = Vec::new();
    for secret in CORPUS {
        for (place, text) in places {
            if let Some(at) = text.find(secret) {
                let start = text[..at]
                    .char_indices()
                    .rev()
                    .nth(80)
                    .map_or(0, |(i, _)| i);
                let end = text[at..]
                    .char_indices()
                    .nth(secret.len() + 40)
                    .map_or(text.len(), |(i, _)| at + i);
                found.push(format!("{secret} in {place}: …{}…", &text[start..end]));
            }
        }
    }
    found
}

fn run(capture: bool, format: LogFormat) {
    let receiver = OtlpReceiver::start().unwrap();
    let logs = LogCapture::new();
    let guard = obs_core::init(
        ObsConfig::builder()
            .service_name("secrets")
            .endpoint(receiver.grpc_endpoint())
            .log_writer(logs.writer())
            .log_format(format)
            .log_filter("trace")
            .build(),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (statuses, metrics_text) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app(capture, addr.port()).merge(obs_http::admin::AdminRouter::new().build());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let mut statuses = Vec::new();
        for request in requests(addr) {
            let mut client = client();
            let response = client.ready().await.unwrap().call(request).await.unwrap();
            statuses.push(response.status().as_u16());
            response.into_body().collect().await.unwrap();
        }
        let metrics = Client::builder(TokioExecutor::new())
            .build_http::<Body>()
            .request(
                Request::get(format!("http://{addr}/metrics"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let text = metrics.into_body().collect().await.unwrap().to_bytes();
        (statuses, String::from_utf8_lossy(&text).into_owned())
    });
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 503, 500, 200]);
    let _ = guard.force_flush();
    // Nine server spans, the proxy's downstream server span, ten client spans, the operation.
    let spans = receiver.wait_for(WAIT, |s| s.len() >= 21);
    let exported = format!("{:?}", receiver.requests());
    let log_text = logs.contents();
    let metrics_text = format!("{metrics_text}\n{}", MetricsSnapshot::current().text);

    let found = leaks(&[
        ("spans", &exported),
        ("logs", &log_text),
        ("metrics", &metrics_text),
    ]);
    assert!(
        found.is_empty(),
        "{} of {} secrets leaked:\n{}",
        found.len(),
        CORPUS.len(),
        found.join("\n")
    );

    // What obs records as ids, names and status words stays readable.
    let login = spans
        .iter()
        .find(|s| s.name == "POST /login")
        .expect("login span");
    let search = spans
        .iter()
        .find(|s| s.name == "GET /search")
        .expect("search span");
    let query = search.attr("url.query").expect("url.query");
    assert!(
        query.starts_with("q=shoes&token=[REDACTED]") && query.ends_with("&page=1"),
        "{query}"
    );
    assert_eq!(search.attr("request_id"), Some(REQUEST_ID));
    let generated = login.attr("request_id").expect("request_id");
    assert!(
        generated.len() == 32 && generated.bytes().all(|b| b.is_ascii_hexdigit()),
        "a generated 32-hex request id, kept whole: {generated}"
    );
    if capture {
        let body = login
            .attr("http.response.body.content")
            .expect("response body");
        assert!(body.contains(r#""status":"Unavailable""#), "{body}");
        let note = spans
            .iter()
            .find(|s| s.name == "POST /note")
            .expect("note span");
        let text = note
            .attr("http.response.body.content")
            .expect("text/plain response body");
        assert!(
            text.starts_with("saved.\nyour api key: [REDACTED]\npassword=[REDACTED]"),
            "{text}"
        );
        assert_eq!(
            login.attr("http.request.header.x-forwarded-for"),
            Some("[203.0.113.7]")
        );
        assert_eq!(login.attr("client.address"), Some("203.0.113.7"));
    }
    let trace_id = &login.trace_id;
    assert!(
        log_text.contains(trace_id.as_str()),
        "the trace id stays readable in the logs"
    );
    assert!(log_text.contains("status: Unavailable"), "{log_text}");
    assert!(
        metrics_text.contains("http_server_requests_total")
            || metrics_text.contains("http_requests_total")
    );
}

#[test]
fn corpus_defaults_text_logs() {
    isolated("secrets::corpus_defaults_text_logs", || {
        run(false, LogFormat::Text);
    });
}

#[test]
fn corpus_defaults_json_logs() {
    isolated("secrets::corpus_defaults_json_logs", || {
        run(false, LogFormat::Json);
    });
}

#[test]
fn corpus_every_capture_option_text_logs() {
    isolated("secrets::corpus_every_capture_option_text_logs", || {
        run(true, LogFormat::Text);
    });
}

#[test]
fn corpus_every_capture_option_json_logs() {
    isolated("secrets::corpus_every_capture_option_json_logs", || {
        run(true, LogFormat::Json);
    });
}
