"""Field faults over TCP and a pty against the simulator: nothing received is lost."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from tests.stub_output import StubOutput
from tests.toml_rows import device, signal_

from obisgate import BccStatus, ChecksumError, DataSet, ReadoutOptions, read_meter
from obisgate.gateway.app import Gateway
from obisgate.gateway.build import plans_from_config
from obisgate.gateway.config import load_config
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate
from obisgate.simulator import Faults, get_profile, serve_pty, serve_tcp

pytestmark = [pytest.mark.integration]


async def test_mode_b_data_in_the_same_segment_as_the_identification() -> None:
    profile = get_profile("mode-b")
    async with await serve_tcp(profile, faults=Faults(glued_data=True)) as sim:
        result = await read_meter(f"tcp://127.0.0.1:{sim.port}", ReadoutOptions())
    assert result.readout.datasets
    assert result.identification.identification == profile.identification


def parsed(datasets: Sequence[DataSet]) -> list[tuple[str, list[str]]]:
    return [(d.address, [v.raw for v in d.values]) for d in datasets]


def sent(lines: Sequence[str]) -> list[tuple[str, list[str]]]:
    """What the simulated meter sends, straight from its profile's lines (not parsed by
    the code under test): each line's address and the text of each bracket."""
    return [(line.split("(", 1)[0], re.findall(r"\(([^()]*)\)", line)) for line in lines]


async def test_meter_ack_before_the_data_over_tcp() -> None:
    profile = get_profile("mt174")
    async with await serve_tcp(profile, faults=Faults(meter_ack=True)) as sim:
        result = await read_meter(f"tcp://127.0.0.1:{sim.port}", ReadoutOptions())
    assert result.readout.bcc is BccStatus.VALID
    assert parsed(result.readout.datasets) == sent(profile.lines)  # all of it, unchanged
    energy = result.readout.get("1.8.0*24")
    assert energy is not None
    assert (energy.values[0].value, energy.values[0].unit) == ("0147238.4", "kWh")


async def test_meter_that_closes_after_the_repeat_request_is_a_checksum_error() -> None:
    faults = Faults(bad_bcc=True, close_after_nak=True)
    async with await serve_tcp(get_profile("mt174"), faults=faults) as sim:
        with pytest.raises(ChecksumError):
            await read_meter(f"tcp://127.0.0.1:{sim.port}", ReadoutOptions())


async def test_cli_exit_4_when_the_meter_closes_after_the_repeat_request() -> None:
    faults = Faults(bad_bcc=True, close_after_nak=True)
    async with await serve_tcp(get_profile("mt174"), faults=faults) as sim:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "obisgate",
            "read",
            f"tcp://127.0.0.1:{sim.port}",
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        _out, err = await proc.communicate()
    assert proc.returncode == 4, err.decode()
    assert b"BCC" in err


class Collect(StubOutput):
    name = "collect"

    def __init__(self, wanted: dict[str, int]) -> None:
        self.updates: list[SignalUpdate] = []
        self.polls: Counter[str] = Counter()
        self.wanted = wanted
        self.done = asyncio.Event()

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        self.updates.extend(updates)
        for u in updates:
            if u.signal == STATUS_SIGNAL:
                self.polls[f"{u.device}:{u.value}"] += 1
        if all(self.polls[k] >= n for k, n in self.wanted.items()):
            self.done.set()

    async def aclose(self) -> None:
        pass

    def latest(self, device: str, signal: str) -> SignalUpdate:
        return [u for u in self.updates if (u.device, u.signal) == (device, signal)][-1]


async def run_until(tmp_path: Path, text: str, out: Collect) -> Gateway:
    path = tmp_path / "gw.toml"
    path.write_text(text)
    gateway = Gateway(plans_from_config(load_config(path)), [out])
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    await out.done.wait()
    stop.set()
    await task
    return gateway


