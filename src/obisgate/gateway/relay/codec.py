"""The relay's wire format, sans-IO: messages to frames, bytes back to messages.

No I/O, no clock, no sleeping: :func:`encode_hello`, :func:`encode_batch` and
:func:`encode_stats` return bytes to write; a :class:`FrameDecoder` takes the
bytes as they arrive (``feed``) and hands out whole messages (``next_message``),
``None`` while a frame is incomplete.

A frame is a 4-byte big-endian length ``n`` (1 to :data:`MAX_FRAME`), then ``n``
bytes: one byte of :class:`Kind`, then a compact JSON body (UTF-8). The body of
a batch is one array per update, ``[device, signal, value, unit, time_us,
quality_bits, raw, log]``, with ``time_us`` the reading's time in microseconds
since the Unix epoch (UTC) and date/time values tagged (``{"dt": ISO}``,
``{"d": ISO}``, ``{"t": ISO}``), so the supervisor's outputs get exactly the
:class:`~obisgate.gateway.updates.SignalUpdate` the worker made. Non-finite
floats travel as JSON's ``NaN``/``Infinity`` (both ends are this module).

Every message a worker sends after its :class:`Hello` is a :class:`Batch` (a
replayed one after a reconnect is marked ``replay``), :class:`Stats` (the
worker's counters, the counters of the devices that changed, the health of its
own outputs), :class:`Figures` (its read-success figures: total, groups, the
devices that changed; a figure is ``[scheduled, succeeded, missed, priority,
lateness_sum_s, histogram or null]``) or a :class:`ReadAnswer`. The supervisor
sends only :class:`ReadAsk` (a priority read of one device, by a number of its
choosing that the answer carries back).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from obisgate.errors import ObisgateError
from obisgate.gateway.outputs.health import OutputHealth, OutputState
from obisgate.gateway.quality import Quality
from obisgate.gateway.readstats import ReadFigures, ReadStats
from obisgate.gateway.updates import SignalUpdate

__all__ = [
    "MAX_FRAME",
    "VERSION",
    "Batch",
    "Figures",
    "FrameDecoder",
    "Hello",
    "Kind",
    "Message",
    "ReadAnswer",
    "ReadAsk",
    "RelayProtocolError",
    "Stats",
    "encode_answer",
    "encode_ask",
    "encode_batch",
    "encode_figures",
    "encode_hello",
    "encode_stats",
]

#: The largest frame (length field) accepted: 16 MiB.
MAX_FRAME = 16 * 1024 * 1024

#: The version a :class:`Hello` carries; another one is refused.
VERSION = 2

_LENGTH = struct.Struct(">I")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class RelayProtocolError(ObisgateError):
    """Bytes on the relay that are no frame of this version (a bug, or a stranger)."""

    kind = "relay error"


class Kind(enum.IntEnum):
    """The first byte of a frame's payload."""

    HELLO = 1
    BATCH = 2
    REPLAY = 3
    STATS = 4
    FIGURES = 5
    ASK = 6
    ANSWER = 7


