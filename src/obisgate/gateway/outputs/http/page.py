"""The web view's page (``GET /``), rendered on the server from the live state.

The template ``web/page.html`` gets, from the top: one energy card per device with
energy registers (:func:`~obisgate.gateway.outputs.http.energy.role_of`; at most
:data:`MAX_CARDS`, the others one choice away), one plot choice per logged signal
(those of the cards' power checked), then one row per signal, per device (with its
read-success figures and a button that asks for a priority read), one for the shard's
and each throttle group's read figures, and one per output (its
:class:`~obisgate.gateway.outputs.health.OutputHealth`, the same for every output).
``web/static/view.js`` fills the cards from ``/api/energy``, plots from
``/api/history``, keeps the rows current from ``/api/events``, the output rows from
``/api/gateway`` and the read figures from ``/api/reads``, and shows every time in the
browser's zone. Every text from the configuration, a meter or an output is
HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from html import escape
from pathlib import Path
from string import Template

from obisgate.gateway.outputs.context import ReadFigures
from obisgate.gateway.outputs.health import OutputHealth, OutputState
from obisgate.gateway.outputs.http.energy import Role
from obisgate.gateway.outputs.http.state import (
    DeviceView,
    LiveState,
    SignalInfo,
    manufacturer_of,
    update_json,
)
from obisgate.gateway.readstats import ReadStats
from obisgate.gateway.updates import SignalUpdate
from obisgate.obis import describe

__all__ = ["MAX_CARDS", "WEB_DIR", "render_page", "signal_title"]

#: Energy cards on the page; a device beyond them is chosen from a list.
MAX_CARDS = 12

#: The page template and, under ``static/``, the files served at ``/static/``.
WEB_DIR = Path(__file__).with_name("web")


@cache
def _template() -> Template:
    return Template((WEB_DIR / "page.html").read_text(encoding="utf-8"))


def _attr(text: str) -> str:
    return escape(text, quote=True)


def _time_cell(name: str, label: str, time: datetime | None) -> str:
    if time is None:
        return f'<td class="{name}" data-label="{label}"></td>'
    iso = time.isoformat(timespec="seconds")
    return f'<td class="{name}" data-label="{label}" data-time="{_attr(iso)}">{escape(iso)}</td>'


def _share(stats: ReadStats | None) -> str:
    """``99.5 % of 200``: the share of scheduled reads that succeeded."""
    if stats is None or not stats.scheduled:
        return ""
    share = stats.success_share or 0.0
    return f"{100 * share:.1f} % of {stats.scheduled}"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f} s"


def _device_row(view: DeviceView, stats: ReadStats | None = None) -> str:
    state = {True: "ok", False: "down", None: "pending"}[view.up]
    error = ""
    if view.last_error is not None and view.last_error_time is not None:
        error = f"{view.last_error} ({view.last_error_time.isoformat(timespec='seconds')})"
    late = None if stats is None else stats.percentile(0.95)
    missed = "" if stats is None else str(stats.missed)
    button = (
        '<button type="button" class="read" title="read this meter now">read</button>'
        if stats is not None
        else ""
    )
    return (
        f'<tr data-device="{_attr(view.alias)}" data-state="{state}">'
        f'<td class="device" data-label="device">{escape(view.alias)}</td>'
        f'<td class="name" data-label="name">{escape(view.name)}</td>'
        f'<td class="status" data-label="status"><span class="badge {state}">'
        f"{'…' if view.up is None else state}"
        f"</span>{'' if view.status == 'ok' else escape(view.status)}</td>"
        f"{_time_cell('since', 'since', view.since)}"
        f"{_time_cell('last-success', 'last success', view.last_success)}"
        f'<td class="last-error" data-label="last error">{escape(error)}</td>'
        f'<td class="failures" data-label="failures">{view.failures}</td>'
        f'<td class="reads num" data-label="reads ok">{escape(_share(stats))}</td>'
        f'<td class="late num" data-label="late p95">{escape(_seconds(late))}</td>'
        f'<td class="missed num" data-label="missed">{escape(missed)}</td>'
        f'<td class="ask">{button}</td></tr>'
    )


def _reads_row(kind: str, name: str, stats: ReadStats, sessions: str = "") -> str:
    values = stats.percentiles()
    return (
        f'<tr data-scope="{_attr(kind)}" data-name="{_attr(name)}">'
        f'<td class="scope" data-label="scope">{escape(kind)} {escape(name)}</td>'
        f'<td class="reads num" data-label="reads ok">{escape(_share(stats))}</td>'
        f'<td class="p50 num" data-label="late p50">{escape(_seconds(values["p50"]))}</td>'
        f'<td class="p95 num" data-label="p95">{escape(_seconds(values["p95"]))}</td>'
        f'<td class="p99 num" data-label="p99">{escape(_seconds(values["p99"]))}</td>'
        f'<td class="missed num" data-label="missed">{stats.missed}</td>'
        f'<td class="priority num" data-label="priority reads">{stats.priority}</td>'
        f'<td class="sessions" data-label="sessions">{escape(sessions)}</td></tr>'
    )


def _reads_rows(figures: ReadFigures) -> str:
    rows = [_reads_row("shard", name, total) for name, total in figures.shard_totals().items()]
    for name, (stats, limit, sessions, waiting, waited, _, _) in figures.groups.items():
        text = f"{sessions} open of {'∞' if limit is None else limit}, {waiting} waiting, "
        text += f"{waited} waited"
        rows.append(_reads_row("group", name, stats, text))
    return "\n".join(rows)


#: The badge of each output state: ok (running), pending (on its way) or down.
_OUTPUT_BADGE = {
    OutputState.RUNNING: "ok",
    OutputState.STARTING: "pending",
    OutputState.CONNECTING: "pending",
    OutputState.CLOSED: "pending",
}


def _counters_text(counters: Mapping[str, int | float]) -> str:
    """``outbox_depth 0 · sent_total 12``: an output's counters in one line."""
    return " · ".join(f"{name} {value:g}" for name, value in counters.items())


