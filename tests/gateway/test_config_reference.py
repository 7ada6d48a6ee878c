"""docs/configuration.md is generated from the models' field descriptions and cannot drift."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import BaseModel

from obisgate.gateway.config_models import (
    DeviceConfig,
    OutputConfig,
    SignalConfig,
    SignalProcessing,
    StorageConfig,
)
from obisgate.gateway.config_reference import is_stale, render_reference, write_reference
from obisgate.gateway.outputs.registry import OUTPUT_SPECS

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def every_model() -> list[type[BaseModel]]:
    models: list[type[BaseModel]] = [
        DeviceConfig,
        SignalConfig,
        SignalProcessing,
        StorageConfig,
        OutputConfig,
    ]
    for spec in OUTPUT_SPECS:
        models.append(spec.model)
        if spec.columns is not None:
            models.append(spec.columns.model)
    return models


def test_the_committed_reference_is_the_generated_one() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == render_reference(), (
        "docs/configuration.md is stale: run scripts/config-reference"
    )


@pytest.mark.parametrize("model", every_model(), ids=lambda m: m.__name__)
def test_every_field_is_described_and_listed(model: type[BaseModel]) -> None:
    text = render_reference()
    for name, field in model.model_fields.items():
        if name in ("output_columns", "processing"):  # not columns: they hold columns
            continue
        assert field.description, f"{model.__name__}.{name} has no description"
        assert f"- **`{name}`** (" in text, f"{model.__name__}.{name} is not in the reference"


def test_every_output_section_is_in_the_reference() -> None:
    text = render_reference()
    for spec in OUTPUT_SPECS:
        assert f"`[{spec.name}]` · sheet `{spec.name}` (any case) · `{spec.name}.csv`" in text
        assert spec.summary in text


def test_a_stale_file_is_told(tmp_path: Path) -> None:
    path = tmp_path / "configuration.md"
    assert is_stale(path)  # missing
    write_reference(path)
    assert path.read_text(encoding="utf-8") == render_reference()
    assert not is_stale(path)
    path.write_text(render_reference().replace("Milliseconds", "Seconds"), encoding="utf-8")
    assert is_stale(path)


def test_the_script_checks_and_writes() -> None:
    script = REFERENCE.parents[1] / "scripts" / "config-reference"
    checked = subprocess.run([str(script), "--check"], capture_output=True, text=True, check=False)
    assert (checked.returncode, checked.stderr) == (0, "")
    wrong = subprocess.run([str(script), "--nope"], capture_output=True, text=True, check=False)
    assert (wrong.returncode, wrong.stderr) == (1, "usage: scripts/config-reference [--check]\n")
