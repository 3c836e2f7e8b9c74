//! WebSocket close codes the relay uses, so that a client can tell why it was closed.

/// Why the relay closed a WebSocket. The numeric values are the standard RFC 6455 codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseCode {
    /// 1000: the client asked to close.
    Normal,
    /// 1001: the relay is shutting down; reconnect (to it or another one) later.
    GoingAway,
    /// 1002: the client speaks a protocol version this relay does not, or broke the WebSocket
    /// protocol (reserved bits, unknown opcodes, unmasked frames).
    ProtocolError,
    /// 1007: a text frame that is not valid UTF-8.
    InvalidPayload,
    /// 1008: repeated invalid or abusive frames, or a limit reached (the error frame sent just
    /// before says which); the connection is closed, others are not.
    PolicyViolation,
    /// 1009: a frame beyond the hard size cap; nothing of it was read.
    TooBig,
    /// 1013: the client did not read fast enough and its send queue overflowed; reconnect and
    /// resume with `since`.
    SlowConsumer,
}

impl CloseCode {
    /// The numeric code sent in the close frame.
    pub fn code(self) -> u16 {
        match self {
            Self::Normal => 1000,
            Self::GoingAway => 1001,
            Self::ProtocolError => 1002,
            Self::InvalidPayload => 1007,
            Self::PolicyViolation => 1008,
            Self::TooBig => 1009,
            Self::SlowConsumer => 1013,
        }
    }

    /// The code for a numeric value, if it is one the relay sends.
    pub fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            1000 => Self::Normal,
            1001 => Self::GoingAway,
            1002 => Self::ProtocolError,
            1007 => Self::InvalidPayload,
            1008 => Self::PolicyViolation,
            1009 => Self::TooBig,
            1013 => Self::SlowConsumer,
            _ => return None,
        })
    }

    /// The short reason sent with the code.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Normal => "bye",
            Self::GoingAway => "relay shutting down",
            Self::ProtocolError => "protocol error",
            Self::InvalidPayload => "text frame is not UTF-8",
            Self::PolicyViolation => "policy violation: see the error frame",
            Self::TooBig => "frame too large",
            Self::SlowConsumer => "send queue overflow: reconnect and resume",
        }
    }
}
