"""Read plans: sizes, wire-time estimates, the choice, and the plans they read with."""

from __future__ import annotations

import dataclasses

import pytest

from obisgate import (
    DlmsOptions,
    ObjectSpec,
    ProgrammingOptions,
    ReadoutOptions,
    make_scheme,
    parse_obis,
    parse_readout,
)
from obisgate.gateway.plan import DevicePlan, DlmsPlan, ListRequest, ProgrammingPlan, SignalPlan
from obisgate.gateway.readplan import (
    DevicePlanner,
    ReadKind,
    ReadSize,
    alternatives,
    choose,
    data_baud,
    readout_bytes,
    record_size,
)
from obisgate.simulator import get_profile
from obisgate.transport.base import LineSettings

LARGE = get_profile("large")
#: The large meter's last readout: 8162 bytes, 323 data sets, at 9600 Bd.
LARGE_SIZE = ReadSize(8162, 323, 9600, "/LGZ5ZMD4104107.B26")


def chars(n: float, baud: int) -> float:
    return n * 10 / baud


def programming() -> ProgrammingPlan:
    return ProgrammingPlan(
        options=ProgrammingOptions(sign_on=ReadoutOptions(address="61234567", option="1")),
        scheme=lambda: make_scheme("none", None),
    )


def device(
    *signals: SignalPlan,
    registers: bool = True,
    lists: tuple[ListRequest, ...] = (),
    by_command: ProgrammingPlan | None = None,
) -> DevicePlan:
    return DevicePlan(
        alias="large",
        url="tcp://127.0.0.1:1",
        port_key="tcp://127.0.0.1:1",
        line=LineSettings(),
        options=ReadoutOptions(address="61234567"),
        signals=signals,
        registers=programming() if registers else None,
        lists=lists,
        programming=by_command,
    )


E1 = SignalPlan(alias="import1", tag="1.8.0*01")
E2 = SignalPlan(alias="export1", tag="2.8.0*01")
E3 = SignalPlan(alias="reactive1", tag="5.8.0*01")
ID = SignalPlan(alias="serial", tag="C.1.0")


@pytest.mark.parametrize("name", ["mt174", "e350", "large", "kamstrup", "ce301"])
def test_readout_bytes_is_the_size_of_the_data_message(name: str) -> None:
    profile = get_profile(name)
    message = profile.data_message()
    readout = parse_readout(message, bcc_method=profile.bcc_method)
    # The estimate counts CR LF line ends and '!' on a line of its own: a meter that glues
    # '!' to its last line (kamstrup) sends those two bytes fewer.
    glued = 2 if profile.glued_end else 0
    assert profile.line_end == "\r\n"
    assert readout_bytes(readout.datasets) == len(message) + glued


def test_the_data_rate_follows_the_identification_and_the_options() -> None:
    ident = parse_readout(
        b"/LGZ5ZMD\r\n\x021.8.0(1)\r\n!\r\n\x03\x00", verify_bcc=False
    ).identification
    assert ident is not None
    assert data_baud(ReadoutOptions(), ident) == 9600
    assert data_baud(ReadoutOptions(max_baud=2400), ident) == 2400
    assert data_baud(ReadoutOptions(force_baud=4800), ident) == 4800
    assert data_baud(ReadoutOptions(switch_baud=False), ident) == 300
    assert data_baud(ReadoutOptions(), None) == 300


def test_the_readout_estimate_counts_every_byte_and_the_reaction_times() -> None:
    (readout, registers) = alternatives(device(E1, E2, E3), (E1, E2, E3), LARGE_SIZE)
    assert readout.kind is ReadKind.READOUT
    assert readout.request == "/?61234567!"
    # request and identification at 300 Bd, tr, our t2 (200 ms by default) and ACK 0 5 0,
    # tr, data at 9600.
    expected = (
        chars(len("/?61234567!\r\n"), 300)
        + 0.2
        + chars(len("/LGZ5ZMD4104107.B26\r\n"), 300)
        + 0.2
        + chars(6, 300)
        + 0.2
        + chars(8162, 9600)
    )
    assert readout.seconds == pytest.approx(expected)
    # Sign-on, P0, password, three reads of about a line each and the break, at 9600 Bd.
    assert registers.kind is ReadKind.REGISTERS
    assert registers.request == "R1 x 3"
    assert registers.seconds is not None
    assert 3.0 < registers.seconds < 4.5
    assert choose([readout, registers]) is registers


def test_without_a_recorded_readout_the_readout_is_read_first() -> None:
    found = alternatives(device(E1, E2, E3), (E1, E2, E3), None)
    assert "no readout recorded yet" in found[0].why
    assert choose(found, sized=False).kind is ReadKind.READOUT


def test_many_registers_cost_more_than_the_readout() -> None:
    signals = tuple(SignalPlan(alias=f"s{i}", tag=f"1.8.0*{i:02d}") for i in range(1, 60))
    found = alternatives(device(*signals), signals, LARGE_SIZE)
    assert choose(found).kind is ReadKind.READOUT


def test_a_list_holding_every_due_signal_is_cheaper_than_the_readout() -> None:
    listed = ListRequest("/2", frozenset({"1.8.0*01", "2.8.0*01"}))
    plan = device(E1, E2, ID, registers=False, lists=(listed,))
    readout, listing = alternatives(plan, (E1, E2), LARGE_SIZE)
    assert listing.kind is ReadKind.LIST
    assert listing.request == "/261234567!"
    assert listing.usable and listing.seconds is not None and readout.seconds is not None
    assert listing.seconds < readout.seconds
    chosen = choose([readout, listing])
    assert chosen is listing
    assert chosen.plan is not None
    assert chosen.plan.options.request_start == "/2"
    assert chosen.plan.signals == (E1, E2)
    # Once a list was read its own size counts.
    recorded = dataclasses.replace(LARGE_SIZE, lists=(("/2", 40),))
    _, again = alternatives(plan, (E1, E2), recorded)
    assert again.seconds is not None
    assert again.seconds < listing.seconds
    assert again.why == "last answer 40 bytes"


