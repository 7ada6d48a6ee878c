"""``obisgate`` (or any command) run in a child process until something was seen, then
stopped by a signal: no fixed ``--duration`` that a slow runner may not reach in time."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Finished", "run_until"]


@dataclass(frozen=True)
class Finished:
    """How the command ended: its exit code and everything it wrote."""

    code: int
    out: str
    err: str


async def run_until(
    command: Sequence[str | Path],
    *,
    line: Callable[[str], bool] | None = None,
    condition: Callable[[], bool] | None = None,
    watch: str = "stdout",
    stop: signal.Signals = signal.SIGTERM,
    deadline_s: float = 60.0,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Finished:
    """Start ``command``; once it is seen to be done, send ``stop`` and wait for its end.

    Give one of: ``line``, asked about each line the command writes on ``watch``
    (``"stdout"`` or ``"stderr"``, without its line end); or ``condition``, a check
    outside the process (a file it writes), asked every 0.1 s: the one polling allowed,
    for a real external process.

    Raises:
        AssertionError: the command ended before it was seen to be done, or
            ``deadline_s`` passed (it is then killed); the message holds what it wrote.
    """
    assert (line is None) != (condition is None), "give line or condition"
    process = await asyncio.create_subprocess_exec(
        *map(str, command),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=env,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    streams = {"stdout": process.stdout, "stderr": process.stderr}
    watched = streams.pop(watch)
    (other,) = streams.values()
    other_text = asyncio.ensure_future(other.read())
    lines: list[bytes] = []
    try:
        async with asyncio.timeout(deadline_s):
            if line is not None:
                await _until_line(watched, lines, line)
            else:
                assert condition is not None
                await _until_condition(process, watched, lines, condition)
    except (AssertionError, TimeoutError) as exc:
        if process.returncode is None:
            process.kill()
        await process.wait()
        lines.append(await watched.read())
        raise AssertionError(
            f"{' '.join(map(str, command))}: {str(exc) or 'the deadline passed'}\n"
            f"{watch}:\n{b''.join(lines).decode()}\nand:\n{(await other_text).decode()}"
        ) from None
    process.send_signal(stop)
    async with asyncio.timeout(deadline_s):
        lines.append(await watched.read())
        code = await process.wait()
        text, rest = b"".join(lines).decode(), (await other_text).decode()
    return Finished(code, text, rest) if watch == "stdout" else Finished(code, rest, text)


async def _until_line(
    stream: asyncio.StreamReader, lines: list[bytes], done: Callable[[str], bool]
) -> None:
    while True:
        data = await stream.readline()
        if not data:
            raise AssertionError("it ended first")
        lines.append(data)
        if done(data.decode().rstrip("\r\n")):
            return


async def _until_condition(
    process: asyncio.subprocess.Process,
    stream: asyncio.StreamReader,
    lines: list[bytes],
    done: Callable[[], bool],
) -> None:
    async def collect() -> None:
        while data := await stream.readline():
            lines.append(data)

    collecting = asyncio.ensure_future(collect())
    try:
        while not done():
            if process.returncode is not None or collecting.done():
                raise AssertionError("it ended first")
            await asyncio.sleep(0.1)  # polling a real external process
    finally:
        collecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collecting
