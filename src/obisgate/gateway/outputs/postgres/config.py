"""Configuration of the PostgreSQL output (``[postgres]``).

Fields and defaults are in ``docs/configuration.md``, generated from the
descriptions below. Nothing here imports the database driver, so a configuration
loads without the ``postgres`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator

from obisgate.errors import ConfigError
from obisgate.gateway import config_cells as cells
from obisgate.password_config import read_configured_password

__all__ = ["PostgresConfig", "postgres_dsn"]


class _HiddenDsn:
    """Stands for a DSN that held a password, so that no message can show it."""


def postgres_dsn(value: object) -> str:
    """``postgresql://[user@]host[:port][/database]``, without a password.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    if isinstance(value, _HiddenDsn):
        raise ValueError(  # noqa: TRY004 - pydantic reports ValueError as a field error
            "no password in the dsn: use password_env / password_file (or PGPASSWORD, ~/.pgpass)"
        )
    text = cells.as_text(value)
    allowed = "allowed: postgresql://[USER@]HOST[:PORT][/DATABASE]"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(allowed) from None
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        raise ValueError(allowed)
    del port  # checked by urlsplit
    return text


class PostgresConfig(BaseModel):
    """The ``[postgres]`` section. Present = the output is on.

    Attributes:
        dsn: ``postgresql://[user@]host[:port][/database]`` (no password: refused).
        password_env, password_file: where the password is read when the output
            connects (never at load time, never shown); neither: libpq's
            ``PGPASSWORD`` / ``~/.pgpass`` rules apply.
        batch_rows: most rows stored in one transaction.
        outbox_max_rows: readouts kept on disk while the database is unreachable;
            the oldest are dropped (counted, logged once per episode) beyond this.
        only_logged: store only signals with ``log > 0`` (and ``_status``); by
            default every signal of every readout, as ``obisgate sink postgres``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    dsn: Annotated[str, BeforeValidator(postgres_dsn)] = Field(
        description="The database: `postgresql://[USER@]HOST[:PORT][/DATABASE]`; no password "
        "in it (refused)."
    )
    password_env: Annotated[str | None, BeforeValidator(cells.optional(cells.env_name))] = Field(
        default=None,
        repr=False,
        description="The name of an environment variable holding the password, read when the "
        "output connects, never shown.",
        json_schema_extra={"shown": "none: libpq's PGPASSWORD / ~/.pgpass"},
    )
    password_file: Annotated[Path | None, BeforeValidator(cells.optional(cells.as_path))] = Field(
        default=None,
        repr=False,
        description="Or a file whose first line is the password, relative to the "
        "configuration's folder (warned when group or others may read it).",
    )
    batch_rows: Annotated[int, BeforeValidator(cells.int_range(1, 1_000_000, " rows"))] = Field(
        default=5000, description="The most rows stored in one transaction (1-1000000)."
    )
    outbox_max_rows: Annotated[int, BeforeValidator(cells.int_range(100, 100_000_000))] = Field(
        default=1_000_000,
        description="Readouts kept on disk while the database is unreachable (100 to "
        "100000000); beyond this the oldest are dropped (counted, logged once per episode).",
    )
    only_logged: cells.Switch = Field(
        default=False,
        description="1: store only signals with `log > 0` (and `_status`); by default every "
        "signal of every readout, as `obisgate sink postgres`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _hide_password(cls, data: Any) -> Any:
        if isinstance(data, dict):
            try:
                secret = urlsplit(str(data.get("dsn", ""))).password
            except ValueError:
                secret = None
            if secret:
                data = {**data, "dsn": _HiddenDsn()}
        return data

    @model_validator(mode="after")
    def _one_password(self) -> PostgresConfig:
        if self.password_env is not None and self.password_file is not None:
            raise ValueError("give only one of password_env, password_file")
        return self

    def with_base_dir(self, base: Path) -> PostgresConfig:
        """This section with a relative ``password_file`` resolved against ``base``."""
        path = self.password_file
        if path is not None and not path.expanduser().is_absolute():
            return self.model_copy(update={"password_file": base / path.expanduser()})
        return self

    def resolve_password(self) -> SecretStr | None:
        """The password from ``password_env`` or ``password_file``, read now.

        Raises:
            ConfigError: the variable is not set or the file cannot be read (the
                message names the variable, never the value).
        """
        secret = read_configured_password("[postgres]", self.password_env, self.password_file)
        return None if secret is None else SecretStr(secret)

    def start_problems(self, source: Path | None, workers: int | None) -> list[str]:
        """What would keep the output from starting: the password cannot be read."""
        del source, workers
        try:
            self.resolve_password()
        except ConfigError as exc:
            return [str(exc)]
        return []
