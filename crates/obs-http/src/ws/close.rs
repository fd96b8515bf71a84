//! How a session ended: the `cause` and `code_class` of `websocket_closes_total`, and the close
//! code a protocol error calls for.

use std::error::Error as StdError;

/// Why a session ended; the `cause` label and the session span's `websocket.close.cause`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// A close frame was exchanged (either side first) with a code that is not one of the others'.
    Normal,
    /// The connection ended without a close frame: the peer's TCP connection was reset or closed.
    PeerVanished,
    /// The peer broke the protocol (invalid UTF-8, a malformed frame, a message over the size
    /// limit), or a close frame said so (1002, 1003, 1007, 1009, 1010).
    ProtocolError,
    /// The server closed with 1001 (going away) or 1012 (service restart), e.g. through
    /// [`TracedWebSocket::close_for_shutdown`](super::TracedWebSocket::close_for_shutdown).
    ServerShutdown,
    /// The server dropped the socket without a close frame (the handler returned).
    Dropped,
    /// The handler panicked, an I/O-unrelated error occurred, or a close frame said 1011.
    Error,
}

impl Cause {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::PeerVanished => "peer_vanished",
            Self::ProtocolError => "protocol_error",
            Self::ServerShutdown => "server_shutdown",
            Self::Dropped => "dropped",
            Self::Error => "error",
        }
    }

    /// Whether the session span is marked as failed.
    pub(crate) fn is_failure(self) -> bool {
        matches!(self, Self::ProtocolError | Self::Error)
    }
}

/// Which side sent a close frame first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Peer,
}

/// The close code of a close frame without a code (RFC 6455 §7.4.1: "no status received").
pub(crate) const NO_STATUS: u16 = 1005;
/// The close code for a text message that is not valid UTF-8 (RFC 6455 §8.1).
pub(crate) const INVALID_PAYLOAD: u16 = 1007;
/// The close code for any other protocol violation.
pub(crate) const PROTOCOL: u16 = 1002;
/// The close code for a message over the size limit.
pub(crate) const TOO_BIG: u16 = 1009;
/// The close code a server sends when it goes away.
pub(crate) const GOING_AWAY: u16 = 1001;

/// The `code_class` label of a close code, `None` when no close frame was exchanged. Registered
/// codes keep their number; the rest fold into a few classes, so the label stays bounded.
pub(crate) fn code_class(code: Option<u16>) -> &'static str {
    match code {
        None => "none",
        Some(1000) => "1000",
        Some(1001) => "1001",
        Some(1002) => "1002",
        Some(1003) => "1003",
        Some(1005) => "1005",
        Some(1007) => "1007",
        Some(1008) => "1008",
        Some(1009) => "1009",
        Some(1010) => "1010",
        Some(1011) => "1011",
        Some(1012) => "1012",
        Some(1013) => "1013",
        Some(1014) => "1014",
        Some(1000..=2999) => "1xxx",
        Some(3000..=3999) => "3xxx",
        Some(4000..=4999) => "4xxx",
        Some(_) => "other",
    }
}

/// The cause told by the first close frame of a session, sent by `side`.
pub(crate) fn close_cause(code: u16, side: Side) -> Cause {
    match (code, side) {
        (1002 | 1003 | 1007 | 1009 | 1010, _) => Cause::ProtocolError,
        (1011, _) => Cause::Error,
        (1001 | 1012, Side::Server) => Cause::ServerShutdown,
        _ => Cause::Normal,
    }
}

/// What an error of the socket means for the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The connection is gone.
    Vanished,
    /// The peer broke the protocol; the session is failed with this close code.
    Protocol(u16),
    /// Anything else.
    Other,
    /// Not a failure of the session (reading or writing after the close).
    Closed,
}

impl Failure {
    pub(crate) fn cause(self) -> Cause {
        match self {
            Self::Vanished => Cause::PeerVanished,
            Self::Protocol(_) => Cause::ProtocolError,
            Self::Other | Self::Closed => Cause::Error,
        }
    }
}

