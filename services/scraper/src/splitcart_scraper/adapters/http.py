"""The resilient, polite HTTP layer every adapter talks through.

One :class:`RetailerHttp` (one ``httpx.AsyncClient``) per chain and process. Each scrape
opens a :class:`RetailerSession` on it: its own cookies (the store is chosen by cookie at
Coles, Woolworths and IGA, so concurrent scrapes of different stores must never share a
jar) and its own request counter. Retries: 429 (Retry-After honoured), 5xx, timeouts and
connection errors, with capped exponential backoff and jitter; anything else is returned
to the adapter, which knows what a 400 or a 403 means for its chain.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx
import orjson
import structlog
from splitcart_shared.clock import clock

from .errors import NetworkOutageError, RetailerUnavailableError
from .settings import RetryPolicy

log = structlog.get_logger()

Sleep = Callable[[float], Awaitable[None]]
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class _Failure:
    """Why one attempt did not produce a usable response."""

    status: int | None  # None: a transport failure (refused, reset, timeout)
    detail: str
    retry_after: float | None


class PolitenessLimiter:
    """Spaces requests of one company at most ``rps`` per second; ``rps == 0`` is off."""

    def __init__(
        self,
        rps: float,
        *,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1.0 / rps if rps > 0 else 0.0
        self._sleep = sleep
        self._monotonic = monotonic
        self._next_slot = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self.interval == 0.0:
            return
        # Reserve the slot under the lock, wait outside it: waiters queue in order.
        async with self._lock:
            now = self._monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
        if slot > now:
            await self._sleep(slot - now)


class RetailerHttp:
    """The shared client of one chain: retries, politeness and a request count."""

    def __init__(
        self,
        chain: str,
        base_url: str,
        *,
        policy: RetryPolicy | None = None,
        rps: float = 0.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.chain = chain
        self.base_url = base_url.rstrip("/")
        self.policy = policy or RetryPolicy()
        self.limiter = PolitenessLimiter(rps, sleep=sleep)
        self.requests_made = 0
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._client = httpx.AsyncClient(
            headers=dict(headers or {}),
            timeout=self.policy.timeout,
            transport=transport,
            follow_redirects=True,
            # Sessions carry their own cookies; the shared client must never keep any.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        )

    def url(self, path: str) -> str:
        """An absolute URL for ``path`` below the base, or ``path`` itself if absolute."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def session(
        self, *, cookies: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> RetailerSession:
        return RetailerSession(self, cookies=cookies, headers=headers)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(
        self, request: httpx.Request, session: RetailerSession | None = None
    ) -> httpx.Response:
        """Send with retries; returns the first non-retryable response. Every attempt
        counts as a request, for the client and for ``session``."""
        failure = _Failure(None, "not attempted", None)
        for attempt in range(1, self.policy.max_attempts + 1):
            outcome = await self._attempt(request, session)
            if isinstance(outcome, httpx.Response):
                return outcome
            failure = outcome
            if attempt < self.policy.max_attempts:
                await self._backoff(request, attempt, failure)
        url, attempts = str(request.url), self.policy.max_attempts
        if failure.status is None:
            raise NetworkOutageError(self.chain, url, attempts, failure.detail)
        raise RetailerUnavailableError(self.chain, url, failure.status, attempts)

    async def _attempt(
        self, request: httpx.Request, session: RetailerSession | None
    ) -> httpx.Response | _Failure:
        await self.limiter.acquire()
        self.requests_made += 1
        if session is not None:
            session.requests_made += 1
        try:
            response = await self._client.send(request)
        except httpx.TransportError as exc:  # refused, reset, timed out, cut short
            return _Failure(None, f"{type(exc).__name__}: {exc}", None)
        if response.status_code not in RETRYABLE_STATUS:
            return response
        status = response.status_code
        return _Failure(status, f"HTTP {status}", _retry_after(response))

    async def _backoff(self, request: httpx.Request, attempt: int, failure: _Failure) -> None:
        wait = failure.retry_after
        if wait is not None and wait > self.policy.retry_after_cap:
            detail = f"Retry-After {wait:.0f}s exceeds the cap"
            status = failure.status or 429
            raise RetailerUnavailableError(self.chain, str(request.url), status, attempt, detail)
        delay = self._delay(attempt, wait)
        log.warning(
            "scrape.http_retry",
            company=self.chain,
            url=str(request.url),
            attempt=attempt,
            failure=failure.detail,
            delay=round(delay, 3),
        )
        await self._sleep(delay)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            # The server's wait is a floor; jitter only adds to it.
            return retry_after + self._rng.uniform(0, self.policy.backoff_base)
        ceiling = min(self.policy.backoff_cap, self.policy.backoff_base * 2.0 ** (attempt - 1))
        # Equal jitter: never less than half the step, so retries spread out yet back off.
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)


class RetailerSession:
    """One scrape's view of a chain's client: its cookies, headers and request count."""

    def __init__(
        self,
        http: RetailerHttp,
        *,
        cookies: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.http = http
        self.cookies: dict[str, str] = dict(cookies or {})
        self.headers: dict[str, str] = dict(headers or {})
        self.requests_made = 0
        # Per-scrape values an adapter threads through its calls (e.g. IGA's sessionId).
        self.context: dict[str, str] = {}

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        merged = {**self.headers, **(headers or {})}
        if self.cookies:
            merged["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        request = self.http._client.build_request(
            method, self.http.url(path), params=params, json=json, headers=merged
        )
        response = await self.http.send(request, self)
        self._keep_cookies(response)
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    def _keep_cookies(self, response: httpx.Response) -> None:
        for cookie in response.cookies.jar:
            if cookie.value is not None:
                self.cookies[cookie.name] = cookie.value


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), None if absent."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    seconds: float = (moment - clock.now()).total_seconds()
    return max(0.0, seconds)


def parse_cookie_setting(value: str | None) -> dict[str, str]:
    """An imported cookie jar: a JSON object, a JSON list of {name, value} (browser export)
    or a raw ``a=1; b=2`` header."""
    if not value or not value.strip():
        return {}
    text = value.strip()
    if text[0] in "[{":
        data = orjson.loads(text)
        if isinstance(data, dict):
            return {str(k): str(v) for k, v in data.items()}
        return {str(item["name"]): str(item["value"]) for item in data}
    pairs = (part.split("=", 1) for part in text.split(";") if "=" in part)
    return {name.strip(): val.strip() for name, val in pairs}
