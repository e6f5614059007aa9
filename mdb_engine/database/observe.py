"""The hook through which the engine times scoped operations, without the sandbox knowing
anything of metrics or logging."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

__all__ = ["OperationObserver", "no_observer", "observe_coroutine_methods"]

OperationObserver = Callable[[str, str, str], AbstractContextManager[Any]]
"""``observer(app, collection, operation)``: a context manager around one operation."""


def no_observer(app: str, collection: str, operation: str) -> AbstractContextManager[Any]:
    """Observes nothing."""
    return nullcontext()


def observe_coroutine_methods(
    cls: type,
    observer_of: Callable[[Any], tuple[Any, ...]],
    operations: Mapping[str, str] | None = None,
) -> None:
    """Wrap the public ``async def`` methods of ``cls`` so that they run inside the instance's
    observer; ``observer_of(instance)`` returns ``(observer, app, collection)``.

    ``operations`` (method -> operation name) limits the wrapping to those methods.
    """
    for name, method in list(vars(cls).items()):
        if name.startswith("_") or not inspect.iscoroutinefunction(method):
            continue
        if operations is not None and name not in operations:
            continue
        operation = operations[name] if operations is not None else name
        setattr(cls, name, _observed(operation, method, observer_of))


def _observed(
    operation: str, method: Callable[..., Any], observer_of: Callable[[Any], tuple[Any, ...]]
) -> Callable[..., Any]:
    @functools.wraps(method)
    async def observed(self: Any, *args: Any, **kwargs: Any) -> Any:
        observer, app, collection = observer_of(self)
        with observer(app, collection, operation):
            return await method(self, *args, **kwargs)

    return observed
