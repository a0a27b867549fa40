"""The specific failures an adapter reports, so the worker can tell them apart.

A worker fails the lease on any of these; ingest turns ``ShapeError`` into a
``scrape.rejected`` with reason ``malformed``. None of them is ever swallowed.
"""

from __future__ import annotations


class AdapterError(Exception):
    """Base of every failure an adapter raises on purpose."""

    def __init__(self, chain: str, message: str) -> None:
        super().__init__(f"{chain}: {message}")
        self.chain = chain


class ShapeError(AdapterError):
    """The retailer answered with something other than the shape we parse.

    ``path`` points at the offending spot (``Bundles[0].Products[3].Price``) so a shape
    change on the retailer's side is diagnosed from the message alone.
    """

    def __init__(self, chain: str, path: str, detail: str) -> None:
        super().__init__(chain, f"unexpected response shape at {path}: {detail}")
        self.path = path
        self.detail = detail


class BlockedError(AdapterError):
    """The retailer's bot protection answered instead of the site (e.g. a challenge page)."""

    def __init__(self, chain: str, url: str, detail: str) -> None:
        super().__init__(chain, f"blocked at {url}: {detail}")
        self.url = url
        self.detail = detail


class NetworkOutageError(AdapterError):
    """The retailer could not be reached at all after the capped retries (refused, reset,
    timed out). The attempt ends here; the worker fails the lease instead of looping."""

    def __init__(self, chain: str, url: str, attempts: int, cause: str) -> None:
        super().__init__(chain, f"network outage at {url} after {attempts} attempts: {cause}")
        self.url = url
        self.attempts = attempts
        self.cause = cause


class RetailerUnavailableError(AdapterError):
    """The retailer kept answering 429/5xx past the retry cap (or asked us to wait longer
    than we are prepared to)."""

    def __init__(self, chain: str, url: str, status: int, attempts: int, detail: str = "") -> None:
        suffix = f" ({detail})" if detail else ""
        super().__init__(chain, f"HTTP {status} from {url} after {attempts} attempts{suffix}")
        self.url = url
        self.status = status
        self.attempts = attempts


class UnexpectedStatusError(AdapterError):
    """A status that retrying cannot fix (404, 401, ...) where the adapter expected data."""

    def __init__(self, chain: str, url: str, status: int) -> None:
        super().__init__(chain, f"unexpected HTTP {status} from {url}")
        self.url = url
        self.status = status


class MalformedBodyError(ShapeError):
    """A 200 whose body is not even JSON (cut short, garbled). Unlike a changed shape it
    can be transient, so the engine re-requests the page before giving up."""


class StoreUnavailableError(AdapterError):
    """The retailer does not know the store or will not serve it (closed, no online shop)."""

    def __init__(self, chain: str, store_id: str, detail: str) -> None:
        super().__init__(chain, f"store {store_id} is not served: {detail}")
        self.store_id = store_id


class SessionRequiredError(AdapterError):
    """The chain needs an imported browser session (cookies) that was not configured or
    has expired."""
