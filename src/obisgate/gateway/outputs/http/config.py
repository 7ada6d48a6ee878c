"""Configuration of the HTTP API, metrics and web view (``[http]``).

Security rule, checked when the configuration loads: the server binds to a
loopback address unless told otherwise (loopback: all of 127.0.0.0/8, ``::1``
and ``localhost``), and binding to any other address needs ``token_env`` (a
bearer token for every request but ``/healthz``) or an explicit
``allow_anonymous = 1``. The token is read from the environment when
the output is built, never stored in the configuration, and never shown.
"""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator

from obisgate.errors import ConfigError
from obisgate.gateway import config_cells as cells
from obisgate.gateway.outputs.listen import Listen, is_loopback, split_listen

__all__ = ["HttpConfig"]


def _seconds(value: object) -> float:
    number = cells.as_finite(value)
    if not 0.1 <= number <= 3600:
        raise ValueError("0.1 to 3600 seconds")
    return number


class HttpConfig(BaseModel):
    """The ``[http]`` section. Present = the output is on.

    Attributes:
        listen: ``HOST:PORT`` to bind [``127.0.0.1:8080``]; port 0 picks a free one.
        token_env: name of the environment variable holding the bearer token
            that every request but ``/healthz`` must carry; none = no token.
        allow_anonymous: allow a non-loopback ``listen`` without a token.
        history_limit: most rows one ``/api/history`` answer holds (the newest).
        max_clients: most ``/api/events`` streams served at once; one more is
            answered 503.
        max_connections: most client connections at once (event streams
            included); one more is closed at once. Lowered at start when the open
            file limit leaves fewer descriptors beside the meter lines.
        idle_timeout: seconds a connection may go without a complete request
            (slow headers, an idle keep-alive) before it is closed.

    Raises:
        pydantic.ValidationError: (on construction) a bad field, or a
            non-loopback ``listen`` with neither ``token_env`` nor ``allow_anonymous``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: Listen = Field(
        default="127.0.0.1:8080",
        description="`HOST:PORT` to serve on (IPv6 in brackets; port 0 picks a free one). An "
        "address that is not loopback (127.0.0.0/8, `::1`, `localhost`) needs `token_env` or "
        "`allow_anonymous = 1`.",
    )
    token_env: Annotated[str | None, BeforeValidator(cells.optional(cells.env_name))] = Field(
        default=None,
        description="The name of the environment variable holding the bearer token every "
        "request but `/healthz` must carry (a browser sends it as the password); read at "
        "start, never shown.",
    )
    allow_anonymous: cells.Switch = Field(
        default=False, description="1: serve a non-loopback `listen` without a token."
    )
    history_limit: Annotated[int, BeforeValidator(cells.int_range(1, 1_000_000, " rows"))] = Field(
        default=10_000, description="The most rows one `/api/history` answer holds (1-1000000)."
    )
    max_clients: Annotated[int, BeforeValidator(cells.int_range(1, 10_000, " clients"))] = Field(
        default=100,
        description="The most `/api/events` streams at once (1-10000); one more is answered 503.",
    )
    max_connections: Annotated[
        int, BeforeValidator(cells.int_range(1, 100_000, " connections"))
    ] = Field(
        default=256,
        description="The most client connections at once, event streams included (1-100000); "
        "one more is closed at once. Lowered at start when the open-file limit leaves fewer "
        "descriptors beside the meter lines.",
    )
    idle_timeout: Annotated[float, BeforeValidator(_seconds)] = Field(
        default=15.0,
        description="Seconds a connection may go without a complete request (slow headers, an "
        "idle keep-alive) before it is closed (0.1-3600).",
    )

    @model_validator(mode="after")
    def _anonymous_only_on_loopback(self) -> HttpConfig:
        if not is_loopback(self.host) and self.token_env is None and not self.allow_anonymous:
            raise ValueError(
                f"listen = {self.listen!r} is reachable from other machines: set token_env "
                "(the variable holding a bearer token) or allow_anonymous = 1"
            )
        return self

    @property
    def host(self) -> str:
        """The host part of :attr:`listen` (IPv6 without brackets)."""
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        """The port part of :attr:`listen` (0: a free one)."""
        return split_listen(self.listen)[1]

    def token(self) -> SecretStr | None:
        """The bearer token from the variable named in :attr:`token_env`, if any.

        Raises:
            ConfigError: the variable is not set or empty (the message names
                the variable, never a value).
        """
        if self.token_env is None:
            return None
        value = os.environ.get(self.token_env, "")
        if not value.strip():
            raise ConfigError(
                f"[http] the variable named in token_env ({self.token_env}) is not set"
            )
        return SecretStr(value.strip())
