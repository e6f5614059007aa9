"""docs/api.md from the public API: every name of every public ``__all__``, and the exceptions.

A name re-exported by several modules (``ScopedCollection`` is in ``mdb_engine`` and in
``mdb_engine.database``) is described once, where it first appears in module order; the other
modules link to it.
"""

from __future__ import annotations

import inspect

from mdb_engine.core.manifest import manifest_json_schema
from mdb_engine.errors import MDBEngineError

from .api_inspect import SPECIAL_METHODS, Entry, first_paragraph, identity, is_own, own_doc
from .api_modules import ModuleDoc, import_all_modules, module_docs
from .manifest_reference import build_reference

EXCEPTIONS_ANCHOR = "exceptions"
NO_DOCSTRING = "*(no docstring)*"


def homes_of(modules: list[ModuleDoc]) -> dict[int, Entry]:
    """For each object, the entry that describes it in full: its first appearance."""
    homes: dict[int, Entry] = {}
    for module in modules:
        for entry in module.entries:
            key = identity(entry.obj)
            if key is not None:
                homes.setdefault(key, entry)
    return homes


def home(homes: dict[int, Entry], entry: Entry) -> Entry | None:
    key = identity(entry.obj)
    return None if key is None else homes.get(key)


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def index_row(homes: dict[int, Entry], entry: Entry) -> str:
    full = home(homes, entry)
    if full is None:
        name = f"`{entry.name}`"
        summary = f"`{entry.value}`" if entry.value is not None else entry.summary or ""
    else:
        name = f"[`{entry.name}`](#{full.anchor})"
        summary = full.summary or ""
        if full is not entry:
            relation = "same as" if full.name == entry.name else "alias of"
            summary = f"{relation} [`{full.module}.{full.name}`](#{full.anchor}). {summary}"
        elif entry.value is not None:
            summary = f"`{entry.value}`"
    return f"| {name} | {cell(entry.kind)} | {cell(summary)} |"


def manifest_anchors() -> dict[str, str]:
    sections = build_reference(manifest_json_schema()).sections
    return {name: section.anchor for name, section in sections.items()}


def entry_lines(entry: Entry, manifest_links: dict[str, str]) -> list[str]:
    lines = [f'<a id="{entry.anchor}"></a>', "", f"### `{entry.anchor}`", "", f"*{entry.kind}*", ""]
    if entry.signature is not None:
        lines += ["```python", entry.signature, "```", ""]
    elif entry.value is not None:
        lines += ["```python", f"{entry.name} = {entry.value}", "```", ""]
    if inspect.isclass(entry.obj) or entry.signature is not None:
        lines += [entry.summary or NO_DOCSTRING, ""]
    if entry.bases:
        lines += ["Bases: " + ", ".join(f"`{base}`" for base in entry.bases) + ".", ""]
    anchor = manifest_links.get(entry.name) if entry.kind == "pydantic model" else None
    if anchor is not None:
        lines += [f"Fields: see the [manifest reference](manifest-reference.md#{anchor}).", ""]
    if entry.members:
        lines += ["Members:", ""]
        for member in entry.members:
            prefix = "" if member.kind in ("method", "property") else f"*{member.kind}* "
            summary = member.summary or NO_DOCSTRING
            if member.is_special and not member.summary:
                summary = f"supports {SPECIAL_METHODS[member.name]}."
            lines.append(f"- {prefix}`{member.signature}`: {summary}")
        lines.append("")
    return lines


def module_lines(
    module: ModuleDoc, homes: dict[int, Entry], manifest_links: dict[str, str]
) -> list[str]:
    lines = [f'<a id="{module.name}"></a>', "", f"## `{module.name}`", ""]
    if module.unavailable is not None:
        return [*lines, f"Not documented here: importing it {module.unavailable}.", ""]
    lines += [module.summary or NO_DOCSTRING, ""]
    lines += ["| name | kind | summary |", "| --- | --- | --- |"]
    lines += [index_row(homes, entry) for entry in module.entries]
    lines.append("")
    for entry in module.entries:
        if home(homes, entry) is entry:
            lines += entry_lines(entry, manifest_links)
    return lines


def class_label(cls: type, exported: dict[type, Entry]) -> str:
    entry = exported.get(cls)
    if entry is None:
        return f"`{cls.__module__}.{cls.__qualname__}` (internal)"
    return f"[`{entry.name}`](#{entry.anchor})"


def tree_lines(
    cls: type, parent: type | None, exported: dict[type, Entry], depth: int
) -> list[str]:
    others = [
        base.__name__
        for base in cls.__bases__
        if base not in (parent, Exception) and not is_own(base)
    ]
    also = f" (also `{'`, `'.join(others)}`)" if others else ""
    summary = first_paragraph(own_doc(cls))
    line = f"{'  ' * depth}- {class_label(cls, exported)}{also}"
    lines = [f"{line}: {summary}" if summary else line]
    direct: list[type] = type.__subclasses__(cls)
    subclasses = sorted(
        (sub for sub in direct if is_own(sub) and not sub.__name__.startswith("_")),
        key=lambda sub: (sub.__name__, sub.__module__),
    )
    for subclass in subclasses:
        lines += tree_lines(subclass, cls, exported, depth + 1)
    return lines


def exception_lines(homes: dict[int, Entry]) -> list[str]:
    import_all_modules()
    exported = {entry.obj: entry for entry in homes.values() if inspect.isclass(entry.obj)}
    intro = (
        "Every error the engine raises is an `MDBEngineError`; some are also a built-in "
        "exception, so that code written for that one keeps working. Classes marked internal "
        "are raised and handled inside the engine."
    )
    lines = [f'<a id="{EXCEPTIONS_ANCHOR}"></a>', "", "## Exception hierarchy", "", intro, ""]
    return [*lines, *tree_lines(MDBEngineError, None, exported, 0), ""]


def preamble(modules: list[ModuleDoc]) -> list[str]:
    lines = [
        "# API reference",
        "",
        "<!-- Generated from the public API by docs/generate.py: do not edit. -->",
        "",
        "The public API is every name in the `__all__` of `mdb_engine` and of its public "
        "packages, and of `mdb_runtime`, the compatibility layer for MDB_RUNTIME code; anything "
        "else is internal. Signatures show annotations as written in the source. A name that "
        "several modules export is described where it first appears. The manifest's keys are "
        "in the [manifest reference](manifest-reference.md).",
        "",
        "## Contents",
        "",
    ]
    lines += [f"- [`{module.name}`](#{module.name})" for module in modules]
    return [*lines, f"- [Exception hierarchy](#{EXCEPTIONS_ANCHOR})", ""]


def render_api_reference() -> str:
    """The whole of docs/api.md."""
    modules = module_docs()
    homes = homes_of(modules)
    manifest_links = manifest_anchors()
    lines = preamble(modules)
    for module in modules:
        lines += module_lines(module, homes, manifest_links)
    lines += exception_lines(homes)
    return "\n".join(lines).rstrip("\n") + "\n"


def missing_docstrings() -> list[str]:
    """Public modules, classes, functions and members that have no docstring."""
    modules = module_docs()
    homes = homes_of(modules)
    missing = [module.name for module in modules if module.summary is None]
    for module in modules:
        for entry in module.entries:
            if home(homes, entry) is not entry:
                continue
            if (inspect.isclass(entry.obj) or entry.signature is not None) and not entry.summary:
                missing.append(entry.anchor)
            missing += [
                f"{entry.anchor}.{member.name}"
                for member in entry.members
                if not member.summary and not member.is_special
            ]
    return missing
