"""What docs/api.md says about a public name: its kind, signature, summary and members.

Everything here must come out the same on every run: annotations are shown as written in the
source (modules use ``from __future__ import annotations``), memory addresses are removed from
default values, and the order is that of ``__all__`` and of the class bodies.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import pydantic

ROOTS = ("mdb_engine", "mdb_runtime")

# Dunder methods that make a class usable in a way a reader must know, and what they allow.
SPECIAL_METHODS = {
    "__call__": "calling the object",
    "__getattr__": "attribute access (`obj.name`)",
    "__getitem__": "subscription (`obj[key]`)",
    "__contains__": "`in`",
    "__len__": "`len()`",
    "__iter__": "`for`",
    "__aiter__": "`async for`",
    "__anext__": "`async for`",
    "__enter__": "`with`",
    "__exit__": "`with`",
    "__aenter__": "`async with`",
    "__aexit__": "`async with`",
}
PLAIN_VALUES = (str, bytes, int, float, bool, tuple, frozenset, type(None))
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
QUALIFIER = re.compile(
    r"\b(?:typing_extensions|typing|collections\.abc|builtins|(?:mdb_engine|mdb_runtime)(?:\.\w+)*)\."
    r"(?=\w)"
)
ONE_LINE = 88


class Text:
    """A string that ``inspect`` prints as it is (for annotations and defaults)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


@dataclass
class Member:
    name: str
    kind: str
    signature: str
    summary: str | None

    @property
    def is_special(self) -> bool:
        return self.name in SPECIAL_METHODS


@dataclass
class Entry:
    """One name of a module's ``__all__``."""

    module: str
    name: str
    obj: Any
    kind: str
    signature: str | None = None
    summary: str | None = None
    bases: list[str] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    value: str | None = None

    @property
    def anchor(self) -> str:
        return f"{self.module}.{self.name}"


def scrub(text: str) -> str:
    return ADDRESS.sub("", text)


def markdown(text: str) -> str:
    """reST roles and double backticks as Markdown code."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def first_paragraph(doc: str | None) -> str | None:
    if not doc:
        return None
    paragraph = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return markdown(" ".join(paragraph.split())) or None


def own_doc(obj: Any) -> str | None:
    """The object's own docstring: a class does not inherit its base's, nor a dataclass's
    generated ``Name(field, ...)`` text."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    if not isinstance(doc, str):
        return None
    is_generated = inspect.isclass(obj) and dataclasses.is_dataclass(obj)
    if is_generated and doc.startswith(f"{obj.__name__}("):
        return None
    return doc


