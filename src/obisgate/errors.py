"""Every exception obisgate raises on purpose.

::

    ObisgateError                      root: catch this to catch everything below
    ├── ProtocolError                  the bytes on the line break IEC 62056-21
    │   ├── ChecksumError              block check character (BCC) does not match
    │   ├── FramingError               missing or misplaced STX/ETX/CR LF, oversize, junk
    │   │   ├── HdlcFrameError         a bad HDLC frame (IEC 62056-46) or a broken link procedure
    │   │   └── ApduError              a malformed DLMS APDU or A-XDR value
    │   ├── UnexpectedMessageError     a well-formed message that makes no sense now
    │   └── CommandRejectedError       the meter NAKed every repetition of a command
    ├── MeterError                     the meter answered with an error message, e.g. (ER01)
    │   ├── AccessDeniedError          the meter refused the password (break after P1/P2,
    │   │                              or a DLMS association rejected)
    │   ├── SessionEndedError          the meter broke off programming mode (SOH B0)
    │   └── DlmsServiceError           a DLMS exception / confirmed-service-error answer
    ├── NoAnswerError                  (also TimeoutError) the meter stayed silent too long
    │   └── TotalTimeoutError          a whole readout / session overran its total deadline
    ├── TransportError                 (also OSError) the port or connection failed
    │   ├── ConnectError               could not open the port / connect
    │   ├── ConnectionLostError        the peer closed the connection mid-exchange
    │   └── UnsupportedOperation       the transport cannot do what the exchange needs
    ├── ConfigError                    (also ValueError) a setting, URL or file is invalid
    │   └── ExpressionError            a derived signal's expression is malformed (with its column)
    ├── EvaluationError                (also ArithmeticError) an expression has no number now
    │                                  (division by zero, a root of a negative number ...)
    └── DatabaseError                  PostgreSQL is unreachable, refuses the login or the schema

Messages never contain passwords.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "ApduError",
    "ChecksumError",
    "CommandRejectedError",
    "ConfigError",
    "ConnectError",
    "ConnectionLostError",
    "DatabaseError",
    "DlmsServiceError",
    "EvaluationError",
    "ExpressionError",
    "FramingError",
    "HdlcFrameError",
    "MeterError",
    "NoAnswerError",
    "ObisgateError",
    "ProtocolError",
    "SessionEndedError",
    "TotalTimeoutError",
    "TransportError",
    "UnexpectedMessageError",
    "UnsupportedOperation",
]


class ObisgateError(Exception):
    """Root of every exception that obisgate raises on purpose."""

    #: short machine-readable cause, used as the gateway's device status
    kind = "error"


class ProtocolError(ObisgateError):
    """The peer sent bytes that break the protocol."""

    kind = "protocol error"


class ChecksumError(ProtocolError):
    """The block check character of a message is wrong.

    Attributes:
        expected: the BCC computed over the received block.
        received: the BCC byte the peer sent.
        hint: what to try, when the other BCC method matches what the meter
            sent (``this meter may use --bcc sum7 ...``); empty otherwise.
    """

    kind = "checksum error"

    def __init__(self, expected: int, received: int, *, attempts: int = 1, hint: str = "") -> None:
        self.expected = expected
        self.received = received
        self.attempts = attempts
        self.hint = hint
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(
            f"BCC checksum error{tries}: computed 0x{expected:02X}, meter sent 0x{received:02X}"
            + (f"; {hint}" if hint else "")
        )


class FramingError(ProtocolError):
    """A message is malformed: bad framing, oversize, or nothing but junk."""

    kind = "framing error"


class UnexpectedMessageError(ProtocolError):
    """A well-formed message arrived that is not valid in the current state."""

    kind = "unexpected message"


class MeterError(ObisgateError):
    """The meter understood the command but answered with an error message.

    Attributes:
        text: the error text as the meter sent it, e.g. ``ER04``.
        hint: what the refusal most likely means and what to do, e.g. that the
            command needs the password; empty when nothing is known.
    """

    kind = "meter error"

    def __init__(self, text: str, *, command: str = "", hint: str = "") -> None:
        self.text = text
        self.command = command
        self.hint = hint
        if hint:
            super().__init__(f"the meter refused {command or 'the command'} ({text}): {hint}")
            return
        where = f" to {command}" if command else ""
        super().__init__(f"meter answered{where} with error ({text})")


class AccessDeniedError(MeterError):
    """The meter refused the password and ended the session."""

    kind = "access denied"

    def __init__(self, message: str = "meter refused the password") -> None:
        self.text = ""
        self.command = "password"
        Exception.__init__(self, message)


class NoAnswerError(ObisgateError, TimeoutError):
    """The meter did not answer (or stopped answering) within the time allowed.

    Attributes:
        waiting_for: what the reader was waiting for, e.g. ``"identification"``.
        received: how many bytes of that message had arrived.
        hint: what may be wrong, appended in parentheses (e.g. the address of an
            addressed request); empty for none.
    """

    kind = "no answer"

    def __init__(
        self, waiting_for: str, timeout_s: float, received: int = 0, *, hint: str = ""
    ) -> None:
        self.waiting_for = waiting_for
        self.timeout_s = timeout_s
        self.received = received
        self.hint = hint
        if received:
            msg = (
                f"timeout: meter stopped sending during the {waiting_for} "
                f"({received} bytes received, then {timeout_s:g} s of silence)"
            )
        else:
            msg = f"timeout: no answer from the meter ({waiting_for}) within {timeout_s:g} s"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


class TotalTimeoutError(NoAnswerError):
    """The whole exchange (or poll) took longer than its total deadline.

    A meter that trickles bytes, each within the inter-byte timeout, never
    trips the per-message timeouts; this deadline bounds it.

    Attributes:
        what: the exchange, e.g. ``"readout"``, ``"programming session"``.
        timeout_s: the deadline in seconds.
        received: bytes received before it passed.
    """

    kind = "timeout"

    def __init__(self, what: str, timeout_s: float, received: int = 0) -> None:
        self.what = what
        self.waiting_for = what
        self.timeout_s = timeout_s
        self.received = received
        got = f" ({received} bytes received)" if received else ""
        Exception.__init__(self, f"timeout: the whole {what} took longer than {timeout_s:g} s{got}")


class TransportError(ObisgateError, OSError):
    """The port or network connection failed."""

    kind = "connection error"


class ConnectError(TransportError):
    """The port could not be opened or the connection could not be made."""


class ConnectionLostError(TransportError):
    """The connection closed while an exchange was in progress."""

    kind = "connection lost"


class UnsupportedOperation(TransportError):
    """The transport cannot do what was asked (e.g. a baud switch over raw TCP)."""


class ConfigError(ObisgateError, ValueError):
    """A setting, URL or configuration file is invalid; the message says what is allowed."""

    kind = "configuration error"


class ExpressionError(ConfigError):
    """The expression of a derived signal (``source``) cannot be used: a syntax error, an
    unknown signal or function, a wrong number of arguments.

    Attributes:
        column: where in the expression, counted from 1 (``0``: the expression as a whole).
        reason: the message without the column.
    """

    def __init__(self, reason: str, column: int = 0) -> None:
        self.reason = reason
        self.column = column
        super().__init__(f"column {column}: {reason}" if column else reason)


class EvaluationError(ObisgateError, ArithmeticError):
    """An expression has no numeric result for the values it was given: a division by
    zero, the square root of a negative number, a result too large to compute. The
    gateway publishes such a result as ``invalid`` (``overflow`` for a result too large)."""

    kind = "evaluation error"

    def __init__(self, reason: str, *, overflow: bool = False) -> None:
        self.overflow = overflow
        super().__init__(reason)


class DatabaseError(ObisgateError):
    """PostgreSQL (the readings table) cannot be used: unreachable, a refused login,
    a table that cannot be created. The message names user, host, port and
    database, never the password."""

    kind = "database error"


class CommandRejectedError(ProtocolError):
    """The meter answered NAK to every repetition of a command.

    Attributes:
        command: the command, e.g. ``"R1 1.8.0"`` (never a password).
        attempts: how many times it was sent.
    """

    kind = "command rejected"

    def __init__(self, command: str, attempts: int) -> None:
        self.command = command
        self.attempts = attempts
        super().__init__(f"meter rejected {command} with NAK {attempts} times (protocol error)")


class SessionEndedError(MeterError):
    """The meter sent a break (``SOH B0``) and left programming mode."""

    kind = "session ended"

    def __init__(self, command: str = "") -> None:
        self.text = "B0"
        self.command = command
        where = f" after {command}" if command else ""
        Exception.__init__(self, f"meter ended the programming session (break){where}")


class HdlcFrameError(FramingError):
    """An HDLC frame is malformed, or the link procedure (IEC 62056-46) was broken.

    Frames with a wrong HCS/FCS are dropped as the standard says; this is raised
    when the meter's frames stay unusable after every retransmission, or when a
    well-checked frame makes no sense (an FRMR, a DM where a UA was due).
    """

    kind = "framing error"


class ApduError(FramingError):
    """A DLMS APDU or an A-XDR encoded value is malformed or of an unknown type."""

    kind = "framing error"


class DlmsServiceError(MeterError):
    """The meter answered a DLMS request with an exception or confirmed-service-error.

    Attributes:
        text: what the meter reported, in words (e.g. ``service-not-supported``).
    """

    kind = "meter error"

    def __init__(self, text: str, *, command: str = "") -> None:
        super().__init__(text, command=command)