/// Classifies an error axum's socket returned while receiving (`inbound`) or sending.
pub(crate) fn classify(error: &axum::Error, inbound: bool) -> Failure {
    use tungstenite::Error as WsError;
    use tungstenite::error::ProtocolError;
    let Some(error) = StdError::source(error).and_then(|e| e.downcast_ref::<WsError>()) else {
        return Failure::Other;
    };
    match error {
        WsError::ConnectionClosed | WsError::AlreadyClosed => Failure::Closed,
        WsError::Io(_) | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            Failure::Vanished
        }
        WsError::Protocol(ProtocolError::SendAfterClosing) => Failure::Closed,
        WsError::Utf8(_) if inbound => Failure::Protocol(INVALID_PAYLOAD),
        WsError::Capacity(_) if inbound => Failure::Protocol(TOO_BIG),
        WsError::Protocol(_) | WsError::AttackAttempt if inbound => Failure::Protocol(PROTOCOL),
        _ => Failure::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_classes_are_bounded() {
        let table = [
            (None, "none"),
            (Some(1000), "1000"),
            (Some(1001), "1001"),
            (Some(1005), "1005"),
            (Some(1007), "1007"),
            (Some(1011), "1011"),
            (Some(1004), "1xxx"),
            (Some(2999), "1xxx"),
            (Some(3000), "3xxx"),
            (Some(4000), "4xxx"),
            (Some(4999), "4xxx"),
            (Some(5000), "other"),
            (Some(0), "other"),
            (Some(999), "other"),
        ];
        for (code, class) in table {
            assert_eq!(code_class(code), class, "{code:?}");
        }
        let distinct: std::collections::HashSet<_> =
            (0..=u16::MAX).map(|c| code_class(Some(c))).collect();
        assert_eq!(distinct.len(), 17, "{distinct:?}");
    }

    #[test]
    fn close_codes_tell_the_cause() {
        let table = [
            (1000, Side::Peer, Cause::Normal),
            (1000, Side::Server, Cause::Normal),
            (1001, Side::Peer, Cause::Normal),
            (1001, Side::Server, Cause::ServerShutdown),
            (1012, Side::Server, Cause::ServerShutdown),
            (1005, Side::Peer, Cause::Normal),
            (1007, Side::Peer, Cause::ProtocolError),
            (1007, Side::Server, Cause::ProtocolError),
            (1002, Side::Peer, Cause::ProtocolError),
            (1009, Side::Server, Cause::ProtocolError),
            (1011, Side::Server, Cause::Error),
            (4001, Side::Peer, Cause::Normal),
        ];
        for (code, side, cause) in table {
            assert_eq!(close_cause(code, side), cause, "{code} by {side:?}");
        }
    }

    #[test]
    fn errors_are_classified() {
        use tungstenite::Error as WsError;
        use tungstenite::error::{CapacityError, ProtocolError};
        let io = || WsError::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let reset = || WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake);
        let table = [
            (io(), true, Failure::Vanished),
            (io(), false, Failure::Vanished),
            (reset(), true, Failure::Vanished),
            (WsError::Utf8("bad".into()), true, Failure::Protocol(1007)),
            (
                WsError::Protocol(ProtocolError::NonZeroReservedBits),
                true,
                Failure::Protocol(1002),
            ),
            (
                WsError::Capacity(CapacityError::MessageTooLong {
                    size: 2,
                    max_size: 1,
                }),
                true,
                Failure::Protocol(1009),
            ),
            (
                WsError::Capacity(CapacityError::MessageTooLong {
                    size: 2,
                    max_size: 1,
                }),
                false,
                Failure::Other,
            ),
            (WsError::ConnectionClosed, true, Failure::Closed),
            (WsError::AlreadyClosed, false, Failure::Closed),
        ];
        for (error, inbound, failure) in table {
            let text = error.to_string();
            assert_eq!(
                classify(&axum::Error::new(error), inbound),
                failure,
                "{text}"
            );
        }
        assert_eq!(classify(&axum::Error::new("other"), true), Failure::Other);
    }
}
