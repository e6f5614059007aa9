"""The project's own tests use the same pytest plugin that app authors use."""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from mdb_engine.embeddings import LocalEmbeddingProvider

pytest_plugins = ["mdb_engine.testing", "pytester"]

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def seed_app(
    mongodb_uri: str, mongodb_database: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Path], ModuleType]]:
    """Load a seed quick start (``main.py`` beside ``manifest.json``) exactly as written.

    The seeds hard-code ``mongodb://localhost:27017``; the one thing changed is the module's
    ``engine``, rebuilt with the same class on this test's server and database.
    """

    def load(folder: Path) -> ModuleType:
        monkeypatch.chdir(folder)  # the seeds read "manifest.json" from the working directory
        name = f"seed_app_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(name, folder / "main.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.engine = type(module.engine)(mongodb_uri, mongodb_database)
        return module

    return load


@pytest.fixture(scope="session")
def local_model() -> LocalEmbeddingProvider:
    """The bundled all-MiniLM-L6-v2 embedding provider, loaded once for the session (later
    providers share the loaded model)."""
    provider = LocalEmbeddingProvider()
    asyncio.run(provider.load())
    return provider
