"""The simulator's personalities: meters that need a wake-up, the parity bit, a delay
before the rate switch, their own address, or that answer as mode A."""

from __future__ import annotations

import pytest

from obisgate.errors import NoAnswerError, ProtocolError
from obisgate.protocol.chars import add_even_parity
from obisgate.protocol.client import ReadoutOptions
from obisgate.session import read_meter
from obisgate.simulator import Faults, MeterBus, get_profile, serve_tcp
from obisgate.simulator.faults import AWAKE_S, SWITCH_HOLD_S
from obisgate.simulator.meter import Output, Transmit

E350 = get_profile("e350")
REQUEST = b"/?!\r\n"
ACK_4800 = b"\x06040\r\n"


def sent(outputs: list[Output]) -> list[tuple[str, int | None]]:
    return [(o.what, o.baud) for o in outputs if isinstance(o, Transmit)]


def test_a_sleeping_meter_answers_only_after_a_nul_wake_up() -> None:
    bus = MeterBus([E350], Faults(needs_wakeup=True))
    assert bus.receive(REQUEST, 1.0) == []
    assert bus.receive(bytes(19), 2.0) == []  # not enough NULs: still asleep
    assert bus.receive(REQUEST, 2.1) == []
    bus.receive(bytes(66), 10.0)
    assert sent(bus.receive(REQUEST, 11.6)) == [("identification", 300)]
    bus.reset()
    bus.receive(bytes(66), 20.0)
    assert bus.receive(REQUEST, 20.0 + AWAKE_S + 0.1) == []  # asleep again


def test_nuls_right_before_the_request_in_one_chunk_wake_it() -> None:
    bus = MeterBus([E350], Faults(needs_wakeup=True))
    assert sent(bus.receive(bytes(40) + REQUEST, 1.0)) == [("identification", 300)]


def test_a_strict_parity_meter_hears_only_bytes_carrying_their_parity_bit() -> None:
    bus = MeterBus([E350], Faults(strict_parity=True))
    assert bus.receive(REQUEST, 1.0) == []  # '/' and CR need bit 7 set
    outputs = bus.receive(add_even_parity(REQUEST), 3.0)
    assert sent(outputs) == [("identification", 300)]
    # its option select must carry the parity bit too, else it is malformed: 300 Bd
    outputs = bus.receive(ACK_4800, 3.5)
    assert sent(outputs) == [("readout", 300)]


def test_a_meter_that_answers_only_its_own_address() -> None:
    bus = MeterBus([E350], Faults(address_only=True))
    assert bus.receive(REQUEST, 1.0) == []
    outputs = bus.receive(f"/?{E350.address}!\r\n".encode(), 3.0)
    assert sent(outputs) == [("identification", 300)]


def test_a_mode_a_only_meter_sends_its_readout_at_300_right_after_the_identification() -> None:
    bus = MeterBus([E350], Faults(mode_a_only=True))
    outputs = bus.receive(REQUEST, 1.0)
    assert sent(outputs) == [("identification", 300), ("readout", 300)]


@pytest.mark.parametrize(("client_rate", "readout_rate"), [(300, 4800), (4800, 300)])
def test_a_slow_switch_meter_hears_the_option_select_only_if_the_client_waits(
    client_rate: int, readout_rate: int
) -> None:
    bus = MeterBus([E350], Faults(slow_switch=True))
    bus.receive(REQUEST, 1.0)
    assert bus.receive(ACK_4800, 1.5) == []
    assert bus.deadline == pytest.approx(1.5 + SWITCH_HOLD_S)
    outputs = bus.on_timer(1.5 + SWITCH_HOLD_S, client_rate)
    assert sent(outputs) == [("readout", readout_rate)]


@pytest.mark.integration
async def test_a_converter_at_a_fixed_rate_garbles_the_switched_readout() -> None:
    async with await serve_tcp(E350, converter_baud=300) as sim:
        with pytest.raises((ProtocolError, NoAnswerError)):
            await read_meter(sim.url, ReadoutOptions(response_timeout_s=1.0))
        result = await read_meter(sim.url, ReadoutOptions(switch_baud=False))
    assert result.baud == 300
    assert [ds.address for ds in result.readout.datasets] == [d.address for d in E350.datasets]
