"""Load ``benchmarks/failover.py``: the CI test runs the same scenario, short."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

from tests.benchmarks.conftest import load_benchmark  # noqa: F401 (fixture)


@pytest.fixture
def failover(load_benchmark: Callable[[str], ModuleType]) -> ModuleType:  # noqa: F811
    """``benchmarks/failover.py`` imported as a module."""
    return load_benchmark("failover")