def _output_row(name: str, health: OutputHealth) -> str:
    badge = _OUTPUT_BADGE.get(health.state, "down")
    return (
        f'<tr data-output="{_attr(name)}" data-state="{_attr(health.state.value)}">'
        f'<td class="output" data-label="output">{escape(name)}</td>'
        f'<td class="state" data-label="state"><span class="badge {badge}">'
        f"{escape(health.state.value)}</span></td>"
        f"{_time_cell('since', 'since', health.since)}"
        f'<td class="address" data-label="address">{escape(health.address or "")}</td>'
        f'<td class="last-error" data-label="last error">{escape(health.last_error or "")}</td>'
        f'<td class="counters" data-label="counters">'
        f"{escape(_counters_text(health.counters))}</td></tr>"
    )


def signal_title(
    info: SignalInfo, device: DeviceView | None = None, update: SignalUpdate | None = None
) -> str:
    """The tooltip of a signal: its name, its description (the configured one, else the
    OBIS catalogue's for its address, the meter's maker and unit), its address."""
    lines = [info.name]
    text = info.description
    if not text and info.tag:
        unit = (update.unit if update is not None else None) or info.unit
        found = describe(
            info.tag,
            manufacturer=manufacturer_of(device.identification if device else None),
            unit=unit,
        )
        text = found.description if found is not None else ""
    if text:
        lines.append(text)
    if info.tag:
        lines.append(info.tag)
    return "\n".join(lines)


def _signal_row(device: str, signal: str, label: str, update: SignalUpdate | None) -> str:
    value, unit, quality, time = "—", "", "", ""
    bad = False
    if update is not None:
        obj = update_json(update)
        value = "—" if obj["value"] is None else str(obj["value"])
        unit = obj["unit"] or ""
        quality = ", ".join(obj["quality"])
        bad = not update.quality.is_valid
        time = obj["time"]
    time_attr = f' data-time="{_attr(time)}"' if time else ""
    return (
        f'<tr data-device="{_attr(device)}" data-signal="{_attr(signal)}"{time_attr}>'
        f'<td class="device">{escape(device)}</td>'
        f'<td class="signal" title="{_attr(label)}">{escape(signal)}</td>'
        f'<td class="value">{escape(value)}</td>'
        f'<td class="unit">{escape(unit)}</td>'
        f'<td class="quality{" quality-bad" if bad else ""}">{escape(quality)}</td>'
        f'<td class="age"></td></tr>'
    )


def _device_stats(figures: ReadFigures, alias: str) -> ReadStats | None:
    known = figures.devices.get(alias)
    return None if known is None else known[2]


def _series_choice(info: SignalInfo, checked: bool) -> str:
    text = f"{info.device} / {info.signal}"
    unit = f' data-unit="{_attr(info.unit)}"' if info.unit else ""
    return (
        f'    <label class="choice"><input type="checkbox" data-device="{_attr(info.device)}" '
        f'data-signal="{_attr(info.signal)}"{unit}{" checked" if checked else ""}>'
        f"{escape(text)}</label>"
    )


