"""WebSocket close codes (RFC 6455 7.4) and the errors that carry them.

A peer that breaks the protocol gets a close frame with the code of the
error (`WebSocketError.code`), then the connection is failed; the
connection's error path needs nothing but that attribute. The application
learns that a WebSocket closed, for whatever reason, from
`WebSocketDisconnect` and its code.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "CloseCode", "InvalidPayload", "MessageTooBig", "ProtocolViolation", "WebSocketDisconnect",
    "WebSocketError", "is_valid_close_code",
]


class CloseCode(IntEnum):
    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RECEIVED = 1005   # reported locally, never sent
    ABNORMAL_CLOSURE = 1006     # reported locally, never sent
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015        # reported locally, never sent


# The codes of the 1000-2999 range that may appear in a close frame: those
# RFC 6455 defines for the wire plus the ones IANA registered since
# (1012-1014). 3000-3999 are registered by libraries, 4000-4999 private.
_SENDABLE_PROTOCOL_CODES = frozenset(range(1000, 1004)) | frozenset(range(1007, 1015))


def is_valid_close_code(code: int) -> bool:
    """Whether `code` may travel in a close frame."""
    return code in _SENDABLE_PROTOCOL_CODES or 3000 <= code <= 4999


class WebSocketError(Exception):
    """The peer broke the protocol; `code` goes in the close frame we send."""

    code = CloseCode.PROTOCOL_ERROR

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProtocolViolation(WebSocketError):
    """Framing that RFC 6455 forbids (1002)."""

    code = CloseCode.PROTOCOL_ERROR


class InvalidPayload(WebSocketError):
    """A text message or close reason that is not UTF-8, or compressed
    data that does not inflate (1007)."""

    code = CloseCode.INVALID_PAYLOAD


class MessageTooBig(WebSocketError):
    """A message over the size limit, counted after decompression (1009)."""

    code = CloseCode.MESSAGE_TOO_BIG


class WebSocketDisconnect(Exception):
    """The WebSocket is closed: raised to its handler by `receive()` and
    `send()`. `code` is the peer's close code (1005 when its close frame had
    none), ours when we closed first or failed the connection, or 1006 when
    the connection ended without a close frame."""

    def __init__(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = int(code)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.code} {self.reason}".rstrip()
