"""Keep a fixed set of child processes running: restart the dead, stop all on a signal.

Used by ``obisgate run --workers N``: one child per shard. A child that ends by
itself with status 0 is done (``--duration`` elapsed) and is not restarted; one
that dies otherwise (a crash, SIGKILL, the OOM killer) is restarted after a
jittered wait below 1 s, whose ceiling doubles up to 30 s while it keeps dying
within 10 s of its start (:class:`~obisgate.backoff.Backoff`). SIGTERM or
SIGINT to the supervisor sends SIGTERM to every child, waits up to
``stop_timeout_s`` for them, SIGKILLs the rest, and returns.

Children never outlive the supervisor, however it ends (``kill -9`` included):
each child inherits the read end of a pipe of its own (its number in the
environment variable :data:`PARENT_FD_VARIABLE`) whose write end only the
supervisor holds. The kernel closes that end when the supervisor process dies,
the child reads end of file and stops as on SIGTERM (:func:`watch_parent`). A
pipe rather than Linux's ``PR_SET_PDEATHSIG``: that signal fires when the
*thread* that forked the child ends, not the process, and is Linux-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence

from obisgate.backoff import Backoff

__all__ = ["PARENT_FD_VARIABLE", "Supervisor", "watch_parent"]

_LOGGER = logging.getLogger("obisgate.workers")

#: Environment variable naming the inherited file descriptor a worker watches.
PARENT_FD_VARIABLE = "OBISGATE_SUPERVISOR_FD"


def watch_parent(loop: asyncio.AbstractEventLoop, gone: Callable[[], None]) -> Callable[[], None]:
    """In a worker: call ``gone`` (once) when the supervisor process has ended.

    Does nothing when this process was not started by a :class:`Supervisor`
    (:data:`PARENT_FD_VARIABLE` unset or not an open descriptor).

    Returns:
        A function that stops watching (and closes the descriptor).
    """
    text = os.environ.pop(PARENT_FD_VARIABLE, "")
    try:
        fd = int(text)
        os.set_blocking(fd, False)
    except (ValueError, OSError):
        return lambda: None

    def readable() -> None:
        try:
            data = os.read(fd, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            _LOGGER.warning("the supervisor has ended: this worker stops")
            gone()

    def unwatch() -> None:
        loop.remove_reader(fd)
        with contextlib.suppress(OSError):
            os.close(fd)

    loop.add_reader(fd, readable)
    return unwatch


class Supervisor:
    """Runs ``commands`` (one child each) until they finish or a stop signal arrives.

    Args:
        commands: argument vectors, one per child.
        stop_timeout_s: how long children get to stop after SIGTERM.
        restart_s: ceiling of the first (jittered) restart delay; it doubles up to
            ``restart_max_s`` (:class:`~obisgate.backoff.Backoff`).
        env: variables added to the children's environment (beside this process's own).
    """

    def __init__(
        self,
        commands: Sequence[Sequence[str]],
        *,
        stop_timeout_s: float = 15.0,
        restart_s: float = 1.0,
        restart_max_s: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.commands = [list(c) for c in commands]
        self.env = dict(env or {})
        self.stop_timeout_s = stop_timeout_s
        self.restart_s = restart_s
        self.restart_max_s = restart_max_s
        self.children: dict[int, asyncio.subprocess.Process] = {}
        self.restarts = 0
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask every child to stop (what SIGTERM does)."""
        self._stop.set()

    async def run(self) -> None:
        """Start the children and supervise them until all are done or stopped."""
        loop = asyncio.get_running_loop()
        handled = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                loop.add_signal_handler(sig, self.stop)
                handled.append(sig)
        try:
            await asyncio.gather(*(self._keep(i) for i in range(len(self.commands))))
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)

    async def _keep(self, index: int) -> None:
        backoff = Backoff(self.restart_s, self.restart_max_s)
        while not self._stop.is_set():
            started = time.monotonic()
            # The child keeps the read end; the write end stays here until the child ends,
            # and closes by itself with this process, however it dies.
            read_end, write_end = os.pipe()
            try:
                process = await asyncio.create_subprocess_exec(
                    *self.commands[index],
                    pass_fds=(read_end,),
                    env={**os.environ, **self.env, PARENT_FD_VARIABLE: str(read_end)},
                )
            except BaseException:
                os.close(write_end)
                raise
            finally:
                os.close(read_end)
            self.children[index] = process
            _LOGGER.info("worker %d started: pid %d", index, process.pid)
            waiter = asyncio.create_task(process.wait())
            stopper = asyncio.create_task(self._stop.wait())
            await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not waiter.done():
                await self._end(index, process, waiter)
                os.close(write_end)
                return
            os.close(write_end)
            code = waiter.result()
            if code == 0:
                _LOGGER.info("worker %d finished", index)
                return
            if time.monotonic() - started > 10:
                backoff.reset()
            delay = backoff.next_delay()
            _LOGGER.warning(
                "worker %d (pid %d) died (status %d); restarting in %.1f s",
                index,
                process.pid,
                code,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            self.restarts += 1

    async def _end(
        self, index: int, process: asyncio.subprocess.Process, waiter: asyncio.Task[int]
    ) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.stop_timeout_s)
        except TimeoutError:
            _LOGGER.warning("worker %d (pid %d) did not stop; killing it", index, process.pid)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await waiter
