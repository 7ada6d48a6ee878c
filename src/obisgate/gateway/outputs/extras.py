"""Optional dependencies of outputs: imported lazily, a missing one named as an extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from obisgate.errors import ConfigError

__all__ = ["require_extra"]


def require_extra(module: str, extra: str, section: str) -> ModuleType:
    """Import ``module``, needed by the configuration's ``[section]``.

    Raises:
        ConfigError: the module is not installed; the one-line message names
            the extra to install (``pip install 'obisgate[EXTRA]'``).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"[{section}] needs the optional extra obisgate[{extra}] "
            f"({module} is not installed): pip install 'obisgate[{extra}]'"
        ) from None
