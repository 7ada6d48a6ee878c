"""The /api/signals body kept between updates: always the bytes a fresh encoding gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from obisgate.gateway.outputs.http.state import LiveState
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import STATUS_SIGNAL, SignalUpdate

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def fresh(state: LiveState, device: str | None) -> bytes:
    return json.dumps(state.signal_list(device), ensure_ascii=False, default=str).encode()


def update(device: str, signal: str, value: object, n: int) -> SignalUpdate:
    return SignalUpdate(device, signal, value, "kWh", T0 + timedelta(seconds=n), Quality.VALID)


def test_the_body_is_kept_until_a_signal_of_it_changes() -> None:
    state = LiveState.of([("a", "A"), ("b", "B")], [])
    state.apply([update("a", "e", 1.5, 0), update("a", "ü", "text", 0)])
    state.apply(
        [update("b", "e", 2.5, 0), SignalUpdate("b", STATUS_SIGNAL, "ok", None, T0, Quality.VALID)]
    )
    whole, only_a, only_b = (state.signals_body(d) for d in (None, "a", "b"))
    assert (whole, only_a, only_b) == tuple(fresh(state, d) for d in (None, "a", "b"))
    assert state.signals_body() is whole  # kept, not encoded again
    state.apply([update("b", "e", 3.5, 1)])
    assert state.signals_body("a") is only_a  # a's signals did not change
    assert state.signals_body("b") == fresh(state, "b") != only_b
    assert state.signals_body() == fresh(state, None) != whole
    assert state.signals_body("nobody") == b"[]"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["a", "b", "c"]),
                st.sampled_from(["e", "p", STATUS_SIGNAL]),
                st.one_of(st.none(), st.floats(allow_nan=False), st.text(max_size=3)),
            ),
            max_size=4,
        ),
        max_size=8,
    ),
    st.lists(st.sampled_from([None, "a", "b", "c"]), min_size=1, max_size=8),
)
def test_the_kept_body_always_equals_a_fresh_encoding(
    batches: list[list[tuple[str, str, object]]], asks: list[str | None]
) -> None:
    state = LiveState.of([("a", "A"), ("b", "B"), ("c", "C")], [])
    for n, batch in enumerate(batches):
        state.apply([update(d, s, v, n) for d, s, v in batch])
        for device in asks:
            assert state.signals_body(device) == fresh(state, device)