_ENERGY_LABEL = {Role.IMPORT: "import", Role.EXPORT: "export"}


def _energy_card(view: DeviceView, roles: list[tuple[SignalInfo, Role]]) -> str:
    """The skeleton of a device's energy card; ``view.js`` fills it from ``/api/energy``."""
    registers = [f"{info.signal}:{role.value}" for info, role in roles]
    return (
        f'<article class="card" data-device="{_attr(view.alias)}" '
        f'data-signals="{_attr(" ".join(registers))}">\n'
        f"  <header><h3>{escape(view.name)}</h3>"
        f'<span class="alias">{escape(view.alias)}</span></header>\n'
        '  <p class="power" hidden><span class="label">now</span> '
        '<span class="v">—</span> <span class="u"></span></p>\n'
        '  <dl class="totals">'
        '<div data-period="day"><dt>today</dt><dd></dd></div>'
        '<div data-period="week"><dt>this week</dt><dd></dd></div>'
        '<div data-period="month"><dt>this month</dt><dd></dd></div></dl>\n'
        '  <p class="note" hidden></p>\n'
        '  <div class="bars" role="img"></div>\n'
        "</article>"
    )


def _energy_cards(state: LiveState) -> tuple[list[str], list[DeviceView]]:
    """The first :data:`MAX_CARDS` cards, and every device that has one to show."""
    devices: list[DeviceView] = []
    cards: list[str] = []
    for view in state.devices.values():
        roles = state.energy_roles(view.alias)
        if not any(role in _ENERGY_LABEL for _, role in roles):
            continue
        devices.append(view)
        if len(cards) < MAX_CARDS:
            cards.append(_energy_card(view, roles))
    return cards, devices


def _plotted_first(state: LiveState, devices: list[DeviceView]) -> set[tuple[str, str]]:
    """The signals checked for the plot when the page opens: the logged power of the
    energy cards' devices, else the first logged signal."""
    chosen = {
        (view.alias, info.signal)
        for view in devices[:MAX_CARDS]
        for info, role in state.energy_roles(view.alias)
        if role is Role.POWER and info.logged
    }
    if not chosen:
        first = next((i for i in state.signals.values() if i.logged), None)
        if first is not None:
            chosen.add((first.device, first.signal))
    return chosen


def render_page(
    state: LiveState,
    outputs: Mapping[str, OutputHealth] | None = None,
    *,
    now: datetime | None = None,
    figures: ReadFigures | None = None,
) -> str:
    """The whole page: energy cards, a plot choice per logged signal, every configured
    signal (and any other signal that sent a value), every device (with its read
    figures), the shard's and every throttle group's read figures, every output's
    health."""
    figures = figures or ReadFigures()
    rows: list[str] = []
    seen: set[tuple[str, str]] = set()
    for key, info in state.signals.items():
        update = state.latest.get(key)
        title = signal_title(info, state.devices.get(info.device), update)
        rows.append(_signal_row(info.device, info.signal, title, update))
        seen.add(key)
    for key, update in state.latest.items():
        if key not in seen:
            rows.append(_signal_row(key[0], key[1], key[1], update))
    cards, energy_devices = _energy_cards(state)
    more = ""
    if len(energy_devices) > MAX_CARDS:
        options = "".join(
            f'<option value="{_attr(v.alias)}">{escape(v.name)}</option>' for v in energy_devices
        )
        more = (
            f'<label class="more">{len(energy_devices)} devices: show '
            f'<select id="energy-device"><option value=""></option>{options}</select></label>'
        )
    plotted = _plotted_first(state, energy_devices)
    choices = [
        _series_choice(i, (i.device, i.signal) in plotted)
        for i in state.signals.values()
        if i.logged
    ]
    now = now or datetime.now(UTC)
    return _template().substitute(
        rendered=escape(now.isoformat(timespec="seconds")),
        energy_hidden="" if cards else " hidden",
        energy_cards="\n".join(cards),
        energy_more=more,
        device_rows="\n".join(
            _device_row(v, _device_stats(figures, v.alias)) for v in state.devices.values()
        ),
        reads_rows=_reads_rows(figures),
        output_rows="\n".join(_output_row(n, h) for n, h in (outputs or {}).items()),
        signal_rows="\n".join(rows),
        series_choices="\n".join(choices),
    )
