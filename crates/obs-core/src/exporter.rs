//! The span exporter behind obs's export queue, boxed: OTLP, or the caller's
//! ([`ObsConfigBuilder::span_exporter`]).
//!
//! The SDK's `SpanExporter` returns `impl Future`, so it cannot be a trait object; this module
//! boxes it behind a small object-safe trait so [`ObsConfig`] stays one clonable type and the
//! queue one concrete type.
//!
//! [`ObsConfigBuilder::span_exporter`]: crate::ObsConfigBuilder::span_exporter
//! [`ObsConfig`]: crate::ObsConfig

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

type ExportFuture<'a> = Pin<Box<dyn Future<Output = OTelSdkResult> + Send + 'a>>;

/// The object-safe part of `SpanExporter` that the export worker uses.
trait DynExporter: Send + Sync + fmt::Debug {
    fn export(&self, batch: Vec<SpanData>) -> ExportFuture<'_>;
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult;
    fn force_flush(&self) -> OTelSdkResult;
    fn set_resource(&mut self, resource: &Resource);
}

impl<E: SpanExporter> DynExporter for E {
    fn export(&self, batch: Vec<SpanData>) -> ExportFuture<'_> {
        Box::pin(SpanExporter::export(self, batch))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        SpanExporter::shutdown_with_timeout(self, timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        SpanExporter::force_flush(self)
    }

    fn set_resource(&mut self, resource: &Resource) {
        SpanExporter::set_resource(self, resource);
    }
}

/// A boxed span exporter, shared by clones of the configuration that holds it.
#[derive(Clone)]
pub(crate) struct BoxedExporter(Arc<dyn DynExporter>);

impl BoxedExporter {
    pub(crate) fn new<E: SpanExporter + 'static>(exporter: E) -> Self {
        Self(Arc::new(exporter))
    }

    /// Hands the resource to the exporter. Only possible while this is the one handle; when the
    /// configuration was cloned, the exporter keeps its own resource.
    pub(crate) fn set_resource(&mut self, resource: &Resource) {
        if let Some(exporter) = Arc::get_mut(&mut self.0) {
            exporter.set_resource(resource);
        }
    }
}

impl fmt::Debug for BoxedExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BoxedExporter").field(&self.0).finish()
    }
}

impl SpanExporter for BoxedExporter {
    fn export(&self, mut batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        // Every span passes here on its way out: what it carries is redacted off the request path.
        crate::redact::redact_spans(&mut batch);
        self.0.export(batch)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[derive(Debug, Default)]
    struct Counting {
        spans: Arc<AtomicUsize>,
        resource_set: bool,
    }

    impl SpanExporter for Counting {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.spans.fetch_add(batch.len(), Ordering::Relaxed);
            Ok(())
        }

        fn set_resource(&mut self, _resource: &Resource) {
            self.resource_set = true;
        }
    }

    #[test]
    fn forwards_export_and_resource() {
        let spans = Arc::new(AtomicUsize::new(0));
        let mut exporter = BoxedExporter::new(Counting {
            spans: spans.clone(),
            resource_set: false,
        });
        exporter.set_resource(&Resource::builder_empty().build());
        assert!(format!("{exporter:?}").contains("resource_set: true"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(SpanExporter::export(&exporter, Vec::new()))
            .unwrap();
        assert_eq!(spans.load(Ordering::Relaxed), 0);
        assert!(SpanExporter::force_flush(&exporter).is_ok());
    }
}
