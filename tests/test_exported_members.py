"""The package exports exactly its public names, sorted, each importable."""

from __future__ import annotations
import __future__

import inspect

import obisgate


def test_all_lists_every_public_name_once_and_sorted() -> None:
    public = sorted(
        name
        for name, value in vars(obisgate).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and not isinstance(value, __future__._Feature)
    )
    assert sorted(obisgate.__all__) == public
    assert obisgate.__all__ == sorted(obisgate.__all__, key=lambda n: (n[0].islower(), n))


def test_every_error_derives_from_the_root() -> None:
    errors = [getattr(obisgate, n) for n in obisgate.__all__ if n.endswith(("Error", "Operation"))]
    assert errors
    assert all(issubclass(e, obisgate.ObisgateError) for e in errors)
