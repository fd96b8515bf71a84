//! Span attributes taken from the operation's result: rows affected, bytes read.

use opentelemetry::trace::SpanRef;
use opentelemetry::{Key, KeyValue, Value};

/// Sets attributes on the span of an operation that has completed, from its output. Implemented
/// by `()` (nothing to set, the default) and by every `FnOnce(&O, &mut SpanAttributes<'_>)`
/// closure; see [`super::Operation::on_result`].
///
/// It is called only when the span records (it was sampled), after the future returned its
/// output and before the span ends; not when the operation timed out or was cancelled, since
/// there is no output then. A panic inside it is contained and the output is returned all the
/// same.
pub trait OnResult<O> {
    /// Whether this sets nothing, so the span need not even be asked whether it records.
    #[doc(hidden)]
    const SETS_NOTHING: bool = false;

    /// Sets attributes from `output`.
    fn on_result(self, output: &O, attributes: &mut SpanAttributes<'_>);
}

impl<O> OnResult<O> for () {
    const SETS_NOTHING: bool = true;

    fn on_result(self, _: &O, _: &mut SpanAttributes<'_>) {}
}

impl<O, F: FnOnce(&O, &mut SpanAttributes<'_>)> OnResult<O> for F {
    fn on_result(self, output: &O, attributes: &mut SpanAttributes<'_>) {
        self(output, attributes);
    }
}

/// The attributes of a completed operation's span, as [`OnResult`] sees them.
pub struct SpanAttributes<'a> {
    span: &'a SpanRef<'a>,
}

impl<'a> SpanAttributes<'a> {
    pub(super) fn new(span: &'a SpanRef<'a>) -> Self {
        Self { span }
    }

    /// Sets an attribute (replacing one of the same key); keys may be `&'static str` or owned.
    pub fn set(&mut self, key: impl Into<Key>, value: impl Into<Value>) -> &mut Self {
        self.span.set_attribute(KeyValue::new(key, value));
        self
    }
}

impl std::fmt::Debug for SpanAttributes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanAttributes").finish_non_exhaustive()
    }
}
