//! The W3C Trace Context test-suite service (see the [`w3c_service`] library for what it does).
//!
//! Run it, then point the suite (w3c/trace-context, folder `test/`) at it:
//!
//! ```text
//! cargo run -p obs-examples --bin w3c_tracecontext -- 127.0.0.1:5000
//! STRICT_LEVEL=2 python test.py http://127.0.0.1:5000/test
//! ```
//!
//! What has been checked, and how: the official suite was not run in obs's development
//! environment (it has no access to the suite). `examples/tests/w3c.rs` ports every check of the
//! suite's `test.py` (the `STRICT_LEVEL=2` ones included) and runs them against this app over
//! real sockets, with raw HTTP/1.1 requests; where W3C Trace Context Level 2 changed what a
//! check expects (keys with `@`, such as `foo@=1`, are valid; a repeated key no longer discards
//! the `tracestate`, obs keeps its first entry), the port asserts Level 2. It also checks Level
//! 2's `random` flag and the `traceresponse` header this app sends. A suite written for Level 1
//! fails its vendor-format and duplicated-key checks by design.
//!
//! The sampler follows the caller (`parentbased_always_on`), so the callbacks keep the caller's
//! sampled flag, and a trace the service starts is sampled. Spans are exported
//! only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; logs show warnings and errors.

use obs_core::{ObsConfig, SamplerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5000".to_owned());
    let config = ObsConfig::builder_from_env()?
        .service_name("w3c-tracecontext")
        .sampler(SamplerConfig::ParentBasedAlwaysOn)
        .log_filter("warn")
        .build();
    let _guard = obs_core::init(config)?;

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}/test", listener.local_addr()?);
    axum::serve(listener, w3c_service::app()).await?;
    Ok(())
}
