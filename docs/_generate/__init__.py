"""Generators of the reference documents in ``docs/``; run ``docs/generate.py``, not these.

This package lives beside the documents, not in the shipped library: it reads the manifest's
JSON Schema and the public API and writes Markdown, deterministically.
"""
