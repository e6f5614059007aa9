"""Fixtures for the embeddings tests: the local model (loaded once), the vector search stand-in."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from pymongo.uri_parser import parse_uri

# The Atlas Search stand-in lives beside the index tests; the vector stand-in extends it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "indexes"))

from vector_standin import VectorSearchStandIn


@pytest_asyncio.fixture
async def vector_standin(mongodb_uri: str) -> AsyncIterator[VectorSearchStandIn]:
    """An Atlas Vector Search stand-in in front of the test server."""
    host, port = parse_uri(mongodb_uri)["nodelist"][0]
    standin = VectorSearchStandIn(host, port)
    await standin.start()
    try:
        yield standin
    finally:
        await standin.close()
