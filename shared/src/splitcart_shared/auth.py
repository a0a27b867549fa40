"""Bearer-token auth: one token per calling service, with read/write scopes."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request

from splitcart_shared.errors import Forbidden, Unauthorized
from splitcart_shared.settings import CommonSettings, Scope


def caller_for(settings: CommonSettings, header: str | None, scope: Scope) -> str:
    """The calling service's name for a valid token with ``scope``; raises otherwise."""
    if settings.auth_disabled:
        return "anonymous"
    if not header or not header.lower().startswith("bearer "):
        raise Unauthorized("missing bearer token")
    presented = header[7:].strip()
    for caller, token in settings.api_tokens.items():
        if hmac.compare_digest(token.token, presented):
            if scope not in token.scopes:
                raise Forbidden(f"token of {caller!r} lacks the {scope!r} scope")
            return str(caller)
    raise Unauthorized("unknown bearer token")


def require(scope: Scope) -> Callable[[Request], Coroutine[Any, Any, str]]:
    """FastAPI dependency: ``Depends(require("write"))`` on mutating endpoints."""

    async def dependency(request: Request) -> str:
        settings: CommonSettings = request.app.state.settings
        return caller_for(settings, request.headers.get("authorization"), scope)

    return dependency


def bearer_headers(settings: CommonSettings) -> dict[str, str]:
    """Headers this process sends when calling another service."""
    return {"Authorization": f"Bearer {settings.service_token}"} if settings.service_token else {}
