"""The layer rules of docs/architecture.md, checked on the source: every import (also
those inside functions and under ``TYPE_CHECKING``) and every call that sleeps.

A module that fits no layer fails the last test: place it in ``LAYERS`` (and in the
architecture document) when adding it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "obisgate"

#: The only standard-library modules the protocol core may import: none of them does I/O,
#: sleeps or reads a clock (``datetime`` is there for its types; calling ``now()`` is
#: refused separately).
PURE_STDLIB = frozenset(
    {
        "__future__",
        "abc",
        "binascii",
        "bisect",
        "codecs",
        "collections",
        "dataclasses",
        "datetime",
        "enum",
        "functools",
        "itertools",
        "math",
        "operator",
        "re",
        "string",
        "struct",
        "types",
        "typing",
    }
)

#: Helpers for the upper layers: not part of the protocol, transports or session.
HELPERS = ("obisgate.backoff", "obisgate.gcpause", "obisgate.mqtt_url", "obisgate.password_config")

#: What the gateway and the sink may import from the library below them (``obisgate.obis``:
#: the OBIS catalogue, data that imports nothing else of obisgate).
LIBRARY_API = ("obisgate", "obisgate.errors", "obisgate.obis", *HELPERS)


@dataclass(frozen=True)
class Layer:
    """Modules under ``prefixes`` may import, of obisgate, only what ``allowed`` names
    (a name allows itself and everything below it, ``obisgate`` alone only the root)."""

    name: str
    prefixes: tuple[str, ...]
    allowed: tuple[str, ...]
    rule: str
    stdlib_only: frozenset[str] | None = None
    third_party: bool = True


LAYERS = (
    Layer(
        "errors",
        ("obisgate.errors",),
        (),
        "the exception tree imports nothing of obisgate",
        third_party=False,
    ),
    Layer(
        "protocol",
        ("obisgate.protocol",),
        ("obisgate.errors", "obisgate.protocol."),
        "protocol/ imports only pure standard modules, obisgate.errors and protocol/",
        stdlib_only=PURE_STDLIB,
        third_party=False,
    ),
    Layer(
        "dlms",
        ("obisgate.dlms",),
        ("obisgate.errors", "obisgate.protocol.", "obisgate.dlms"),
        "dlms/ is a sans-IO core like protocol/: pure standard modules (and decimal), "
        "obisgate.errors, protocol/ and itself",
        stdlib_only=PURE_STDLIB | {"decimal"},
        third_party=False,
    ),
    Layer(
        "transport",
        ("obisgate.transport",),
        ("obisgate.errors", "obisgate.protocol.", "obisgate.transport"),
        "transports import only errors, protocol/ and transport/",
    ),
    Layer(
        "session",
        (
            "obisgate.session",
            "obisgate.programming_session",
            "obisgate.dlms_session",
            "obisgate.trace",
            "obisgate.formats",
        ),
        (
            "obisgate.errors",
            "obisgate.protocol.",
            "obisgate.dlms",
            "obisgate.transport",
            "obisgate.session",
            "obisgate.trace",
        ),
        "the session layer builds on protocol/, dlms/ and transport/ only",
    ),
    Layer(
        "helpers",
        HELPERS,
        ("obisgate.errors", "obisgate.protocol.passwords"),
        "helpers import nothing above the protocol",
    ),
    Layer(
        "recipes",
        ("obisgate.recipes",),
        ("obisgate.errors", "obisgate.protocol.", "obisgate.transport", "obisgate.recipes"),
        "the recipe table builds reader settings: errors, protocol/ and transport/ only",
    ),
    Layer(
        "catalogue",
        ("obisgate.obis",),
        ("obisgate.obis",),
        "the OBIS catalogue is data and a lookup: nothing else of obisgate",
        third_party=False,
    ),
    Layer(
        "probe",
        ("obisgate.probe",),
        (
            "obisgate.errors",
            "obisgate.protocol.",
            "obisgate.transport",
            "obisgate.session",
            "obisgate.trace",
            "obisgate.recipes",
            "obisgate.probe",
        ),
        "the probe drives readouts like the session layer, with the recipes",
    ),
    Layer(
        "library root",
        ("obisgate",),
        (
            "obisgate.errors",
            "obisgate.protocol.",
            "obisgate.transport",
            "obisgate.session",
            "obisgate.programming_session",
            "obisgate.dlms",
            "obisgate.dlms_session",
            "obisgate.trace",
            "obisgate.password_config",
            "obisgate.recipes",
        ),
        "the package root exports the library, never the gateway, sink, simulator or cli",
    ),
    Layer(
        "simulator",
        ("obisgate.simulator",),
        ("obisgate.errors", "obisgate.protocol.", "obisgate.dlms", "obisgate.simulator"),
        "the simulator is the meter side: protocol/, dlms/ and itself",
    ),
    Layer(
        "processing",
        ("obisgate.gateway.processing",),
        (
            "obisgate.errors",
            "obisgate.gateway.processing",
            "obisgate.gateway.quality",
            "obisgate.gateway.updates",
            "obisgate.gateway.numbers",
        ),
        "the processing core (expressions, derived signals, guards, deadbands) is sans-IO: "
        "pure standard modules, obisgate.errors, the update types and itself",
        stdlib_only=PURE_STDLIB | {"difflib"},
        third_party=False,
    ),
    Layer(
        "gateway",
        (
            "obisgate.gateway",
            # The processing stage's I/O around its pure core.
            "obisgate.gateway.processing.stage",
            "obisgate.gateway.processing.store",
            "obisgate.gateway.processing.build",
        ),
        (*LIBRARY_API, "obisgate.gateway"),
        "the gateway uses the library through obisgate's exports, obisgate.errors, the OBIS "
        "catalogue and the helpers only",
    ),
    Layer(
        "relay codec",
        ("obisgate.gateway.relay.codec",),
        (
            "obisgate.errors",
            "obisgate.gateway.updates",
            "obisgate.gateway.quality",
            "obisgate.gateway.outputs.health",
            "obisgate.gateway.readstats",
        ),
        "the relay's wire format is a sans-IO core: pure standard modules (and json), "
        "obisgate.errors and the update, quality, health and read-figure types",
        stdlib_only=PURE_STDLIB | {"json"},
    ),
    Layer(
        "sink",
        ("obisgate.sink",),
        (*LIBRARY_API, "obisgate.gateway", "obisgate.sink"),
        "the sink uses the library like the gateway does, and never cli/",
    ),
    Layer(
        "supervisor",
        ("obisgate.supervisor",),
        ("obisgate.backoff",),
        "the worker supervisor only starts processes",
    ),
    Layer(
        "cli",
        ("obisgate.cli", "obisgate.__main__"),
        ("obisgate", "obisgate."),
        "the command line may use everything",
    ),
)

#: The output packages under gateway/outputs/: none imports another one's modules.
OUTPUTS = "obisgate.gateway.outputs."

#: Modules that call ``asyncio.sleep`` / ``time.sleep``, and why (docs/architecture.md).
SLEEPERS = {
    "obisgate.session": "carries out the protocol core's Sleep actions",
    "obisgate.programming_session": "the keep-alive timer of an idle session",
    "obisgate.gateway.poller": "the line's schedule: scan periods, poll/close delays",
    "obisgate.gateway.push": "reopening a push meter's port after a failure",
    "obisgate.gateway.backfill.reading": "a profile session's poll/close delays, as a poll's",
}


@dataclass(frozen=True)
class Import:
    module: str
    target: str
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


MODULES = source_modules()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports_of(module: str) -> Iterator[Import]:
    """Every import in ``module``, wherever it is; ``from P import M`` of a module M
    counts as importing ``P.M``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield Import(module, sub if sub in MODULES else base, node.lineno)


