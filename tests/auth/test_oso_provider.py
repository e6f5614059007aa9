"""OsoProvider: Polar rules inline or from a file; clear errors for missing oso or bad rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mdb_engine.auth.providers import AuthorizationProvider, OsoProvider
from mdb_engine.core.manifest.models_auth import AuthorizationConfig
from mdb_engine.errors import ConfigurationError, OptionalDependencyMissing

POLAR = """\
allow("alice@example.com", "read", "reports");
allow(actor: String, "write", "reports") if actor.endswith("@admins.example.com");
"""

CASES = [
    ("alice@example.com", "reports", "read", True),
    ("alice@example.com", "reports", "write", False),
    ("alice@example.com", "tasks", "read", False),
    ("bob@example.com", "reports", "read", False),
    ("root@admins.example.com", "reports", "write", True),
    ("root@admins.example.com", "reports", "read", False),
]


@pytest.mark.parametrize(("subject", "resource", "action", "expected"), CASES)
async def test_inline_rules(subject: str, resource: str, action: str, expected: bool) -> None:
    provider = await OsoProvider.create(AuthorizationConfig(polar=POLAR))
    assert isinstance(provider, AuthorizationProvider)
    assert await provider.check(subject, resource, action) is expected


@pytest.mark.parametrize("is_absolute", [False, True])
async def test_rules_from_a_file(tmp_path: Path, is_absolute: bool) -> None:
    (tmp_path / "rules.polar").write_text(POLAR)
    polar_file = str(tmp_path / "rules.polar") if is_absolute else "rules.polar"
    provider = await OsoProvider.create(
        AuthorizationConfig(polar_file=polar_file), base_dir=None if is_absolute else tmp_path
    )
    for subject, resource, action, expected in CASES:
        assert await provider.check(subject, resource, action) is expected


async def test_the_user_document_does_not_change_the_answer() -> None:
    provider = await OsoProvider.create(AuthorizationConfig(polar=POLAR))
    user = {"email": "bob@example.com", "roles": ["admin"]}
    assert await provider.check("alice@example.com", "reports", "read", user=user) is True
    assert await provider.check("bob@example.com", "reports", "read", user=user) is False


async def test_missing_rules_say_what_to_add() -> None:
    with pytest.raises(ConfigurationError, match=r"auth\.policy\.authorization\.polar.*polar_file"):
        await OsoProvider.create(AuthorizationConfig())


async def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"'.*nope\.polar' does not exist"):
        await OsoProvider.create(AuthorizationConfig(polar_file="nope.polar"), base_dir=tmp_path)


async def test_a_file_without_the_polar_extension_is_refused(tmp_path: Path) -> None:
    (tmp_path / "rules.txt").write_text(POLAR)
    with pytest.raises(ConfigurationError, match=r"'.*rules\.txt' cannot be loaded: .*\.polar"):
        await OsoProvider.create(AuthorizationConfig(polar_file="rules.txt"), base_dir=tmp_path)


@pytest.mark.parametrize(
    ("polar", "message"),
    [
        ('allow(actor, "read", "reports"', "end of the file"),
        (
            "allow(actor, _action, _resource) if no_such_rule(actor);",
            "undefined rule: no_such_rule",
        ),
    ],
)
async def test_invalid_polar_is_a_configuration_error(polar: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"inline Polar rules.*{message}") as caught:
        await OsoProvider.create(AuthorizationConfig(polar=polar))
    assert type(caught.value.__cause__).__module__.startswith("polar")


async def test_missing_oso_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "oso", None)
    with pytest.raises(OptionalDependencyMissing, match=r"mdb-engine\[oso\]") as caught:
        await OsoProvider.create(AuthorizationConfig(polar=POLAR))
    assert caught.value.extra == "oso"
    assert caught.value.module == "oso"


def test_the_providers_import_without_the_extras() -> None:
    code = (
        "import sys; sys.modules['oso'] = None; sys.modules['casbin'] = None\n"
        "import mdb_engine.auth.providers as providers\n"
        "print(sorted(providers.__all__))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['AuthorizationProvider', 'CasbinProvider', 'OsoProvider']"
