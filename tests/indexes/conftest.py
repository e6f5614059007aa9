"""Fixtures for the index tests: an Atlas Search stand-in in front of the test server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from pymongo.uri_parser import parse_uri
from search_standin import SearchStandIn


@pytest_asyncio.fixture
async def search_standin(mongodb_uri: str) -> AsyncIterator[SearchStandIn]:
    """A started search stand-in whose upstream is the test server; closed afterwards."""
    host, port = parse_uri(mongodb_uri)["nodelist"][0]
    async with SearchStandIn(host, port) as standin:
        yield standin
