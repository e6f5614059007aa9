"""Load ``benchmarks/failover.py``: the CI test runs the same scenario, short."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def failover(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``benchmarks/failover.py`` imported as a module."""
    spec = importlib.util.spec_from_file_location("failover", BENCHMARKS / "failover.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module
