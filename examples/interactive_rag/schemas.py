"""The request and answer bodies of the HTTP API, with their limits."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from .limits import MAX_QUERY_CHARS, MAX_RESULTS, MAX_TEXT_CHARS, MAX_TITLE_CHARS

Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE_CHARS)
]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)
]
Query = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_CHARS)
]


class NewDocument(BaseModel):
    """A document sent as JSON."""

    title: Title
    text: Text


class SearchRequest(BaseModel):
    """A semantic search: the ``k`` chunks closest in meaning to ``query``."""

    query: Query
    k: int = Field(default=5, ge=1, le=MAX_RESULTS)


class AskRequest(BaseModel):
    """A question, answered from the ``k`` chunks closest to it."""

    question: Query
    k: int = Field(default=4, ge=1, le=MAX_RESULTS)


class StoredDocument(BaseModel):
    """A document as listed: its id, title and what ingesting it produced."""

    id: str
    title: str
    filename: str | None = None
    characters: int
    chunk_count: int
    created_at: str


class Passage(BaseModel):
    """One retrieved chunk, with the document it came from and its cosine similarity."""

    document_id: str
    title: str
    chunk_index: int
    text: str
    score: float


class SearchAnswer(BaseModel):
    """The chunks found for a query, best first."""

    query: str
    results: list[Passage]


class Source(Passage):
    """A passage given to the LLM as source ``[number]``."""

    number: int


class Answer(BaseModel):
    """The LLM's answer and the numbered sources it was given."""

    question: str
    answer: str
    sources: list[Source]
