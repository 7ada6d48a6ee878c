"""The IEC 104 output on its own: protocol parameters, events before start, a large station."""

from __future__ import annotations

import datetime as dt

from obisgate.gateway.outputs.iec104.config import Iec104Config
from obisgate.gateway.outputs.iec104.link import LinkParameters
from obisgate.gateway.outputs.iec104.mapping import IoaPoint
from obisgate.gateway.outputs.iec104.output import Iec104Output
from obisgate.gateway.outputs.iec104.server import parameters_of
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate
from tests.scada import iec104_master as m
from tests.scada.iec104_master import connected


def points(count: int) -> list[IoaPoint]:
    return [IoaPoint(("m", f"s{i}"), 1 + i, "M_ME_TF_1") for i in range(count)]


def test_protocol_parameters_default_to_the_standard() -> None:
    assert parameters_of(Iec104Config()) == LinkParameters(15.0, 10.0, 20.0, 12, 8)
    section = Iec104Config(t1=30, t2=20, t3=60, k=24, w=16)
    assert parameters_of(section) == LinkParameters(30.0, 20.0, 60.0, 24, 16)


async def test_updates_before_start_wait_and_unmapped_signals_are_skipped() -> None:
    output = Iec104Output(Iec104Config(listen="127.0.0.1:0", common_address=3), points(1))
    now = dt.datetime.now(dt.UTC)
    await output.publish(
        [
            SignalUpdate("m", "s0", 1.0, None, now, Quality.VALID),
            SignalUpdate("m", "other", 2.0, None, now, Quality.VALID),
        ]
    )
    assert output.health().counters["sent_total"] == 1
    assert output.health().counters["events_buffered"] == 2  # with the end of initialisation
    await output.start()
    try:
        assert output.health().up
        assert output.port is not None
        master = await connected(output.port)
        try:
            await master.startdt()
            event = await master.wait_object(lambda o: o.ioa == 1)
            assert (event.value, event.cot) == (1.0, m.COT_SPONTANEOUS)
        finally:
            await master.close()
    finally:
        await output.aclose()
    assert not output.health().up


async def test_general_interrogation_of_a_large_station_answers_every_point() -> None:
    """c104 2.2.1 answered at most about 2 260 objects; every point is answered here."""
    output = Iec104Output(Iec104Config(listen="127.0.0.1:0"), points(5000))
    now = dt.datetime.now(dt.UTC)
    await output.publish(
        [SignalUpdate("m", f"s{i}", float(i), None, now, Quality.VALID) for i in range(5000)]
    )
    await output.start()
    try:
        assert output.port is not None
        master = await connected(output.port)
        try:
            await master.startdt()
            objects = await master.interrogation(1)
            assert sorted((o.ioa, o.value) for o in objects) == [
                (1 + i, float(i)) for i in range(5000)
            ]
        finally:
            await master.close()
    finally:
        await output.aclose()
