"""Lazy imports of the optional packages behind the ``embeddings`` extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from mdb_engine.errors import OptionalDependencyMissing

__all__ = ["EXTRA", "require"]

EXTRA = "embeddings"


def require(module: str, feature: str) -> ModuleType:
    """Import ``module``, or raise ``OptionalDependencyMissing`` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise OptionalDependencyMissing(feature, EXTRA, module.split(".")[0]) from error
