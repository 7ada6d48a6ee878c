"""SCADA benchmark: latency from readout to the master, and the cost of serving 10 000 signals.

Latency: a batch of updates goes through the gateway's fan-out (as a readout
does) into the Modbus output and the IEC 104 output; the script measures the
time until a master sees the new value: pymodbus's client reading the register
in a loop (Modbus), c104's client receiving the spontaneous message (IEC 104).
Both masters run in this process.

Cost: N signals (100 signals per meter) served by both outputs at once, one
master connected to each; one full refresh (every signal updated once, in
batches of 100 = one readout each, one readout per ``--pace-ms``) is
published; the script reports the
process's CPU time for it, the time until the 104 master has received every
point, the Modbus master's time to read every register, a general
interrogation, and the resident memory before and after building the servers.

Admission (IEC 104, ``max_connections = 2``): how long a master waits for its
STARTDT confirmation when both slots are held by sockets that never sent a
frame, and when they are held by masters that started data transfer and then
went silent (the outstation tests them with TESTFR first: ``min(t1, 5 s)``).

Usage: python bench/bench_scada.py [--signals 10000] [--rounds 200] [--pace-ms 100]
"""

import argparse
import asyncio
import contextlib
import datetime as dt
import resource
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import c104
from pymodbus.client import AsyncModbusTcpClient

from obisgate.gateway.outputs.base import Fanout
from obisgate.gateway.outputs.iec104.config import Iec104Config
from obisgate.gateway.outputs.iec104.mapping import IoaPoint
from obisgate.gateway.outputs.iec104.output import Iec104Output
from obisgate.gateway.outputs.modbus.config import ModbusConfig
from obisgate.gateway.outputs.modbus.mapping import RegisterMap, RegisterSlot
from obisgate.gateway.outputs.modbus.output import ModbusOutput
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

PER_METER = 100


def rss_mb() -> float:
    """Resident memory now (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def build(signals: int) -> tuple[ModbusOutput, Iec104Output]:
    slots, points = [], []
    for i in range(signals):
        key = (f"m{i // PER_METER}", f"s{i % PER_METER}")
        slots.append(RegisterSlot(key, 2 * i, "float32", quality_address=40000 + i))
        points.append(IoaPoint(key, 1 + i, "M_ME_TF_1"))
    modbus = ModbusOutput(ModbusConfig(listen="127.0.0.1:0"), RegisterMap(slots))
    iec = Iec104Output(Iec104Config(listen="127.0.0.1:0", max_connections=2), points)
    return modbus, iec


class Master104:
    """A c104 master counting spontaneous messages, with the time of the last one."""

    def __init__(self, port: int) -> None:
        self.client = c104.Client()
        connection = self.client.add_connection(ip="127.0.0.1", port=port, init=c104.Init.NONE)
        assert connection is not None
        self.connection = connection
        self.lock = threading.Lock()
        self.count = 0
        self.wanted = -1
        self.value = 0.0
        self.value_at = 0.0
        self.done = threading.Event()
        self.seen = threading.Event()
        self.expect = float("nan")
        self.match: float | None = None

        def on_receive(
            point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage
        ) -> c104.ResponseState:
            now = time.perf_counter()
            with self.lock:
                if self.match is None or point.value == self.match:
                    self.count += 1
                if point.io_address == 1 and point.value == self.expect:
                    self.value_at = now
                    self.seen.set()
                if self.count == self.wanted:
                    self.done.set()
            return c104.ResponseState.SUCCESS

        def on_new_point(
            client: c104.Client, station: c104.Station, io_address: int, point_type: c104.Type
        ) -> None:
            point = station.add_point(io_address=io_address, type=point_type)
            assert point is not None
            point.on_receive(callable=on_receive)

        self.client.on_new_point(callable=on_new_point)

    def start(self) -> None:
        self.client.start()
        self.connection.connect()
        deadline = time.monotonic() + 10
        while self.connection.state != c104.ConnectionState.OPEN:
            if time.monotonic() > deadline:
                raise RuntimeError("104 master did not connect")
            if self.connection.state == c104.ConnectionState.OPEN_MUTED:
                self.connection.unmute()
            time.sleep(0.01)

    def expect_total(self, wanted: int, match: float | None = None) -> None:
        """Count the next messages (with value ``match`` only, when given) up to ``wanted``."""
        with self.lock:
            self.match = match
            self.count = 0
            self.wanted = wanted
            self.done.clear()


def batch(meter: int, value: float, at: dt.datetime) -> list[SignalUpdate]:
    return [
        SignalUpdate(f"m{meter}", f"s{j}", value, "V", at, Quality.VALID) for j in range(PER_METER)
    ]


async def latency(
    fanout: Fanout, modbus_client: Any, master: Master104, rounds: int
) -> tuple[list[float], list[float]]:
    """Per round: publish meter 0's readout with a new value; time until each master has it."""
    loop = asyncio.get_running_loop()
    modbus_ms, iec_ms = [], []
    for n in range(rounds):
        value = 100.0 + n
        master.seen.clear()
        master.expect = value
        started = time.perf_counter()
        fanout.publish(batch(0, value, dt.datetime.now(dt.UTC)))
        while True:
            answer = await modbus_client.read_holding_registers(0, count=2, device_id=1)
            got = modbus_client.convert_from_registers(
                answer.registers, modbus_client.DATATYPE.FLOAT32
            )
            if got == value:
                modbus_ms.append((time.perf_counter() - started) * 1000)
                break
        await loop.run_in_executor(None, master.seen.wait, 10)
        iec_ms.append((master.value_at - started) * 1000)
    return modbus_ms, iec_ms


