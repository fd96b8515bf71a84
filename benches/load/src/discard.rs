//! A span exporter that drops every batch, counting the spans, so the benchmark pays for batching
//! but not for the network. obs and the peers use the same one.

use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

static DISCARDED: AtomicU64 = AtomicU64::new(0);

/// Drops the spans it is given.
#[derive(Debug)]
pub(crate) struct Discard;

impl SpanExporter for Discard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        DISCARDED.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// How many spans reached the exporter in this process.
pub(crate) fn discarded() -> u64 {
    DISCARDED.load(Ordering::Relaxed)
}
