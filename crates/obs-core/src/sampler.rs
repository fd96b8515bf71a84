//! The head sampler `init` installs: the configured sampler, plus a per-request override.
//!
//! A layer that knows more than the configured sampler (the HTTP layer knows the user's role, say)
//! puts a [`SamplingOverride`] in the parent context of the span it opens; the override's ratio then
//! decides, by trace id, instead of the configured sampler.
//!
//! A parent's decision comes first: under a sampled parent (a request that arrived with
//! `traceparent: …-01`, say) the span is sampled whatever the override says, and under an
//! unsampled one it is not, so an override never cuts a hole in a caller's trace. The override
//! decides root spans only, unless
//! [`ObsConfigBuilder::sampling_overrides_parent`](crate::ObsConfigBuilder::sampling_overrides_parent)
//! lets it decide every span.
//!
//! ```
//! use obs_core::sampler::SamplingOverride;
//!
//! let parent = SamplingOverride::ratio(1.0).attach_to(&opentelemetry::Context::new());
//! assert_eq!(parent.get::<SamplingOverride>().map(|o| o.value()), Some(1.0));
//! ```

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample};

/// A sampling ratio that overrides the configured sampler for spans opened under it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplingOverride(f64);

impl SamplingOverride {
    /// Samples `ratio` of traces (clamped to `0.0..=1.0`).
    pub fn ratio(ratio: f64) -> Self {
        Self(if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 1.0)
        })
    }

    /// The ratio.
    pub fn value(self) -> f64 {
        self.0
    }

    /// A copy of `cx` that carries this override.
    pub fn attach_to(self, cx: &Context) -> Context {
        cx.with_value(self)
    }

    /// Runs `start` (which opens spans) with this override in force on the current thread, without
    /// touching any `Context`: the cheapest way for a layer to sample one span it opens itself.
    /// Reached from obs-http through `obs_core::__private::sampling_scope`.
    pub(crate) fn scope<T>(self, start: impl FnOnce() -> T) -> T {
        struct Reset(Option<SamplingOverride>);
        impl Drop for Reset {
            fn drop(&mut self) {
                SCOPED.with(|s| s.set(self.0));
            }
        }
        let _reset = Reset(SCOPED.with(|s| s.replace(Some(self))));
        start()
    }
}

thread_local! {
    static SCOPED: std::cell::Cell<Option<SamplingOverride>> = const { std::cell::Cell::new(None) };
}

/// The configured sampler, overridden by a [`SamplingOverride`] in the parent context.
#[derive(Clone, Debug)]
pub(crate) struct ObsSampler {
    inner: Sampler,
    /// Whether an override decides spans with a parent too (default: root spans only).
    override_parent: bool,
}

impl ObsSampler {
    pub(crate) fn new(inner: Sampler) -> Self {
        Self {
            inner,
            override_parent: false,
        }
    }

    /// Lets an override decide spans that have a parent, whatever the parent decided.
    pub(crate) fn overriding_parent(mut self, override_parent: bool) -> Self {
        self.override_parent = override_parent;
        self
    }
}

impl ShouldSample for ObsSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let scoped = SCOPED.with(std::cell::Cell::get);
        let Some(ratio) =
            scoped.or_else(|| parent_context.and_then(|cx| cx.get::<SamplingOverride>().copied()))
        else {
            return self.inner.should_sample(
                parent_context,
                trace_id,
                name,
                span_kind,
                attributes,
                links,
            );
        };
        let parent = parent_context
            .filter(|cx| cx.has_active_span())
            .map(|cx| cx.span().span_context().is_sampled())
            .filter(|_| !self.override_parent);
        let decision = match parent {
            // Parent-based first: a caller's sampled trace stays whole, an unsampled one stays off.
            Some(true) => SamplingDecision::RecordAndSample,
            Some(false) => SamplingDecision::Drop,
            None => match Sampler::TraceIdRatioBased(ratio.value())
                .should_sample(None, trace_id, name, span_kind, attributes, links)
                .decision
            {
                SamplingDecision::RecordAndSample => SamplingDecision::RecordAndSample,
                _ => SamplingDecision::Drop,
            },
        };
        let trace_state = parent_context
            .map(|cx| cx.span().span_context().trace_state().clone())
            .unwrap_or_default();
        SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(sampler: &ObsSampler, parent: &Context) -> SamplingDecision {
        sampler
            .should_sample(
                Some(parent),
                TraceId::from(12345u128),
                "s",
                &SpanKind::Server,
                &[],
                &[],
            )
            .decision
    }

    #[test]
    fn override_wins_over_the_configured_sampler() {
        let off = ObsSampler::new(Sampler::AlwaysOff);
        let on = ObsSampler::new(Sampler::AlwaysOn);
        let plain = Context::new();
        assert_eq!(decide(&off, &plain), SamplingDecision::Drop);
        assert_eq!(decide(&on, &plain), SamplingDecision::RecordAndSample);
        let always = SamplingOverride::ratio(1.0).attach_to(&plain);
        let never = SamplingOverride::ratio(0.0).attach_to(&plain);
        assert_eq!(decide(&off, &always), SamplingDecision::RecordAndSample);
        assert_eq!(decide(&on, &never), SamplingDecision::Drop);
        assert_eq!(SamplingOverride::ratio(7.0).value(), 1.0);
        assert_eq!(
            SamplingOverride::ratio(1.0).scope(|| decide(&off, &plain)),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(
            decide(&off, &plain),
            SamplingDecision::Drop,
            "the scope ends"
        );
        assert_eq!(SamplingOverride::ratio(f64::NAN).value(), 0.0);
    }

    fn remote_parent(sampled: bool) -> Context {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceState};
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(12345u128),
            SpanId::from(7u64),
            flags,
            true,
            TraceState::default(),
        ))
    }

    #[test]
    fn a_parent_decides_before_the_override() {
        let on = ObsSampler::new(Sampler::AlwaysOn);
        let sampled = remote_parent(true);
        let unsampled = remote_parent(false);
        let never = SamplingOverride::ratio(0.0);
        let always = SamplingOverride::ratio(1.0);
        assert_eq!(
            decide(&on, &never.attach_to(&sampled)),
            SamplingDecision::RecordAndSample,
            "a sampled caller's trace is not cut"
        );
        assert_eq!(
            never.scope(|| decide(&on, &sampled)),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(
            decide(&on, &always.attach_to(&unsampled)),
            SamplingDecision::Drop
        );
        let overriding = ObsSampler::new(Sampler::AlwaysOn).overriding_parent(true);
        assert_eq!(
            decide(&overriding, &never.attach_to(&sampled)),
            SamplingDecision::Drop,
            "opted in: the override wins"
        );
        assert_eq!(
            decide(&overriding, &always.attach_to(&unsampled)),
            SamplingDecision::RecordAndSample
        );
    }
}
