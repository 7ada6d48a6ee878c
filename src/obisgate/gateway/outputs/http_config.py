"""Configuration of the HTTP API, metrics and web view (``[http]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["HttpConfig"]


class HttpConfig(BaseModel):
    """The ``[http]`` section. Present = the output is on."""

    model_config = ConfigDict(frozen=True, extra="forbid")