async def startdt_after(port: int, blockers: int, *, started: bool) -> tuple[float, float]:
    """A master connects while ``blockers`` connections hold every slot (``started``: they
    sent STARTDT, then nothing more). Seconds until its STARTDT con, and until the
    outstation has closed a blocker for it."""
    held = []
    for _ in range(blockers):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        if started:
            writer.write(STARTDT_ACT)
            await reader.readexactly(6)
        held.append((reader, writer))
    begin = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(STARTDT_ACT)
    while await reader.readexactly(6) != STARTDT_CON:
        pass
    confirmed = time.perf_counter() - begin

    async def closed(blocker: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError):
            while await blocker.read(4096):
                pass

    waits = [asyncio.create_task(closed(r)) for r, _ in held]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED, timeout=30)
    freed = time.perf_counter() - begin
    for task in waits:
        task.cancel()
    for each in [*(w for _, w in held), writer]:
        each.close()
    return confirmed, freed


async def admission() -> tuple[tuple[float, float], tuple[float, float]]:
    """A master past two silent sockets, and past two silent started masters."""
    results = []
    for started in (False, True):
        output = Iec104Output(
            Iec104Config(listen="127.0.0.1:0", max_connections=2),
            [IoaPoint(("m", "s"), 1, "M_ME_TF_1")],
        )
        await output.start()
        try:
            assert output.port is not None
            results.append(await startdt_after(output.port, 2, started=started))
        finally:
            await output.aclose()
    return results[0], results[1]


STARTDT_ACT = bytes.fromhex("68 04 07 00 00 00")
STARTDT_CON = bytes.fromhex("68 04 0b 00 00 00")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--pace-ms", type=float, default=100.0, help="between two readouts")
    args = parser.parse_args()
    signals = args.signals
    base = rss_mb()
    modbus, iec = build(signals)
    fanout = Fanout([modbus, iec])
    await fanout.start()
    built = rss_mb()
    client = AsyncModbusTcpClient("127.0.0.1", port=modbus.port or 0)
    await client.connect()
    master = Master104(iec.port or 0)
    await asyncio.get_running_loop().run_in_executor(None, master.start)
    try:
        modbus_ms, iec_ms = await latency(fanout, client, master, args.rounds)
        meters = signals // PER_METER
        master.expect_total(signals, match=42.0)
        cpu0, wall0 = cpu_s(), time.perf_counter()
        at = dt.datetime.now(dt.UTC)
        for meter in range(meters):
            fanout.publish(batch(meter, 42.0, at))
            await asyncio.sleep(args.pace_ms / 1000)  # readouts arrive one at a time
        done = await asyncio.get_running_loop().run_in_executor(None, master.done.wait, 20)
        refresh_wall = time.perf_counter() - wall0
        refresh_cpu = cpu_s() - cpu0
        refresh_count = master.count
        wall0 = time.perf_counter()
        for first in range(0, 2 * signals, 124):
            count = min(124, 2 * signals - first)
            await client.read_holding_registers(first, count=count, device_id=1)
        read_all = time.perf_counter() - wall0
        master.expect_total(signals)
        wall0 = time.perf_counter()
        # Off the loop: c104's call blocks until confirmed, and the outstation runs on this loop.
        confirmed = await asyncio.get_running_loop().run_in_executor(
            None, lambda: master.connection.interrogation(common_address=1)
        )
        assert confirmed
        gi_done = await asyncio.get_running_loop().run_in_executor(None, master.done.wait, 20)
        gi_s = time.perf_counter() - wall0
        gi_count = master.count
        after = rss_mb()
    finally:
        client.close()
        master.client.stop()
        await fanout.aclose()

    def summary(values: list[float]) -> str:
        ordered = sorted(values)
        p95 = ordered[int(len(ordered) * 0.95) - 1]
        return (
            f"median {statistics.median(values):.2f} ms, p95 {p95:.2f} ms, max {max(values):.2f} ms"
        )

    print(f"python {sys.version.split()[0]}, {signals} signals, {args.rounds} latency rounds")
    print(f"latency readout -> Modbus master reads it: {summary(modbus_ms)}")
    print(f"latency readout -> IEC 104 master receives it (spontaneous): {summary(iec_ms)}")
    print(
        f"full refresh of {signals} signals ({signals // PER_METER} readouts, "
        f"one per {args.pace_ms:g} ms): "
        f"CPU {refresh_cpu:.2f} s, all received by the 104 master after {refresh_wall:.2f} s "
        f"({refresh_count} of {signals} received{'' if done else ' in 20 s'})"
    )
    print(
        f"Modbus master reads all {2 * signals} value registers (124 per request): {read_all * 1000:.0f} ms"
    )
    print(
        f"general interrogation of {signals} points: {gi_s:.2f} s ({gi_count} of {signals} received{'' if gi_done else ' in 20 s'})"
    )
    print(
        f"memory: {base:.0f} MB before, {built:.0f} MB with both servers, {after:.0f} MB at the end"
    )
    silent, gone = await admission()
    print(
        f"IEC 104 admission, max_connections 2, past two sockets that never sent a frame: "
        f"STARTDT con after {silent[0] * 1000:.0f} ms, a blocker closed after "
        f"{silent[1] * 1000:.0f} ms"
    )
    print(
        f"IEC 104 admission, max_connections 2, past two started masters gone silent: "
        f"STARTDT con after {gone[0] * 1000:.0f} ms (let in above the limit while they are "
        f"tested), a blocker closed after {gone[1]:.2f} s (no TESTFR con)"
    )


if __name__ == "__main__":
    asyncio.run(main())
