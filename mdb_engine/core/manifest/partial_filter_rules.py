"""What MongoDB allows in a partial index's ``partialFilterExpression``, checked when the
manifest is validated (mirrors mongod 6.0.5's refusals; pure functions)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mdb_engine.core.manifest.fields import Location, Violation

__all__ = ["partial_filter_violations"]

_FIELD_OPERATORS = frozenset({"$eq", "$exists", "$gt", "$gte", "$lt", "$lte", "$type", "$in"})
_LOGICAL_OPERATORS = frozenset({"$and", "$or"})
_MAX_FILTER_DEPTH = 4
_PARTIAL_FILTER_HINT = (
    'a partial index filter can use equality ({"field": value} or $eq), $exists: true, '
    "$gt, $gte, $lt, $lte, $type, $in, and $and / $or around them"
)


def _render(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# -- partialFilterExpression -----------------------------------------------------------------


def partial_filter_violations(expression: Mapping[str, Any], at: Location = ()) -> list[Violation]:
    """What a partial index filter may not contain, located at ``at`` + the path in the filter."""
    violations = _filter_violations(expression, at)
    depth = _filter_depth(expression)
    if not violations and depth > _MAX_FILTER_DEPTH:
        violations.append(
            (
                at,
                f"the filter is nested {depth} levels deep, more than the "
                f"{_MAX_FILTER_DEPTH} MongoDB allows",
                "each $and / $or is a level, and so is an object with several conditions or a "
                "field with several operators: flatten the filter",
                None,
            )
        )
    return violations


def _filter_violations(expression: Mapping[str, Any], at: Location) -> list[Violation]:
    violations: list[Violation] = []
    for key, value in expression.items():
        if key in _LOGICAL_OPERATORS:
            violations.extend(_logical_violations(key, value, (*at, key)))
        elif key.startswith("$"):
            violations.append(_unsupported((*at, key), key, value))
        elif _is_operator_object(value):
            violations.extend(_operator_violations(value, (*at, key)))
    return violations


def _is_operator_object(value: Any) -> bool:
    # As on the server, the first key decides: an operator object, or a literal document.
    return isinstance(value, Mapping) and bool(value) and str(next(iter(value))).startswith("$")


def _filter_depth(expression: Mapping[str, Any]) -> int:
    """The height of the tree the server parses the filter into, where several conditions in
    one object, or several operators on one field, make an implicit $and."""
    depths = [_condition_depth(key, value) for key, value in expression.items()]
    if len(depths) > 1:
        return 1 + max(depths)
    return depths[0] if depths else 1


def _condition_depth(key: str, value: Any) -> int:
    if key in _LOGICAL_OPERATORS and isinstance(value, list):
        items = [_filter_depth(item) for item in value if isinstance(item, Mapping)]
        return 1 + max(items, default=0)
    if _is_operator_object(value) and len(value) > 1:
        return 2
    return 1


def _logical_violations(operator: str, value: Any, at: Location) -> list[Violation]:
    if not isinstance(value, list) or not value:
        return [
            (
                at,
                f"{operator!r} needs a non-empty array of filters",
                f'e.g. {{"{operator}": [{{"a": 1}}, {{"b": {{"$gt": 2}}}}]}}',
                value,
            )
        ]
    violations: list[Violation] = []
    for position, item in enumerate(value):
        if isinstance(item, Mapping):
            violations.extend(_filter_violations(item, (*at, position)))
        else:
            violations.append(((*at, position), "expected a filter object", None, item))
    return violations


def _operator_violations(operators: Mapping[str, Any], at: Location) -> list[Violation]:
    violations: list[Violation] = []
    for operator, argument in operators.items():
        where = (*at, operator)
        if not operator.startswith("$"):
            violations.append(
                (
                    where,
                    f"{operator!r} is not an operator, yet the object starts with one",
                    'to match a document literally, use {"$eq": {...}}',
                    argument,
                )
            )
        elif operator not in _FIELD_OPERATORS:
            violations.append(_unsupported(where, operator, argument))
        elif operator == "$exists" and argument in (0, None):  # false, 0 and null alike
            violations.append(
                (
                    where,
                    f"'$exists': {_render(argument)} cannot be used in a partial index filter",
                    _PARTIAL_FILTER_HINT,
                    argument,
                )
            )
        elif operator == "$in" and not isinstance(argument, list):
            violations.append((where, "'$in' needs an array", "e.g. [1, 2]", argument))
    return violations


def _unsupported(at: Location, operator: str, value: Any) -> Violation:
    return (
        at,
        f"{operator!r} cannot be used in a partial index filter",
        _PARTIAL_FILTER_HINT,
        value,
    )
