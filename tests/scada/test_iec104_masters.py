"""The IEC 104 outstation against masters written here from the standard (raw sockets).

Each test breaks a promise of issue 18 on purpose: stale and silent connections
must not lock a master out, events go out only on change and survive the
absence of every master, general interrogation answers with the types asked for,
clock synchronisation is answered as configured, and a peer's junk is one line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from obisgate.gateway.outputs.iec104.config import Iec104Config
from obisgate.gateway.outputs.iec104.mapping import IoaPoint
from obisgate.gateway.outputs.iec104.output import Iec104Output
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate
from obisgate.simulator import get_profile, serve_tcp
from tests.scada import iec104_master as m
from tests.scada.iec104_master import RawMaster, connected
from tests.scada.running import meter, running_gateway, signal, until

pytestmark = [pytest.mark.integration]

CA = 47
READ_AT = dt.datetime(2026, 12, 1, 9, 30, 0, 250000, tzinfo=dt.UTC)
POINTS = [
    IoaPoint(("m", "volts"), 1001, "M_ME_TF_1"),
    IoaPoint(("m", "power"), 1002, "M_ME_NC_1"),
    IoaPoint(("m", "door"), 3001, "M_SP_TB_1"),
    IoaPoint(("m", "energy"), 2001, "M_IT_TB_1", scale=1000.0),
]


def reading(signal: str, value: Any, quality: Quality = Quality.VALID, **kw: Any) -> SignalUpdate:
    return SignalUpdate("m", signal, value, None, kw.get("time", READ_AT), quality)


def status(value: str, time: dt.datetime) -> SignalUpdate:
    return SignalUpdate("m", "_status", value, None, time, Quality.VALID)


@asynccontextmanager
async def outstation(**fields: Any) -> AsyncIterator[Iec104Output]:
    section = Iec104Config(listen="127.0.0.1:0", common_address=CA, **fields)
    output = Iec104Output(section, POINTS)
    await output.start()
    try:
        yield output
    finally:
        await output.aclose()


@asynccontextmanager
async def masters(*items: RawMaster) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for item in items:
            await item.close()


def counters(output: Iec104Output) -> dict[str, Any]:
    return dict(output.health().counters)


async def test_silent_connections_give_way_to_a_master(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with outstation(max_connections=2) as output:
        assert output.port is not None
        silent = [await asyncio.open_connection("127.0.0.1", output.port) for _ in range(2)]
        try:
            master = await connected(output.port)
            async with masters(master):
                async with asyncio.timeout(2):  # at once, not after t3 + t1 (35 s)
                    await master.startdt()
                objects = await master.interrogation(CA)
                assert {o.ioa for o in objects} == {1001, 1002, 3001}
                assert counters(output)["evicted_total"] == 1
                assert counters(output)["connections"] == 2
                oldest_reader = silent[0][0]
                assert await asyncio.wait_for(oldest_reader.read(), 5) == b""  # it was closed
        finally:
            for _reader, writer in silent:
                writer.close()
    lines = [r.getMessage() for r in caplog.records if "new one" in r.getMessage()]
    assert len(lines) == 1
    assert "had not started data transfer and was silent" in lines[0]
    assert f"new one from 127.0.0.1:{master_port(master)}" in lines[0]


def master_port(master: RawMaster) -> int:
    writer = master._writer
    assert writer is not None
    return int(writer.get_extra_info("sockname")[1])


async def test_a_client_reconnecting_in_a_loop_cannot_lock_the_master_out() -> None:
    """A client that opens a connection, starts data transfer and abandons it, again and
    again (the socket stays open and says nothing more): the real master still gets in,
    within one test-frame period."""
    async with outstation(max_connections=1, t1=2, t2=1) as output:
        assert output.port is not None
        abandoned: list[RawMaster] = []
        try:
            for _ in range(4):
                client = await connected(output.port)
                client.pause_reading()
                client.send_u(m.STARTDT_ACT)
                abandoned.append(client)
            master = await connected(output.port)
            async with masters(master):
                await master.startdt()
                # Within one probe period (min(t1, 5 s)) the abandoned ones give way.
                async with asyncio.timeout(6):
                    await asyncio.gather(*(client.closed.wait() for client in abandoned))
                assert not master.closed.is_set()
                assert counters(output)["connections"] == 1
                objects = await master.interrogation(CA)
                assert len(objects) == 3
        finally:
            for client in abandoned:
                await client.close()


async def test_a_half_open_connection_gives_way_and_its_events_reach_the_new_one() -> None:
    """The master's network goes away (its connection stays half-open: no FIN, no answers);
    it reconnects: the old connection gives way after one unanswered test frame, and the
    events the old one never acknowledged are sent on the new one."""
    async with outstation(max_connections=1, t1=2, t2=1) as output:
        assert output.port is not None
        old = await connected(output.port)
        async with masters(old):
            await old.startdt()
            old.pause_reading()  # the outage: nothing acknowledged, nothing answered
            await output.publish([reading("volts", 231.5)])
            await old.wait_object(lambda o: o.ioa == 1001 and o.cot == m.COT_SPONTANEOUS)
            new = await connected(output.port)
            async with masters(new):
                await new.startdt()
                event = await new.wait_object(
                    lambda o: o.ioa == 1001 and o.cot == m.COT_SPONTANEOUS, timeout_s=6
                )
                assert event.value == pytest.approx(231.5)
                assert event.time == READ_AT
                assert counters(output)["connections"] == 1  # the old one is gone


async def test_no_event_is_lost_when_the_master_crashes_and_reconnects_again_and_again() -> None:
    """300 changes while the master's connection is reset six times, some of them while no
    master is connected (default settings): every change reaches a master, in order (some
    twice: sent before a reset and never acknowledged)."""
    values = [200.0 + i for i in range(300)]
    received: list[float] = []
    async with outstation() as output:
        assert output.port is not None
        master = await connected(output.port)
        await master.startdt()
        for index, value in enumerate(values):
            if index % 50 == 25:  # the master's process dies ...
                master.abort()
                await master.close()
                received += [o.value for o in master.objects() if o.ioa == 1001]
                master = await connected(output.port)
            await output.publish([reading("volts", value)])
            if index % 50 == 30:  # ... and starts data transfer again five changes later
                await master.startdt()
        async with masters(master):
            await master.wait_object(lambda o: o.ioa == 1001 and o.value == values[-1])
            received += [o.value for o in master.objects() if o.ioa == 1001]
        assert counters(output)["events_dropped_total"] == 0
    first_seen = list(dict.fromkeys(received))
    assert first_seen == values


async def test_events_only_on_change_and_one_not_topical_event_at_the_detection_time() -> None:
    async with outstation() as output:
        assert output.port is not None
        master = await connected(output.port)
        async with masters(master):
            await master.startdt()
            mark = len(master.frames)
            await output.publish([reading("volts", 230.0), status("ok", READ_AT)])
            first = await master.wait_object(lambda o: o.ioa == 1001, after=mark)
            assert (first.value, first.quality, first.time) == (230.0, 0, READ_AT)
            later = READ_AT + dt.timedelta(seconds=10)
            for second in range(1, 4):  # the same value read again: nothing to send
                at = READ_AT + dt.timedelta(seconds=10 * second)
                await output.publish([reading("volts", 230.0, time=at), status("ok", at)])
            failed = [later + dt.timedelta(seconds=30 + 10 * i) for i in range(3)]
            for at in failed:  # the meter is silent: the poller repeats the last value, NT
                await output.publish(
                    [reading("volts", 230.0, Quality.NOT_TOPICAL), status("no answer", at)]
                )
            await output.publish(
                [reading("volts", 230.5, time=failed[-1]), status("ok", failed[-1])]
            )
            await master.wait_object(lambda o: o.ioa == 1001 and o.value == 230.5, after=mark)
            events = [o for o in master.objects(after=mark) if o.ioa == 1001]
            assert [(o.value, o.nt, o.time) for o in events] == [
                (230.0, False, READ_AT),
                (230.0, True, failed[0]),  # once, when the failure was detected
                (230.5, False, failed[-1]),
            ]
            assert all(o.cot == m.COT_SPONTANEOUS and o.type_id == m.M_ME_TF_1 for o in events)


async def test_cyclic_transmission_when_configured() -> None:
    async with outstation(cyclic_s=1) as output:
        assert output.port is not None
        master = await connected(output.port)
        async with masters(master):
            await master.startdt()
            await output.publish([reading("volts", 230.0), reading("power", 1.5)])
            mark = len(master.frames)
            cyclic = await master.wait_object(lambda o: o.cot == m.COT_PERIODIC, after=mark)
            assert cyclic.type_id == m.M_ME_NC_1
            frame = master.frames[
                next(i for i, f in enumerate(master.frames) if cyclic in f.objects())
            ]
            assert {(o.ioa, o.value) for o in frame.objects()} == {(1001, 230.0), (1002, 1.5)}


@pytest.mark.parametrize(
    ("without_time", "types"),
    [
        (0, {1001: m.M_ME_TF_1, 1002: m.M_ME_NC_1, 3001: m.M_SP_TB_1}),
        (1, {1001: m.M_ME_NC_1, 1002: m.M_ME_NC_1, 3001: m.M_SP_NA_1}),
    ],
)
async def test_general_interrogation_types(without_time: int, types: dict[int, int]) -> None:
    async with outstation(gi_without_time=without_time) as output:
        assert output.port is not None
        await output.publish(
            [reading("volts", 230.0), reading("door", 1), reading("energy", 1234.5678)]
        )
        master = await connected(output.port)
        async with masters(master):
            await master.startdt()
            objects = await master.interrogation(CA)
            assert {o.ioa: o.type_id for o in objects} == types
            by_ioa = {o.ioa: o for o in objects}
            assert by_ioa[1001].value == 230.0
            assert by_ioa[1002].iv and by_ioa[1002].nt  # never read: invalid, not topical
            assert by_ioa[3001].value is True
            if not without_time:
                assert by_ioa[1001].time == READ_AT


async def test_events_wait_for_the_first_master_bounded_oldest_dropped() -> None:
    async with outstation(event_buffer=3) as output:
        assert output.port is not None
        for volts in (230.0, 231.0, 232.0, 233.0, 234.0):  # nobody listens yet
            await output.publish([reading("volts", volts)])
        assert counters(output)["events_dropped_total"] == 3  # 5 changes + end of init - 3
        master = await connected(output.port)
        async with masters(master):
            await master.startdt()
            await master.wait_object(lambda o: o.ioa == 1001 and o.value == 234.0)
            spontaneous = [o.value for o in master.objects() if o.cot == m.COT_SPONTANEOUS]
            assert spontaneous == [232.0, 233.0, 234.0]
            assert counters(output)["events_buffered"] == 0


async def test_end_of_initialisation_and_events_wait_for_start_of_data_transfer() -> None:
    async with outstation() as output:
        assert output.port is not None
        master = await connected(output.port)
        async with masters(master):
            await output.publish([reading("volts", 230.0)])  # connected, not started
            await master.startdt()
            await master.wait_object(lambda o: o.ioa == 1001 and o.value == 230.0)
            kinds = [(o.type_id, o.cot) for o in master.objects()]
            assert kinds == [(m.M_EI_NA_1, m.COT_INITIALISED), (m.M_ME_TF_1, m.COT_SPONTANEOUS)]


async def test_stopped_data_transfer_keeps_events_until_started_again() -> None:
    async with outstation() as output:
        assert output.port is not None
        master = await connected(output.port)
        async with masters(master):
            await master.startdt()
            await master.stopdt()
            mark = len(master.frames)
            await output.publish([reading("volts", 240.0)])
            await output.publish([reading("volts", 241.0)])
            await master.startdt()
            await master.wait_object(lambda o: o.value == 241.0, after=mark)
            assert [o.value for o in master.objects(after=mark)] == [240.0, 241.0]


async def test_a_redundancy_group_has_one_active_connection() -> None:
    """Two connections of one control centre: the one that started last gets the events, and
    what the first had not acknowledged is sent again on the second; a stand-by connection
    that is only tested keeps its slot."""
    async with outstation(redundancy_groups="cc1 = 127.0.0.1", max_connections=2) as output:
        assert output.port is not None
        first = await connected(output.port, acknowledge=False)
        second = await connected(output.port)
        async with masters(first, second):
            await first.startdt()
            await output.publish([reading("volts", 230.0)])
            await first.wait_object(lambda o: o.value == 230.0)
            second.send_u(m.TESTFR_ACT)  # the stand-by, supervised
            await second.wait_for(lambda f: f.kind == "U" and f.code == m.TESTFR_CON)
            mark_first = len(first.frames)
            await second.startdt()  # switch-over, without STOPDT on the first
            unacknowledged = await second.wait_object(lambda o: o.value == 230.0)
            assert unacknowledged.cot == m.COT_SPONTANEOUS
            await output.publish([reading("volts", 231.0)])
            await second.wait_object(lambda o: o.value == 231.0)
            assert [o.value for o in first.objects(after=mark_first)] == []
            assert counters(output)["active_connections"] == 1
            assert counters(output)["connections"] == 2


async def test_independent_masters_each_get_every_event() -> None:
    async with outstation() as output:
        assert output.port is not None
        one, two = await connected(output.port), await connected(output.port)
        async with masters(one, two):
            await one.startdt()
            await two.startdt()
            await output.publish([reading("volts", 230.0)])
            for master in (one, two):
                await master.wait_object(lambda o: o.value == 230.0)
            assert counters(output)["active_connections"] == 2


@pytest.mark.parametrize(("setting", "negative"), [("accept", False), ("refuse", True)])
async def test_clock_synchronisation_as_configured(
    setting: str, negative: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with outstation(clock_sync=setting) as output:
        assert output.port is not None
        master = await connected(output.port)
        async with masters(master):
            await master.startdt()
            before = dt.datetime.now(dt.UTC)
            far_off = (before - dt.timedelta(days=400)).replace(microsecond=123000)
            confirmation = await master.clock_sync(CA, far_off)
            assert confirmation.negative is negative
            assert confirmation.value == m.cp56_encode(far_off)
            assert abs(dt.datetime.now(dt.UTC) - before) < dt.timedelta(seconds=5)  # untouched
            offset = counters(output)["clock_offset_s"]
            assert offset == pytest.approx(-400 * 86400, abs=5)
    lines = [r for r in caplog.records if "clock synchronisation" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.WARNING
    text = lines[0].getMessage()
    assert far_off.isoformat(timespec="milliseconds") in text
    assert re.search(r"-345(5999\d|6000\d)\.\d{3} s from ours", text)  # 400 days, in s
    assert ("refused" if negative else "confirmed") in text
    assert "host clock is not changed" in text


async def test_commands_the_outstation_does_not_carry_out_are_refused() -> None:
    async with outstation() as output:
        assert output.port is not None
        master = await connected(output.port)
        async with masters(master):
            await master.startdt()
            master.send_asdu(m.command(m.C_SC_NA_1, m.COT_ACT, CA, 5000, b"\x01"))
            refused = await master.wait_object(lambda o: o.type_id == m.C_SC_NA_1)
            assert (refused.cot, refused.negative) == (m.COT_UNKNOWN_TYPE, True)
            master.send_asdu(m.command(m.C_IC_NA_1, m.COT_ACT, 12, 0, b"\x14"))
            other_station = await master.wait_object(
                lambda o: o.type_id == m.C_IC_NA_1 and o.cot == m.COT_UNKNOWN_CA
            )
            assert other_station.negative
            master.send_asdu(m.command(m.C_RD_NA_1, m.COT_REQUEST, CA, 9999, b""))
            unknown = await master.wait_object(lambda o: o.type_id == m.C_RD_NA_1)
            assert (unknown.cot, unknown.negative) == (m.COT_UNKNOWN_IOA, True)
            master.send_asdu(m.command(m.C_RD_NA_1, m.COT_REQUEST, CA, 1001, b""))
            read = await master.wait_object(lambda o: o.ioa == 1001 and o.cot == m.COT_REQUEST)
            assert (read.type_id, read.iv, read.nt) == (m.M_ME_TF_1, True, True)  # never read
            master.send_asdu(m.command(m.C_IC_NA_1, m.COT_REQUEST, CA, 0, b"\x14"))
            wrong_cause = await master.wait_object(
                lambda o: o.type_id == m.C_IC_NA_1 and o.cot == m.COT_UNKNOWN_CAUSE
            )
            assert wrong_cause.negative


async def test_counter_interrogation_answers_the_integrated_totals() -> None:
    async with outstation() as output:
        assert output.port is not None
        await output.publish([reading("energy", 1234.5678)])
        master = await connected(output.port)
        async with masters(master):
            await master.startdt()
            mark = len(master.frames)
            master.send_asdu(m.command(m.C_CI_NA_1, m.COT_ACT, CA, 0, b"\x05"))
            await master.wait_object(
                lambda o: o.type_id == m.C_CI_NA_1 and o.cot == m.COT_ACTTERM, after=mark
            )
            answers = [o for o in master.objects(after=mark) if o.cot == m.COT_REQCOGEN]
            assert [(o.type_id, o.ioa, o.value, o.quality) for o in answers] == [
                (m.M_IT_TB_1, 2001, 1234568, 0)
            ]
            assert answers[0].time == READ_AT


async def test_junk_from_a_peer_is_one_line_and_other_masters_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with outstation() as output:
        assert output.port is not None
        master = await connected(output.port)
        async with masters(master):
            await master.startdt()
            for _ in range(20):
                _reader, writer = await asyncio.open_connection("127.0.0.1", output.port)
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                await writer.drain()
                assert await asyncio.wait_for(_reader.read(), 5) == b""  # closed by us
                writer.close()
            await output.publish([reading("volts", 230.0)])
            await master.wait_object(lambda o: o.value == 230.0)
            assert counters(output)["protocol_errors_total"] == 20
    errors = [r for r in caplog.records if "protocol error" in r.getMessage()]
    assert len(errors) == 1
    assert errors[0].getMessage().startswith("iec104: protocol error from 127.0.0.1:")
    assert "start octet 0x47, expected 0x68" in errors[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records)


async def test_a_frame_out_of_sequence_closes_that_connection_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    async with outstation() as output:
        assert output.port is not None
        good, bad = await connected(output.port), await connected(output.port)
        async with masters(good, bad):
            await good.startdt()
            await bad.startdt()
            bad.send_seq = 5  # skips 0-4
            bad.send_asdu(m.command(m.C_IC_NA_1, m.COT_ACT, CA, 0, b"\x14"))
            await asyncio.wait_for(bad.closed.wait(), 5)
            assert len(await good.interrogation(CA)) == 3
    (line,) = [r.getMessage() for r in caplog.records if "protocol error" in r.getMessage()]
    assert "send sequence number 5, expected 0" in line


async def test_through_the_gateway_a_steady_meter_sends_one_event_and_one_when_silent(
    tmp_path: Path,
) -> None:
    """A simulated meter polled every 200 ms: its unchanged value is sent once, not once a
    scan; when it goes silent, one NT event with the time of the first failed readout."""
    profile = get_profile("mt174")
    sim = await serve_tcp(profile)
    text = (
        '[output]\nformat = "none"\n[iec104]\nlisten = "127.0.0.1:0"\ncommon_address = 47\n'
        + meter("m", sim.port, profile.address)
        + signal("m", "volts", "32.7.0", "FLOAT", ioa=1001)
    )
    try:
        async with running_gateway(tmp_path, text) as (outputs, latest):
            (outstation,) = outputs
            master = await connected(outstation.port)
            async with masters(master):
                await master.startdt()

                target = latest.polls + 5

                async def polled_five_more() -> bool:
                    return latest.polls >= target

                await until(polled_five_more, latest)
                events = [o for o in master.objects() if o.ioa == 1001]
                assert [(o.nt, o.cot) for o in events] == [(False, m.COT_SPONTANEOUS)]
                good = latest.updates[("m", "volts")].time
                failed_before = latest.failed_polls
                await sim.aclose()

                async def failed_three_times() -> bool:
                    return latest.failed_polls >= failed_before + 3

                await until(failed_three_times, latest)
                events = [o for o in master.objects() if o.ioa == 1001]
                assert [o.nt for o in events] == [False, True]
                detected = events[1].time
                assert detected is not None
                assert detected > good
                assert detected in [
                    t.replace(microsecond=t.microsecond // 1000 * 1000)
                    for t in latest.times[("m", "_status")]
                ]
    finally:
        await sim.aclose()
