"""Which modules docs/api.md covers, importing them without the extras they may need.

The public modules are the packages of ``mdb_engine`` and ``mdb_runtime`` that have an
``__all__``, every module of the compatibility layer ``mdb_runtime``, and ``PUBLIC_MODULES``.
A module that cannot be imported is named with the extra that installs what it lacks.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
import re
import types
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

from .api_inspect import ROOTS, Entry, describe, first_paragraph

PUBLIC_MODULES = ("mdb_engine.errors",)  # public modules that are not packages
DISTRIBUTION = "mdb-engine"


@dataclass
class ModuleDoc:
    """One public module: its summary and the entries of its `__all__`, in that order."""

    name: str
    summary: str | None
    entries: list[Entry] = field(default_factory=list)
    unavailable: str | None = None  # why the module could not be imported


def required_extra(error: ImportError) -> str:
    """Which extra of mdb-engine installs the module that failed to import (the smallest one
    that does, so ``oso`` rather than ``all``)."""
    missing = (error.name or "").split(".")[0].lower().replace("-", "_")
    extras: dict[str, set[str]] = {}
    for requirement in importlib.metadata.requires(DISTRIBUTION) or []:
        match = re.match(r"([A-Za-z0-9_.-]+).*extra\s*==\s*['\"]([^'\"]+)['\"]", requirement)
        if match:
            distribution = match.group(1).lower().replace("-", "_")
            extras.setdefault(match.group(2), set()).add(distribution)
    candidates = sorted(
        (len(distributions), extra)
        for extra, distributions in extras.items()
        if missing
        and any(name.startswith(missing) or missing.startswith(name) for name in distributions)
    )
    if candidates:
        return f"requires extra `{candidates[0][1]}`"
    return f"requires `{error.name}`, which is not installed"


def import_quietly(name: str) -> types.ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(name)


def walk_modules(root: str) -> Iterator[tuple[str, bool]]:
    package = import_quietly(root)
    yield root, True
    for info in pkgutil.walk_packages(package.__path__, f"{root}.", onerror=lambda _: None):
        if not any(part.startswith("_") for part in info.name.split(".")):
            yield info.name, info.ispkg


def public_module_names() -> list[str]:
    """Packages of both roots, every module of the compatibility layer, and PUBLIC_MODULES."""
    names = {
        name
        for root in ROOTS
        for name, is_package in walk_modules(root)
        if is_package or name in PUBLIC_MODULES or name.startswith("mdb_runtime.")
    }
    return sorted(names)


def import_all_modules() -> None:
    """Import every module, so that every exception class exists (``__main__`` excepted)."""
    for root in ROOTS:
        package = import_quietly(root)
        for info in pkgutil.walk_packages(package.__path__, f"{root}.", onerror=lambda _: None):
            if not info.name.endswith("__main__"):
                try:
                    import_quietly(info.name)
                except ImportError:
                    continue


def module_docs() -> list[ModuleDoc]:
    docs = []
    for name in public_module_names():
        try:
            module = import_quietly(name)
        except ImportError as error:
            docs.append(ModuleDoc(name, None, unavailable=required_extra(error)))
            continue
        exported = getattr(module, "__all__", None)
        if exported is None:
            continue
        doc = ModuleDoc(name, first_paragraph(module.__doc__))
        for exported_name in exported:
            try:
                obj = getattr(module, exported_name)
            except ImportError as error:
                doc.entries.append(Entry(name, exported_name, None, required_extra(error)))
                continue
            doc.entries.append(describe(name, exported_name, obj))
        docs.append(doc)
    return docs
