"""One exception hierarchy, rooted at MDBEngineError, each class documented."""

from __future__ import annotations

import inspect

import pytest

from mdb_engine import errors


def error_classes() -> list[type[BaseException]]:
    return [
        value
        for name in errors.__all__
        if inspect.isclass(value := getattr(errors, name)) and issubclass(value, BaseException)
    ]


@pytest.mark.parametrize("error", error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_is_an_mdb_engine_error_with_a_docstring(error: type[BaseException]) -> None:
    assert issubclass(error, errors.MDBEngineError)
    assert error.__doc__
    assert error.__doc__.strip()


def test_scope_violation_is_a_permission_error() -> None:
    assert issubclass(errors.ScopeViolation, PermissionError)


def test_manifest_error_lists_every_problem() -> None:
    problems = [
        errors.ManifestProblem("$.slug", "invalid slug", "e.g. 'my_app'"),
        errors.ManifestProblem("$.name", "missing required key 'name'"),
    ]
    error = errors.ManifestError(problems, source="manifest.json")
    assert str(error).splitlines() == [
        "invalid manifest in manifest.json: 2 problems",
        "  - $.slug: invalid slug (e.g. 'my_app')",
        "  - $.name: missing required key 'name'",
    ]


def test_optional_dependency_missing_names_the_extra() -> None:
    error = errors.OptionalDependencyMissing("Casbin authorization", "casbin", "casbin")
    assert isinstance(error, ImportError)
    assert "pip install 'mdb-engine[casbin]'" in str(error)
