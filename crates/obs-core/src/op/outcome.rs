//! How an operation ended, and who decides: [`ErrorType`] on the error, or a classifier.

use std::borrow::Cow;

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpOutcome {
    /// It succeeded.
    Success,
    /// It failed; the value is a low-cardinality error type such as `connection_refused`.
    Error(Cow<'static, str>),
    /// It timed out; the value is the error type.
    Timeout(Cow<'static, str>),
}

impl OpOutcome {
    /// The `outcome` label value.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error(_) => "error",
            Self::Timeout(_) => "timeout",
        }
    }

    /// The `error_type` label value (empty on success).
    pub fn error_type(&self) -> &str {
        match self {
            Self::Success => "",
            Self::Error(t) | Self::Timeout(t) => t,
        }
    }
}

/// Errors that can say what kind of error they are, for the `error_type` label and the span's
/// `error.type`. The type must be low-cardinality: a variant name, never a message.
///
/// For an error type of another crate, which this trait cannot be implemented for here or there
/// (the orphan rule), give the operation a classifier instead: [`super::Operation::classify`].
pub trait ErrorType {
    /// A short, stable name of the kind of error, e.g. `pool_timeout`.
    fn error_type(&self) -> Cow<'static, str>;

    /// Whether the error is a timeout (the outcome becomes `timeout`).
    fn is_timeout(&self) -> bool {
        false
    }
}

impl ErrorType for std::io::Error {
    fn error_type(&self) -> Cow<'static, str> {
        Cow::Owned(format!("{:?}", self.kind()))
    }
    fn is_timeout(&self) -> bool {
        self.kind() == std::io::ErrorKind::TimedOut
    }
}

impl ErrorType for tokio::time::error::Elapsed {
    fn error_type(&self) -> Cow<'static, str> {
        Cow::Borrowed("timeout")
    }
    fn is_timeout(&self) -> bool {
        true
    }
}

impl ErrorType for Box<dyn std::error::Error + Send + Sync> {
    fn error_type(&self) -> Cow<'static, str> {
        Cow::Borrowed("error")
    }
}

impl ErrorType for std::convert::Infallible {
    fn error_type(&self) -> Cow<'static, str> {
        match *self {}
    }
}

/// Outputs that carry an outcome; implemented for `Result<T, E>` where `E:` [`ErrorType`].
pub trait Outcome {
    /// How the operation ended.
    fn outcome(&self) -> OpOutcome;
}

impl<T, E: ErrorType> Outcome for Result<T, E> {
    fn outcome(&self) -> OpOutcome {
        match self {
            Ok(_) => OpOutcome::Success,
            Err(e) if e.is_timeout() => OpOutcome::Timeout(e.error_type()),
            Err(e) => OpOutcome::Error(e.error_type()),
        }
    }
}

/// Tells how an operation whose output is `O` ended. Implemented by [`ByErrorType`] (the
/// default), by [`ClassifyError`] (what [`super::Operation::classify`] sets) and by every
/// `FnOnce(&O) -> OpOutcome` closure (what [`super::Operation::classify_output`] sets).
pub trait Classify<O> {
    /// The outcome of `output`.
    fn classify(self, output: &O) -> OpOutcome;
}

/// The default classifier: the output's own [`Outcome`] (for `Result<T, E>`, the error's
/// [`ErrorType`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct ByErrorType;

impl<O: Outcome> Classify<O> for ByErrorType {
    fn classify(self, output: &O) -> OpOutcome {
        output.outcome()
    }
}

impl<O, F: FnOnce(&O) -> OpOutcome> Classify<O> for F {
    fn classify(self, output: &O) -> OpOutcome {
        self(output)
    }
}

/// A classifier of a `Result`'s error: `Ok` is a success, `Err(e)` is what the closure says.
/// Built by [`super::Operation::classify`].
#[derive(Clone, Copy)]
pub struct ClassifyError<F>(pub(super) F);

impl<F> std::fmt::Debug for ClassifyError<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassifyError").finish_non_exhaustive()
    }
}

impl<T, E, F: FnOnce(&E) -> OpOutcome> Classify<Result<T, E>> for ClassifyError<F> {
    fn classify(self, output: &Result<T, E>) -> OpOutcome {
        match output {
            Ok(_) => OpOutcome::Success,
            Err(e) => (self.0)(e),
        }
    }
}
