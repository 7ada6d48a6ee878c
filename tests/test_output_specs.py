"""The list of output specs is the only registry, and the Output contract is typed.

* every output is one package with one spec, and the spec list
  (``gateway/outputs/registry.py``) is the only place outside that package where
  it is named: no module of obisgate spells an output's section name (a string
  ``"mqtt"``, ``"[mqtt] ..."``, ``"mqtt.csv"``, an attribute or keyword ``mqtt``);
* every output class is concrete (all of :class:`Output`'s methods defined), and
  ``mypy --strict`` refuses an output that misspells one of them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from obisgate.gateway.config_build import table_fields
from obisgate.gateway.outputs.base import Output
from obisgate.gateway.outputs.registry import OUTPUT_SPECS

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
OUTPUTS = "obisgate.gateway.outputs"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


#: Where the same word means something else than a section, by module: the URL scheme
#: ``postgres://`` of a DSN.
NOT_THE_SECTION = {("obisgate.gateway.readings.dsn", "postgres")}


def _not_names(tree: ast.Module) -> set[int]:
    """The ids of the string constants that cannot name a section: docstrings (of the
    module, classes, functions), ``__all__`` entries (Python names) and the arguments of
    ``require_extra`` (an extra's name, which may be the same word, and a label)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            found.update(id(child) for child in ast.walk(node.value))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "require_extra"
        ):
            found.update(id(child) for arg in node.args for child in ast.walk(arg))
    return found


def mentions(tree: ast.Module, name: str) -> list[tuple[int, str]]:
    """Where ``tree`` names the section ``name``: (line, what)."""
    skipped = _not_names(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if id(node) in skipped:
                continue
            if text == name or f"[{name}]" in text or text.lower() == f"{name}.csv":
                found.append((node.lineno, repr(text)))
        elif isinstance(node, ast.Attribute) and node.attr == name:
            found.append((node.lineno, f".{name}"))
        elif isinstance(node, ast.keyword) and node.arg == name:
            found.append((node.lineno, f"{name}="))
    return found


def test_one_spec_per_output_package_names_unique() -> None:
    names = [spec.name for spec in OUTPUT_SPECS]
    assert len(set(names)) == len(names)
    for spec in OUTPUT_SPECS:
        package = f"{OUTPUTS}.{spec.name}"
        assert spec.model.__module__.startswith(package + "."), spec.name
        assert (SRC / Path(*package.split(".")) / "spec.py").is_file(), spec.name
        if spec.columns is not None:
            assert spec.columns.model.__module__.startswith(package + "."), spec.name
    table_fields(OUTPUT_SPECS)  # raises when sections or signal columns clash


def test_the_spec_list_is_the_only_place_an_output_is_named() -> None:
    found: list[str] = []
    for path in sorted((SRC / "obisgate").rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for spec in OUTPUT_SPECS:
            if module.startswith(f"{OUTPUTS}.{spec.name}."):
                continue  # its own package
            if (module, spec.name) in NOT_THE_SECTION:
                continue
            found += [f"{module}:{line}: {what}" for line, what in mentions(tree, spec.name)]
    assert found == []


def test_the_check_sees_what_it_must() -> None:
    """Not vacuous: each form of naming a section is found; docstrings, an extra's name
    and ``__all__`` are not."""
    tree = ast.parse(
        textwrap.dedent('''\
            """About [mqtt]."""
            def f(config):
                """The mqtt section."""
                a = "mqtt"
                b = f"[mqtt] url: {a}"
                c = config.mqtt
                d = make(mqtt=1)
                e = "MQTT.csv"
                require_extra("aiomqtt", "mqtt", "mqtt")
                return "mqtt://broker", "obisgate.sink.mqtt"
            __all__ = ["mqtt"]
        ''')
    )
    assert sorted(line for line, _ in mentions(tree, "mqtt")) == [4, 5, 6, 7, 8]


def _output_classes() -> list[type[Output]]:
    """Every Output subclass of obisgate, its modules imported first."""
    for path in sorted((SRC / "obisgate" / "gateway" / "outputs").rglob("*.py")):
        importlib.import_module(_module_name(path))
    found: list[type[Output]] = []
    todo = list(Output.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("obisgate."):
            found.append(cls)
    return found


def test_every_output_defines_the_whole_contract() -> None:
    classes = _output_classes()
    names = {cls.__name__ for cls in classes}
    assert {"MqttOutput", "HttpOutput", "ModbusOutput", "Iec104Output", "OpcUaOutput"} <= names
    assert {"HistoryOutput", "JsonLinesOutput", "TableOutput"} <= names
    contract = {"start", "publish", "publish_many", "aclose", "health"}
    assert Output.__abstractmethods__ == contract
    for cls in classes:
        if inspect.isabstract(cls):  # a shared base (ListeningOutput): only with outputs below
            assert cls.__subclasses__(), cls
            continue
        for method in contract:
            found = getattr(cls, method)
            assert found is not getattr(Output, method), f"{cls.__name__} lacks {method}"
            assert inspect.signature(found).return_annotation != inspect.Signature.empty


MISSPELT = """\
from collections.abc import Sequence

from obisgate.gateway.outputs.base import Output, publish_each
from obisgate.gateway.outputs.health import HealthRecord, OutputHealth
from obisgate.gateway.updates import SignalUpdate


class Complete(Output):
    name = "complete"

    async def start(self) -> None:
        pass

    async def publish(self, updates: Sequence[SignalUpdate]) -> None:
        pass

    async def publish_many(self, batches: Sequence[Sequence[SignalUpdate]]) -> None:
        await publish_each(self, batches)

    async def aclose(self) -> None:
        pass

    def health(self) -> OutputHealth:
        return HealthRecord().health()

"""


@pytest.mark.parametrize("typo", [("start", "strat"), ("publish_many", "publish_mnay")])
def test_mypy_strict_refuses_an_output_with_a_misspelt_method(
    tmp_path: Path, typo: tuple[str, str]
) -> None:
    right, wrong = typo
    broken = MISSPELT.replace("class Complete", "class Broken").replace(
        f"def {right}(", f"def {wrong}("
    )
    program = tmp_path / "outputs_under_test.py"
    program.write_text(
        MISSPELT
        + broken.split("\n\n\n", 1)[1]
        + "\n\nOUTPUTS: list[Output] = [Complete(), Broken()]\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--config-file", os.devnull,
         "--cache-dir", os.devnull, str(program)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, result.stdout
    assert (
        f'Cannot instantiate abstract class "Broken" with abstract attribute "{right}"'
        in (errors[0])
    )


def test_only_the_outputs_that_keep_a_history_take_backfill() -> None:
    # Backfilled intervals are the past: a live view or a SCADA server (Modbus, IEC 104,
    # OPC UA) must never show one as its current value, so none of them gets any.
    taking = {cls.__name__ for cls in _output_classes() if cls.takes_backfill}
    assert taking == {"HistoryOutput", "MqttOutput", "PostgresOutput"}


def test_the_durable_outputs_are_the_stores() -> None:
    # The live outputs show a reading only after these have it (Fanout): each keeps what
    # it was given across a kill -9, so a reading that was shown is never lost.
    durable = {cls.__name__ for cls in _output_classes() if cls.durable}
    assert durable == {"HistoryOutput", "MqttOutput", "PostgresOutput"}