@dataclass(frozen=True, slots=True)
class Hello:
    """The first message on a connection: which worker speaks.

    Attributes:
        shard: the worker's shard number I (``--shard I/N``).
        count: N.
        pid: the worker's process id.
    """

    shard: int
    count: int
    pid: int


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch of updates (one readout), or the latest batch of a device sent again after a
    reconnect (``replay``: the supervisor skips it when it has that reading already)."""

    updates: tuple[SignalUpdate, ...]
    replay: bool = False


@dataclass(frozen=True, slots=True)
class Stats:
    """A worker's counters.

    Attributes:
        gateway: its ``Gateway.stats()``.
        devices: device alias -> its counters (``Gateway.device_stats()``), for the
            devices whose counters may have changed since the last :class:`Stats`.
        health: output name -> the health of each of the worker's own outputs.
    """

    gateway: dict[str, Any]
    devices: dict[str, dict[str, float]]
    health: dict[str, OutputHealth]


@dataclass(frozen=True, slots=True)
class Figures:
    """A worker's read-success figures: its total and groups, and the devices whose figures
    may have changed (:attr:`ReadFigures.devices` holds only those)."""

    figures: ReadFigures


@dataclass(frozen=True, slots=True)
class ReadAsk:
    """The supervisor asks for a priority read of ``device``; ``number`` names the ask."""

    number: int
    device: str


@dataclass(frozen=True, slots=True)
class ReadAnswer:
    """A worker's answer to :class:`ReadAsk` ``number``: the read's updates, or why there
    are none (``error``, with the ``reason`` of a ``ReadRequestError``: ``unknown``,
    ``push``, ``stopped``, or ``failed``)."""

    number: int
    updates: tuple[SignalUpdate, ...] = ()
    error: str | None = None
    reason: str | None = None


Message = Hello | Batch | Stats | Figures | ReadAsk | ReadAnswer


# -- encoding -------------------------------------------------------------------------


def _frame(kind: Kind, body: Any) -> bytes:
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    if len(payload) + 1 > MAX_FRAME:
        raise RelayProtocolError(f"a {kind.name.lower()} frame of {len(payload)} bytes is too big")
    return _LENGTH.pack(len(payload) + 1) + bytes((kind,)) + payload


def _micros(time: dt.datetime) -> int:
    if time.tzinfo is None:
        time = time.replace(tzinfo=dt.UTC)
    delta = time - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, dt.time):
        return {"t": value.isoformat()}
    return str(value)


def encode_hello(hello: Hello) -> bytes:
    """The frame of ``hello``."""
    return _frame(
        Kind.HELLO,
        {"version": VERSION, "shard": hello.shard, "count": hello.count, "pid": hello.pid},
    )


def encode_batch(updates: Sequence[SignalUpdate], *, replay: bool = False) -> bytes:
    """The frame of one batch.

    Raises:
        RelayProtocolError: the batch would exceed :data:`MAX_FRAME`.
    """
    return _frame(Kind.REPLAY if replay else Kind.BATCH, _updates_body(updates))


def _updates_body(updates: Sequence[SignalUpdate]) -> list[list[Any]]:
    return [
        [
            u.device,
            u.signal,
            _value(u.value),
            u.unit,
            _micros(u.time),
            u.quality.value,
            u.raw,
            u.log,
        ]
        for u in updates
    ]


def encode_stats(
    gateway: Mapping[str, Any],
    devices: Mapping[str, Mapping[str, float]],
    health: Mapping[str, OutputHealth],
) -> bytes:
    """The frame of a worker's counters (see :class:`Stats`).

    Raises:
        RelayProtocolError: the counters would exceed :data:`MAX_FRAME` (send fewer devices).
    """
    return _frame(
        Kind.STATS,
        {
            "gateway": dict(gateway),
            "devices": {alias: dict(counters) for alias, counters in devices.items()},
            "health": {name: h.to_json() for name, h in health.items()},
        },
    )


def _read_stats(stats: ReadStats) -> list[Any]:
    histogram = stats.histogram()
    return [
        stats.scheduled,
        stats.succeeded,
        stats.missed,
        stats.priority,
        stats.lateness_sum_s,
        list(histogram) if any(histogram) else None,
    ]


def encode_figures(figures: ReadFigures) -> bytes:
    """The frame of a worker's read-success figures (see :class:`Figures`).

    Raises:
        RelayProtocolError: the figures would exceed :data:`MAX_FRAME` (send fewer devices).
    """
    return _frame(
        Kind.FIGURES,
        {
            "shard": figures.shard,
            "total": _read_stats(figures.total),
            "devices": {
                alias: [line, group, _read_stats(stats)]
                for alias, (line, group, stats) in figures.devices.items()
            },
            "groups": {
                name: [_read_stats(stats), *rest] for name, (stats, *rest) in figures.groups.items()
            },
        },
    )


def encode_ask(ask: ReadAsk) -> bytes:
    """The frame of a priority read asked of a worker."""
    return _frame(Kind.ASK, {"number": ask.number, "device": ask.device})


def encode_answer(answer: ReadAnswer) -> bytes:
    """The frame of a worker's answer to a :class:`ReadAsk`.

    Raises:
        RelayProtocolError: the updates would exceed :data:`MAX_FRAME`.
    """
    body: dict[str, Any] = {"number": answer.number}
    if answer.error is None:
        body["updates"] = _updates_body(answer.updates)
    else:
        body["error"] = answer.error
        body["reason"] = answer.reason
    return _frame(Kind.ANSWER, body)


# -- decoding -------------------------------------------------------------------------


def _decoded_value(value: Any) -> Any:
    if isinstance(value, dict):
        ((tag, text),) = value.items()
        if tag == "dt":
            return dt.datetime.fromisoformat(_text(text))
        if tag == "d":
            return dt.date.fromisoformat(_text(text))
        if tag == "t":
            return dt.time.fromisoformat(_text(text))
        raise ValueError(f"an unknown value tag {tag!r}")
    if isinstance(value, list):
        raise TypeError("a value is never an array")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _integer(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _number(value: Any, why: str) -> float:
    """``value`` when it is an integer or a float (not a bool), as JSON gave it; else
    ``TypeError(why)``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(why)
    return value


