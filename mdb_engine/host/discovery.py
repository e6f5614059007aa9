"""Find the apps of a folder: every subfolder holding a ``manifest.json``, with its optional
``app.py``. A folder that itself holds a ``manifest.json`` is one app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mdb_engine.errors import ConfigurationError

__all__ = ["MANIFEST_FILE", "MODULE_FILE", "AppFolder", "discover_app_folders"]

MANIFEST_FILE = "manifest.json"
MODULE_FILE = "app.py"


@dataclass(frozen=True)
class AppFolder:
    """One app's folder: its manifest and, when there is one, its code."""

    path: Path

    @property
    def manifest_path(self) -> Path:
        """The folder's ``manifest.json``."""
        return self.path / MANIFEST_FILE

    @property
    def module_path(self) -> Path | None:
        """The folder's ``app.py``, or ``None`` when the app is a manifest alone."""
        module = self.path / MODULE_FILE
        return module if module.is_file() else None


def discover_app_folders(apps_dir: Path) -> list[AppFolder]:
    """The app folders of ``apps_dir`` in name order (hidden and ``_``-prefixed ones skipped)."""
    if not apps_dir.is_dir():
        raise ConfigurationError(
            f"apps folder {str(apps_dir)!r} does not exist or is not a folder: pass a folder "
            "whose subfolders each hold a manifest.json (`mdb-engine new SLUG` creates one)"
        )
    if (apps_dir / MANIFEST_FILE).is_file():
        return [AppFolder(apps_dir)]
    return [
        AppFolder(child)
        for child in sorted(apps_dir.iterdir())
        if child.is_dir()
        and not child.name.startswith((".", "_"))
        and (child / MANIFEST_FILE).is_file()
    ]
