"""docs/manifest-reference.md from the manifest's JSON Schema (``manifest_json_schema()``).

Every object of the schema gets a section with one row per field; ``$ref`` links become links
between sections. Nothing here describes a field by itself: descriptions come from the schema,
and :func:`missing_descriptions` lists the fields whose schema has none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mdb_engine.core.manifest import manifest_json_schema
from mdb_engine.core.manifest.migration import LEGACY_KEYS

Schema = dict[str, Any]

ROOT = "AppManifest"
ROOT_ANCHOR = "top-level"
EMPTY = "—"
STRING_KEYWORDS = {"minLength", "maxLength", "pattern", "allOf", "not", "format"}


@dataclass
class Section:
    """One object of the schema: its definition name and every path where it appears."""

    definition: str
    paths: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return ROOT_ANCHOR if self.definition == ROOT else self.definition.lower()

    @property
    def title(self) -> str:
        return "Top level" if self.definition == ROOT else f"`{self.paths[0]}`"


@dataclass
class Reference:
    """The schema, its sections in reading order, and the rows that lack a description."""

    schema: Schema
    sections: dict[str, Section] = field(default_factory=dict)

    def node(self, definition: str) -> Schema:
        if definition == ROOT:
            return self.schema
        node: Schema = self.schema["$defs"][definition]
        return node

    def link(self, definition: str) -> str:
        section = self.sections[definition]
        return f"[`{section.paths[0] or 'top level'}`](#{section.anchor})"


def ref_name(node: Schema) -> str:
    ref: str = node["$ref"]
    return ref.rsplit("/", 1)[-1]


def nested_refs(node: Schema, path: str) -> Iterator[tuple[str, str]]:
    """Each definition that ``node`` refers to, with the path its fields are found at."""
    if "$ref" in node:
        yield ref_name(node), path
    for variant in node.get("anyOf", []) + node.get("allOf", []):
        yield from nested_refs(variant, path)
    if isinstance(node.get("items"), dict):
        yield from nested_refs(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from nested_refs(node["additionalProperties"], f"{path}.<name>")


def child_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def build_reference(schema: Schema) -> Reference:
    """Find the sections depth first, in the schema's property order (the manifest's order)."""
    reference = Reference(schema)

    def visit(definition: str, path: str) -> None:
        if definition in reference.sections:
            reference.sections[definition].paths.append(path)
            return
        reference.sections[definition] = Section(definition, [path])
        for name, prop in reference.node(definition).get("properties", {}).items():
            for nested, nested_path in nested_refs(prop, child_path(path, name)):
                visit(nested, nested_path)

    visit(ROOT, "")
    return reference


def code(value: str) -> str:
    return f"`{value}`"


def json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def string_type(node: Schema) -> str:
    min_length, max_length = node.get("minLength"), node.get("maxLength")
    if min_length == 1 and max_length is None:
        parts = ["non-empty string"]
    elif min_length is not None and max_length is not None:
        parts = [f"string of {min_length}–{max_length} characters"]
    elif max_length is not None:
        parts = [f"string of at most {max_length} characters"]
    elif min_length is not None:
        parts = [f"string of at least {min_length} characters"]
    else:
        parts = ["string"]
    patterns = [node["pattern"]] if "pattern" in node else []
    patterns += [part["pattern"] for part in node.get("allOf", []) if "pattern" in part]
    parts += [f"matching {code(pattern)}" for pattern in patterns]
    if "pattern" in node.get("not", {}):
        parts.append(f"not matching {code(node['not']['pattern'])}")
    if "format" in node:
        parts.append(f"format {code(node['format'])}")
    return ", ".join(parts)


def number_type(node: Schema) -> str:
    bounds = []
    for key, sign in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
    ):
        if key in node:
            bounds.append(f"{sign} {node[key]}")
    return " ".join([node["type"], ", ".join(bounds)]) if bounds else str(node["type"])


def count_text(node: Schema) -> str:
    low, high = node.get("minItems"), node.get("maxItems")
    if low is not None and low == high:
        return f" ({low} items)"
    if low is not None and high is not None:
        return f" ({low}–{high} items)"
    if low is not None:
        return f" (at least {low} items)"
    return f" (at most {high} items)" if high is not None else ""


def type_text(reference: Reference, node: Schema) -> str:
    """A readable type: "string", "integer ≥ 0", "one of: a, b", "list of X", "map of …"."""
    if "$ref" in node:
        return f"object, see {reference.link(ref_name(node))}"
    if "anyOf" in node:
        variants = [variant for variant in node["anyOf"] if variant.get("type") != "null"]
        text = ", or ".join(type_text(reference, variant) for variant in variants)
        return f"{text}, or null" if len(variants) < len(node["anyOf"]) else text
    if "const" in node:
        return f"always {code(json_text(node['const']))}"
    if "enum" in node:
        values = node["enum"]
        shown = (
            values if all(isinstance(value, str) for value in values) else map(json_text, values)
        )
        return "one of: " + ", ".join(code(str(value)) for value in shown)
    kind = node.get("type")
    if kind == "string":
        return string_type(node)
    if kind in ("integer", "number"):
        return number_type(node)
    if kind == "array":
        if "prefixItems" in node:
            parts = ", ".join(type_text(reference, item) for item in node["prefixItems"])
            return f"[{parts}]"
        items = node.get("items")
        item_text = type_text(reference, items) if isinstance(items, dict) else "anything"
        return f"list{count_text(node)} of {item_text}"
    if kind == "object":
        values = node.get("additionalProperties")
        if isinstance(values, dict):
            names = node.get("propertyNames")
            name_text = f" (names: {type_text(reference, names)})" if names else ""
            return f"map of name → {type_text(reference, values)}{name_text}"
        return "object (any keys)"
    if kind is None and STRING_KEYWORDS & node.keys():
        return string_type(node)
    return str(kind) if kind else "anything"


def own_description(reference: Reference, node: Schema) -> str | None:
    """The field's description, else that of its only type (an ``anyOf`` with null, a ref)."""
    if "description" in node:
        text: str = node["description"]
        return text
    for variant in node.get("anyOf", []):
        found = own_description(reference, variant)
        if found:
            return found
    if "$ref" in node:
        return own_description(reference, reference.node(ref_name(node)))
    return None


