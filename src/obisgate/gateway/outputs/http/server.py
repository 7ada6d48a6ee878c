"""The HTTP output: one aiohttp server in the gateway's event loop (API, metrics, web view).

Imported only by :func:`obisgate.gateway.outputs.http.output.create`, after the ``web``
extra (aiohttp, prometheus_client) was found.

Endpoints, all ``GET`` but one (nothing over HTTP writes to a meter or changes the
gateway; the one ``POST`` asks for a read):

* ``/`` the web view; ``/static/...`` its files (uPlot and the view's script).
* ``/api/devices``: every device with status, since, last success, failures, last error,
  its read-success figures (scheduled reads, share succeeded, lateness percentiles,
  missed scans, priority reads; its line and throttle group), and for a device with a
  load profile its ``backfill`` (phase, intervals left, gap, how far filled, sessions,
  failures, the wait before a retry, last error).
* ``POST /api/devices/<alias>/read[?wait=SECONDS]``: a priority read: at the head of
  the device's line's queue, every signal. The answer waits for the read (at most
  ``wait`` seconds, default 60): 200 with ``{"device", "status", "updates"}`` (the
  updates every output got), or 202 ``{"device", "queued": true}`` when the read is
  still waiting or running (its updates then arrive as usual, e.g. on
  ``/api/events``); 404 for an unknown device, 409 for a push meter, 503 while the
  gateway does not poll. The supervisor of ``run --workers`` asks the worker that polls
  the device and answers the same; 503 at once when that worker is not connected or
  ends before it answered.
* ``/api/reads[?by=line|group|device]``: the read-success figures of this shard and of
  each throttle group (with its sessions and waiting polls), or of every line or device;
  the supervisor of ``run --workers`` gives the sum of its workers (shard ``all``) and
  each one's (``shards``).
* ``/api/signals[?device=]``: the latest update of every signal (the JSON-lines objects).
* ``/api/history?device=&signal=[&from=][&to=][&limit=][&points=]``: one signal's stored
  values (with ``points``, averaged into at most that many buckets over the range).
* ``/api/energy?device=[&period=day|week|month][&count=][&tz=][&week_start=]``: what each
  energy register of a device counted per day, week or month of the time zone ``tz``
  (the bars), in the running day, week and month, and the device's current power.
* ``/api/events``: server-sent events: a ``snapshot`` first, then one ``batch``
  per readout (``{"devices": [...], "updates": [...]}``). At most
  ``max_clients`` streams at once; one more is answered 503. A client that falls a
  whole queue behind, or takes no data for :attr:`HttpOutput.write_timeout_s`,
  is disconnected (an ``EventSource`` reconnects and starts from a new snapshot).
* ``/api/gateway``: the gateway's counters and every output's health
  (:meth:`OutputHealth.to_json`: state, since, last error, address, counters).
* ``/metrics``: Prometheus text exposition (OpenMetrics when asked for).
* ``/healthz``: ``ok``; the only endpoint that never needs the token.

Token rule: with a token, every request but ``/healthz`` must carry
``Authorization: Bearer TOKEN``; without one, ``POST`` is refused (403) unless the
server listens on a loopback address only (``allow_anonymous`` serves reading, never
asking), and a ``POST`` from a browser page of another origin (``Origin`` or
``Sec-Fetch-Site: cross-site``) is refused (403): a page elsewhere cannot make the
browser ask for reads. A browser may send the token as the password
of HTTP basic authentication instead (any user name), which is how the web
view's own requests (including ``EventSource``) carry it. Comparison is in
constant time; the token never appears in a log or an answer. A wrong token is
counted (``auth_failures_total``) and logged with the peer, at most one line a
minute; a request without any is counted as ``auth_missing_total`` (a browser's
first request always is one).

Doors (:mod:`~obisgate.gateway.outputs.http.site`): at most ``max_connections``
clients at once, fewer when the descriptors left beside the meter lines do not
allow as many (:mod:`obisgate.gateway.descriptors`; below
:data:`~obisgate.gateway.descriptors.MIN_CLIENTS` it does not listen); a
connection that sends no complete request within ``idle_timeout_s`` (also
between keep-alive requests) is closed; a malformed request is answered 400
by aiohttp and logged in one line with the peer, at most one a minute, never
with a traceback (``bad_requests_total``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from obisgate.errors import TransportError
from obisgate.gateway.descriptors import MIN_CLIENTS, client_budget
from obisgate.gateway.outputs.announce import announce as announce_listening
from obisgate.gateway.outputs.base import Output, publish_each
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth, OutputState
from obisgate.gateway.outputs.http.energy import Role
from obisgate.gateway.outputs.http.history import (
    HistoryReader,
    HistoryRequestError,
    energy_request,
    history_request,
)
from obisgate.gateway.outputs.http.metrics import MetricsSnapshot, render_metrics
from obisgate.gateway.outputs.http.page import WEB_DIR, render_page
from obisgate.gateway.outputs.http.reads import (
    device_reads,
    read_answer,
    reads_answer,
)
from obisgate.gateway.outputs.http.site import CappedSite, ServerLog
from obisgate.gateway.outputs.http.state import LiveState, update_json
from obisgate.gateway.outputs.listen import host_port, is_loopback
from obisgate.gateway.outputs.peer_errors import PeerErrorLog
from obisgate.gateway.poller import ReadRequestError
from obisgate.gateway.updates import SignalUpdate

__all__ = ["HttpOutput"]

_LOGGER = logging.getLogger(__name__)

#: Seconds between keep-alive comments on an idle event stream.
KEEPALIVE_S = 15.0
#: How long a priority read's answer waits for the read by default, and at most (s).
READ_WAIT_S, READ_WAIT_MAX_S = 60.0, 3600.0
#: A priority read's answer status per refusal reason.
_REFUSED = {"unknown": 404, "push": 409, "stopped": 503}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Sent with every answer: the page runs only its own scripts and is never framed.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, ensure_ascii=False, default=str),  # e.g. times in outputs' health
        status=status,
        content_type="application/json",
    )


def _error(message: str, status: int) -> web.Response:
    return _json({"error": message}, status)


def _drop(request: web.Request) -> None:
    """Close the client's connection at once, discarding what it has not taken yet."""
    if request.transport is not None:
        request.transport.abort()


