"""What recipes and the OBIS catalogue cost: per readout in the core, per lookup.

Run:  .venv/bin/python bench/bench_recipes.py [--rounds 1000]

Prints, on the identifications of the built-in profiles (plus a ZMD120 that a
recipe changes):

* a whole mode C readout through the sans-IO ``ReadoutClient`` (request,
  identification, acknowledgement, a 9-line data message) without rules and with
  obisgate's recipe table: the difference is what recipes cost per readout;
* matching the table against an identification (what the gateway also does once
  per poll, to log a change of recipes);
* ``obisgate.obis.describe`` for the 26 addresses of the mt174 profile, cold (the
  cache cleared each round) and warm;
* what the gateway's outputs add per signal with the catalogue: the web view's tooltip
  (per signal row of a page) and a Home Assistant entity name (per discovery config).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from obisgate.gateway.outputs.http.page import signal_title
from obisgate.gateway.outputs.http.state import DeviceView, SignalInfo
from obisgate.gateway.outputs.mqtt.ha_discovery import DiscoverySignal, entity_name
from obisgate.obis import catalogue
from obisgate.protocol.client import ReadoutClient, ReadoutOptions
from obisgate.protocol.identification import Identification
from obisgate.protocol.recipes import RecipeRules
from obisgate.recipes import builtin_recipes
from obisgate.simulator import builtin_profiles, get_profile


def per_call_us(*fns: Callable[[], object], rounds: int, runs: int = 30) -> list[float]:
    """Microseconds per call of each of ``fns``: the best of ``runs`` short runs, the
    functions taking turns (so a busy moment of the shared machine hits them alike)."""
    best = [float("inf")] * len(fns)
    for _ in range(runs):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            for _ in range(rounds):
                fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return [b / rounds * 1e6 for b in best]


def readout(identification: bytes, data: bytes, rules: RecipeRules | None) -> None:
    client = ReadoutClient(ReadoutOptions(), rules)
    client.start()
    client.receive_data(identification)
    client.receive_data(data)
    assert client.result is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    args = parser.parse_args()
    rounds = args.rounds
    book = builtin_recipes()
    rules = book.rules()
    e350 = get_profile("e350")
    data = e350.data_message()
    zmd = e350.replace(enhanced="\\2", identification="ZMD120APt.G03")

    print(f"recipes: {len(book.entries)} in obisgate's table; best of 30 runs of {rounds} calls")
    print(f"{'identification':28} {'readout, no rules':>18} {'with recipes':>13} {'match':>8}")
    profiles = [*builtin_profiles().values(), zmd]
    for profile in profiles:
        if profile.protocol_mode.value not in ("C", "E"):
            continue
        ident = profile.identification_message()
        parsed = Identification.parse(ident.decode("latin-1").rstrip())
        plain, with_rules, match = per_call_us(
            partial(readout, ident, data, None),
            partial(readout, ident, data, rules),
            partial(rules.matching, parsed),
            rounds=rounds,
        )
        shown = ident.decode("latin-1").rstrip()
        print(f"{shown:28} {plain:15.1f} us {with_rules:10.1f} us {match:5.1f} us")

    addresses = [ds.address for ds in get_profile("mt174").datasets]

    def cold() -> None:
        catalogue.describe.cache_clear()
        for address in addresses:
            catalogue.describe(address)

    def warm() -> None:
        for address in addresses:
            catalogue.describe(address)

    cold_us, warm_us = (
        t / len(addresses) for t in per_call_us(cold, warm, rounds=max(rounds // 20, 50))
    )
    print(f"obis.describe: {cold_us:.1f} us per address cold, {warm_us:.2f} us warm (cached)")

    view = DeviceView("m1", "m1")
    view.record("ok", datetime.now(UTC), "/ISk5MT174-0001")
    infos = [SignalInfo("m1", f"s{i}", f"s{i}", None, False, a) for i, a in enumerate(addresses)]
    signals = [DiscoverySignal(f"s{i}", f"s{i}", None, tag=a) for i, a in enumerate(addresses)]

    def titles() -> None:
        for info in infos:
            signal_title(info, view)

    def names() -> None:
        for signal in signals:
            entity_name(signal, "ISK")

    title_us, name_us = (
        t / len(addresses) for t in per_call_us(titles, names, rounds=max(rounds // 20, 50))
    )
    print(f"web view tooltip: {title_us:.2f} us per signal; HA entity name: {name_us:.2f} us")


if __name__ == "__main__":
    main()
