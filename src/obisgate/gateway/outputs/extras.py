"""Optional dependencies of outputs: imported lazily, a missing one named as an extra."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable
from types import ModuleType

from obisgate.errors import ConfigError

__all__ = ["missing_extra", "require_extra"]


def _message(module: str, extra: str, section: str) -> str:
    return (
        f"[{section}] needs the optional extra {extra} ({module} is not installed): "
        f"pip install '.[{extra}]' in obisgate's source folder"
    )


def require_extra(module: str, extra: str, section: str) -> ModuleType:
    """Import ``module``, needed by the configuration's ``[section]``.

    Raises:
        ConfigError: the module is not installed; the one-line message names
            the extra to install (``pip install '.[EXTRA]'`` in the source folder).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(_message(module, extra, section)) from None


def _installed(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None  # None: import blocked
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_extra(needs: Iterable[tuple[str, str]], section: str) -> str | None:
    """The one-line problem of ``[section]`` when a module it ``needs`` (``(module,
    extra)`` pairs) is not installed, else ``None``; the modules are looked up, not
    imported (cheap, for ``check``)."""
    for module, extra in needs:
        if not _installed(module):
            return _message(module, extra, section)
    return None
