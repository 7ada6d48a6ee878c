"""What an output is to the rest of obisgate: :class:`OutputSpec`.

Each network output declares one spec in its own package (``mqtt/spec.py``,
``http/spec.py`` ...): the name of its configuration section, the section's
model, the optional extras it imports, the columns it adds to signals and their
cross-signal checks, its factory and a few optional hooks. The list of specs in
:mod:`obisgate.gateway.outputs.registry` is the only registry: the
configuration loader, ``obisgate check`` (the extras, the warnings, the outputs
turned on, ``--show-map``), the tabular formats (a sheet or CSV file per
section) and the configuration reference all read it. Adding an output is one
package with a spec and one line in that list.

Nothing here imports an output's optional library: a spec module imports only
its section model (and the factory imports the output when it is called).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from pydantic import BaseModel

from obisgate.gateway.outputs.config_problem import SignalProblem

if TYPE_CHECKING:
    from obisgate.gateway.config_models import GatewayConfig, SignalConfig
    from obisgate.gateway.outputs.base import Output
    from obisgate.gateway.outputs.context import OutputContext

__all__ = ["Extra", "OutputSpec", "SignalColumns"]

S = TypeVar("S", bound=BaseModel)
C = TypeVar("C", bound=BaseModel)


class Extra(NamedTuple):
    """An optional dependency of an output.

    Attributes:
        module: the module its output imports (``aiomqtt``).
        extra: the extra that installs it (``mqtt``: ``pip install '.[mqtt]'``).
    """

    module: str
    extra: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalColumns(Generic[S, C]):
    """The columns an output adds to the signals table.

    Attributes:
        model: the columns as a frozen pydantic model whose every field is
            optional (an empty cell means the default); a signal's values are
            ``signal.columns(model)``.
        check: problems that only show across signals (registers used twice ...),
            given the output's section and every signal (disabled ones too).
        checked_without_section: columns whose ``check`` also runs, with the
            section's defaults, when the section is absent but a signal fills
            one of them (the map is wrong whether or not the output is on).
        title: the heading of these columns in the configuration reference.
    """

    model: type[C]
    check: Callable[[S, Sequence[SignalConfig]], list[SignalProblem]] | None = None
    checked_without_section: tuple[str, ...] = ()
    title: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputSpec(Generic[S]):
    """One network output, as the configuration and the command line know it.

    Attributes:
        name: the section's name: ``[name]`` in TOML, a sheet ``NAME`` in Excel,
            ``name.csv`` beside a CSV pair; also the output's name in logs,
            counters and health. Present = the output is on.
        title: what the output is, in a few words (the reference, ``check``).
        summary: a paragraph for the configuration reference.
        model: the section's frozen pydantic model (loaded without the extras).
        create: the factory: ``create(config, section, context) -> Output``.
            It imports the output's module (and its optional library) only when
            called.
        extras: the optional modules the output imports, each named with its extra.
        columns: the signal columns the output adds, if any.
        warnings: one line per risk of a valid section (a server without
            authentication on the network ...), printed by ``check`` and ``run``.
        with_base_dir: the section with its relative file names resolved against
            the configuration's folder (when it names files).
        load_warnings: ``(field, message)`` per problem of a valid section that the
            loader warns about with the section's location (a secret file others
            may read ...).
        show_map: the lines ``check --show-map`` prints for this output, given the
            configuration and its section (``None`` when absent); empty for none.
        for_shard: the section for instance ``shard`` (``"shard<I>"``) of a
            sharded deployment, when it has a per-instance identity.
        problems: what would keep the output from starting, found before anything
            starts (an unset variable, a file that cannot be read: named), given the
            section, the configuration's file and the number of workers (``None``:
            one process); ``check`` reports them and ``run`` refuses to start with
            the same lines (:mod:`obisgate.gateway.preflight`).
        describe: where the output sends or serves, in a few words (``check``
            lists every output the configuration turns on with it).
        beside_history: the output keeps files beside the history file (an
            outbox), so ``[storage] path`` must name a file in a folder that exists.
        shared: a server that clients connect to (HTTP, Modbus, IEC 104, OPC UA):
            under ``run --workers N`` it runs once, in the supervisor, fed by every
            worker through the relay, so that one address serves every meter. (A
            standalone ``--shard`` instance runs its own, as one process does.)
    """

    name: str
    title: str
    summary: str
    model: type[S]
    create: Callable[[GatewayConfig, S, OutputContext], Output]
    extras: tuple[Extra, ...] = ()
    columns: SignalColumns[S, Any] | None = None
    warnings: Callable[[S], list[str]] | None = None
    with_base_dir: Callable[[S, Path], S] | None = None
    load_warnings: Callable[[S], list[tuple[str, str]]] | None = None
    show_map: Callable[[GatewayConfig, S | None], list[str]] | None = None
    for_shard: Callable[[S, str], S] | None = None
    problems: Callable[[S, Path | None, int | None], list[str]] | None = None
    describe: Callable[[S, Path | None], str] | None = None
    beside_history: bool = False
    shared: bool = False

    def default(self) -> S:
        """The section with every default (checks of columns without the section)."""
        return self.model()