#: Every quality by its bits (a Flag built from an int is slow; there are few).
_QUALITIES = {q.value: q for q in (Quality(bits) for bits in range(1 << len(Quality)))}


def _update(item: Any) -> SignalUpdate:
    device, signal, value, unit, micros, bits, raw, log = item
    if type(device) is not str or type(signal) is not str:
        raise TypeError("expected text for the device and the signal")
    if type(micros) is not int:
        raise TypeError(f"expected an integer time, got {type(micros).__name__}")
    if type(value) is dict or type(value) is list:
        value = _decoded_value(value)
    return SignalUpdate(
        device,
        signal,
        value,
        None if unit is None else _text(unit),
        _EPOCH + dt.timedelta(microseconds=micros),
        _QUALITIES[bits],
        None if raw is None else _text(raw),
        log is True,
    )


def _health(obj: Mapping[str, Any]) -> OutputHealth:
    counters = {
        str(k): _number(v, "counters are numbers")
        for k, v in dict(obj.get("counters") or {}).items()
    }
    return OutputHealth(
        state=OutputState(obj["state"]),
        since=dt.datetime.fromisoformat(_text(obj["since"])),
        last_error=_optional_text(obj.get("last_error")),
        address=_optional_text(obj.get("address")),
        counters=counters,
    )


def _counters(obj: Any) -> dict[str, float]:
    return {_text(k): _number(v, "device counters are numbers") for k, v in dict(obj).items()}


def _hello(body: Any) -> Hello:
    if body.get("version") != VERSION:
        raise RelayProtocolError(
            f"relay version {body.get('version')!r}; this obisgate speaks {VERSION}"
        )
    shard, count = _integer(body["shard"]), _integer(body["count"])
    if not 0 <= shard < count:
        raise ValueError(f"shard {shard} of {count}")
    return Hello(shard, count, _integer(body["pid"]))


def _batch(body: Any, *, replay: bool) -> Batch:
    if not isinstance(body, list):
        raise TypeError("a batch is an array")
    return Batch(tuple(_update(item) for item in body), replay=replay)


def _stats(body: Any) -> Stats:
    return Stats(
        gateway=dict(body["gateway"]),
        devices={_text(a): _counters(c) for a, c in dict(body["devices"]).items()},
        health={_text(n): _health(h) for n, h in dict(body["health"]).items()},
    )


