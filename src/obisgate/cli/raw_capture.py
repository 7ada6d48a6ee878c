"""Keep the meter's bytes exactly as received, for ``obisgate read --format raw``."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from obisgate.trace import Trace, open_trace

__all__ = ["RawCapture", "raw_capture"]


class RawCapture(Trace):
    """A trace that also keeps every received byte (identification, STX ... ETX, BCC).

    Lines go to ``forward`` when given (the user's ``--trace``), else nowhere.
    """

    def __init__(self, forward: Trace | None = None) -> None:
        super().__init__(io.StringIO())
        self._forward = forward
        self.data = bytearray()

    def sent(self, data: bytes, baud: int) -> None:
        if self._forward is not None:
            self._forward.sent(data, baud)

    def received(self, data: bytes, baud: int) -> None:
        self.data += data
        if self._forward is not None:
            self._forward.received(data, baud)

    def note(self, text: str) -> None:
        if self._forward is not None:
            self._forward.note(text)

    def flush(self) -> None:
        if self._forward is not None:
            self._forward.flush()


@contextmanager
def raw_capture(trace_path: str | Path | None) -> Iterator[RawCapture]:
    """A :class:`RawCapture` that also writes the trace file ``trace_path`` if given.

    Raises:
        ConfigError: the trace file cannot be written.
    """
    with ExitStack() as stack:
        yield RawCapture(open_trace(stack, trace_path))
