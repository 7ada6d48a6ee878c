"""Logins (anonymous on loopback, users over secured channels, scrypt rationed) and units."""

from __future__ import annotations

from obisgate.gateway.outputs.opcua.logins import Logins
from obisgate.gateway.outputs.opcua.units import Unit, unit_id, unit_of
from obisgate.gateway.outputs.opcua.users import hash_password

STORED = hash_password("pw")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_anonymous_only_where_allowed() -> None:
    assert Logins({}, anonymous=True).check(None, None, secured=False)
    refusing = Logins({}, anonymous=False)
    assert not refusing.check(None, None, secured=True)
    assert refusing.refused == 1


def test_users_only_over_a_secured_channel() -> None:
    logins = Logins({"scada": STORED}, anonymous=False)
    assert not logins.check("scada", "pw", secured=False)
    assert logins.check("scada", "pw", secured=True)
    assert not logins.check("scada", "PW", secured=True)
    assert not logins.check("nobody", "pw", secured=True)
    assert logins.refused == 3


def test_password_checks_are_rationed_and_a_known_login_costs_nothing() -> None:
    clock = Clock()
    logins = Logins({"scada": STORED}, anonymous=False, per_second=1.0, burst=2, clock=clock)
    assert logins.check("scada", "pw", secured=True)  # one scrypt
    assert not logins.check("scada", "wrong", secured=True)  # the second
    assert not logins.check("scada", "wrong", secured=True)  # none left: not even hashed
    assert logins.throttled == 1
    assert logins.check("scada", "pw", secured=True)  # remembered: no scrypt needed
    clock.now += 1.0
    assert not logins.check("scada", "wrong", secured=True)
    assert logins.throttled == 1


def test_units() -> None:
    assert unit_id("KWH") == 0x4B5748
    assert unit_id("P1") == 0x5031
    assert unit_of("kWh") == Unit(0x4B5748, "kWh", "kilowatt hour")
    assert unit_of(" m³ ") == Unit(unit_id("MTQ"), "m³", "cubic metre")
    assert unit_of("MW") == Unit(unit_id("MAW"), "MW", "megawatt")
    assert unit_of("mW") == Unit(-1, "mW", "mW")  # not megawatt: case matters
    assert unit_of("kvarh") == Unit(-1, "kvarh", "kvarh")
    assert unit_of("") is None
    assert unit_of(None) is None
