"""Graduation: take an app out of the engine (or bring one in) as a mongodump directory.

``export_app`` writes one app's collections in mongodump's layout (BSON files plus
``.metadata.json`` with the indexes), ready for ``mongorestore``; ``import_app`` loads such a
dump back into an engine as an app, ``import_plain`` into any database as plain collections.
See docs/graduation.md.

| module | job |
| --- | --- |
| ``raw_bson`` | byte-exact removal or retagging of ``app_id`` in a raw document (pure) |
| ``dump_format`` | file names, ``.metadata.json``, reading ``.bson`` files with checks |
| ``strip`` | indexes without ``app_id`` for a stripped export (pure) |
| ``dump_reader`` | checks a whole dump directory before anything is written |
| ``export`` | writes an app's dump through its scoped database |
| ``loading`` | all-or-nothing load: staging collections, indexes, renames |
| ``import_dump`` | the import: checks on the target, load, registration, undo |
"""

from __future__ import annotations

from mdb_engine.graduation.dump_format import CollectionMetadata
from mdb_engine.graduation.dump_reader import Dump, DumpCollection, read_dump
from mdb_engine.graduation.export import ExportedCollection, ExportResult, export_app
from mdb_engine.graduation.import_dump import (
    AppRegistrar,
    ImportedCollection,
    ImportResult,
    import_app,
    import_plain,
)

__all__ = [
    "AppRegistrar",
    "CollectionMetadata",
    "Dump",
    "DumpCollection",
    "ExportResult",
    "ExportedCollection",
    "ImportResult",
    "ImportedCollection",
    "export_app",
    "import_app",
    "import_plain",
    "read_dump",
]
