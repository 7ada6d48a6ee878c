"""The web view's tooltip of a signal: its name, a description, its address."""

from __future__ import annotations

from obisgate.gateway.outputs.http.page import signal_title
from obisgate.gateway.outputs.http.state import DeviceView, SignalInfo
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

from .support import T0


def info(tag: str, description: str = "", unit: str | None = None) -> SignalInfo:
    return SignalInfo("m1", "q", "Heat", unit, False, tag, description)


def test_the_configured_description_wins() -> None:
    assert signal_title(info("1.8.0", "Bezug, Zähler im Keller")) == (
        "Heat\nBezug, Zähler im Keller\n1.8.0"
    )


def test_the_catalogue_describes_by_the_meters_maker_and_unit() -> None:
    heat_meter = DeviceView("m1", "m1")
    heat_meter.record("ok", T0, "/LUGCUH50")
    assert heat_meter.identification == "/LUGCUH50"
    assert signal_title(info("6.8"), heat_meter) == "Heat\nHeat energy (meter reading)\n6.8"
    # Without the identification, 6.8 is an electricity meter's reactive energy ...
    assert signal_title(info("6.8")) == "Heat\nReactive energy in quadrant II, total\n6.8"
    # ... unless the unit the meter sent contradicts that: then nothing is claimed.
    sent = SignalUpdate("m1", "q", 1.5, "MWh", T0, Quality.VALID)
    assert signal_title(info("6.8"), None, sent) == "Heat\n6.8"


def test_a_failed_readout_keeps_the_last_identification() -> None:
    view = DeviceView("m1", "m1")
    view.record("ok", T0, "/LUGCUH50")
    view.record("no answer", T0, None)
    assert view.identification == "/LUGCUH50"


def test_unknown_address_and_no_address() -> None:
    assert signal_title(info("96.99.99")) == "Heat\n96.99.99"
    assert signal_title(info("")) == "Heat"
