"""Signal updates built through their slots are the dataclass's own objects."""

from __future__ import annotations

from datetime import UTC, datetime

from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate, signal_update


def test_signal_update_builds_what_the_constructor_builds() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    args = ("m1", "energy", 12.5, "kWh", now, Quality.VALID)
    assert signal_update(*args) == SignalUpdate(*args)
    full = (*args, "0012.5", True, "71234567")
    built = signal_update(*full)
    assert built == SignalUpdate(*full)
    assert (built.raw, built.log, built.serial) == ("0012.5", True, "71234567")
    assert hash(built) == hash(SignalUpdate(*full))
