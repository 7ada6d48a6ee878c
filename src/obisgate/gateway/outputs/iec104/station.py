"""The outstation's application layer: points, events on change, interrogations, commands.

Sans-IO and pure: the current time is passed in. :class:`Station` keeps every
point's current information and turns signal updates into events only when a
value or its quality changed (:meth:`Station.update`); it answers general and
counter interrogation, read, clock synchronisation and test commands
(:meth:`Station.handle`), and builds the cyclic ASDUs (:meth:`Station.cyclic`).

Time tags: a valid value carries its reading's time. A value that turns not
topical because its meter went silent carries the time the failure was detected
(the time of the device's ``_status`` update in the same batch), once: further
failed readouts change nothing and send nothing.

Interrogation answers: general interrogation (QOI 20) answers the measured
values and single points with their own types (time-tagged ones with their
time tag), or with the types without time tag (``M_ME_NC_1``, ``M_SP_NA_1``)
when ``gi_without_time`` is set; counter interrogation (general request)
answers the integrated totals as ``M_IT_TB_1``. Both are confirmed (cause 7)
before and terminated (cause 10) after the objects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from obisgate.gateway.outputs.iec104 import elements
from obisgate.gateway.outputs.iec104.apdu import Asdu, Cot, FrameError, TypeId, encode_asdu
from obisgate.gateway.outputs.iec104.mapping import (
    CounterValue,
    IoaPoint,
    MeasuredValue,
    counter,
    measured,
    single,
)
from obisgate.gateway.outputs.iec104.outgoing import Event, pack_objects
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

__all__ = ["BROADCAST", "Reply", "Station"]

#: The common address every station answers (a broadcast).
BROADCAST = 0xFFFF
#: Qualifier of interrogation: station interrogation (global).
QOI_STATION = 20
#: Qualifier of counter interrogation: general request counter.
RQT_GENERAL = 5

ClockSync = Literal["accept", "refuse"]

#: Each time-tagged type and the same type without time tag.
_UNTIMED = {
    TypeId.M_ME_TF_1: TypeId.M_ME_NC_1,
    TypeId.M_SP_TB_1: TypeId.M_SP_NA_1,
    TypeId.M_IT_TB_1: TypeId.M_IT_NA_1,
}
_MEASURED = frozenset({TypeId.M_ME_TF_1, TypeId.M_ME_NC_1})
_COUNTERS = frozenset({TypeId.M_IT_TB_1})


@dataclass(frozen=True, slots=True)
class Reply:
    """What a received ASDU asks for.

    Attributes:
        asdus: the ASDUs to send back, in order.
        clock: the master's time when the ASDU was a clock synchronisation.
        problem: what was wrong with the ASDU (for the peer error log), or ``None``.
    """

    asdus: list[bytes]
    clock: dt.datetime | None = None
    problem: str | None = None


class _Point:
    """A point's spec and current information."""

    __slots__ = ("info", "spec", "type_id")

    def __init__(self, spec: IoaPoint, started: dt.datetime) -> None:
        self.spec = spec
        self.type_id = TypeId[spec.kind]
        self.info: MeasuredValue | CounterValue
        if self.type_id in _COUNTERS:
            self.info = CounterValue(0, invalid=True, carry=False, time=started)
        else:
            initial: float | bool = False if self.type_id is TypeId.M_SP_TB_1 else 0.0
            self.info = MeasuredValue(
                initial, invalid=True, not_topical=True, overflow=False, time=started
            )

    def state(self) -> tuple[object, ...]:
        """What a change is judged on: the value as sent and the quality bits (not the time)."""
        info = self.info
        if isinstance(info, CounterValue):
            return (info.counter, info.invalid, info.carry)
        value: object = info.value
        if self.type_id in _MEASURED:  # as a short float: a change below its precision is none
            value = elements.short_float(float(info.value), 0)[:4]
        return (value, info.invalid, info.not_topical, info.overflow)

    def element(self, type_id: int) -> bytes:
        """The information element(s) as ``type_id`` (the point's type, or it without time)."""
        info = self.info
        if isinstance(info, CounterValue):
            data = elements.bcr(info.counter, invalid=info.invalid, carry=info.carry)
        elif self.type_id is TypeId.M_SP_TB_1:
            data = bytes(
                (
                    elements.siq(
                        bool(info.value), invalid=info.invalid, not_topical=info.not_topical
                    ),
                )
            )
            if info.overflow:
                data = bytes((data[0] | elements.IV,))
        else:
            quality = elements.qds(
                invalid=info.invalid, not_topical=info.not_topical, overflow=info.overflow
            )
            data = elements.short_float(float(info.value), quality)
        if type_id in _UNTIMED:  # a time-tagged type
            data += elements.cp56(info.time)
        return data


