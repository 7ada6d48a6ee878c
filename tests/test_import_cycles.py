"""No import cycle anywhere in obisgate, and the configuration core imports no output.

The imports are read from the source (``ast``), not by importing: every
``import`` and ``from ... import`` a module runs, at module level or inside a
function (a deferred import still runs, later), except those under
``if TYPE_CHECKING:`` (never run). ``from package import name`` is an import of
the submodule ``package.name`` when there is one, else of the package itself
(its ``__init__``), as import-linter counts them. A module that imports
``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``: those count too,
except the importer's own enclosing packages (Python has always started them
before the importer runs).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

#: The configuration core: files -> rows -> validated cells -> models. It knows the
#: outputs only through the specs the composition layer hands it.
CONFIG_CORE = (
    "obisgate.gateway.config_build",
    "obisgate.gateway.config_cells",
    "obisgate.gateway.config_files",
    "obisgate.gateway.config_models",
)
OUTPUTS = "obisgate.gateway.outputs"


@cache
def modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package) for every module of obisgate."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted((SRC / "obisgate").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        package = parts[-1] == "__init__"
        if package:
            parts.pop()
        found[".".join(parts)] = (path, package)
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            for other in node.orelse:
                yield from _runtime_imports(ast.Module(body=[other], type_ignores=[]))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        else:
            yield from _runtime_imports(node)


@cache
def imports_of(name: str) -> frozenset[str]:
    """The obisgate modules ``name`` imports when it runs (see the module docstring)."""
    known = modules()
    path, is_package = known[name]
    package = name if is_package else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join([*parts, *([node.module] if node.module else [])])
        for alias in node.names:
            child = f"{base}.{alias.name}"
            targets.add(child if child in known else base)
    found: set[str] = set()
    for target in targets:
        parts = target.split(".")
        for end in range(1, len(parts) + 1):
            module = ".".join(parts[:end])
            is_own_package = name.startswith(module + ".")
            if module in known and module != name and not is_own_package:
                found.add(module)
    return frozenset(found)


def closure(start: str) -> set[str]:
    """Every module that runs when ``start`` is imported (``start`` included)."""
    seen = {start}
    todo = [start]
    while todo:
        for module in imports_of(todo.pop()):
            if module not in seen:
                seen.add(module)
                todo.append(module)
    return seen


def cycles(imports: Callable[[str], frozenset[str]] = imports_of) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan) of the graph
    ``imports`` gives."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in imports(node):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in modules():
        if module not in index:
            visit(module)
    return found


def test_the_walk_sees_the_imports_it_must() -> None:
    """The walk is not vacuous: known imports, deferred ones and TYPE_CHECKING ones."""
    assert "obisgate.gateway.config_models" in imports_of("obisgate.gateway.config_build")
    # a function-level import counts (the spec's factory imports its output when called)
    assert "obisgate.gateway.outputs.mqtt.output" in imports_of(
        "obisgate.gateway.outputs.mqtt.spec"
    )
    # an import under TYPE_CHECKING does not (it never runs)
    assert "obisgate.gateway.outputs.spec" not in imports_of("obisgate.gateway.config_build")
    # "from package import submodule" is the submodule; enclosing packages run first
    cells = imports_of("obisgate.gateway.outputs.mqtt.config")
    assert "obisgate.gateway.config_cells" in cells
    assert "obisgate.gateway" not in cells  # its own enclosing package


def test_a_cycle_would_be_found() -> None:
    """The cycle finder finds one when there is one (two modules importing each other)."""

    def with_a_cycle(name: str) -> frozenset[str]:
        extra = {"obisgate.errors": "obisgate.trace", "obisgate.trace": "obisgate.errors"}
        return imports_of(name) | ({extra[name]} if name in extra else set())

    assert cycles(with_a_cycle) == [["obisgate.errors", "obisgate.trace"]]


def test_no_import_cycle_anywhere_in_obisgate() -> None:
    assert cycles() == []


def test_the_configuration_core_imports_no_output() -> None:
    """The core models and the loader know outputs only through the specs they are given;
    only the composition layer (gateway.config, gateway.outputs.registry) lists them."""
    for core in CONFIG_CORE:
        reached = sorted(m for m in closure(core) if m.startswith(OUTPUTS))
        assert reached == [], f"{core} imports {reached}"
