"""Optional dependencies (the package's extras): imported where they are used, and when one is missing, an
error that names the extra to install instead of a bare ModuleNotFoundError."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message says which extra brings it."""


def import_extra(module: str, extra: str, needed_for: str) -> ModuleType:
    """`module`, or a `MissingExtra` saying ``pip install "nft1000[extra]"``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise MissingExtra(f'{needed_for} needs {module}: pip install "nft1000[{extra}]"') from err
