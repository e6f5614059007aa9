"""What an authorization provider is: one async question, "may this subject do this?"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["AuthorizationProvider"]


@runtime_checkable
class AuthorizationProvider(Protocol):
    """Answers whether ``subject`` may perform ``action`` on ``resource``.

    ``user`` is the authenticated user's document (as ``get_current_user`` returns it), for
    providers whose rules look at its attributes. Implement this to plug in your own logic and
    set the instance on ``app.state.authz_provider``.
    """

    async def check(
        self,
        subject: str,
        resource: str,
        action: str,
        user: Mapping[str, Any] | None = None,
    ) -> bool:
        """Whether ``subject`` may perform ``action`` on ``resource``."""
