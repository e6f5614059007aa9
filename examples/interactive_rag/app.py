"""Interactive RAG: add documents, search them by meaning, ask questions answered from them
with numbered sources (served under /apps/interactive_rag by ``mdb-engine serve``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from mdb_engine import MongoDBEngine, ScopedDatabase
from mdb_engine.embeddings import EmbeddingService
from mdb_engine.host import get_app_db, get_app_slug, get_engine

from .answering import answer, chat_model_from_env, stream_answer
from .documents import add_document, delete_document, find_document, list_documents, parse_id
from .limits import MAX_BODY_BYTES, BodySizeLimit
from .prompting import number_sources
from .retrieval import retrieve
from .schemas import Answer, AskRequest, NewDocument, SearchAnswer, SearchRequest, StoredDocument
from .uploads import read_upload

PAGE = (Path(__file__).parent / "index.html").read_text(encoding="utf-8")

app = FastAPI(title="Interactive RAG")
app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)

Db = Annotated[ScopedDatabase, Depends(get_app_db)]


async def get_embeddings(
    engine: Annotated[MongoDBEngine, Depends(get_engine)],
    slug: Annotated[str, Depends(get_app_slug)],
) -> EmbeddingService:
    """The app's embedding service, as its manifest's ``embedding_config`` sets it up."""
    return await engine.get_embedding_service(slug)


Embeddings = Annotated[EmbeddingService, Depends(get_embeddings)]


@app.get("/", response_class=HTMLResponse, include_in_schema=False)
async def home() -> HTMLResponse:
    """The page: add, list and delete documents, search, ask (the API is at ``docs``)."""
    return HTMLResponse(PAGE)


@app.post("/documents", status_code=201)
async def add_json_document(
    document: NewDocument, db: Db, embeddings: Embeddings
) -> StoredDocument:
    """Store a document sent as ``{"title", "text"}``: its record and its embedded chunks."""
    return await add_document(db, embeddings, document.title, document.text)


@app.post("/documents/upload", status_code=201)
async def upload_document(request: Request, db: Db, embeddings: Embeddings) -> StoredDocument:
    """Store an uploaded ``.txt`` or ``.md`` file (form fields ``file``, optional ``title``)."""
    # Starlette answers a malformed multipart body with 400 itself.
    async with request.form(max_files=1, max_fields=2) as form:
        title, text, filename = await read_upload(form)
    return await add_document(db, embeddings, title, text, filename=filename)


@app.get("/documents")
async def get_documents(db: Db) -> list[StoredDocument]:
    """The documents, newest first."""
    return await list_documents(db)


@app.get("/documents/{document_id}")
async def get_document(document_id: str, db: Db) -> dict[str, Any]:
    """One document with its text."""
    found = await _find(db, document_id)
    return {
        "id": document_id,
        "title": found["title"],
        "filename": found.get("filename"),
        "text": found["text"],
        "chunk_count": found["chunk_count"],
    }


@app.delete("/documents/{document_id}")
async def remove_document(document_id: str, db: Db, embeddings: Embeddings) -> dict[str, Any]:
    """Delete a document and its chunks."""
    parsed = parse_id(document_id)
    deleted = None if parsed is None else await delete_document(db, embeddings, parsed)
    if deleted is None:
        raise HTTPException(404, f"no document {document_id!r}")
    return {"deleted": document_id, "chunks_deleted": deleted}


@app.post("/search")
async def search(request: SearchRequest, embeddings: Embeddings) -> SearchAnswer:
    """The chunks closest in meaning to the query, best first, with their documents' titles."""
    results = await retrieve(embeddings, request.query, request.k)
    return SearchAnswer(query=request.query, results=results)


@app.post("/ask")
async def ask(request: AskRequest, embeddings: Embeddings) -> Answer:
    """The LLM's answer from the closest chunks, and those chunks as numbered sources."""
    async with chat_model_from_env() as llm:  # 503 before any work when no LLM is configured
        sources = number_sources(await retrieve(embeddings, request.question, request.k))
        text = await answer(llm, request.question, sources)
    return Answer(question=request.question, answer=text, sources=sources)


@app.post("/ask/stream")
async def ask_stream(request: AskRequest, embeddings: Embeddings) -> StreamingResponse:
    """As ``/ask``, the answer streamed as server-sent events (``sources``, ``delta``…,
    ``done``)."""
    llm = chat_model_from_env()
    try:
        sources = number_sources(await retrieve(embeddings, request.question, request.k))
    except BaseException:
        await llm.aclose()
        raise
    events = stream_answer(llm, request.question, sources)
    return StreamingResponse(events, media_type="text/event-stream")


async def _find(db: ScopedDatabase, document_id: str) -> dict[str, Any]:
    """A document's record, or 404."""
    parsed = parse_id(document_id)
    found = None if parsed is None else await find_document(db, parsed)
    if found is None:
        raise HTTPException(404, f"no document {document_id!r}")
    return found