def test_a_list_without_a_due_signal_is_not_usable() -> None:
    listed = ListRequest("/2", frozenset({"1.8.0*01"}))
    plan = device(E1, ID, registers=False, lists=(listed,))
    _, listing = alternatives(plan, (E1, ID), LARGE_SIZE)
    assert not listing.usable
    assert listing.why == "does not hold C.1.0"
    assert listing.plan is None


def test_register_reads_stop_after_a_refused_password() -> None:
    found = alternatives(device(E1), (E1,), LARGE_SIZE, access_denied=True)
    assert [a.kind for a in found] == [ReadKind.READOUT, ReadKind.REGISTERS]
    assert not found[1].usable
    assert "refused" in found[1].why
    assert choose(found).kind is ReadKind.READOUT


def test_signals_read_by_command_add_their_session_to_the_readout() -> None:
    command = SignalPlan(alias="secret", tag="0.9.9", by_command=True)
    plain = device(E1, registers=False)
    with_command = device(E1, command, registers=False, by_command=programming())
    (alone,) = alternatives(plain, (E1,), LARGE_SIZE)
    (both,) = alternatives(with_command, (E1, command), LARGE_SIZE)
    assert alone.seconds is not None and both.seconds is not None
    assert both.seconds > alone.seconds + 1.0
    assert both.plan is not None and both.plan.programming is not None
    # Only the command signal due: the programming session alone, no readout.
    (only,) = alternatives(with_command, (command,), LARGE_SIZE)
    assert only.kind is ReadKind.REGISTERS
    assert only.plan is not None and not only.plan.needs_readout


def test_register_reads_read_every_due_signal_by_command() -> None:
    plan = device(E1, E2, E3)
    chosen = choose(alternatives(plan, (E1, E3), LARGE_SIZE))
    assert chosen.kind is ReadKind.REGISTERS
    assert chosen.plan is not None
    assert [s.tag for s in chosen.plan.signals] == ["1.8.0*01", "5.8.0*01"]
    assert all(s.by_command for s in chosen.plan.signals)
    assert chosen.plan.command_tags == ("1.8.0*01", "5.8.0*01")
    assert chosen.plan.programming is plan.registers


def test_everything_by_readout_is_the_device_plan_itself() -> None:
    plan = device(E1, E2, registers=False)
    (readout,) = alternatives(plan, plan.signals, LARGE_SIZE)
    assert readout.plan is plan


def test_a_dlms_poll_reads_only_the_due_objects() -> None:
    energy = SignalPlan(alias="energy", tag="1-0:1.8.0*255")
    power = SignalPlan(alias="power", tag="1-0:1.7.0*255")
    objects = (ObjectSpec(parse_obis("1.8.0"), 3), ObjectSpec(parse_obis("1.7.0"), 3))
    plan = dataclasses.replace(
        device(energy, power, registers=False),
        dlms=DlmsPlan(options=DlmsOptions(), objects=objects, mode_e=True),
    )
    (association,) = alternatives(plan, (power,), None)
    assert association.kind is ReadKind.ASSOCIATION
    assert association.plan is not None and association.plan.dlms is not None
    assert association.plan.dlms.objects == (objects[1],)
    assert association.plan.signals == (power,)


def test_the_size_record_changes_only_when_the_readout_does() -> None:
    options = ReadoutOptions(address="61234567")
    readout = parse_readout(
        b"/LGZ5ZMD\r\n\x02" + LARGE.data_block() + b"\x03\x00", verify_bcc=False
    )
    first = record_size(None, readout, options, ReadKind.READOUT)
    assert first is not None
    assert (first.datasets, first.baud, first.identification) == (323, 9600, "/LGZ5ZMD")
    assert record_size(first, readout, options, ReadKind.READOUT) is first
    listed = parse_readout(b"\x02" + LARGE.data_block("/2") + b"\x03\x00", verify_bcc=False)
    with_list = record_size(
        first, listed, dataclasses.replace(options, request_start="/2"), ReadKind.LIST
    )
    assert with_list is not None
    assert with_list.list_bytes("/2") == len(LARGE.data_message(request_start="/2"))
    assert with_list.data_bytes == first.data_bytes


def test_the_planner_keeps_its_choice_until_the_size_changes() -> None:
    plan = dataclasses.replace(
        device(E1, dataclasses.replace(E2, scan_rate_s=900.0)), scan_rate_s=10.0
    )
    planner = DevicePlanner(plan)
    assert plan.rate_periods == (10.0, 900.0)
    assert planner.due(0b01) == (E1,)
    assert [s.alias for s in planner.due(0b11)] == ["import1", "export1"]
    unknown = planner.choice(0b01, None, False)
    assert unknown is not None and unknown.kind is ReadKind.READOUT
    known = planner.choice(0b01, LARGE_SIZE, False)
    assert known is not None and known.kind is ReadKind.REGISTERS
    assert planner.choice(0b01, LARGE_SIZE, False) is known
    denied = planner.choice(0b01, LARGE_SIZE, True)
    assert denied is not None and denied.kind is ReadKind.READOUT