class Station:
    """One station (common address) and its points.

    Args:
        points: the information objects (unique IOAs, as the configuration checks).
        common_address: the station's common address.
        gi_without_time: answer general interrogation with the types without time tag.
        started: the time tag of points not read yet.
    """

    def __init__(
        self,
        points: Sequence[IoaPoint],
        common_address: int,
        *,
        gi_without_time: bool = False,
        started: dt.datetime,
    ) -> None:
        self.common_address = common_address
        self.gi_without_time = gi_without_time
        self._points = [_Point(spec, started) for spec in points]
        self._by_key = {point.spec.key: point for point in self._points}
        self._by_ioa = {point.spec.ioa: point for point in self._points}

    def update(self, updates: Sequence[SignalUpdate]) -> list[Event]:
        """Take a batch of updates; the events of the points whose value or quality changed."""
        failed_at = {
            u.device: u.time for u in updates if u.signal == STATUS_SIGNAL and u.value != "ok"
        }
        events: list[Event] = []
        for update in updates:
            point = self._by_key.get((update.device, update.signal))
            if point is None:
                continue
            before = point.state()
            previous = point.info
            spec = point.spec
            if isinstance(previous, CounterValue):
                point.info = counter(update, spec.scale, previous.counter)
            elif point.type_id is TypeId.M_SP_TB_1:
                point.info = single(update, bool(previous.value))
            else:
                point.info = measured(update, spec.scale, float(previous.value))
            if point.state() == before:
                point.info = previous  # nothing changed: keep the time of the last change
                continue
            detected = failed_at.get(update.device)
            if detected is not None and Quality.NOT_TOPICAL in update.quality:
                point.info = _at(point.info, detected)
            events.append(Event(point.type_id, spec.ioa, point.element(point.type_id)))
        return events

    def end_of_initialization(self) -> Event:
        """``M_EI_NA_1`` (cause 4, local power on): the outstation has (re)started."""
        return Event(TypeId.M_EI_NA_1, 0, b"\0", Cot.INITIALIZED)

    def interrogation(self) -> list[bytes]:
        """The objects of a station interrogation (cause 20), without confirmation."""
        groups: dict[int, list[tuple[int, bytes]]] = {}
        for point in self._points:
            if point.type_id in _COUNTERS:
                continue
            kind = point.type_id
            if self.gi_without_time:
                kind = _UNTIMED.get(kind, kind)
            groups.setdefault(kind, []).append((point.spec.ioa, point.element(kind)))
        return [
            asdu
            for kind, objects in groups.items()
            for asdu in pack_objects(
                kind, Cot.INTERROGATED_BY_STATION, self.common_address, objects
            )
        ]

    def counters(self) -> list[bytes]:
        """The integrated totals of a general counter interrogation (cause 37)."""
        objects = [
            (p.spec.ioa, p.element(p.type_id)) for p in self._points if p.type_id in _COUNTERS
        ]
        return pack_objects(
            TypeId.M_IT_TB_1, Cot.REQUESTED_BY_GENERAL_COUNTER, self.common_address, objects
        )

    def cyclic(self) -> list[bytes]:
        """The measured values as ``M_ME_NC_1`` with cause 1 (periodic, cyclic)."""
        objects = [
            (p.spec.ioa, p.element(TypeId.M_ME_NC_1))
            for p in self._points
            if p.type_id in _MEASURED
        ]
        return pack_objects(TypeId.M_ME_NC_1, Cot.PERIODIC, self.common_address, objects)

    def handle(self, data: bytes, *, clock_sync: ClockSync = "accept") -> Reply:
        """Answer a received ASDU (a command of the controlling station).

        Monitor-direction types and commands this station does not carry out
        are answered negatively with cause 44 (unknown type); another common
        address with cause 46; a cause other than activation with cause 45; an
        unknown IOA with cause 47. A read command (cause 5) is answered with the point
        (cause 5).
        """
        try:
            asdu = Asdu.parse(data)
        except FrameError as exc:
            return Reply([], problem=str(exc))
        if asdu.common_address not in (self.common_address, BROADCAST):
            return Reply(
                [asdu.mirror(Cot.UNKNOWN_COMMON_ADDRESS, negative=True)],
                problem=f"common address {asdu.common_address}",
            )
        handlers: dict[int, Callable[[Asdu, ClockSync], Reply]] = {
            TypeId.C_IC_NA_1: self._interrogation_command,
            TypeId.C_CI_NA_1: self._counter_command,
            TypeId.C_RD_NA_1: self._read_command,
            TypeId.C_CS_NA_1: self._clock_command,
            TypeId.C_TS_TA_1: self._test_command,
        }
        handler = handlers.get(asdu.type_id)
        if handler is None:
            return Reply([asdu.mirror(Cot.UNKNOWN_TYPE_ID, negative=True)])
        expected = Cot.REQUEST if asdu.type_id == TypeId.C_RD_NA_1 else Cot.ACTIVATION
        if asdu.cot != expected:
            return Reply([asdu.mirror(Cot.UNKNOWN_CAUSE, negative=True)])
        try:
            reply = handler(asdu, clock_sync)
        except FrameError as exc:
            return Reply([asdu.mirror(Cot.ACTIVATION_CON, negative=True)], problem=str(exc))
        return reply

    def _confirm(self, asdu: Asdu, cot: int, *, negative: bool = False) -> bytes:
        mirrored = asdu.mirror(cot, negative=negative)
        address = self.common_address
        return mirrored[:4] + bytes((address & 0xFF, address >> 8)) + mirrored[6:]

    def _interrogation_command(self, asdu: Asdu, clock_sync: ClockSync) -> Reply:
        del clock_sync
        ioa, qualifier = asdu.single_object(1)
        if ioa != 0:
            return Reply([asdu.mirror(Cot.UNKNOWN_IOA, negative=True)])
        if qualifier[0] != QOI_STATION:
            return Reply([self._confirm(asdu, Cot.ACTIVATION_CON, negative=True)])
        return Reply(
            [
                self._confirm(asdu, Cot.ACTIVATION_CON),
                *self.interrogation(),
                self._confirm(asdu, Cot.ACTIVATION_TERMINATION),
            ]
        )

    def _counter_command(self, asdu: Asdu, clock_sync: ClockSync) -> Reply:
        del clock_sync
        ioa, qualifier = asdu.single_object(1)
        if ioa != 0:
            return Reply([asdu.mirror(Cot.UNKNOWN_IOA, negative=True)])
        request, freeze = qualifier[0] & 0x3F, qualifier[0] >> 6
        if request != RQT_GENERAL or freeze > 1:
            # Counters are the meters' own: they cannot be reset from here.
            return Reply([self._confirm(asdu, Cot.ACTIVATION_CON, negative=True)])
        answers = self.counters() if freeze == 0 else []  # freeze: nothing to freeze
        return Reply(
            [
                self._confirm(asdu, Cot.ACTIVATION_CON),
                *answers,
                self._confirm(asdu, Cot.ACTIVATION_TERMINATION),
            ]
        )

    def _read_command(self, asdu: Asdu, clock_sync: ClockSync) -> Reply:
        del clock_sync
        ioa, _ = asdu.single_object(0)
        point = self._by_ioa.get(ioa)
        if point is None:
            return Reply([asdu.mirror(Cot.UNKNOWN_IOA, negative=True)])
        return Reply(
            [
                encode_asdu(
                    point.type_id,
                    Cot.REQUEST,
                    self.common_address,
                    [(ioa, point.element(point.type_id))],
                )
            ]
        )

    def _clock_command(self, asdu: Asdu, clock_sync: ClockSync) -> Reply:
        ioa, time_tag = asdu.single_object(7)
        if ioa != 0:
            return Reply([asdu.mirror(Cot.UNKNOWN_IOA, negative=True)])
        master_time = elements.parse_cp56(time_tag)
        refused = clock_sync == "refuse"
        return Reply([self._confirm(asdu, Cot.ACTIVATION_CON, negative=refused)], clock=master_time)

    def _test_command(self, asdu: Asdu, clock_sync: ClockSync) -> Reply:
        del clock_sync
        asdu.single_object(2 + 7)
        return Reply([self._confirm(asdu, Cot.ACTIVATION_CON)])


def _at(info: MeasuredValue | CounterValue, moment: dt.datetime) -> MeasuredValue | CounterValue:
    """``info`` with another time tag."""
    if isinstance(info, CounterValue):
        return CounterValue(info.counter, info.invalid, info.carry, moment)
    return MeasuredValue(info.value, info.invalid, info.not_topical, info.overflow, moment)
