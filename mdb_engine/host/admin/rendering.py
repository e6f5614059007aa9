"""The console's HTML: Jinja2 templates (autoescaped) fed with plain data only.

Templates never receive a database, collection, client or engine object: :func:`check_plain`
refuses anything but ``None``, booleans, numbers, strings, dates, lists, tuples, dicts with
string keys and dataclass instances made of those. A template therefore cannot reach data
the console did not read through the sandbox on purpose.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from importlib import resources

import jinja2

__all__ = ["TEMPLATES", "Renderer", "check_plain", "read_stylesheet"]

TEMPLATES = ("login.html", "apps.html", "app.html", "message.html")
_PARTS = ("base.html", "_health.html")
_SCALARS = (str, int, float, bool, datetime, date, timedelta, type(None))


def check_plain(value: object, where: str = "context") -> None:
    """Raise ``TypeError`` unless ``value`` is plain data, all the way down."""
    if isinstance(value, _SCALARS):
        return
    if type(value) is list or type(value) is tuple:
        for index, item in enumerate(value):
            check_plain(item, f"{where}[{index}]")
        return
    if type(value) is dict:
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has a key that is not a string: {key!r}")
            check_plain(item, f"{where}.{key}")
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            check_plain(getattr(value, field.name), f"{where}.{field.name}")
        return
    raise TypeError(f"{where} is a {type(value).__name__}, not plain data a template may see")


class Renderer:
    """Renders the console's templates, loaded once when the console is created."""

    def __init__(self) -> None:
        self.environment = jinja2.Environment(
            loader=jinja2.PackageLoader("mdb_engine.host.admin", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            auto_reload=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # Read from disk here, not inside a request handler.
        self._templates = {
            name: self.environment.get_template(name) for name in (*_PARTS, *TEMPLATES)
        }

    def render(self, name: str, context: Mapping[str, object]) -> str:
        """The page ``name`` filled with ``context`` (checked to be plain data)."""
        values = dict(context)
        check_plain(values)
        return self._templates[name].render(values)


def read_stylesheet() -> bytes:
    """The console's CSS file."""
    return resources.files("mdb_engine.host.admin").joinpath("static/admin.css").read_bytes()
