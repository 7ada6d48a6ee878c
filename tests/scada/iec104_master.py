"""A controlling station (master) for IEC 60870-5-104, written for the tests from the standard.

It shares no code with obisgate's outstation: APDU framing (start 0x68, length,
four control octets), U-frames (STARTDT/STOPDT/TESTFR act and con), I-frames
with send and receive sequence numbers, S-frames, and the ASDUs a master sends
(C_IC_NA_1 interrogation, C_CI_NA_1 counter interrogation, C_CS_NA_1 clock
synchronisation) or receives (M_SP_NA_1, M_ME_NC_1, M_IT_NA_1, M_SP_TB_1,
M_ME_TF_1, M_IT_TB_1, M_EI_NA_1 and the command confirmations), decoded by
hand from IEC 60870-5-101 §7.2/§7.3.

A reader task records every frame; TESTFR act is answered at once, received
I-frames are acknowledged with an S-frame unless ``acknowledge`` is off (to
leave them unacknowledged on purpose).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import struct
from dataclasses import dataclass
from typing import Any

STARTDT_ACT, STARTDT_CON = 0x07, 0x0B
STOPDT_ACT, STOPDT_CON = 0x13, 0x23
TESTFR_ACT, TESTFR_CON = 0x43, 0x83

M_SP_NA_1, M_ME_NC_1, M_IT_NA_1 = 1, 13, 15
M_SP_TB_1, M_ME_TF_1, M_IT_TB_1 = 30, 36, 37
M_EI_NA_1 = 70
C_SC_NA_1 = 45
C_IC_NA_1, C_CI_NA_1, C_RD_NA_1, C_CS_NA_1 = 100, 101, 102, 103

COT_PERIODIC, COT_SPONTANEOUS, COT_INITIALISED, COT_REQUEST = 1, 3, 4, 5
COT_ACT, COT_ACTCON, COT_ACTTERM = 6, 7, 10
COT_INROGEN, COT_REQCOGEN = 20, 37
COT_UNKNOWN_TYPE, COT_UNKNOWN_CAUSE, COT_UNKNOWN_CA, COT_UNKNOWN_IOA = 44, 45, 46, 47

#: Octets of the information element after the IOA, per type (time tag included).
ELEMENT_SIZE = {
    M_SP_NA_1: 1,
    M_ME_NC_1: 5,
    M_IT_NA_1: 5,
    M_SP_TB_1: 8,
    M_ME_TF_1: 12,
    M_IT_TB_1: 12,
    M_EI_NA_1: 1,
    C_SC_NA_1: 1,
    C_IC_NA_1: 1,
    C_CI_NA_1: 1,
    C_RD_NA_1: 0,
    C_CS_NA_1: 7,
}
TIME_TAGGED = {M_SP_TB_1, M_ME_TF_1, M_IT_TB_1, C_CS_NA_1}


def cp56_encode(moment: dt.datetime) -> bytes:
    """CP56Time2a: ms of minute (LE), minute, hour, day + weekday << 5, month, year % 100."""
    moment = moment.astimezone(dt.UTC)
    ms = moment.second * 1000 + moment.microsecond // 1000
    return struct.pack(
        "<HBBBBB",
        ms,
        moment.minute,
        moment.hour,
        moment.day | (moment.isoweekday() << 5),
        moment.month,
        moment.year - 2000,
    )


def cp56_decode(data: bytes) -> dt.datetime:
    ms, minute, hour, day, month, year = struct.unpack("<HBBBBB", data)
    return dt.datetime(
        2000 + (year & 0x7F),
        month & 0x0F,
        day & 0x1F,
        hour & 0x1F,
        minute & 0x3F,
        ms // 1000,
        (ms % 1000) * 1000,
        tzinfo=dt.UTC,
    )


@dataclass(frozen=True)
class InfoObject:
    """One information object of a received ASDU, decoded."""

    type_id: int
    cot: int
    negative: bool
    common_address: int
    ioa: int
    value: Any
    quality: int
    time: dt.datetime | None

    @property
    def iv(self) -> bool:
        return bool(self.quality & 0x80)

    @property
    def nt(self) -> bool:
        return bool(self.quality & 0x40)

    @property
    def ov(self) -> bool:
        return bool(self.quality & 0x01)


@dataclass(frozen=True)
class Frame:
    """A received APDU: ``kind`` is ``I``, ``S`` or ``U``."""

    kind: str
    send_seq: int = 0
    recv_seq: int = 0
    code: int = 0
    asdu: bytes = b""

    def objects(self) -> list[InfoObject]:
        return decode_asdu(self.asdu) if self.kind == "I" else []


def decode_asdu(asdu: bytes) -> list[InfoObject]:
    type_id, vsq, cot_octet, _originator = asdu[0], asdu[1], asdu[2], asdu[3]
    common_address = asdu[4] | asdu[5] << 8
    count, sequence = vsq & 0x7F, bool(vsq & 0x80)
    size = ELEMENT_SIZE[type_id]
    body = asdu[6:]
    objects: list[InfoObject] = []
    position = 0
    base_ioa = 0
    for index in range(count):
        if not sequence or index == 0:
            ioa = body[position] | body[position + 1] << 8 | body[position + 2] << 16
            base_ioa = ioa
            position += 3
        else:
            ioa = base_ioa + index
        element = body[position : position + size]
        position += size
        objects.append(
            _decode_element(
                type_id, cot_octet & 0x3F, bool(cot_octet & 0x40), common_address, ioa, element
            )
        )
    assert position == len(body), f"ASDU type {type_id}: {len(body) - position} octets left over"
    return objects


def _decode_element(
    type_id: int, cot: int, negative: bool, ca: int, ioa: int, element: bytes
) -> InfoObject:
    time = cp56_decode(element[-7:]) if type_id in TIME_TAGGED else None
    value: Any
    quality = 0
    if type_id in (M_SP_NA_1, M_SP_TB_1):
        value, quality = bool(element[0] & 0x01), element[0] & 0xF0
    elif type_id in (M_ME_NC_1, M_ME_TF_1):
        value, quality = struct.unpack("<fB", element[:5])
    elif type_id in (M_IT_NA_1, M_IT_TB_1):
        value, quality = struct.unpack("<iB", element[:5])
    else:
        value = element
    return InfoObject(type_id, cot, negative, ca, ioa, value, quality, time)


def command(type_id: int, cot: int, common_address: int, ioa: int, element: bytes) -> bytes:
    """A single-object ASDU (SQ = 0, originator 0)."""
    return (
        bytes((type_id, 1, cot, 0, common_address & 0xFF, common_address >> 8))
        + ioa.to_bytes(3, "little")
        + element
    )


class RawMaster:
    """One master connection over a plain TCP socket."""

    def __init__(self, *, acknowledge: bool = True, answer_tests: bool = True) -> None:
        self.acknowledge = acknowledge
        self.answer_tests = answer_tests
        self.frames: list[Frame] = []
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self.send_seq = 0
        self.recv_seq = 0

    async def connect(self, port: int, host: str = "127.0.0.1") -> RawMaster:
        self._reader, self._writer = await asyncio.open_connection(host, port)
        self._task = asyncio.create_task(self._read_loop())
        return self

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def abort(self) -> None:
        """Drop the connection at once (a reset, as when the master's process dies)."""
        if self._writer is not None:
            self._writer.transport.abort()

    def pause_reading(self) -> None:
        """Stop answering and acknowledging (a master whose network went away)."""
        self.acknowledge = False
        self.answer_tests = False

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                head = await self._reader.readexactly(2)
                assert head[0] == 0x68, f"start octet {head[0]:#x}"
                body = await self._reader.readexactly(head[1])
                frame = self._parse(body)
                self.frames.append(frame)
                if frame.kind == "U" and frame.code == TESTFR_ACT and self.answer_tests:
                    self.send_raw(bytes((0x68, 4, TESTFR_CON, 0, 0, 0)))
                if frame.kind == "I":
                    self.recv_seq = (frame.send_seq + 1) % 32768
                    if self.acknowledge:
                        self.send_s()
                self._changed.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed.set()
            self._changed.set()

    @staticmethod
    def _parse(body: bytes) -> Frame:
        c1, c2, c3, c4 = body[:4]
        if c1 & 1 == 0:
            return Frame("I", (c1 >> 1) | c2 << 7, (c3 >> 1) | c4 << 7, asdu=body[4:])
        if c1 & 3 == 1:
            return Frame("S", recv_seq=(c3 >> 1) | c4 << 7)
        return Frame("U", code=c1)

    def send_raw(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)

    def send_u(self, code: int) -> None:
        self.send_raw(bytes((0x68, 4, code, 0, 0, 0)))

    def send_s(self) -> None:
        nr = self.recv_seq << 1
        self.send_raw(bytes((0x68, 4, 0x01, 0, nr & 0xFF, nr >> 8)))

    def send_asdu(self, asdu: bytes) -> None:
        ns, nr = self.send_seq << 1, self.recv_seq << 1
        self.send_raw(bytes((0x68, 4 + len(asdu), ns & 0xFF, ns >> 8, nr & 0xFF, nr >> 8)) + asdu)
        self.send_seq = (self.send_seq + 1) % 32768

    async def wait_for(self, predicate: Any, *, after: int = 0, timeout_s: float = 10.0) -> Frame:
        """The first frame from index ``after`` on that matches ``predicate``.

        Raises:
            TimeoutError: none within ``timeout_s``.
            ConnectionError: the outstation closed the connection first.
        """
        async with asyncio.timeout(timeout_s):
            while True:
                for frame in self.frames[after:]:
                    if predicate(frame):
                        return frame
                if self.closed.is_set():
                    raise ConnectionError("the outstation closed the connection")
                self._changed.clear()
                await self._changed.wait()

    async def wait_object(
        self, predicate: Any, *, after: int = 0, timeout_s: float = 10.0
    ) -> InfoObject:
        """The first information object from frame index ``after`` on that matches."""
        found: list[InfoObject] = []

        def matches(frame: Frame) -> bool:
            for obj in frame.objects():
                if predicate(obj):
                    found.append(obj)
                    return True
            return False

        await self.wait_for(matches, after=after, timeout_s=timeout_s)
        return found[0]

    def objects(self, *, after: int = 0) -> list[InfoObject]:
        return [obj for frame in self.frames[after:] for obj in frame.objects()]

    async def startdt(self) -> None:
        mark = len(self.frames)
        self.send_u(STARTDT_ACT)
        await self.wait_for(lambda f: f.kind == "U" and f.code == STARTDT_CON, after=mark)

    async def stopdt(self) -> None:
        mark = len(self.frames)
        self.send_u(STOPDT_ACT)
        await self.wait_for(lambda f: f.kind == "U" and f.code == STOPDT_CON, after=mark)

    async def interrogation(self, ca: int, qoi: int = 20) -> list[InfoObject]:
        """Send C_IC_NA_1 act; the objects between its confirmation and termination."""
        mark = len(self.frames)
        self.send_asdu(command(C_IC_NA_1, COT_ACT, ca, 0, bytes((qoi,))))
        await self.wait_object(
            lambda o: o.type_id == C_IC_NA_1 and o.cot == COT_ACTTERM, after=mark
        )
        objects = self.objects(after=mark)
        start = next(i for i, o in enumerate(objects) if o.type_id == C_IC_NA_1)
        end = next(i for i, o in enumerate(objects) if o.cot == COT_ACTTERM)
        assert objects[start].cot == COT_ACTCON and not objects[start].negative
        return [o for o in objects[start + 1 : end] if o.cot == COT_INROGEN]

    async def clock_sync(self, ca: int, moment: dt.datetime) -> InfoObject:
        """Send C_CS_NA_1 act with ``moment``; the confirmation."""
        mark = len(self.frames)
        self.send_asdu(command(C_CS_NA_1, COT_ACT, ca, 0, cp56_encode(moment)))
        return await self.wait_object(
            lambda o: o.type_id == C_CS_NA_1 and o.cot == COT_ACTCON, after=mark
        )


async def connected(port: int, **options: Any) -> RawMaster:
    return await RawMaster(**options).connect(port)
