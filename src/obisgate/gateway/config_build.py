"""Validated cells -> models: the configuration builder, for any list of output specs.

:func:`build_config` turns the raw rows of :mod:`obisgate.gateway.config_files`
into a :class:`~obisgate.gateway.config_models.GatewayConfig`, collecting every
problem with its location. It knows the outputs only through the specs it is
given (:class:`~obisgate.gateway.outputs.spec.OutputSpec`): their sections,
their signal columns and those columns' checks. :func:`table_fields` gives the
readers the fields each table allows.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from obisgate import ConfigError, ReadoutOptions, RecipeBook, load_recipes, parse_obis
from obisgate.gateway import config_cells as cells
from obisgate.gateway.config_models import (
    PROCESSING_FIELDS,
    SECRET_FIELDS,
    DeviceConfig,
    GatewayConfig,
    GroupConfig,
    OutputConfig,
    SignalConfig,
    StorageConfig,
    connection_problems,
    signal_field_problems,
)
from obisgate.gateway.config_rows import ConfigFileError, ConfigProblem, RawRow, RawTables
from obisgate.gateway.config_shard import Placement, shard_rows
from obisgate.gateway.numbers import SCALED_TYPES
from obisgate.gateway.processing.build import check_derived
from obisgate.gateway.shard import Shard
from obisgate.password_config import password_file_is_private

if TYPE_CHECKING:
    from obisgate.gateway.outputs.spec import OutputSpec

__all__ = ["CORE_TABLES", "build_config", "in_file_order", "table_fields"]

Specs = Sequence["OutputSpec[Any]"]

#: The tables of every configuration, whichever outputs exist, with their models.
CORE_TABLES: dict[str, type[BaseModel]] = {
    "devices": DeviceConfig,
    "signals": SignalConfig,
    "groups": GroupConfig,
    "storage": StorageConfig,
    "output": OutputConfig,
}
#: The signal fields of the core model (the outputs' columns come from their specs).
_SIGNAL_FIELDS = (
    frozenset(SignalConfig.model_fields) - {"output_columns", "processing"}
) | PROCESSING_FIELDS
#: Fields whose error messages already quote the value.
_QUOTED_FIELDS = frozenset({"number_type"})


def table_fields(specs: Specs) -> dict[str, frozenset[str]]:
    """Table -> the field names it allows: the core tables (signals with every
    output's columns), then one single table per output section, in spec order.

    Raises:
        ValueError: two specs use one section name or one signal column, or a
            column or section clashes with the core (a programming error).
    """
    signal_fields = set(_SIGNAL_FIELDS)
    fields: dict[str, frozenset[str]] = {
        "devices": frozenset(DeviceConfig.model_fields),
        "signals": frozenset(),
        "groups": frozenset(GroupConfig.model_fields),
        "storage": frozenset(StorageConfig.model_fields),
        "output": frozenset(OutputConfig.model_fields),
    }
    for spec in specs:
        if spec.name in fields:
            raise ValueError(f"output section {spec.name!r} is defined twice")
        fields[spec.name] = frozenset(spec.model.model_fields)
        if spec.columns is not None:
            columns = set(spec.columns.model.model_fields)
            if taken := sorted(columns & signal_fields):
                raise ValueError(f"signal columns of {spec.name} taken already: {taken}")
            signal_fields |= columns
    fields["signals"] = frozenset(signal_fields)
    return fields


def build_config(
    tables: RawTables,
    specs: Specs,
    shard: Shard | None = None,
    placed: Placement | None = None,
) -> GatewayConfig:
    """The configuration of ``tables``, with the output sections and columns of ``specs``.

    With ``shard``, only the rows that shard keeps are validated and kept
    (:func:`~obisgate.gateway.config_shard.shard_rows`): the devices of its lines;
    ``placed``: the rows' placement, when made already (once for several shards).

    Raises:
        ConfigFileError: one or more problems (``.problems``: all of them, in
            file order; ``.warnings``: the warnings found so far).
    """
    return _Builder(tables, specs, shard, placed).build()


class _Builder:
    """Validates raw rows into models, collecting every problem."""

    def __init__(
        self,
        tables: RawTables,
        specs: Specs,
        shard: Shard | None = None,
        placed: Placement | None = None,
    ) -> None:
        self.tables = tables
        self.any_devices = bool(tables.devices)
        # Every device alias of the file, for messages, when a shard keeps some only.
        self.file_aliases: set[str] | None = None
        if shard is not None and shard.count > 1:
            rows = shard_rows(tables.devices, tables.signals, shard, placed)
            if rows is not None:
                self.file_aliases = {
                    alias
                    for row in tables.devices
                    if (alias := cells.alias_key(row.fields.get("device_alias"))) is not None
                }
                # The other shards' raw rows go here: they never become models.
                tables.devices[:], tables.signals[:] = rows
        self.specs = tuple(specs)
        # Each output's signal columns: (model, its field names).
        self.column_models = [
            (spec.columns.model, frozenset(spec.columns.model.model_fields))
            for spec in self.specs
            if spec.columns is not None
        ]
        self.problems = list(tables.problems)
        self.warnings = list(tables.warnings)
        # Each valid device's readout options, made once by the load check, for the plans.
        self.options: dict[str, tuple[DeviceConfig, ReadoutOptions]] = {}
        # Equal sets of given fields, one object each (frozen models never change theirs).
        self.fields_sets: dict[frozenset[str], set[str]] = {}
        self.recipes = self._recipe_book()

    def _recipe_book(self) -> RecipeBook:
        """The recipes ``meter_model`` may name (a bad user file is a problem of its own)."""
        try:
            return load_recipes()
        except ConfigError as exc:
            self.problems.append(ConfigProblem(RecipeBook.environment_variable, str(exc)))
            return RecipeBook.packaged()

    def _with_recipe(self, row: RawRow, fields: dict[str, object]) -> dict[str, object]:
        """``fields`` completed by the settings of the recipe ``meter_model`` names."""
        model = fields.get("meter_model")
        if not isinstance(model, str) or model.strip().lower() in ("", "none"):
            return fields
        entry = self.recipes.get(model)
        if entry is None:
            close = difflib.get_close_matches(model.strip().lower(), self.recipes.names(), n=1)
            if close:
                self.warnings.append(
                    row.problem(
                        f"{model!r} is no recipe (did you mean {close[0]!r}? see obisgate "
                        "recipes); it is kept as the model's name and nothing is applied",
                        "meter_model",
                    )
                )
            return fields
        return {**entry.settings, **fields}

    def build(self) -> GatewayConfig:
        """The configuration, after every check.

        Raises:
            ConfigFileError: one or more problems.
        """
        devices = self._devices()
        self._valid_devices = tuple(devices.values())
        signals = self._signals()
        groups = self._groups(devices)
        storage = self._single("storage", StorageConfig)
        output = self._single("output", OutputConfig)
        sections = {spec.name: self._section(spec.name, spec.model) for spec in self.specs}
        self._signal_checks(sections, signals)
        self._derived_problems(devices, signals)
        if not self.any_devices and not self.tables.problems:
            self.problems.append(
                ConfigProblem(str(self.tables.source), "no devices: add at least one device")
            )
        self._shared_bus_warnings(devices)
        self._idle_device_warnings(devices, signals)
        self._password_file_warnings(devices)
        self._push_problems(devices, signals)
        self._dlms_problems(devices, signals)
        self._schedule_problems(devices, signals)
        self._profile_problems(devices, signals)
        if self.problems:
            raise ConfigFileError(in_file_order(self.problems), in_file_order(self.warnings))
        assert isinstance(storage, StorageConfig)
        assert isinstance(output, OutputConfig)
        present = self._finished(sections)  # before the warnings are taken: it may add some
        config = GatewayConfig(
            devices=tuple(devices.values()),
            signals=tuple(signals),
            groups=groups,
            storage=self._with_base_dir(storage),
            output=output,
            sections=present,
            warnings=tuple(in_file_order(self.warnings)),
            source=self.tables.source,
        )
        config.remember_readout_options(self.options)
        return config

    def _with_base_dir(self, storage: StorageConfig) -> StorageConfig:
        """``storage`` with a relative path resolved against the configuration's folder."""
        path = storage.path.expanduser()
        if path.is_absolute():
            return storage
        return storage.model_copy(update={"path": self.tables.base_dir / path})

    def _finished(self, sections: Mapping[str, BaseModel | None]) -> dict[str, BaseModel]:
        """The present sections, their file names resolved against the configuration's
        folder, their load warnings recorded (see :class:`OutputSpec`)."""
        present: dict[str, BaseModel] = {}
        for spec in self.specs:
            section = sections[spec.name]
            if section is None:
                continue
            if spec.with_base_dir is not None:
                section = spec.with_base_dir(section, self.tables.base_dir)
            if spec.load_warnings is not None:
                row = self.tables.single[spec.name]
                for field, message in spec.load_warnings(section):
                    self.warnings.append(row.problem(message, field))
            present[spec.name] = section
        return present

    def _validate(
        self,
        row: RawRow,
        model: type[BaseModel],
        fields: dict[str, object],
        *,
        skip_row_errors: bool = False,
    ) -> Any:
        """The model, or ``None`` after recording its problems.

        ``skip_row_errors`` drops errors not tied to a field (already reported
        from the raw fields).
        """
        try:
            return model.model_validate(fields)
        except ValidationError as exc:
            for error in exc.errors():
                loc = error["loc"]
                name = str(loc[0]) if loc else None
                if name == "processing":  # a column kept in SignalConfig.processing
                    name = str(loc[1]) if len(loc) > 1 else None
                if name is None and skip_row_errors:
                    continue
                self.problems.append(row.problem(_error_text(name, error), name))
            return None

    def _devices(self) -> dict[str, DeviceConfig]:
        devices: dict[str, DeviceConfig] = {}
        first_row: dict[str, RawRow] = {}
        for row in self.tables.devices:
            fields = row.fields
            row.fields = {}  # only its location is needed later: free the raw values as we go
            file = fields.get("password_file")
            if isinstance(file, str) and not Path(file).expanduser().is_absolute():
                fields = {
                    **fields,
                    "password_file": str(self.tables.base_dir / Path(file).expanduser()),
                }
            fields = self._with_recipe(row, fields)
            raw_problems = connection_problems(set(fields))
            for name, message in raw_problems:
                self.problems.append(row.problem(message, name))
            device = self._validate(row, DeviceConfig, fields, skip_row_errors=bool(raw_problems))
            alias = cells.alias_key(fields.get("device_alias"))
            if alias is not None:
                if alias in first_row:
                    self.problems.append(
                        row.problem(
                            f"{alias!r} is already used by {first_row[alias].describe()}",
                            "device_alias",
                        )
                    )
                    continue
                first_row[alias] = row
            if isinstance(device, DeviceConfig):
                given = device.model_fields_set
                shared = self.fields_sets.setdefault(frozenset(given), given)
                object.__setattr__(device, "__pydantic_fields_set__", shared)  # -730 bytes each
                self._device_checks(row, device)
                devices[device.device_alias] = device
        self._device_rows = first_row
        return devices

    _device_rows: dict[str, RawRow]
    _valid_devices: tuple[DeviceConfig, ...]

    def _device_checks(self, row: RawRow, device: DeviceConfig) -> None:
        if device.device is not None and device.transport != "serial":
            via = "url" if device.url is not None else "ip + port"
            self.warnings.append(
                row.problem(
                    f"both device and {via} given: using {via}, device is ignored", "device"
                )
            )
        if device.password is not None:
            self.warnings.append(
                row.problem(
                    "plain password in the configuration file; prefer password_env "
                    "or password_file",
                    "password",
                )
            )
        try:
            self.options[device.device_alias] = (device, device.readout_options())
        except ConfigError as exc:
            self.problems.append(row.problem(str(exc)))

    def _signals(self) -> list[SignalConfig]:
        signals: list[SignalConfig] = []
        first_row: dict[tuple[str, str], RawRow] = {}
        known = self._device_rows
        valid_aliases = {d.device_alias for d in self._valid_devices}
        # Signals of many devices differ only in device_alias: validate each distinct rest once.
        done: dict[tuple[tuple[str, object], ...], SignalConfig] = {}
        for row in self.tables.signals:
            fields = row.fields
            row.fields = {}  # only its location is needed later: free the raw values as we go
            signal = self._signal(row, fields, valid_aliases, done)
            device_alias = cells.alias_key(fields.get("device_alias"))
            signal_alias = cells.alias_key(fields.get("signal_alias"))
            if device_alias is not None and device_alias not in known:
                names = ", ".join(sorted(self.file_aliases or known)[:10]) or "none"
                self.problems.append(
                    row.problem(f"no device {device_alias!r}; devices: {names}", "device_alias")
                )
                continue
            if device_alias is not None and signal_alias is not None:
                key = (device_alias, signal_alias)
                if key in first_row:
                    self.problems.append(
                        row.problem(
                            f"{signal_alias!r} is already used for device {device_alias!r} "
                            f"by {first_row[key].describe()}",
                            "signal_alias",
                        )
                    )
                    continue
                first_row[key] = row
            if isinstance(signal, SignalConfig):
                if signal.number_type not in SCALED_TYPES and signal.unit:
                    self.warnings.append(row.problem(_text_unit(signal), "unit"))
                if signal.number_type not in SCALED_TYPES and (
                    signal.multiply != 1 or signal.add != 0
                ):
                    self.warnings.append(
                        row.problem(
                            f"multiply/add are ignored for {signal.number_type.value}",
                            "multiply" if signal.multiply != 1 else "add",
                        )
                    )
                signals.append(signal)
        self._signal_rows = first_row
        return signals

    def _signal(
        self,
        row: RawRow,
        fields: dict[str, object],
        valid_aliases: set[str],
        done: dict[tuple[tuple[str, object], ...], SignalConfig],
    ) -> SignalConfig | None:
        """The validated signal of ``row``, or ``None`` after recording its problems.

        A row naming a valid device by exactly its alias reuses the model of an earlier
        row equal in every other field (validation does not depend on the device).
        """
        alias = fields.get("device_alias")
        if not isinstance(alias, str) or alias not in valid_aliases:
            return self._validate_signal(row, fields)
        rest = tuple((k, v) for k, v in fields.items() if k != "device_alias")
        try:
            earlier = done.get(rest)
        except TypeError:  # an unhashable value (a TOML array or table): no reuse
            return self._validate_signal(row, fields)
        if earlier is not None:
            return _for_device(earlier, alias)
        result = self._validate_signal(row, fields)
        if result is not None:
            done[rest] = result
        return result

    def _validate_signal(self, row: RawRow, fields: dict[str, object]) -> SignalConfig | None:
        """The signal with its outputs' columns, or ``None`` after recording the problems
        of both (core fields first, then each output's columns in spec order).

        Fields that do not go together (a read signal without ``tag_job_todo``, a derived
        one with read fields ...) are reported each at its own field."""
        raw_problems = signal_field_problems(set(fields))
        for name, message in raw_problems:
            self.problems.append(row.problem(message, name))
        skip = bool(raw_problems)
        if _SIGNAL_FIELDS.issuperset(fields):  # no output column given: the usual case
            signal: SignalConfig | None = self._validate(
                row, SignalConfig, fields, skip_row_errors=skip
            )
            return signal
        core = {k: v for k, v in fields.items() if k in _SIGNAL_FIELDS}
        signal = self._validate(row, SignalConfig, core, skip_row_errors=skip)
        columns: list[BaseModel] = []
        valid = True
        for model, names in self.column_models:
            given = {k: v for k, v in fields.items() if k in names}
            if given:
                found = self._validate(row, model, given)
                valid = valid and found is not None
                columns.append(found)
        if signal is None or not valid:
            return None
        object.__setattr__(signal, "output_columns", tuple(columns))  # frozen: set once, here
        return signal

    def _groups(self, devices: Mapping[str, DeviceConfig]) -> tuple[GroupConfig, ...]:
        """The throttle groups; a device naming a group without an entry, and an entry
        no device names, are warned about."""
        groups: dict[str, GroupConfig] = {}
        rows: dict[str, RawRow] = {}
        for row in self.tables.groups:
            group = self._validate(row, GroupConfig, row.fields)
            if not isinstance(group, GroupConfig):
                continue
            if group.name in groups:
                self.problems.append(
                    row.problem(f"group {group.name!r} is defined twice", "max_sessions")
                )
                continue
            groups[group.name] = group
            rows[group.name] = row
        named = {d.group for d in devices.values() if d.enable and d.group is not None}
        for device in devices.values():
            if device.enable and device.group is not None and device.group not in groups:
                self.warnings.append(
                    self._device_rows[device.device_alias].problem(
                        f"group {device.group!r} has no [groups.{device.group}] entry: "
                        "no session limit (figures only)",
                        "group",
                    )
                )
        for name, row in rows.items():
            if name not in named:
                self.warnings.append(row.problem(f"no enabled device is in group {name!r}"))
        return tuple(groups.values())

    def _schedule_problems(
        self, devices: Mapping[str, DeviceConfig], signals: list[SignalConfig]
    ) -> None:
        """Signals' own scan rates, lists and register reads are for polled D0 meters; a
        list request start is not the device's readout request."""
        for device in devices.values():
            row = self._device_rows[device.device_alias]
            if device.type in ("D", "E", "HDLC"):
                for name in ("list_requests", "register_reads"):
                    if name in device.model_fields_set and getattr(device, name):
                        self.problems.append(
                            row.problem(
                                f"{name} is for D0 meters read by request (type A, B, C)", name
                            )
                        )
            for start, _tags in device.list_requests:
                if start == device.request_start:
                    self.problems.append(
                        row.problem(
                            f"{start} is this device's readout request (request_start), not a list",
                            "list_requests",
                        )
                    )
        for signal in signals:
            owner = devices.get(signal.device_alias)
            if owner is not None and signal.scan_rate_ms is not None and owner.type == "D":
                self.problems.append(
                    self._signal_rows[signal.key].problem(
                        "a push meter (type D) publishes every telegram at the device's "
                        "scan_rate_ms: no scan rate per signal",
                        "scan_rate_ms",
                    )
                )

    def _section(self, table: str, model: type[BaseModel]) -> BaseModel | None:
        """An output section, or ``None`` when it is absent (the output is off) or invalid."""
        row = self.tables.single.get(table)
        if row is None:
            return None
        result: BaseModel | None = self._validate(row, model, row.fields)
        return result

    def _signal_checks(
        self, sections: Mapping[str, BaseModel | None], signals: list[SignalConfig]
    ) -> None:
        """Cross-signal checks of the outputs' columns (see :class:`SignalColumns`)."""
        for spec in self.specs:
            columns = spec.columns
            if columns is None or columns.check is None:
                continue
            section = sections.get(spec.name)
            if (
                section is None
                and spec.name not in self.tables.single
                and _fills_any(signals, columns.model, columns.checked_without_section)
            ):
                section = spec.default()
            if section is None:
                continue
            for problem in columns.check(section, signals):
                row = self._signal_rows[problem.key]
                self.problems.append(row.problem(problem.message, problem.field))

    _signal_rows: dict[tuple[str, str], RawRow]

    def _derived_problems(
        self, devices: Mapping[str, DeviceConfig], signals: list[SignalConfig]
    ) -> None:
        """Derived signals naming unknown, disabled or text signals, or using each other
        in a cycle (each at its field; inside an expression with the column)."""
        if not any(s.processing is not None and s.processing.derived for s in signals):
            return
        enabled = {alias for alias, device in devices.items() if device.enable}
        invalid = set(self._signal_rows) - {s.key for s in signals}
        for problem in check_derived(signals, enabled, invalid):
            row = self._signal_rows[problem.key]
            self.problems.append(row.problem(problem.message, problem.field))

    def _single(self, table: str, model: type[BaseModel]) -> BaseModel | None:
        row = self.tables.single.get(table)
        if row is None:
            return model()
        result: BaseModel | None = self._validate(row, model, row.fields)
        return result

    def _push_problems(
        self, devices: Mapping[str, DeviceConfig], signals: list[SignalConfig]
    ) -> None:
        """A push meter (type D) needs a line of its own and cannot be asked anything."""
        ports: dict[str, list[str]] = {}
        for device in devices.values():
            if device.enable:
                ports.setdefault(device.port_key, []).append(device.device_alias)
        for device in devices.values():
            if not device.enable or device.type != "D":
                continue
            row = self._device_rows[device.device_alias]
            sharing = [a for a in ports[device.port_key] if a != device.device_alias]
            if sharing:
                self.problems.append(
                    row.problem(
                        f"a push meter (type D) needs a line of its own; "
                        f"{device.url_or_port} is also used by {', '.join(sharing)}",
                        "type",
                    )
                )
        push = {d.device_alias for d in devices.values() if d.type == "D"}
        for signal in signals:
            if signal.device_alias in push and signal.read_by == "command":
                row = self._signal_rows[signal.key]
                self.problems.append(
                    row.problem("a push meter (type D) cannot be read by command", "read_by")
                )

    def _dlms_problems(
        self, devices: Mapping[str, DeviceConfig], signals: list[SignalConfig]
    ) -> None:
        """Signals of a mode E / HDLC meter name OBIS codes and are read in one association;
        ``cosem_class`` and ``attribute`` belong to such signals only."""
        for signal in signals:
            device = devices.get(signal.device_alias)
            if device is None:
                continue
            row = self._signal_rows[signal.key]
            if device.type in ("E", "HDLC") and signal.tag_job_todo is not None:
                try:
                    parse_obis(signal.tag_job_todo)
                except ConfigError:
                    self.problems.append(
                        row.problem(
                            f"a type {device.type} meter is read by OBIS code: "
                            "A-B:C.D.E*F (1-0:1.8.0*255) or C.D.E (1.8.0)",
                            "tag_job_todo",
                        )
                    )
                if signal.read_by == "command":
                    self.problems.append(
                        row.problem(
                            f"a type {device.type} meter (DLMS/COSEM) has no programming mode; "
                            "every signal is read in its association",
                            "read_by",
                        )
                    )
            else:
                for name in ("cosem_class", "attribute"):
                    if name in signal.model_fields_set:
                        self.problems.append(
                            row.problem(
                                f"{name} is for mode E / HDLC meters (type E or HDLC) only",
                                name,
                            )
                        )

    def _profile_problems(
        self, devices: Mapping[str, DeviceConfig], signals: list[SignalConfig]
    ) -> None:
        """A backfill needs a mode C meter (programming mode) and signals that name a
        channel and keep their history (where its gaps are found); a channel needs a
        profile."""
        filling: dict[str, int] = {}
        for signal in signals:
            if signal.profile_channel is None:
                continue
            device = devices.get(signal.device_alias)
            if device is None:
                continue
            row = self._signal_rows[signal.key]
            if device.profile is None:
                self.problems.append(
                    row.problem(
                        f"device {device.device_alias} has no profile (e.g. profile = "
                        '"P.01") to fill this signal from',
                        "profile_channel",
                    )
                )
                continue
            if not signal.logged:
                self.problems.append(
                    row.problem(
                        "a signal filled from the load profile needs log = 1: the history "
                        "is where its gaps are found",
                        "log",
                    )
                )
            if signal.enable:
                filling[signal.device_alias] = filling.get(signal.device_alias, 0) + 1
        for device in devices.values():
            if device.profile is None:
                continue
            row = self._device_rows[device.device_alias]
            if device.type != "C":
                self.problems.append(
                    row.problem(
                        f"the load profile is read in programming mode, which type "
                        f"{device.type} meters do not offer: mode C only",
                        "profile",
                    )
                )
            elif not filling.get(device.device_alias):
                self.problems.append(
                    row.problem(
                        "no enabled signal of this device names a profile_channel to fill",
                        "profile",
                    )
                )

    def _idle_device_warnings(
        self, devices: Mapping[str, DeviceConfig], signals: list[SignalConfig]
    ) -> None:
        """An enabled device without an enabled signal is read for its ``_status`` only."""
        read = {s.device_alias for s in signals if s.enable}
        for device in devices.values():
            if device.enable and device.device_alias not in read:
                self.warnings.append(
                    self._device_rows[device.device_alias].problem(
                        f"device {device.device_alias} has no signals: it is polled for its "
                        "_status alone"
                    )
                )

    def _password_file_warnings(self, devices: Mapping[str, DeviceConfig]) -> None:
        for device in devices.values():
            path = device.password_file
            if path is not None and not password_file_is_private(path):
                self.warnings.append(
                    self._device_rows[device.device_alias].problem(
                        "password_file is readable by group or others; chmod 600 it",
                        "password_file",
                    )
                )

    def _shared_bus_warnings(self, devices: Mapping[str, DeviceConfig]) -> None:
        rows = self._device_rows
        by_port: dict[str, list[DeviceConfig]] = {}
        for device in devices.values():
            if not device.enable:
                continue
            by_port.setdefault(device.port_key, []).append(device)
        for port, group in by_port.items():
            if len(group) < 2:
                continue
            others = ", ".join(d.device_alias for d in group)
            seen: dict[str, str] = {}
            for device in group:
                row = rows[device.device_alias]
                if device.address == "":
                    self.warnings.append(
                        row.problem(
                            f"serialnumber 0 sends /?! on {port}, shared with {others}: "
                            "every meter on the bus may answer",
                            "serialnumber",
                        )
                    )
                elif device.address in seen:
                    self.warnings.append(
                        row.problem(
                            f"serialnumber {device.serialnumber} is also used by "
                            f"{seen[device.address]} on {port}",
                            "serialnumber",
                        )
                    )
                else:
                    seen[device.address] = device.device_alias


def _text_unit(signal: SignalConfig) -> str:
    """The warning for a unit on a signal whose value is no number."""
    kind = signal.number_type.value
    if kind == "STRING":
        return (
            f"STRING: the value is text, so no consumer takes it for a quantity in "
            f"{signal.unit!r} (Home Assistant gets it without unit or class); FLOAT makes it "
            "a number (with decimal_comma = 1 for values like 000007,4)"
        )
    return (
        f"{kind}: the value is no quantity, so its unit {signal.unit!r} is not used for it "
        "(Home Assistant gets it without unit or class)"
    )


def _fills_any(signals: list[SignalConfig], model: type[BaseModel], names: tuple[str, ...]) -> bool:
    """Whether a signal gives one of the columns ``names`` of ``model``."""
    return any(
        type(given) is model and any(getattr(given, name) is not None for name in names)
        for signal in signals
        for given in signal.output_columns
    )


def in_file_order(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """Stable sort by file (first appearance) and line; problems without a line keep
    their place relative to each other."""
    files: dict[str, int] = {}
    for problem in problems:
        files.setdefault(problem.file, len(files))
    return sorted(problems, key=lambda p: (files[p.file], p.line or 0))


def _error_text(field: str | None, error: Any) -> str:
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        return "required field is missing"
    if field is None:
        return message
    value = error.get("input")
    if (
        field in SECRET_FIELDS
        or field in _QUOTED_FIELDS
        or not isinstance(value, str | int | float | bool)
    ):
        return message
    return f"got {value!r}; {message}"


def _for_device(signal: SignalConfig, alias: str) -> SignalConfig:
    """``signal.model_copy(update={"device_alias": alias})``, made faster and smaller.

    Frozen models never change their set of given fields (which includes
    ``device_alias``): the copy shares it (-470 bytes each). Its fields are set
    one by one, in field order, so CPython keeps them in a key-sharing
    instance dict: 300 bytes instead of the 830 of the dict pydantic builds.
    """
    copy = _new_signal(SignalConfig)
    for name, value in signal.__dict__.items():
        _set(copy, name, value)
    _set(copy, "device_alias", alias)
    _set(copy, "__pydantic_extra__", None)
    _set(copy, "__pydantic_fields_set__", signal.model_fields_set)
    _set(copy, "__pydantic_private__", None)
    return copy


_new_signal = SignalConfig.__new__
_set = object.__setattr__
