"""Pure rules for ``ScopedDatabase.command``: which database commands an app may run.

PyMongo's ``db.command`` sends anything; a scoped database accepts only what cannot reach past
the app's own collections, and refuses everything else before it is sent (fail closed). Today
that is ``collMod`` changing a collection's document validation (``validator``,
``validationLevel``, ``validationAction``): the deliberate migration that
``collection_settings`` leaves to the app (the engine never changes an existing collection's
options at start-up).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mdb_engine.database.create_options import validator_allowing_app_id
from mdb_engine.database.names import physical_name
from mdb_engine.database.scope import check_no_server_javascript
from mdb_engine.errors import ScopeViolation

__all__ = ["ALLOWED_COMMANDS", "rewrite_command"]

# Command name -> the fields it may carry besides the collection name.
ALLOWED_COMMANDS: Mapping[str, frozenset[str]] = {
    "collMod": frozenset({"validator", "validationLevel", "validationAction", "comment"}),
}


def rewrite_command(
    command: str | Mapping[str, Any], value: Any, fields: Mapping[str, Any], app_id: str
) -> dict[str, Any]:
    """The command app ``app_id`` asked for, as it goes to the server (physical collection
    name, ``app_id`` allowed by a closed ``$jsonSchema``); ``ScopeViolation`` if it is not
    allowed. ``command``/``value``/``fields`` are ``db.command``'s arguments."""
    if isinstance(command, str):
        name, target, options = command, value, dict(fields)
    elif isinstance(command, Mapping) and command:
        name, target = next(iter(command.items()))
        options = {key: item for key, item in command.items() if key != name}
        options.update(fields)
    else:
        raise ScopeViolation("db.command takes a command name or a non-empty command document")
    allowed = ALLOWED_COMMANDS.get(name) if isinstance(name, str) else None
    if allowed is None:
        raise ScopeViolation(
            f"the command {name!r} is not available on a scoped database; allowed: "
            + ", ".join(sorted(ALLOWED_COMMANDS))
            + " (use the collection methods for everything else)"
        )
    if not isinstance(target, str):
        raise ScopeViolation(f"{name} takes the name of one of the app's collections")
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ScopeViolation(
            f"{name} on a scoped database accepts only {', '.join(sorted(allowed))}; "
            f"refused: {', '.join(unknown)}"
        )
    if "validator" in options:
        validator = options["validator"]
        if not isinstance(validator, Mapping):
            raise ScopeViolation("validator must be a document (a query or {'$jsonSchema': ...})")
        check_no_server_javascript(validator, where="validator")
        options["validator"] = dict(validator_allowing_app_id(validator))
    # Values the server judges (validationLevel, validationAction) go as given: its errors
    # reach the caller unchanged, as with PyMongo.
    return {name: physical_name(app_id, target), **options}