def _decoded_stats(item: Any) -> ReadStats:
    scheduled, succeeded, missed, priority, lateness, histogram = item
    return ReadStats.restored(
        _integer(scheduled),
        _integer(succeeded),
        _integer(missed),
        _integer(priority),
        float(_number(lateness, "a lateness sum is a number")),
        # array("I") itself refuses what is no unsigned integer (TypeError, OverflowError).
        None if histogram is None else _list(histogram),
    )


def _list(value: Any) -> list[Any]:
    if type(value) is not list:
        raise TypeError("expected an array")
    return value


def _group(item: Any) -> tuple[ReadStats, int | None, int, int, int, float, int]:
    stats, limit, sessions, waiting, waited, wait_s, peak = item
    return (
        _decoded_stats(stats),
        None if limit is None else _integer(limit),
        _integer(sessions),
        _integer(waiting),
        _integer(waited),
        float(_number(wait_s, "a wait is a number of seconds")),
        _integer(peak),
    )


def _figures(body: Any) -> Figures:
    devices: dict[str, tuple[str, str | None, ReadStats]] = {}
    for alias, (line, group, stats) in dict(body["devices"]).items():
        devices[_text(alias)] = (_text(line), _optional_text(group), _decoded_stats(stats))
    return Figures(
        ReadFigures(
            shard=_text(body["shard"]),
            total=_decoded_stats(body["total"]),
            devices=devices,
            groups={_text(name): _group(item) for name, item in dict(body["groups"]).items()},
        )
    )


def _answer(body: Any) -> ReadAnswer:
    number = _integer(body["number"])
    if "error" in body:
        return ReadAnswer(number, error=_text(body["error"]), reason=_text(body["reason"]))
    return ReadAnswer(number, tuple(_update(item) for item in body["updates"]))


def _message(code: int, payload: bytes) -> Message:
    try:
        kind = Kind(code)
    except ValueError:
        raise RelayProtocolError(f"an unknown frame kind {code}") from None
    try:
        body = json.loads(payload)
        if kind is Kind.HELLO:
            return _hello(body)
        if kind is Kind.STATS:
            return _stats(body)
        if kind is Kind.FIGURES:
            return _figures(body)
        if kind is Kind.ASK:
            return ReadAsk(_integer(body["number"]), _text(body["device"]))
        if kind is Kind.ANSWER:
            return _answer(body)
        return _batch(body, replay=kind is Kind.REPLAY)
    except RelayProtocolError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise RelayProtocolError(f"a malformed {kind.name.lower()} frame: {exc}") from None


class FrameDecoder:
    """Cuts a byte stream into frames and decodes them, one message at a time.

    Args:
        max_frame: the largest length field accepted.
    """

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._start = 0

    @property
    def pending(self) -> int:
        """Bytes received that are not part of a message handed out yet."""
        return len(self._buffer) - self._start

    def feed(self, data: bytes) -> None:
        """Take bytes as they arrived (any split)."""
        if self._start and self._start * 2 >= len(self._buffer):
            del self._buffer[: self._start]
            self._start = 0
        self._buffer += data

    def next_message(self) -> Message | None:
        """The next whole message, or ``None`` until more bytes arrive.

        Raises:
            RelayProtocolError: a length of 0 or above ``max_frame``, an unknown
                kind, a body that is not what its kind holds, another version in a
                hello. The stream cannot be read further after it.
        """
        buffer, start = self._buffer, self._start
        if len(buffer) - start < _LENGTH.size:
            return None
        (length,) = _LENGTH.unpack_from(buffer, start)
        if not 1 <= length <= self.max_frame:
            raise RelayProtocolError(f"a frame length of {length} bytes (at most {self.max_frame})")
        end = start + _LENGTH.size + length
        if len(buffer) < end:
            return None
        kind = buffer[start + _LENGTH.size]
        payload = bytes(buffer[start + _LENGTH.size + 1 : end])
        self._start = end
        if self._start == len(buffer):
            buffer.clear()
            self._start = 0
        return _message(kind, payload)
