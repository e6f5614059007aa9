"""The Casbin models a manifest can name ('rbac', 'acl') and loading a custom ``.conf`` model.

Every model must fit the provider's API: a request ``r`` and a rule ``p`` of exactly three
fields (subject, resource, action), a supported effect and a matcher that evaluates.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path
from typing import Any

from mdb_engine.errors import ConfigurationError, OptionalDependencyMissing

__all__ = ["ACL_MODEL", "BUILTIN_MODELS", "RBAC_MODEL", "import_casbin", "load_model"]

RBAC_MODEL = """\
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
"""

ACL_MODEL = """\
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == p.sub && r.obj == p.obj && r.act == p.act
"""

BUILTIN_MODELS = {"rbac": RBAC_MODEL, "acl": ACL_MODEL}

_REQUIRED_SECTIONS = {
    "r": "request_definition",
    "p": "policy_definition",
    "e": "policy_effect",
    "m": "matchers",
}
_FIELD_COUNT = 3  # subject, resource, action


def import_casbin() -> Any:
    """The ``casbin`` package, or ``OptionalDependencyMissing`` naming the extra to install."""
    try:
        import casbin
    except ImportError as error:
        raise OptionalDependencyMissing(
            "the casbin authorization provider", "casbin", "casbin"
        ) from error
    return casbin


def load_model(model: str, *, base_dir: Path | None = None) -> Any:
    """The Casbin ``Model`` that the manifest's ``model`` value names.

    ``model`` is ``'rbac'``, ``'acl'`` or the path of a ``.conf`` file: absolute, or relative
    to ``base_dir`` (the manifest's folder; the working directory when ``None``). Reads the
    file synchronously: call it through ``asyncio.to_thread`` from async code.
    """
    casbin = import_casbin()
    if model in BUILTIN_MODELS:
        text, source = BUILTIN_MODELS[model], f"the built-in {model!r} Casbin model"
    else:
        path = Path(model).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        source = f"the Casbin model file {str(path)!r}"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as error:
            raise ConfigurationError(f"{source} does not exist") from error
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigurationError(f"{source} cannot be read: {error}") from error
    loaded = casbin.Model()
    try:
        loaded.load_model_from_text(text)
    except Exception as error:  # casbin raises bare exceptions of several kinds
        raise ConfigurationError(f"{source} is not a valid Casbin model: {error}") from error
    _check_model(casbin, loaded, source)
    return loaded


def _check_model(casbin: Any, model: Any, source: str) -> None:
    missing = [f"[{name}]" for key, name in _REQUIRED_SECTIONS.items() if model[key] is None]
    if missing:
        raise ConfigurationError(
            f"{source} is not a valid Casbin model: missing section(s) {', '.join(missing)}"
        )
    for key in ("r", "p"):
        assertion = model[key].get(key)
        if assertion is None or len(assertion.tokens) != _FIELD_COUNT:
            raise ConfigurationError(
                f"{source} is not usable here: '{key}' must have exactly three fields "
                f"(subject, resource, action), e.g. '{key} = sub, obj, act'"
            )
    if "eval(" in model["m"]["m"].value:
        return  # eval() matchers can only be evaluated against stored rules
    try:
        # A trial request on a copy checks the effect and the matcher's syntax now rather than
        # at the first check.
        trial = casbin.Enforcer(copy.deepcopy(model))
        trial.enforce("subject", "resource", "action")
    except Exception as error:
        raise ConfigurationError(f"{source} is not a valid Casbin model: {error}") from error
    _check_matcher_names(casbin, model, trial.fm.get_functions(), source)


def _check_matcher_names(casbin: Any, model: Any, functions: Any, source: str) -> None:
    # The trial request stops at the first false comparison, so names and functions used
    # further on are checked here, on the expression as Casbin rewrites and parses it.
    functions = {**functions, **dict.fromkeys(model["g"] or {})}
    text = model["m"]["m"].value.replace("&&", "and").replace("||", "or")
    evaluator = casbin.util.SimpleEval(re.sub(r"!(?!=)", "not ", text), functions)
    known = set(model["r"]["r"].tokens) | set(model["p"]["p"].tokens) | set(evaluator.functions)
    for node in ast.walk(evaluator.ast_parsed_value):
        if isinstance(node, ast.Name) and node.id not in known:
            name = node.id.replace("_", ".", 1) if node.id[:2] in ("r_", "p_") else node.id
            raise ConfigurationError(
                f"{source} is not a valid Casbin model: the matcher uses {name!r}, which is "
                "neither a request or policy field nor a known function"
            )
