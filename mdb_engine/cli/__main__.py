"""``python -m mdb_engine.cli`` runs the ``mdb-engine`` command."""

from mdb_engine.cli import main

main()