def layer_of(module: str) -> Layer | None:
    """The layer whose prefix matches ``module`` most closely."""
    best: tuple[int, Layer] | None = None
    for layer in LAYERS:
        for prefix in layer.prefixes:
            below = prefix != "obisgate" and module.startswith(prefix + ".")
            if (module == prefix or below) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), layer)
    return None if best is None else best[1]


def allows(allowed: str, target: str) -> bool:
    if allowed == "obisgate":
        return target == "obisgate"
    if allowed.endswith("."):
        return target.startswith(allowed)
    return target == allowed or target.startswith(allowed + ".")


def violations(module: str) -> list[str]:
    layer = layer_of(module)
    assert layer is not None
    found: list[str] = []
    for imp in dict.fromkeys(imports_of(module)):  # once per name and line
        top = imp.target.partition(".")[0]
        where = f"{module} line {imp.line} imports {imp.target}"
        if top == "obisgate":
            own = imp.target == module or imp.target.startswith(module + ".")
            if not own and not any(allows(a, imp.target) for a in layer.allowed):
                found.append(f"{where}: {layer.rule}")
        elif top in sys.stdlib_module_names:
            if layer.stdlib_only is not None and imp.target.split(".")[0] not in layer.stdlib_only:
                found.append(f"{where}: {layer.rule}")
        elif not layer.third_party:
            found.append(f"{where}: {layer.rule}")
    return found


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_each_layer_imports_only_what_its_rule_allows(layer: Layer) -> None:
    found = [v for m in MODULES if layer_of(m) is layer for v in violations(m)]
    assert not found, "\n".join(found)


