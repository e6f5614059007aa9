"""Reading an uploaded plain-text or Markdown file into a title and a text, or a clear 4xx."""

from __future__ import annotations

from pathlib import PurePath

from fastapi import HTTPException
from starlette.datastructures import FormData, UploadFile

from .limits import MAX_TEXT_CHARS, MAX_TITLE_CHARS

__all__ = ["TEXT_SUFFIXES", "TEXT_TYPES", "read_upload"]

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown"})
TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/x-markdown"})
_MAX_FILE_BYTES = 4 * MAX_TEXT_CHARS  # UTF-8 takes at most 4 bytes a character


async def read_upload(form: FormData) -> tuple[str, str, str]:
    """``(title, text, filename)`` from the form's ``file`` (and optional ``title``) fields."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise HTTPException(422, "send the document as a multipart form field named 'file'")
    filename = PurePath(upload.filename or "upload.txt").name
    content_type = (upload.content_type or "").split(";")[0].strip().lower()
    if PurePath(filename).suffix.lower() not in TEXT_SUFFIXES and content_type not in TEXT_TYPES:
        raise HTTPException(
            415,
            f"{filename!r} ({content_type or 'no type'}) is not a plain-text or Markdown file: "
            f"send {', '.join(sorted(TEXT_SUFFIXES))}",
        )
    raw = await upload.read(_MAX_FILE_BYTES + 1)
    too_long = f"{filename!r} is longer than {MAX_TEXT_CHARS:,} characters"
    if len(raw) > _MAX_FILE_BYTES:
        raise HTTPException(413, too_long)
    text = _decode(raw, filename).strip()
    if len(text) > MAX_TEXT_CHARS:
        raise HTTPException(413, too_long)
    if not text:
        raise HTTPException(422, f"{filename!r} holds no text")
    title = str(form.get("title") or "").strip() or PurePath(filename).stem or filename
    if len(title) > MAX_TITLE_CHARS:
        raise HTTPException(422, f"the title is longer than {MAX_TITLE_CHARS} characters")
    return title, text, filename


def _decode(raw: bytes, filename: str) -> str:
    """UTF-8 text (a byte-order mark is dropped); 422 for anything that is not text."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(422, f"{filename!r} is not UTF-8 text") from None
    if "\x00" in text:
        raise HTTPException(422, f"{filename!r} looks binary (it holds NUL bytes)")
    return text