def annotation_text(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    return scrub(QUALIFIER.sub("", inspect.formatannotation(annotation)))


def signature_text(
    name: str,
    function: Any,
    *,
    drop_first: bool = False,
    annotations: dict[str, str] | None = None,
    wrap: bool = True,
) -> str:
    """``name(params) -> return`` with annotations as written, one parameter per line if long."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return f"{name}(...)"
    parameters = list(signature.parameters.values())
    if drop_first and parameters and parameters[0].kind is not inspect.Parameter.VAR_POSITIONAL:
        parameters = parameters[1:]
    shown = []
    for parameter in parameters:
        annotation = (annotations or {}).get(parameter.name, parameter.annotation)
        if annotation is not inspect.Parameter.empty:
            parameter = parameter.replace(annotation=Text(annotation_text(annotation)))
        if parameter.default is not inspect.Parameter.empty:
            parameter = parameter.replace(default=Text(scrub(repr(parameter.default))))
        shown.append(parameter)
    returns = signature.return_annotation
    if returns is not inspect.Signature.empty:
        returns = Text(annotation_text(returns))
    text = str(signature.replace(parameters=shown, return_annotation=returns))
    if not wrap or len(name) + len(text) <= ONE_LINE:
        return f"{name}{text}"
    # One parameter per line: split the formatted text on its top-level commas.
    inner, _, tail = text[1:].rpartition(")")
    parts = split_top_level(inner)
    body = "".join(f"    {part},\n" for part in parts)
    return f"{name}(\n{body}){tail}"


def split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def raw_annotations(cls: type) -> dict[str, str]:
    """Field annotations as written in the class bodies (pydantic evaluates its own)."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for name, annotation in inspect.get_annotations(klass).items():
            found[name] = annotation_text(annotation)
    return found


def is_own(cls: type) -> bool:
    return cls.__module__.split(".")[0] in ROOTS


def class_kind(cls: type) -> str:
    if issubclass(cls, BaseException):
        return "exception"
    if getattr(cls, "_is_protocol", False):
        return "protocol"
    if issubclass(cls, pydantic.BaseModel):
        return "pydantic model"
    if dataclasses.is_dataclass(cls):
        return "dataclass"
    if issubclass(cls, enum.Enum):
        return "enum"
    if typing.is_typeddict(cls):
        return "TypedDict"
    return "class"


def member_of(cls: type, name: str, raw: Any) -> Member | None:
    kind, drop_first, function = "method", True, raw
    if isinstance(raw, (property, functools.cached_property)):
        getter = raw.fget if isinstance(raw, property) else raw.func
        returns = getattr(getter, "__annotations__", {}).get("return")
        signature = name if returns is None else f"{name}: {annotation_text(returns)}"
        kind = "property" if isinstance(raw, property) else "cached property"
        return Member(name, kind, signature, first_paragraph(inspect.getdoc(raw)))
    if isinstance(raw, classmethod):
        kind, function = "classmethod", raw.__func__
    elif isinstance(raw, staticmethod):
        kind, drop_first, function = "staticmethod", False, raw.__func__
    elif not inspect.isfunction(raw):
        return None
    if inspect.iscoroutinefunction(function):
        kind = f"async {kind}"
    elif inspect.isasyncgenfunction(function):
        kind = f"async iterator {kind}"
    try:
        doc = inspect.getdoc(getattr(cls, name))
    except AttributeError:
        doc = function.__doc__
    signature = signature_text(name, function, drop_first=drop_first, wrap=False)
    return Member(name, kind, signature, first_paragraph(doc))


def class_members(cls: type) -> list[Member]:
    """Public methods and properties defined in this project's classes of the MRO."""
    members, seen = [], set()
    for klass in cls.__mro__:
        if not is_own(klass) or klass is cls.__mro__[-1]:
            continue
        for name, raw in klass.__dict__.items():
            if name in seen or (name.startswith("_") and name not in SPECIAL_METHODS):
                continue
            seen.add(name)
            member = member_of(cls, name, raw)
            if member is not None:
                members.append(member)
    return members


def describe_class(entry: Entry, cls: type) -> None:
    entry.kind = class_kind(cls)
    entry.summary = first_paragraph(own_doc(cls))
    entry.bases = [
        base.__name__
        if is_own(base)
        else f"{base.__module__}.{base.__qualname__}".replace("builtins.", "")
        for base in cls.__bases__
        if base is not object and base.__name__ not in ("Protocol", "Generic")
    ]
    entry.members = class_members(cls)
    if entry.kind == "protocol":
        return
    annotations = raw_annotations(cls) if entry.kind == "pydantic model" else None
    has_own_init = any("__init__" in vars(klass) for klass in cls.__mro__ if is_own(klass))
    if entry.kind != "exception" or has_own_init:
        entry.signature = signature_text(entry.name, cls, annotations=annotations)


def describe(module: str, name: str, obj: Any) -> Entry:
    entry = Entry(module, name, obj, kind="value")
    if inspect.isclass(obj):
        describe_class(entry, obj)
    elif hasattr(obj, "_fixture_function_marker"):
        function = obj._get_wrapped_function()
        entry.kind = f"pytest fixture ({obj._fixture_function_marker.scope} scope)"
        entry.signature = signature_text(name, function)
        entry.summary = first_paragraph(own_doc(function))
    elif inspect.isroutine(obj):
        entry.kind = "async function" if inspect.iscoroutinefunction(obj) else "function"
        if inspect.isasyncgenfunction(obj):
            entry.kind = "async iterator function"
        entry.signature = signature_text(name, obj)
        entry.summary = first_paragraph(own_doc(obj))
    elif typing.get_origin(obj) is not None or isinstance(obj, types.UnionType):
        entry.kind = "type alias"
        entry.value = annotation_text(obj)
    elif isinstance(obj, PLAIN_VALUES):
        entry.kind = "constant"
        if name == "__version__":
            entry.summary = "The installed version of mdb-engine."  # changes with every release
        else:
            entry.value = repr(obj)
    else:
        # ``_contextvars.ContextVar`` is documented as ``contextvars.ContextVar``
        entry.kind = f"`{type(obj).__module__.lstrip('_')}.{type(obj).__qualname__}` instance"
        text = scrub(repr(obj))
        entry.value = (
            None if text == f"<{type(obj).__module__}.{type(obj).__qualname__} object>" else text
        )
    return entry


def identity(obj: Any) -> int | None:
    """Objects re-exported under several names are documented once; plain values never are."""
    return None if isinstance(obj, PLAIN_VALUES) else id(obj)