@pytest.mark.parametrize("line", ["tcp", pytest.param("pty", marks=pytest.mark.pty)])
async def test_trickling_meter_on_a_shared_line_does_not_stop_the_other(
    tmp_path: Path, line: str
) -> None:
    good = get_profile("mt174")
    trickler = dataclasses.replace(get_profile("e350"), faults=("trickle",))
    async with AsyncExitStack() as stack:
        if line == "tcp":
            tcp = await stack.enter_async_context(await serve_tcp([good, trickler]))
            where = f'url = "tcp://127.0.0.1:{tcp.port}"'
        else:
            pty = await stack.enter_async_context(await serve_pty([good, trickler]))
            where = f'device = "{pty.path}"'
        text = (
            device("good", where, good.address, "C")
            + device("trickler", where, trickler.address, "C", "total_timeout_ms = 600")
            + signal_("good", "energy", "1.8.0*24")
            + signal_("trickler", "energy", "1.8.0")
        )
        # Without the deadline the trickler would hold the line forever and
        # "good" would never reach 3 polls after it.
        out = Collect({"good:ok": 3, "trickler:timeout": 2})
        await run_until(tmp_path, text, out)
    assert out.latest("good", "energy").quality is Quality.VALID
    assert out.latest("trickler", STATUS_SIGNAL).value == "timeout"
    assert out.latest("trickler", "energy").quality & Quality.NOT_TOPICAL


async def test_push_meter_in_the_gateway_over_tcp(tmp_path: Path) -> None:
    profile = get_profile("ehz-push")
    fast = dataclasses.replace(profile, push_interval_s=0.1)
    async with await serve_tcp(fast) as sim:
        text = device(
            "push", f'url = "tcp://127.0.0.1:{sim.port}"', "0", "D", "baudrate = 2400"
        ) + signal_("push", "energy", fast.lines[1].split("(")[0])
        out = Collect({"push:ok": 3})
        await run_until(tmp_path, text, out)
    assert out.latest("push", "energy").quality is Quality.VALID


@pytest.mark.pty
async def test_push_meter_in_the_gateway_over_a_pty_turns_not_topical_when_silent(
    tmp_path: Path,
) -> None:
    profile = get_profile("ehz-push")
    # A push every 2 s, silent in between for longer than timeout_ms (800 ms). Waiting for
    # an "ok" followed by a "no answer" (not for the very first push) keeps the test true
    # when a push goes out while the port is still being set up and arrives garbled.
    pushing = dataclasses.replace(profile, push_interval_s=2.0)
    async with await serve_pty([pushing]) as sim:
        text = device("push", f'device = "{sim.path}"', "0", "D", "baudrate = 2400") + signal_(
            "push", "energy", pushing.lines[1].split("(")[0]
        )
        out = _OkThenSilent("push")
        await run_until(tmp_path, text, out)
    energy = [u for u in out.updates if u.signal == "energy"]
    assert any(u.quality is Quality.VALID for u in energy[:-1])
    assert energy[-1].quality & Quality.NOT_TOPICAL


class _OkThenSilent(Collect):
    """Done at the first "no answer" of ``device`` after one of its readouts was "ok"."""

    def __init__(self, device: str) -> None:
        super().__init__({})
        self._device = device
        self._ok = False

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        self.updates.extend(updates)
        for u in updates:
            if (u.device, u.signal) != (self._device, STATUS_SIGNAL):
                continue
            if u.value == "ok":
                self._ok = True
            elif u.value == "no answer" and self._ok:
                self.done.set()


async def test_frame_cut_after_bang_is_read_without_bcc_check() -> None:
    profile = get_profile("mt174")
    async with await serve_tcp(profile, faults=Faults(cut_frame=True)) as sim:
        result = await read_meter(sim.url, ReadoutOptions(verify_bcc=False))
    assert result.readout.bcc is BccStatus.MISSING
    assert parsed(result.readout.datasets) == sent(profile.lines)


@pytest.mark.parametrize(("flag", "code"), [("--no-verify-bcc", 0), (None, 5)])
async def test_cli_reads_a_cut_frame_only_without_bcc_check(flag: str | None, code: int) -> None:
    async with await serve_tcp(get_profile("mt174"), faults=Faults(cut_frame=True)) as sim:
        args = ["-m", "obisgate", "read", sim.url, *([flag] if flag else [])]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, stderr=subprocess.PIPE, stdout=subprocess.PIPE
        )
        out, err = await proc.communicate()
    assert proc.returncode == code, err.decode()
    if code:
        assert b"truncated" in err
    else:
        assert b"1.8.0*24" in out