def output_package(module: str) -> str | None:
    """``mqtt`` for ``obisgate.gateway.outputs.mqtt.output``; ``None`` outside a package."""
    if not module.startswith(OUTPUTS):
        return None
    rest = module.removeprefix(OUTPUTS).split(".")
    package = OUTPUTS + rest[0]
    return rest[0] if MODULES.get(package, Path()).name == "__init__.py" else None


def test_outputs_do_not_import_each_others_modules() -> None:
    found = []
    for module in MODULES:
        own = output_package(module)
        if own is None:
            continue
        for imp in imports_of(module):
            other = output_package(imp.target)
            if other is not None and other != own:
                found.append(f"{module} line {imp.line} imports {imp.target}")
    assert not found, "\n".join(found)


def sleep_calls(module: str) -> list[int]:
    """Lines calling ``asyncio.sleep`` / ``time.sleep`` (however imported)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "sleep"
            and isinstance(func.value, ast.Name)
            and func.value.id in ("asyncio", "time")
        ):
            lines.append(node.lineno)
    lines += [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module in ("asyncio", "time")
        and any(alias.name == "sleep" for alias in node.names)
    ]
    return lines


def test_only_the_scheduling_modules_sleep() -> None:
    found = [f"{m} line {line}" for m in MODULES if m not in SLEEPERS for line in sleep_calls(m)]
    assert not found, "\n".join(found)


def test_the_sans_io_cores_read_no_clock() -> None:
    found = []
    for module in MODULES:
        layer = layer_of(module)
        if layer is None or layer.name not in ("protocol", "processing", "relay codec"):
            continue
        for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("now", "today", "utcnow", "monotonic", "time")
            ):
                found.append(f"{module} line {node.lineno}")
    assert not found, "\n".join(found)


def test_every_module_belongs_to_a_layer() -> None:
    homeless = [m for m in MODULES if layer_of(m) is None]
    assert not homeless, f"place these in LAYERS: {homeless}"


def test_the_rules_see_lazy_imports() -> None:
    # The checker itself: an import inside a function counts like one at the top.
    lazy = [i for i in imports_of("obisgate.cli.demo") if i.target.endswith("http.server")]
    assert lazy, "cli/demo.py imports the HTTP output inside a function"


def test_the_gateway_and_the_sink_report_through_logging_only() -> None:
    # What they have to say (a server's "listening on" line too) must follow --log-format:
    # no write to stderr and no print() past logging. (The jsonl and table outputs write
    # their updates to stdout: that is their job.)
    found = []
    for module in MODULES:
        layer = layer_of(module)
        if layer is None or layer.name not in ("gateway", "sink", "supervisor"):
            continue
        for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "stderr"
                and isinstance(node.value, ast.Name)
                and node.value.id == "sys"
            ) or (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "print"
            ):
                found.append(f"{module} line {node.lineno}")
    assert not found, "\n".join(found)
