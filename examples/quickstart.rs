//! obs-core quickstart: logs with trace ids, spans exported over OTLP, metrics rendered.
//!
//! With no `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans go to an in-process OTLP receiver (obs-testkit's)
//! and the example prints the trace it received; with one set, they go to your collector.
//!
//! ```text
//! cargo run -p obs-examples --bin quickstart
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 LOG_FORMAT=json cargo run -p obs-examples --bin quickstart
//! ```

use std::borrow::Cow;
use std::time::Duration;

use obs_core::catalog::MetricDef;
use obs_core::metrics::CounterVec;
use obs_core::{ErrorType, ObsConfig, Operation, instrument};
use obs_testkit::{OtlpReceiver, ReceivedSpan};
use tracing::Instrument as _;

const ORDERS: MetricDef =
    MetricDef::counter("demo_orders_total", "Orders placed in the demo, by region.")
        .with_labels(&["region"]);
static CATALOG: &[MetricDef] = &[ORDERS];
static ORDERS_VEC: CounterVec = CounterVec::new(&ORDERS);

#[derive(Debug)]
struct OutOfStock;

impl ErrorType for OutOfStock {
    fn error_type(&self) -> Cow<'static, str> {
        "out_of_stock".into()
    }
}

#[tracing::instrument]
async fn price(items: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(3)).await;
    tracing::info!(items, "priced the basket");
    items * 250
}

async fn reserve(item: &'static str) -> Result<(), OutOfStock> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    if item == "rare-book" {
        Err(OutOfStock)
    } else {
        Ok(())
    }
}

async fn checkout(region: &'static str) -> u32 {
    let total = price(3).await;
    for item in ["mug", "rare-book"] {
        let result = instrument(
            Operation::new("inventory.reserve").attribute("item", item),
            reserve(item),
        )
        .await;
        if result.is_err() {
            tracing::warn!(item, "item out of stock");
        }
    }
    let receipt = obs_core::propagation::spawn(async move {
        tracing::info!("sending the receipt in a spawned task");
    });
    let _ = receipt.await;
    ORDERS_VEC.with(&[region]).increment(1);
    total
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = ObsConfig::builder_from_env()?.catalog(CATALOG);
    let embedded = if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_none() {
        let receiver = OtlpReceiver::start()?;
        builder = builder.endpoint(receiver.grpc_endpoint());
        if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
            builder = builder.service_name("obs-quickstart");
        }
        Some(receiver)
    } else {
        None
    };
    let guard = obs_core::init(builder.build())?;

    let total = checkout("eu")
        .instrument(tracing::info_span!("checkout", region = "eu"))
        .await;
    tracing::info!(total, "checkout done");

    guard.force_flush()?;
    if let Some(receiver) = &embedded {
        let spans = receiver.wait_for(Duration::from_secs(5), |s| s.len() >= 4);
        println!("\n== trace received by the in-process OTLP receiver ==");
        print_tree(&spans, "", 0);
    }
    println!("\n== /metrics ==");
    for line in guard.prometheus().render().lines() {
        if !line.starts_with("# ") && (line.starts_with("demo_") || line.starts_with("obs_")) {
            println!("{line}");
        }
    }
    guard.shutdown()?;
    Ok(())
}

fn print_tree(spans: &[ReceivedSpan], parent: &str, depth: usize) {
    for span in spans.iter().filter(|s| s.parent_span_id == parent) {
        let error = span
            .attr("error.type")
            .map(|e| format!(" error.type={e}"))
            .unwrap_or_default();
        println!(
            "{:indent$}{} [service={} trace={} span={}]{error}",
            "",
            span.name,
            span.service_name,
            span.trace_id,
            span.span_id,
            indent = depth * 2
        );
        print_tree(spans, &span.span_id, depth + 1);
    }
}
