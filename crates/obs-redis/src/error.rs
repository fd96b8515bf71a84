//! How a Redis error is told in the span's `error.type`: a short, fixed name,
//! never the message (which can quote keys or arguments).

use std::borrow::Cow;

use obs_core::OpOutcome;
use redis::{ErrorKind, RedisError, RedisResult, ServerError, ServerErrorKind, Value};

/// The outcome of an error: timeouts are `timeout`, everything else an error with a fixed name.
pub fn classify_error(error: &RedisError) -> OpOutcome {
    if error.is_timeout() {
        return OpOutcome::Timeout(Cow::Borrowed("timeout"));
    }
    OpOutcome::Error(Cow::Borrowed(error_type(error)))
}

/// The error type of `error`: `connection_refused`, `connection_dropped`, `io`, a server error
/// code in lower case (`wrongtype`, `noscript`, `noauth`), or a kind of client-side error.
pub fn error_type(error: &RedisError) -> &'static str {
    if error.is_connection_refusal() {
        return "connection_refused";
    }
    if error.is_connection_dropped() {
        return "connection_dropped";
    }
    match error.kind() {
        ErrorKind::Io => "io",
        ErrorKind::Parse => "parse",
        ErrorKind::AuthenticationFailed => "authentication_failed",
        ErrorKind::UnexpectedReturnType => "unexpected_return_type",
        ErrorKind::InvalidClientConfig => "invalid_client_config",
        ErrorKind::Client => "client",
        ErrorKind::Server(kind) => server_kind(kind),
        ErrorKind::Extension => error.code().map_or("server_error", server_code),
        ErrorKind::ClusterConnectionNotFound => "cluster_connection_not_found",
        ErrorKind::RESP3NotSupported => "resp3_not_supported",
        _ => "error",
    }
}

fn server_kind(kind: ServerErrorKind) -> &'static str {
    match kind {
        ServerErrorKind::ResponseError => "err",
        ServerErrorKind::ExecAbort => "execabort",
        ServerErrorKind::BusyLoading => "loading",
        ServerErrorKind::NoScript => "noscript",
        ServerErrorKind::Moved => "moved",
        ServerErrorKind::Ask => "ask",
        ServerErrorKind::TryAgain => "tryagain",
        ServerErrorKind::ClusterDown => "clusterdown",
        ServerErrorKind::CrossSlot => "crossslot",
        ServerErrorKind::MasterDown => "masterdown",
        ServerErrorKind::ReadOnly => "readonly",
        ServerErrorKind::NotBusy => "notbusy",
        ServerErrorKind::NoSub => "nosub",
        ServerErrorKind::NoPerm => "noperm",
        _ => "server_error",
    }
}

/// Server error codes redis-rs does not name itself; any other code is `server_error`, so a
/// module's or a proxy's own codes cannot grow the label.
fn server_code(code: &str) -> &'static str {
    const KNOWN: &[(&str, &str)] = &[
        ("WRONGTYPE", "wrongtype"),
        ("NOAUTH", "noauth"),
        ("WRONGPASS", "wrongpass"),
        ("OOM", "oom"),
        ("BUSY", "busy"),
        ("NOPROTO", "noproto"),
        ("MISCONF", "misconf"),
        ("NOREPLICAS", "noreplicas"),
        ("UNKILLABLE", "unkillable"),
        ("ERR", "err"),
        ("EXECABORT", "execabort"),
        ("NOSCRIPT", "noscript"),
        ("READONLY", "readonly"),
        ("LOADING", "loading"),
        ("NOPERM", "noperm"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| *known == code)
        .map_or("server_error", |(_, name)| name)
}

fn server_error(error: &ServerError) -> &'static str {
    match error.kind() {
        Some(kind) => server_kind(kind),
        None => server_code(error.code()),
    }
}

/// The outcome of one command: an error, or an error reply carried in `Ok`.
pub(crate) fn classify_reply(reply: &RedisResult<Value>) -> OpOutcome {
    match reply {
        Ok(Value::ServerError(e)) => OpOutcome::Error(Cow::Borrowed(server_error(e))),
        Ok(_) => OpOutcome::Success,
        Err(e) => classify_error(e),
    }
}

/// The outcome of a pipeline: its error, or the first error reply among its replies.
pub(crate) fn classify_replies(replies: &RedisResult<Vec<Value>>) -> OpOutcome {
    match replies {
        Ok(values) => values
            .iter()
            .find_map(|v| match v {
                Value::ServerError(e) => Some(OpOutcome::Error(Cow::Borrowed(server_error(e)))),
                _ => None,
            })
            .unwrap_or(OpOutcome::Success),
        Err(e) => classify_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified_by_kind() {
        let refused: RedisError =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused").into();
        assert_eq!(error_type(&refused), "connection_refused");
        let reset: RedisError =
            std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset").into();
        assert_eq!(error_type(&reset), "connection_dropped");
        let timeout: RedisError = std::io::Error::new(std::io::ErrorKind::TimedOut, "slow").into();
        assert_eq!(
            classify_error(&timeout),
            OpOutcome::Timeout(Cow::Borrowed("timeout"))
        );
    }

    #[test]
    fn unknown_codes_do_not_grow_the_label() {
        assert_eq!(server_code("WRONGTYPE"), "wrongtype");
        assert_eq!(server_code("SECRET-hunter2"), "server_error");
    }
}
