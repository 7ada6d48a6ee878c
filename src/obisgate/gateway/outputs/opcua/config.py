"""Configuration of the OPC UA server (``[opcua]``): where it listens and its security.

The fields, their defaults and meanings are in their descriptions (and so in
``docs/configuration.md``). The endpoint is ``opc.tcp://HOST:PORT/obisgate/``.
Relative paths are relative to the configuration's folder.

Security (checked when the configuration is loaded):

* Anonymous clients are served only when ``listen`` is a loopback address.
* Without ``users_file``: on loopback, the ``None`` security policy with
  anonymous login (and, with a certificate, the Basic256Sha256 Sign and
  SignAndEncrypt policies too).
* With ``users_file``: only Basic256Sha256 Sign and SignAndEncrypt (no
  unencrypted endpoint at all), user name and password login, so a
  ``certificate`` and ``private_key`` are required.
* A ``listen`` address other machines can reach requires all three.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from obisgate.gateway import config_cells as cells
from obisgate.gateway.outputs.listen import Listen, is_loopback, split_listen

__all__ = ["OpcUaConfig"]

OptPath = Annotated[Path | None, BeforeValidator(cells.optional(cells.as_path))]


class OpcUaConfig(BaseModel):
    """The ``[opcua]`` section. Present = the output is on.

    Attributes:
        listen: ``HOST:PORT`` to serve on (port 0: any free port).
        certificate: the server certificate (DER or PEM), or ``None``.
        private_key: the certificate's private key (PEM), or ``None``.
        users_file: the users and their password hashes, or ``None``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: Listen = Field(
        default="127.0.0.1:4840",
        description="`HOST:PORT` to serve on (port 0 picks a free one); the endpoint is "
        "`opc.tcp://HOST:PORT/obisgate/`. Anonymous clients are served on a loopback address "
        "only: any other needs `certificate`, `private_key` and `users_file`.",
    )
    certificate: OptPath = Field(
        default=None,
        description="The server's certificate (DER or PEM, from `obisgate opcua-cert`): turns "
        "on the Basic256Sha256 Sign and SignAndEncrypt endpoints.",
    )
    private_key: OptPath = Field(
        default=None,
        description="The certificate's private key (PEM); warned about when group or others "
        "may read it.",
    )
    users_file: OptPath = Field(
        default=None,
        description="The users who may log in, `NAME:scrypt$...` per line (`obisgate "
        "opcua-user`); with it only the Basic256Sha256 endpoints are offered (no unencrypted "
        "endpoint), so it needs `certificate` and `private_key`.",
    )

    @model_validator(mode="after")
    def _check_security(self) -> OpcUaConfig:
        if (self.certificate is None) != (self.private_key is None):
            raise ValueError("give both certificate and private_key (obisgate opcua-cert), or none")
        if self.users_file is not None and self.certificate is None:
            raise ValueError(
                "users_file needs certificate and private_key: user names and passwords "
                "are taken over encrypted endpoints only (obisgate opcua-cert)"
            )
        if not self.anonymous and (self.certificate is None or self.users_file is None):
            raise ValueError(
                f"listen = {self.listen!r} is reachable from other machines: give certificate "
                "and private_key (obisgate opcua-cert) and users_file (obisgate opcua-user); "
                "anonymous clients are served on loopback only"
            )
        return self

    @property
    def anonymous(self) -> bool:
        """Whether anonymous clients are served (``listen`` is a loopback address)."""
        return is_loopback(split_listen(self.listen)[0])

    @property
    def secure(self) -> bool:
        """Whether the Basic256Sha256 endpoints are offered (a certificate is configured)."""
        return self.certificate is not None

    def with_base_dir(self, base: Path) -> OpcUaConfig:
        """This section with relative file paths resolved against ``base``."""
        update: dict[str, Any] = {}
        for name in ("certificate", "private_key", "users_file"):
            path: Path | None = getattr(self, name)
            if path is not None and not path.expanduser().is_absolute():
                update[name] = base / path.expanduser()
        return self.model_copy(update=update) if update else self

    def security_summary(self) -> str:
        """The endpoints and logins offered, in a few words (``check --show-map``)."""
        if self.users_file is not None:
            logins = "user name and password" + (", or anonymous" if self.anonymous else "")
            return f"Basic256Sha256 Sign and SignAndEncrypt only; {logins}"
        if self.secure:
            return "None, Basic256Sha256 Sign and SignAndEncrypt; anonymous (loopback)"
        return "no security; anonymous (loopback only)"
