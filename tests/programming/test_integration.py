"""Programming mode end to end: ProgrammingSession and the CLI against the simulator.

The simulator (``obisgate.simulator``) runs in the test's event loop on TCP
(127.0.0.1, port 0) or a pseudo-terminal; its meter runs the programming
session of ``obisgate.simulator.programming_meter``. No test sleeps to wait: each
waits for an event, or for a deadline of the client under test.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from obisgate.cli.main import main
from obisgate.errors import AccessDeniedError, MeterError, NoAnswerError
from obisgate.programming_session import ProgrammingSession, read_registers
from obisgate.protocol.bcc import BccMethod
from obisgate.protocol.client import ReadoutOptions
from obisgate.protocol.passwords import ElsterPassword, PasswordScheme, PlainPassword
from obisgate.protocol.programming_client import ProgrammingOptions
from obisgate.simulator.faults import Faults
from obisgate.simulator.profile import MeterProfile
from obisgate.simulator.programming_meter import (
    MeterProgrammingSession,
    ProgrammingProfile,
    demo_load_profile,
)
from obisgate.simulator.pty import serve_pty
from obisgate.simulator.tcp import serve_tcp
from obisgate.trace import Trace

pytestmark = pytest.mark.integration

#: Unique enough that finding it anywhere is a leak.
PASSWORD = "Qz7Kp2Wx"
PROFILE_START = datetime(2024, 3, 15)


def meter_profile(programming: ProgrammingProfile, reaction_time_s: float) -> MeterProfile:
    # Lower-case 3rd letter: the client may answer after 20 ms, so the tests run fast.
    return MeterProfile(
        reaction_time_s=reaction_time_s,
        name="prog",
        manufacturer="LGz",
        baud_char="5",
        identification="ZMF100AC.M23",
        lines=("1.8.0(001234.120*kWh)",),
        programming=programming,
    )


def programming_profile(**kw: Any) -> ProgrammingProfile:
    kw.setdefault("password", PASSWORD)
    kw.setdefault(
        "registers",
        {"1.8.0": "001234.120*kWh", "2.8.0": "000000.000*kWh", "0.9.1": "131600"},
    )
    kw.setdefault("writable", {"0.9.1"})
    kw.setdefault("load_profile", demo_load_profile(PROFILE_START, 3 * 96))
    return ProgrammingProfile(**kw)


@dataclass
class Sim:
    """A running simulator and the meter sessions it created."""

    url: str
    profile: ProgrammingProfile
    sessions: list[MeterProgrammingSession] = field(default_factory=list)
    commands: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    mute: set[str] = field(default_factory=set)

    @property
    def session(self) -> MeterProgrammingSession:
        return self.sessions[-1]


class _RecordingSession(MeterProgrammingSession):
    def __init__(self, profile: ProgrammingProfile, sim: Sim) -> None:
        super().__init__(profile)
        self._sim = sim
        sim.sessions.append(self)

    def feed(self, data: bytes) -> list[bytes]:
        before = len(self.commands)
        replies = super().feed(data)
        new = self.commands[before:]
        for command in new:
            self._sim.commands.put_nowait(command)
        if any(command in self._sim.mute for command in new):
            return []  # the meter swallows this command: the client waits
        return replies


@asynccontextmanager
async def simulator(kind: str, faults: Faults | None = None, **kw: Any) -> AsyncIterator[Sim]:
    profile = programming_profile(**kw)
    sim = Sim("", profile)

    def factory(p: Any) -> MeterProgrammingSession:
        return _RecordingSession(p, sim)

    if kind == "tcp":
        server = await serve_tcp(
            meter_profile(profile, 0.02), faults=faults, programming_factory=factory
        )
        sim.url = server.url
        async with server:
            yield sim
    else:
        # On a pty the meter's bytes are garbled until the client has switched
        # its rate: give the client's baud switch time (tr 100 ms, not 20 ms).
        pty = await serve_pty(
            meter_profile(profile, 0.1), faults=faults, programming_factory=factory
        )
        sim.url = pty.url
        async with pty:
            yield sim


def options(**kw: Any) -> ProgrammingOptions:
    kw.setdefault("answer_timeout_s", 3.0)
    return ProgrammingOptions(
        sign_on=ReadoutOptions(option="1", reaction_time_s=0.02, response_timeout_s=3.0), **kw
    )


def scheme(password: str = PASSWORD) -> PasswordScheme:
    return PlainPassword(password)


KINDS = ["tcp", pytest.param("pty", marks=pytest.mark.pty)]


@asynccontextmanager
async def session_on(
    sim: Sim, trace: Trace | None = None, **kw: Any
) -> AsyncIterator[ProgrammingSession]:
    keepalive = kw.pop("keepalive_interval_s", None)
    idle = kw.pop("meter_idle_timeout_s", 60.0)
    how = kw.pop("scheme", None) or scheme()
    async with await ProgrammingSession.connect(
        sim.url,
        options(**kw),
        how,
        trace=trace,
        keepalive_interval_s=keepalive,
        meter_idle_timeout_s=idle,
    ) as session:
        yield session


# -- library ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_successful_session_with_reads(kind: str) -> None:
    async with simulator(kind) as sim, session_on(sim) as session:
        answer = await session.read("1.8.0")
        assert answer.value is not None
        assert (answer.value.value, answer.value.unit) == ("001234.120", "kWh")
        readings = await session.read_many(["2.8.0", "9.9.9", "0.9.1"])
        assert readings["2.8.0"].dataset is not None
        assert readings["2.8.0"].dataset.values[0].raw == "000000.000*kWh"
        assert readings["9.9.9"].error is not None
        assert readings["9.9.9"].error.text == "ER04"
        assert readings["0.9.1"].dataset is not None
        assert session.identification is not None
        assert session.identification.manufacturer == "LGz"
        assert session.baud == 9600
    meter = sim.session
    assert meter.commands == ["P1", "R1 1.8.0", "R1 2.8.0", "R1 9.9.9", "R1 0.9.1", "B0"]
    assert meter.ended


@pytest.mark.parametrize("kind", KINDS)
async def test_write_accepted(kind: str) -> None:
    async with simulator(kind) as sim, session_on(sim) as session:
        answer = await session.write("0.9.1", "120000")
        assert answer.acknowledged
        assert (await session.read("0.9.1")).text == "0.9.1(120000)"
        with pytest.raises(MeterError, match="ER03"):
            await session.write("1.8.0", "0")
        assert not session.closed  # an error answer does not end the session
    assert sim.profile.registers["0.9.1"] == "120000"
    assert sim.profile.registers["1.8.0"] == "001234.120*kWh"


@pytest.mark.parametrize("kind", KINDS)
async def test_wrong_password_is_access_denied(kind: str) -> None:
    async with simulator(kind) as sim:
        with pytest.raises(AccessDeniedError) as info:
            async with session_on(sim, scheme=scheme("Wrong999")):
                pytest.fail("signed on with a wrong password")
        assert "Wrong999" not in str(info.value)
        assert sim.session.ended
        assert not sim.session.authenticated


async def test_elster_p2_against_the_simulator() -> None:
    async with (
        simulator("tcp", scheme="elster", password="FEDC0003") as sim,
        session_on(sim, scheme=ElsterPassword("FEDC0003")) as session,
    ):
        assert session.operand is not None
        assert len(session.operand) == 16
        assert (await session.read("1.8.0")).text == "1.8.0(001234.120*kWh)"


@pytest.mark.parametrize("kind", KINDS)
async def test_nak_and_repeat(kind: str) -> None:
    async with simulator(kind, nak_first_command=True, corrupt_answers=1) as sim:
        async with session_on(sim) as session:
            answer = await session.read("1.8.0")
            assert answer.text == "1.8.0(001234.120*kWh)"
        # The meter NAKed the first R1 (it came again), then its first answer had a
        # wrong BCC: the client NAKed it and took the repeat.
        assert sim.session.commands == ["P1", "R1 1.8.0", "R1 1.8.0", "B0"]


@pytest.mark.parametrize("kind", KINDS)
async def test_partial_block_answer(kind: str) -> None:
    async with (
        simulator(kind, partial_block_size=16) as sim,
        session_on(sim) as session,
    ):
        answer = await session.read("1.8.0", command="R6")
        assert answer.blocks == 2
        assert answer.text == "1.8.0(001234.120*kWh)"


@pytest.mark.parametrize("kind", KINDS)
async def test_error_answer(kind: str) -> None:
    async with simulator(kind) as sim, session_on(sim) as session:
        with pytest.raises(MeterError) as info:
            await session.read("99.99.99")
        assert info.value.text == "ER04"
        assert (await session.read("1.8.0")).text == "1.8.0(001234.120*kWh)"  # still works


@pytest.mark.parametrize("kind", KINDS)
async def test_idle_timeout_of_the_meter(kind: str) -> None:
    async with simulator(kind) as sim:
        session = await ProgrammingSession.connect(
            sim.url,
            options(answer_timeout_s=0.3),
            scheme(),
            keepalive_interval_s=None,
            meter_idle_timeout_s=0.0,
        )
        # From now on any silence is too long for the meter: it drops programming
        # mode silently, so the next command goes unanswered.
        sim.session.idle_timeout_s = 0.0
        with pytest.raises(NoAnswerError, match="leave programming mode"):
            await session.read("1.8.0")
        assert session.closed
        await session.close()


async def test_keep_alive_reads_while_idle() -> None:
    async with simulator("tcp") as sim:
        async with session_on(sim, keepalive_interval_s=0.05, keepalive_address="C.1.0") as s:
            assert await asyncio.wait_for(_next_command(sim, "R1 C.1.0"), 5.0) == "R1 C.1.0"
            assert (await s.read("1.8.0")).text == "1.8.0(001234.120*kWh)"
        assert sim.session.commands[-1] == "B0"


async def _next_command(sim: Sim, wanted: str) -> str:
    while (command := await sim.commands.get()) != wanted:
        pass
    return command


@pytest.mark.parametrize("kind", KINDS)
async def test_profile_read_across_several_requests(kind: str) -> None:
    async with simulator(kind, partial_block_size=200) as sim, session_on(sim) as session:
        start = PROFILE_START + timedelta(hours=6)
        end = PROFILE_START + timedelta(days=2, hours=6)
        profile = await session.read_load_profile(start, end, max_span=timedelta(hours=12))
    requests = [c for c in sim.session.commands if c.startswith("R5 P.01")]
    assert len(requests) == 4
    stamps = [row.timestamp for row in profile.rows]
    assert stamps[0] == start
    assert stamps[-1] == end
    assert len(stamps) == 2 * 96 + 1  # shared bounds are not duplicated
    assert stamps == sorted(set(stamps))
    assert {row.status for row in profile.rows} == {"00", "08"}
    assert [c.code for c in profile.channels] == ["1.5", "2.5"]
    expected = {r.timestamp: r.values for r in sim.profile.load_profile}
    assert all(
        tuple(v.value for v in row.values) == expected[row.timestamp] for row in profile.rows
    )


async def test_cancellation_still_signs_off() -> None:
    async with simulator("tcp") as sim:
        sim.mute.add("R1 5.5.5")
        session = await ProgrammingSession.connect(
            sim.url, options(answer_timeout_s=30.0), scheme(), keepalive_interval_s=None
        )
        task = asyncio.create_task(session.read("5.5.5"))
        await asyncio.wait_for(_next_command(sim, "R1 5.5.5"), 5.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(_next_command(sim, "B0"), 5.0)
        assert session.closed
        await session.close()


async def test_read_registers_for_the_gateway() -> None:
    async with simulator("tcp") as sim:
        readings = await read_registers(
            sim.url, ["1.8.0", "7.7.7"], options=options(), scheme=scheme()
        )
    assert readings["1.8.0"].dataset is not None
    assert readings["7.7.7"].error is not None
    assert sim.session.commands[-1] == "B0"


# -- CLI ----------------------------------------------------------------------


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


async def cli(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """Run ``obisgate ARGS`` in a thread (it runs its own event loop)."""
    runner = CliRunner()

    def invoke() -> Any:
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    result = await asyncio.to_thread(invoke)
    return CliResult(result.exit_code, result.stdout, result.stderr)


FAST = ("--t2", "200", "--timeout", "3")  # 200 ms: the least the standard (and --t2) allow


@pytest.mark.parametrize("kind", KINDS)
async def test_cli_get(kind: str) -> None:
    env = {"METER_PW": PASSWORD}
    async with simulator(kind) as sim:
        table = await cli(
            "get", sim.url, "1.8.0", "2.8.0", "--password-env", "METER_PW", *FAST, env=env
        )
        assert table.exit_code == 0, table.stderr
        assert "1.8.0" in table.stdout
        assert "001234.120" in table.stdout
        js = await cli(
            "get",
            sim.url,
            "1.8.0",
            "--format",
            "json",
            "--password-env",
            "METER_PW",
            *FAST,
            env=env,
        )
        assert '"raw": "001234.120*kWh"' in js.stdout
        csv = await cli(
            "get", sim.url, "1.8.0", "--format", "csv", "--password-env", "METER_PW", *FAST, env=env
        )
        assert csv.stdout.splitlines()[1] == "1.8.0,1,001234.120,kWh,001234.120*kWh,"
        raw = await cli(
            "get", sim.url, "1.8.0", "--format", "raw", "--password-env", "METER_PW", *FAST, env=env
        )
        assert raw.stdout == "1.8.0(001234.120*kWh)\n"
        bad = await cli(
            "get", sim.url, "1.8.0", "9.9.9", "--password-env", "METER_PW", *FAST, env=env
        )
        assert bad.exit_code == 7
        assert "001234.120" in bad.stdout
        assert bad.stderr.strip().splitlines() == [
            "obisgate: error: meter answered to R1 9.9.9 with error (ER04)"
        ]


async def test_cli_set_refused_without_allow_write(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    async with simulator("tcp") as sim:
        refused = await cli("set", sim.url, "0.9.1", "120000", "--password-file", str(pw), *FAST)
        assert refused.exit_code == 2
        assert "--allow-write" in refused.stderr
        assert sim.sessions == []  # nothing was even sent
        assert sim.profile.registers["0.9.1"] == "131600"
        done = await cli(
            "set", sim.url, "0.9.1", "120000", "--allow-write", "--password-file", str(pw), *FAST
        )
        assert done.exit_code == 0, done.stderr
        assert done.stdout == "0.9.1: meter answered ACK (write accepted)\n"
        assert sim.profile.registers["0.9.1"] == "120000"
        protected = await cli(
            "set", sim.url, "1.8.0", "0", "--allow-write", "--password-file", str(pw), *FAST
        )
        assert protected.exit_code == 7
        assert protected.stderr == "obisgate: error: meter answered to W1 1.8.0 with error (ER03)\n"


async def test_cli_wrong_password_and_plain_password_warning() -> None:
    async with simulator("tcp") as sim:
        result = await cli("get", sim.url, "1.8.0", "--password", "Wrong999", *FAST)
    assert result.exit_code == 7
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("obisgate: warning: --password is visible")
    assert lines[1] == "obisgate: error: meter refused the password"
    assert "Traceback" not in result.stderr
    assert "Wrong999" not in result.stderr + result.stdout


async def test_cli_profile_formats() -> None:
    env = {"METER_PW": PASSWORD}
    args = ("--from", "2024-03-15T00:00", "--to", "2024-03-15T01:00", "--password-env", "METER_PW")
    async with simulator("tcp") as sim:
        table = await cli("profile", sim.url, *args, *FAST, env=env)
        assert table.exit_code == 0, table.stderr
        assert table.stdout.splitlines()[0].split() == ["timestamp", "status", "1.5[kW]", "2.5[kW]"]
        assert table.stdout.splitlines()[-1] == "5 rows"
        csv = await cli("profile", sim.url, *args, "--format", "csv", *FAST, env=env)
        assert csv.stdout.splitlines()[:2] == [
            "timestamp,status,1.5 [kW],2.5 [kW]",
            "2024-03-15T00:00:00,00,0.00000,0.30000",
        ]
        js = await cli(
            "profile", sim.url, *args, "--format", "json", "--max-span", "0.25", *FAST, env=env
        )
        assert '"timestamp": "2024-03-15T01:00:00"' in js.stdout
        assert sum(c.startswith("R5 P.01") for c in sim.session.commands) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("get", "tcp://127.0.0.1:1", "1.8.0", "--password-env", "NO_SUCH_VAR_X"), "NO_SUCH_VAR_X"),
        (("get", "tcp://127.0.0.1:1", "1.8.0", "--scheme", "md5", "--password", "x"), "md5"),
        (("profile", "tcp://127.0.0.1:1", "--from", "yesterday", "--to", "2024-01-01"), "--from"),
    ],
)
async def test_cli_config_errors_are_one_line(args: tuple[str, ...], message: str) -> None:
    result = await cli(*args)
    assert result.exit_code == 2
    assert message in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr


async def test_cli_no_meter_is_one_line() -> None:
    closed = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()
        await writer.wait_closed()
        closed.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await cli("get", f"tcp://127.0.0.1:{port}", "1.8.0", "--timeout", "0.2")
        await asyncio.wait_for(closed.wait(), 5.0)
    assert result.exit_code == 3
    assert result.stderr == (
        "obisgate: error: timeout: no answer from the meter (identification) within 0.2 s\n"
    )


# -- secrecy ------------------------------------------------------------------


def _leaks(text: str, secret: str) -> list[str]:
    hexed = " ".join(f"{b:02X}" for b in secret.encode())
    return [form for form in (secret, hexed, secret.lower()) if form in text]


async def test_password_never_appears_in_logs_traces_or_output(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: dict[str, str] = {}
    env = {"METER_PW": PASSWORD}
    errors: list[str] = []
    runs = [("tcp", Faults()), ("tcp", Faults(echo=True)), ("pty", Faults())]
    for kind, faults in runs:
        trace_file = tmp_path / f"{kind}-{faults.echo}.trace"
        async with simulator(kind, faults=faults, nak_first_command=True) as sim:
            stream = io.StringIO()
            async with session_on(sim, trace=Trace(stream)) as session:
                await session.read("1.8.0")
                await session.read_load_profile(
                    PROFILE_START, PROFILE_START + timedelta(hours=3), max_span=timedelta(hours=1)
                )
                try:
                    await session.read("9.9.9")
                except MeterError as exc:
                    errors += [str(exc), repr(exc)]
            texts[f"trace {kind} echo={faults.echo}"] = stream.getvalue()
            for args in (
                ("get", sim.url, "1.8.0", "--format", "json"),
                ("set", sim.url, "0.9.1", "120000", "--allow-write"),
                ("profile", sim.url, "--from", "2024-03-15", "--to", "2024-03-15T02:00"),
            ):
                result = await cli(
                    *args, "--password-env", "METER_PW", "--trace", str(trace_file), *FAST, env=env
                )
                assert result.exit_code == 0, result.stderr
                name = f"{args[0]} {kind} echo={faults.echo}"
                texts[f"cli {name}"] = result.stdout + result.stderr
                texts[f"cli trace {name}"] = trace_file.read_text()
                assert "********" in texts[f"cli trace {name}"]
            with pytest.raises(AccessDeniedError) as info:
                async with session_on(sim, scheme=scheme(PASSWORD[::-1])):
                    pass
            errors += [str(info.value), repr(info.value)]
    texts["errors"] = "\n".join(errors)
    texts["log"] = caplog.text
    # With the echo fault our password message comes back: masked on the way in too.
    received = [line for line in texts["trace tcp echo=True"].splitlines() if " < " in line]
    assert any("********" in line for line in received)
    for name, text in texts.items():
        assert text, name
        assert _leaks(text, PASSWORD) == [], f"password found in {name}"
        assert _leaks(text, PASSWORD[::-1]) == [], f"wrong password found in {name}"


async def test_cli_warns_about_a_password_file_readable_by_others(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\nsecond line is not part of it\n")
    pw.chmod(0o644)
    async with simulator("tcp") as sim:
        result = await cli("get", sim.url, "0.9.1", "--password-file", str(pw), *FAST)
    assert result.exit_code == 0, result.stderr
    assert "readable by group or others" in result.stderr
    assert PASSWORD not in result.stderr


async def test_cli_sum7_meter_read_with_xor_is_told_to_try_sum7() -> None:
    """In programming mode too, a checksum right for the other method says so."""
    env = {"METER_PW": PASSWORD}
    async with simulator("tcp", bcc_method=BccMethod.SUM7) as sim:
        wrong = await cli("get", sim.url, "1.8.0", "--password-env", "METER_PW", *FAST, env=env)
        assert wrong.exit_code == 4
        assert wrong.stderr.splitlines()[-1].endswith(
            '; this meter may use --bcc sum7 (bcc_method = "sum7" in the configuration): '
            "its checksum matches the 7-bit sum"
        )
        right = await cli(
            "get", sim.url, "1.8.0", "--password-env", "METER_PW", "--bcc", "sum7", *FAST, env=env
        )
    assert right.exit_code == 0, right.stderr
    assert right.stdout.splitlines()[-1].split() == ["1.8.0", "001234.120", "kWh"]
