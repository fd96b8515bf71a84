//! What `init`, `shutdown` and `force_flush` report: messages that say what happened and what to
//! do, printed the same by `Display` and `Debug`. `main` returning `Result<(), Box<dyn Error>>`
//! prints its error with `Debug`, so a derived `Debug` would show the user a struct.

use std::fmt;
use std::time::Duration;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};

use super::InitError;
use crate::export::ExportStats;

impl fmt::Debug for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Spans that [`ObsGuard::shutdown`](crate::ObsGuard::shutdown) or
/// [`ObsGuard::force_flush`](crate::ObsGuard::force_flush) could not export, and why.
///
/// Every span is either exported or counted: the lost ones are in `obs_spans_dropped_total` (never
/// sent) or in `obs_span_export_failures_total` (in a failed export). A service usually logs this
/// error and exits normally: the spans are gone either way.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let guard = obs_core::init(obs_core::ObsConfig::from_env()?)?;
/// // ... serve until asked to stop ...
/// if let Err(error) = guard.shutdown() {
///     tracing::warn!(lost_spans = error.lost_spans(), "{error}");
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ShutdownError {
    action: &'static str,
    dropped: u64,
    failed: u64,
    unfinished: u64,
    timed_out: Option<Duration>,
    cause: Option<String>,
}

impl ShutdownError {
    /// How many spans were not exported: dropped, in failed exports, or in an export that was
    /// still running when the call returned.
    pub fn lost_spans(&self) -> u64 {
        self.dropped + self.failed + self.unfinished
    }

    /// Whether the call ran out of time (the collector was slow or did not answer).
    pub fn timed_out(&self) -> bool {
        self.timed_out.is_some()
    }
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lost = self.lost_spans();
        if lost == 0 {
            write!(f, "obs {}: the span exporter did not finish", self.action)?;
        } else {
            let s = if lost == 1 { "" } else { "s" };
            write!(f, "obs {} lost {lost} span{s} (", self.action)?;
            let mut parts = Vec::with_capacity(3);
            if self.dropped > 0 {
                parts.push(format!("{} dropped before export", self.dropped));
            }
            if self.failed > 0 {
                parts.push(format!("{} in failed exports", self.failed));
            }
            if self.unfinished > 0 {
                parts.push(format!("{} in an export still running", self.unfinished));
            }
            write!(f, "{})", parts.join(", "))?;
        }
        if let Some(timeout) = self.timed_out {
            write!(f, "; timed out after {} ms", timeout.as_millis())?;
        }
        if let Some(cause) = &self.cause {
            write!(f, "; last error: {cause}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ShutdownError {}

/// The stats' loss counters when a flush or shutdown starts.
pub(super) struct Before {
    dropped: u64,
    failed: u64,
}

impl Before {
    pub(super) fn read(stats: &ExportStats) -> Self {
        Self {
            dropped: stats.dropped(),
            failed: stats.failed_spans(),
        }
    }

    /// Turns the processor's result into the guard's: an error whenever a span was lost during
    /// the call, whatever the processor said, and never a bare "already shut down".
    pub(super) fn finish(
        self,
        action: &'static str,
        stats: &ExportStats,
        result: OTelSdkResult,
    ) -> Result<(), ShutdownError> {
        let dropped = stats.dropped().saturating_sub(self.dropped);
        let failed = stats.failed_spans().saturating_sub(self.failed);
        let timed_out = match &result {
            Err(OTelSdkError::Timeout(d)) => Some(*d),
            _ => None,
        };
        // An export the worker could not finish in time is lost for this call's purposes.
        let unfinished = if timed_out.is_some() {
            stats.in_flight()
        } else {
            0
        };
        let cause = match result {
            Ok(()) | Err(OTelSdkError::AlreadyShutdown) | Err(OTelSdkError::Timeout(_)) => None,
            Err(OTelSdkError::InternalFailure(e)) => Some(crate::redact::text(&e).into_owned()),
        };
        if dropped + failed + unfinished == 0 && cause.is_none() {
            return Ok(());
        }
        Err(ShutdownError {
            action,
            dropped,
            failed,
            unfinished,
            timed_out: timed_out.filter(|d| !d.is_zero()),
            cause: cause.or_else(|| (failed > 0).then(|| stats.last_failure()).flatten()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(dropped: u64, failed: u64, unfinished: u64) -> ShutdownError {
        ShutdownError {
            action: "shutdown",
            dropped,
            failed,
            unfinished,
            timed_out: None,
            cause: None,
        }
    }

    #[test]
    fn messages_say_how_many_spans_were_lost() {
        assert_eq!(
            error(0, 10, 0).to_string(),
            "obs shutdown lost 10 spans (10 in failed exports)"
        );
        let timed_out = ShutdownError {
            timed_out: Some(Duration::from_millis(500)),
            cause: Some("Unavailable".into()),
            ..error(900, 1, 100)
        };
        assert_eq!(
            timed_out.to_string(),
            "obs shutdown lost 1001 spans (900 dropped before export, 1 in failed exports, \
             100 in an export still running); timed out after 500 ms; last error: Unavailable"
        );
        assert_eq!(timed_out.lost_spans(), 1001);
        assert!(timed_out.timed_out());
        assert_eq!(format!("{timed_out:?}"), timed_out.to_string());
        assert_eq!(
            error(1, 0, 0).to_string(),
            "obs shutdown lost 1 span (1 dropped before export)"
        );
    }

    #[test]
    fn init_errors_debug_as_their_message() {
        let boxed: Box<dyn std::error::Error> = Box::new(InitError::AlreadyInitialized);
        assert_eq!(format!("{boxed:?}"), boxed.to_string());
        let config: Box<dyn std::error::Error> =
            Box::new(InitError::from(crate::config::ConfigError {
                variable: "OTEL_TRACES_SAMPLER",
                value: "sometimes".into(),
                expected: "always_on, always_off",
            }));
        assert!(
            format!("{config:?}")
                .starts_with(r#"invalid value "sometimes" for OTEL_TRACES_SAMPLER"#),
            "{config:?}"
        );
    }
}
