"""The README's examples of derived and guarded signals load as written."""

from __future__ import annotations

import re
from pathlib import Path

from obisgate.gateway.config import load_config
from obisgate.gateway.processing.build import processing_plan
from obisgate.gateway.processing.guards import GuardRules

README = Path(__file__).resolve().parents[2] / "README.md"

DEVICES = """
[[devices]]
device_alias = "house"
ip = "127.0.0.1"
port = 4001

[[devices]]
device_alias = "garage"
ip = "127.0.0.1"
port = 4002
"""


def read(device: str, alias: str, tag: str, extra: str = "") -> str:
    return (
        f'[[signals]]\ndevice_alias = "{device}"\nsignal_alias = "{alias}"\n'
        f'tag_job_todo = "{tag}"\nnumber_type = "DOUBLE"\n{extra}\n'
    )


def toml_blocks(section: str) -> list[str]:
    """The ```toml blocks of the README section (### heading) ``section``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"### {section}\n")
    end = text.index("\n### ", start + 1)
    return re.findall(r"```toml\n(.*?)```", text[start:end], re.S)


def test_the_derived_and_guarded_examples_load(tmp_path: Path) -> None:
    (derived,) = toml_blocks("Derived signals")
    (guarded,) = toml_blocks("Guards")
    signals = "".join(
        [
            read("house", "energy_export", "2.8.0", 'unit = "kWh"'),
            read("house", "power", "16.7.0"),
            read("house", "flags", "C.5.0"),
            *(read("house", f"power_l{n}", f"{20 * n + 1}.7.0") for n in (1, 2, 3)),
            read("garage", "energy_import", "1.8.0"),
        ]
    )
    path = tmp_path / "site.toml"
    path.write_text(DEVICES + signals + guarded + derived, encoding="utf-8")
    config = load_config(path)
    plan = processing_plan(config)
    assert {spec.key[1] for spec in plan.derived} == {
        "energy_net",
        "power_signed",
        "power_total",
        "site_import",
        "power_avg",
    }
    assert plan.guards[("house", "energy_import")] == GuardRules(max_rate=50)