def _presented_token(header: str) -> str | None:
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


class HttpOutput(Output):
    """Serves the live state, the history and the metrics; publishing only updates memory.

    Args:
        host: address to bind.
        port: port to bind (0: a free one; :attr:`port` holds the real one after start).
        state: the live picture (devices and signals from the configuration).
        context: the gateway's counters, the outputs' health, the history file.
        token: the bearer token every request but ``/healthz`` must carry, or ``None``.
        history_limit: most rows in one ``/api/history`` answer.
        max_clients: most ``/api/events`` streams at once (more: 503).
        max_connections: most client connections at once (more: closed at once).
        idle_timeout_s: a connection without a complete request for this long is closed.
        announce: where ``web view on http://HOST:PORT/`` goes on start (logged:
            :func:`~obisgate.gateway.outputs.announce.announce`).
        clock: the current time (UTC), for ``/api/energy``'s running periods.
    """

    name = "http"

    def __init__(
        self,
        host: str,
        port: int,
        state: LiveState,
        context: OutputContext,
        *,
        token: SecretStr | None = None,
        history_limit: int = 10_000,
        max_clients: int = 100,
        max_connections: int = 256,
        idle_timeout_s: float = 15.0,
        announce: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.state = state
        self.context = context
        self._token = token
        self._history = (
            HistoryReader(context.history_files)
            if context.history_files is not None
            else HistoryReader.at(context.history_path)
        )
        self._history_limit = history_limit
        self.max_clients = max_clients
        self._metrics_thread = ThreadPoolExecutor(1, thread_name_prefix="obisgate-http-metrics")
        self.announce: Callable[[str], None] = announce or announce_listening
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._runner: web.AppRunner | None = None
        self._site: CappedSite | None = None
        self.max_connections = max_connections
        self.idle_timeout_s = idle_timeout_s
        self._bad_requests = PeerErrorLog(_LOGGER, "http: malformed request", window_s=60.0)
        self._auth_failures = PeerErrorLog(_LOGGER, "http: authentication failed", window_s=60.0)
        self._auth_missing = 0
        #: Event streams being served now.
        self.streams = 0
        #: A client that takes no data for this long is disconnected.
        self.write_timeout_s = 30.0
        self._health = HealthRecord()

    @property
    def url(self) -> str:
        """``http://HOST:PORT/`` with the real port (IPv6 hosts in brackets)."""
        return f"http://{host_port(self.host, self.port)}/"

    def health(self) -> OutputHealth:
        """Where it listens, its connections and event streams, what it refused."""
        site = self._site
        server = None if self._runner is None else self._runner.server
        return self._health.health(
            address=host_port(self.host, self.port),
            counters={
                "sse_clients": self.streams,
                "sse_clients_cut_total": self.state.cut_total,
                "connections": 0 if server is None else len(server.connections),
                "max_connections": self.max_connections,
                "connections_refused_total": 0 if site is None else site.refused_total,
                "accept_errors_total": 0 if site is None else site.accept_errors.total,
                "bad_requests_total": self._bad_requests.total,
                "auth_failures_total": self._auth_failures.total,
                "auth_missing_total": self._auth_missing,
            },
        )

    # -- Output ---------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve, then announce the address (logged).

        Raises:
            TransportError: the address cannot be bound (in use, not local, no
                permission), or too few file descriptors are left beside the
                meter lines; one line naming the address and the reason.
        """
        self._fit_connections()
        runner = web.AppRunner(
            self._app(),
            access_log=None,
            shutdown_timeout=2.0,
            keepalive_timeout=self.idle_timeout_s,
            logger=ServerLog(self._bad_requests),
        )
        await runner.setup()
        site = CappedSite(runner, self.host, self.port, max_connections=self.max_connections)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            message = f"cannot listen on {self.host}:{self.port}: {reason}"
            self._health.set(OutputState.OFF, message)
            raise TransportError(message) from None
        self._runner = runner
        self._site = site
        if runner.addresses:
            self.port = int(runner.addresses[0][1])
        self._health.set(OutputState.RUNNING)
        self.announce(f"web view on {self.url}")

    def _fit_connections(self) -> None:
        """Lower :attr:`max_connections` to the descriptors left beside the meter lines.

        Raises:
            TransportError: fewer than ``MIN_CLIENTS`` are left.
        """
        try:
            lines = int(self.context.stats().get("lines", 0) or 0)
        except Exception:  # counters unavailable: count no line
            lines = 0
        budget = client_budget(lines)
        if budget is None or budget >= self.max_connections:
            return
        if budget < MIN_CLIENTS:
            raise TransportError(
                f"cannot listen on {self.host}:{self.port}: only {budget} file descriptors "
                f"are left for HTTP clients beside {lines} meter lines "
                "(raise the open file limit: ulimit -n, systemd LimitNOFILE=)"
            )
        _LOGGER.warning(
            "http: at most %d connections (max_connections %d): the open file limit "
            "leaves no more beside %d meter lines",
            budget,
            self.max_connections,
            lines,
        )
        self.max_connections = budget

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        """Record the batch in the live state and hand it to every event stream."""
        self.state.apply(updates)

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        """Each batch in order (see :func:`publish_each`)."""
        await publish_each(self, batches)

    async def aclose(self) -> None:
        """End the event streams, stop the server, close the history reader."""
        self.state.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._health.set(OutputState.CLOSED)
        await self._history.aclose()
        self._metrics_thread.shutdown(wait=True)

    # -- the application ------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._headers, self._contain, self._authorize])
        app.add_routes(
            [
                web.get("/", self._page),
                web.get("/healthz", self._healthz),
                web.get("/api/devices", self._devices),
                web.post("/api/devices/{alias}/read", self._read_now),
                web.get("/api/reads", self._reads),
                web.get("/api/signals", self._signals),
                web.get("/api/history", self._history_answer),
                web.get("/api/energy", self._energy),
                web.get("/api/events", self._events),
                web.get("/api/gateway", self._gateway),
                web.get("/metrics", self._metrics),
                web.static("/static", WEB_DIR / "static", append_version=False),
            ]
        )
        return app

    @staticmethod
    @web.middleware
    async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if not response.prepared:  # an event stream sent its headers already
            response.headers.update(_SECURITY_HEADERS)
        return response

    @staticmethod
    @web.middleware
    async def _contain(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Turn an unexpected exception into a 500 answer and one log line (no traceback).

        Bad input is answered by the handlers themselves (400/404); this is the
        last line of defence, so that no request can make aiohttp log a traceback.
        """
        try:
            return await handler(request)
        except (web.HTTPException, asyncio.CancelledError):
            raise
        except Exception as exc:
            _LOGGER.error(  # noqa: TRY400 - one line by design
                "http: GET %s failed: %s: %s", request.path, type(exc).__name__, exc
            )
            return _error("internal error (logged by the gateway)", 500)

    @web.middleware
    async def _authorize(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD", "POST"):
            return _error("only GET requests (and POST to ask for a read)", 405)
        if request.method == "POST":
            refused = self._refuse_post(request)
            if refused is not None:
                return refused
        if self._token is None or request.path == "/healthz":
            return await handler(request)
        header = request.headers.get("Authorization", "")
        presented = _presented_token(header)
        expected = self._token.get_secret_value().encode()
        if presented is not None and hmac.compare_digest(presented.encode(), expected):
            return await handler(request)
        if header:
            self._auth_failures.report(request.remote or "a client", f"GET {request.raw_path[:80]}")
        else:
            self._auth_missing += 1
        response = _error("missing or wrong token (Authorization: Bearer TOKEN)", 401)
        # Two challenges: API clients send the bearer token, a browser asks for a password.
        response.headers.add("WWW-Authenticate", 'Bearer realm="obisgate"')
        response.headers.add("WWW-Authenticate", 'Basic realm="obisgate", charset="UTF-8"')
        return response

    def _refuse_post(self, request: web.Request) -> web.Response | None:
        """Why a ``POST`` is refused before its token is looked at, or ``None``."""
        if self._token is None and not is_loopback(self.host):
            return _error(
                "asking for reads needs a token ([http] token_env) when the server listens "
                "beyond loopback",
                403,
            )
        origin = request.headers.get("Origin")
        site = request.headers.get("Sec-Fetch-Site", "")
        if site == "cross-site" or (
            origin is not None and origin != f"{request.scheme}://{request.host}"
        ):
            return _error("a page of another origin cannot ask for reads", 403)
        return None

    async def _read_now(self, request: web.Request) -> web.Response:
        alias = request.match_info["alias"]
        try:
            wait = float(request.query.get("wait", READ_WAIT_S))
        except ValueError:
            return _error("wait: a number of seconds", 400)
        if not 0 <= wait <= READ_WAIT_MAX_S:
            return _error(f"wait: 0 to {READ_WAIT_MAX_S:g} seconds", 400)
        try:
            future = self.context.request_read(alias)
        except ReadRequestError as exc:
            return _error(str(exc), _REFUSED.get(exc.reason, 409))
        try:
            updates = await asyncio.wait_for(asyncio.shield(future), wait)
        except TimeoutError:
            return _json({"device": alias, "queued": True}, 202)
        except ReadRequestError as exc:  # refused later (the worker of ``run --workers``)
            return _error(str(exc), _REFUSED.get(exc.reason, 500))
        except asyncio.CancelledError:
            if future.cancelled():  # the gateway stopped first; this request goes on
                return _error("the gateway stopped before the read", 503)
            raise
        return _json(read_answer(alias, updates))

    async def _reads(self, request: web.Request) -> web.Response:
        by = request.query.get("by", "group")
        if by not in ("group", "line", "device"):
            return _error("by: group, line or device", 400)
        figures = self.context.read_figures()
        body = await asyncio.get_running_loop().run_in_executor(
            self._metrics_thread, reads_answer, figures, by
        )
        return _json(body)

    async def _page(self, request: web.Request) -> web.Response:
        page = render_page(self.state, self.context.health(), figures=self.context.read_figures())
        return web.Response(text=page, content_type="text/html")

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _devices(self, request: web.Request) -> web.Response:
        devices = self.state.device_list()
        backfill = self.context.backfill()
        for device in devices:
            progress = backfill.get(device["device"])
            if progress is not None:
                device["backfill"] = dict(progress)
        figures = self.context.read_figures()
        body = await asyncio.get_running_loop().run_in_executor(
            self._metrics_thread, device_reads, devices, figures
        )
        return _json(body)

    async def _signals(self, request: web.Request) -> web.Response:
        device = request.query.get("device")
        if device is not None and device not in self.state.devices:
            return _error(f"no device {device!r}", 404)
        return web.Response(
            body=self.state.signals_body(device), content_type="application/json", charset="utf-8"
        )

    async def _history_answer(self, request: web.Request) -> web.Response:
        try:
            query = history_request(request.query, self._history_limit)
        except HistoryRequestError as exc:
            return _error(str(exc), exc.status)
        try:
            return _json(await self._history.answer(query))
        except HistoryRequestError as exc:
            info = self.state.signals.get((query.device, query.signal))
            kept = self._history.files is not None
            if exc.status != 404 or not kept or info is None or not info.logged:
                return _error(str(exc), exc.status)
        # A logged signal with nothing stored yet (a gateway that just started; the store
        # writes a moment after the value is shown) has an empty history, not none.
        return _json(
            {
                "device": query.device,
                "signal": query.signal,
                "unit": info.unit,
                "from": None if query.start is None else query.start.isoformat(),
                "to": None if query.end is None else query.end.isoformat(),
                "truncated": False,
                "rows": [],
            }
        )

    async def _energy(self, request: web.Request) -> web.Response:
        try:
            query = energy_request(request.query)
        except HistoryRequestError as exc:
            return _error(str(exc), exc.status)
        view = self.state.devices.get(query.device)
        if view is None:
            return _error(f"no device {query.device!r}", 404)
        try:
            roles = self.state.energy_roles(query.device)
            registers = [
                (info.signal, role.value)
                for info, role in roles
                if role in (Role.IMPORT, Role.EXPORT)
            ]
            now = self.clock()
            found = await self._history.energy(query, registers, now) if registers else []
        except HistoryRequestError as exc:
            return _error(str(exc), exc.status)
        power = []
        for info, role in roles:
            if role in (Role.POWER, Role.POWER_EXPORT):
                latest = self.state.latest.get((query.device, info.signal))
                entry: dict[str, Any] = {"signal": info.signal, "direction": role.value}
                entry.update(
                    {"value": None, "unit": info.unit, "time": None, "quality": None}
                    if latest is None
                    else {
                        k: v
                        for k, v in update_json(latest).items()
                        if k not in ("device", "signal")
                    }
                )
                power.append(entry)
        return _json(
            {
                "device": query.device,
                "name": view.name,
                "period": query.period.value,
                "count": query.count,
                "tz": str(query.zone),
                "week_start": query.week_start,
                "now": now.astimezone(query.zone).isoformat(timespec="seconds"),
                "registers": found,
                "power": power,
            }
        )

    async def _gateway(self, request: web.Request) -> web.Response:
        outputs = {name: health.to_json() for name, health in self.context.health().items()}
        return _json({"stats": self.context.stats(), "outputs": outputs}, 200)

    async def _metrics(self, request: web.Request) -> web.Response:
        snapshot = MetricsSnapshot.take(self.state, self.context)
        body, content_type = await asyncio.get_running_loop().run_in_executor(
            self._metrics_thread, render_metrics, snapshot, request.headers.get("Accept", "")
        )
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if self.streams >= self.max_clients:
            refused = _error(
                f"too many event streams: {self.max_clients} clients are connected "
                "([http] max_clients); try again later",
                503,
            )
            refused.headers["Retry-After"] = "10"
            return refused
        sub, snapshot = self.state.subscribe()
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        self.streams += 1
        try:
            await response.prepare(request)
            await self._send(response, b"retry: 2000\n\n" + snapshot)
            while True:
                try:
                    event = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    await self._send(response, b": keep-alive\n\n")
                    continue
                if event is None:  # shutdown, or this client fell behind and was cut off
                    break
                await self._send(response, event)
            if sub.cut:
                _drop(request)  # what it has not read yet is stale; it reconnects
            else:
                await response.write_eof()
        except ConnectionResetError:
            pass  # the client went away
        except TimeoutError:
            _drop(request)  # the client stopped reading: do not wait on it
        finally:
            self.state.unsubscribe(sub)
            self.streams -= 1
        return response

    async def _send(self, response: web.StreamResponse, data: bytes) -> None:
        """Write to an event stream.

        Raises:
            TimeoutError: the client took no data for :attr:`write_timeout_s`.
            ConnectionResetError: the client went away.
        """
        await asyncio.wait_for(response.write(data), self.write_timeout_s)