def element_description(reference: Reference, node: Schema) -> str | None:
    """For a list or a map without a description of its own: what each element is."""
    for variant in [node, *node.get("anyOf", [])]:
        for key, label in (("items", "Each item"), ("additionalProperties", "Each value")):
            element = variant.get(key)
            if isinstance(element, dict):
                found = own_description(reference, element)
                if found:
                    return f"{label}: {found}"
    return None


def prose(text: str) -> str:
    """A docstring-style description as Markdown: one line, reST ````code```` as `code`."""
    return " ".join(text.split()).replace("``", "`")


def cell(text: str) -> str:
    return prose(text).replace("|", "\\|")


def field_rows(reference: Reference, section: Section) -> Iterator[tuple[str, Schema, bool]]:
    node = reference.node(section.definition)
    required = set(node.get("required", []))
    for name, prop in node.get("properties", {}).items():
        yield child_path(section.paths[0], name), prop, name in required


def section_lines(reference: Reference, section: Section) -> list[str]:
    node = reference.node(section.definition)
    lines = [f'<a id="{section.anchor}"></a>', "", f"## {section.title}", ""]
    if section.definition != ROOT:
        description = prose(node.get("description", ""))
        lines += [f"Schema definition `{section.definition}`. {description}".rstrip(), ""]
    if len(section.paths) > 1:
        others = ", ".join(code(path) for path in section.paths[1:])
        lines += [f"Also found at {others}.", ""]
    if node.get("additionalProperties") is not False:
        lines += ["This object also accepts keys not listed here.", ""]
    lines += [
        "| field | type | required | default | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for path, prop, is_required in field_rows(reference, section):
        default = code(json_text(prop["default"])) if "default" in prop else EMPTY
        about = own_description(reference, prop) or element_description(reference, prop)
        row = [
            code(path),
            type_text(reference, prop),
            "yes" if is_required else "no",
            default,
            about or "",
        ]
        lines.append("| " + " | ".join(cell(text) for text in row) + " |")
    return [*lines, ""]


def preamble(schema: Schema) -> list[str]:
    legacy = ", ".join(f"`{old}` → `{new}`" for old, new in sorted(LEGACY_KEYS.items()))
    if "$schema" in schema.get("properties", {}):
        schema_key = (
            'A manifest may point at that file with a `"$schema"` key '
            '(`"$schema": "./manifest.schema.json"`), which editors follow and the engine '
            "ignores: it is neither stored in the registry nor part of the manifest's fingerprint."
        )
    else:
        schema_key = (
            'A manifest cannot carry a `"$schema"` key (unknown keys are refused), so point the '
            "editor at the file in its settings instead (in VS Code: `json.schemas` with "
            '`"fileMatch": ["manifest.json"]`).'
        )
    closed = all(
        schema["$defs"][name].get("additionalProperties") is False for name in schema["$defs"]
    )
    closed_note = " Every object refuses keys that it does not list." if closed else ""
    return [
        "# Manifest reference",
        "",
        "<!-- Generated from the manifest's JSON Schema by docs/generate.py: do not edit. -->",
        "",
        f"{prose(schema.get('description', ''))} This page lists every key that a "
        "`manifest.json` can hold; it is generated from the JSON Schema that validation uses."
        + closed_note,
        "",
        "- **Validate** manifests with `mdb-engine validate manifest.json`: it prints every "
        "problem with its JSON path (`$.managed_indexes.tasks[0].keys`) and exits 1 if any "
        "manifest is invalid.",
        "- **Editors**: `mdb-engine schema > manifest.schema.json` writes the JSON Schema "
        f"(dialect {code(schema.get('$schema', ''))}, `$id` {code(schema.get('$id', ''))}); "
        "the same file ships in the package as `mdb_engine/core/manifest/schema.json`. "
        + schema_key,
        '- **Schema 1.0** (the MDB_RUNTIME form: no `schema_version`, or `"1.0"`) is still '
        "accepted and migrated to this form, with a `DeprecationWarning` saying what to change: "
        f"{legacy}; everything else is carried over, and a problem in a moved value is "
        "reported at its 1.0 path. See the README (*The engine*) and "
        "[auth.md](auth.md) for the auth keys.",
        "",
        "In the field paths, `<name>` stands for a key that the app chooses (a collection name, "
        "an endpoint name) and `[]` for each item of a list.",
        "",
    ]


def contents(reference: Reference) -> list[str]:
    lines = ["## Contents", ""]
    for section in reference.sections.values():
        name = "" if section.definition == ROOT else f" ({section.definition})"
        lines.append(f"- [{section.title}](#{section.anchor}){name}")
    return [*lines, ""]


def render_manifest_reference(schema: Schema | None = None) -> str:
    """The whole of docs/manifest-reference.md."""
    schema = manifest_json_schema() if schema is None else schema
    reference = build_reference(schema)
    lines = preamble(schema) + contents(reference)
    for section in reference.sections.values():
        lines += section_lines(reference, section)
    return "\n".join(lines).rstrip("\n") + "\n"


def missing_descriptions(schema: Schema | None = None) -> list[str]:
    """Field paths whose schema has no description of its own (nor of its object type)."""
    schema = manifest_json_schema() if schema is None else schema
    reference = build_reference(schema)
    return [
        path
        for section in reference.sections.values()
        for path, prop, _ in field_rows(reference, section)
        if own_description(reference, prop) is None
    ]
