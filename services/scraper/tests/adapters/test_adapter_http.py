"""The retrying, polite HTTP layer, stubbed at the transport (no network, no real sleeps)."""

from __future__ import annotations

import random

import httpx
import pytest
from splitcart_scraper.adapters.errors import NetworkOutageError, RetailerUnavailableError
from splitcart_scraper.adapters.http import (
    PolitenessLimiter,
    RetailerHttp,
    parse_cookie_setting,
)
from splitcart_scraper.adapters.settings import RetryPolicy


class Sleeps:
    """Records requested sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _http(
    handler: httpx.MockTransport, sleeps: Sleeps, *, attempts: int = 4, rps: float = 0.0
) -> RetailerHttp:
    policy = RetryPolicy(max_attempts=attempts, backoff_base=0.001, backoff_cap=0.004)
    return RetailerHttp(
        "aldi",
        "http://retailer.test/aldi",
        policy=policy,
        rps=rps,
        transport=handler,
        sleep=sleeps,
        rng=random.Random(7),
    )


def _sequence(*responses: httpx.Response | Exception) -> tuple[httpx.MockTransport, list[str]]:
    seen: list[str] = []
    queue = list(responses)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return httpx.MockTransport(handle), seen


async def test_429_waits_for_retry_after_then_succeeds() -> None:
    transport, seen = _sequence(
        httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json={"ok": 1})
    )
    sleeps = Sleeps()
    http = _http(transport, sleeps)
    response = await http.session().get("/v3/product-search")
    assert response.json() == {"ok": 1}
    assert len(seen) == 2
    assert sleeps.calls[0] >= 3.0
    assert http.requests_made == 2


async def test_retry_after_longer_than_the_cap_gives_up_at_once() -> None:
    transport, seen = _sequence(httpx.Response(429, headers={"Retry-After": "86400"}))
    http = _http(transport, Sleeps())
    with pytest.raises(RetailerUnavailableError) as caught:
        await http.session().get("/x")
    assert caught.value.status == 429
    assert len(seen) == 1


async def test_5xx_is_retried_then_succeeds() -> None:
    transport, seen = _sequence(
        httpx.Response(503), httpx.Response(502), httpx.Response(200, json=[])
    )
    sleeps = Sleeps()
    response = await _http(transport, sleeps).session().get("/x")
    assert response.status_code == 200
    assert len(seen) == 3
    assert len(sleeps.calls) == 2


async def test_persistent_5xx_stops_after_the_retry_cap() -> None:
    transport, seen = _sequence(httpx.Response(500))
    sleeps = Sleeps()
    with pytest.raises(RetailerUnavailableError) as caught:
        await _http(transport, sleeps, attempts=3).session().get("/x")
    assert caught.value.status == 500
    assert len(seen) == 3
    assert len(sleeps.calls) == 2


async def test_backoff_grows_and_is_capped() -> None:
    transport, _ = _sequence(httpx.Response(500))
    sleeps = Sleeps()
    http = RetailerHttp(
        "coles",
        "http://retailer.test",
        policy=RetryPolicy(max_attempts=8, backoff_base=1.0, backoff_cap=4.0),
        transport=transport,
        sleep=sleeps,
        rng=random.Random(1),
    )
    with pytest.raises(RetailerUnavailableError):
        await http.session().get("/x")
    assert all(0.5 <= s <= 4.0 for s in sleeps.calls)
    assert max(sleeps.calls[-3:]) <= 4.0
    assert min(sleeps.calls[-3:]) >= 2.0  # capped step 4.0, equal jitter keeps half


async def test_connection_refused_everywhere_is_a_network_outage() -> None:
    transport, seen = _sequence(httpx.ConnectError("connection refused"))
    with pytest.raises(NetworkOutageError) as caught:
        await _http(transport, Sleeps(), attempts=3).session().get("/x")
    assert caught.value.attempts == 3
    assert len(seen) == 3


async def test_timeouts_and_resets_are_retried() -> None:
    transport, seen = _sequence(
        httpx.ReadTimeout("slow"),
        httpx.ReadError("connection reset by peer"),
        httpx.Response(200, json={}),
    )
    response = await _http(transport, Sleeps()).session().get("/x")
    assert response.status_code == 200
    assert len(seen) == 3


async def test_client_errors_are_returned_not_retried() -> None:
    transport, seen = _sequence(httpx.Response(400, json={"error": "offset"}))
    response = await _http(transport, Sleeps()).session().get("/x")
    assert response.status_code == 400
    assert len(seen) == 1


async def test_paths_hang_below_the_base_url() -> None:
    transport, seen = _sequence(httpx.Response(200, json={}))
    await _http(transport, Sleeps()).session().get("/v3/product-search", params={"offset": 30})
    assert seen == ["http://retailer.test/aldi/v3/product-search?offset=30"]


async def test_sessions_keep_their_own_cookies() -> None:
    cookies_seen: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        cookies_seen.append(request.headers.get("Cookie"))
        return httpx.Response(200, headers={"Set-Cookie": "visitor=abc; Path=/"}, json={})

    http = _http(httpx.MockTransport(handle), Sleeps())
    first = http.session(cookies={"fulfillmentStoreId": "858"})
    second = http.session(cookies={"fulfillmentStoreId": "911"})
    await first.get("/a")
    await second.get("/a")
    await first.get("/b")
    assert cookies_seen[0] == "fulfillmentStoreId=858"
    assert cookies_seen[1] == "fulfillmentStoreId=911"
    assert cookies_seen[2] == "fulfillmentStoreId=858; visitor=abc"


async def test_sessions_count_their_own_requests() -> None:
    transport, _ = _sequence(httpx.Response(503), httpx.Response(200, json={}))
    http = _http(transport, Sleeps())
    one, two = http.session(), http.session()
    await one.get("/x")
    await two.get("/x")
    assert (one.requests_made, two.requests_made, http.requests_made) == (2, 1, 3)


async def test_politeness_limiter_spaces_requests() -> None:
    sleeps = Sleeps()
    now = [100.0]
    limiter = PolitenessLimiter(2.0, sleep=sleeps, monotonic=lambda: now[0])
    for _ in range(3):
        await limiter.acquire()
    assert sleeps.calls == [0.5, 1.0]


async def test_politeness_off_never_waits() -> None:
    sleeps = Sleeps()
    limiter = PolitenessLimiter(0, sleep=sleeps)
    for _ in range(5):
        await limiter.acquire()
    assert sleeps.calls == []


def test_imported_cookie_jars_in_every_usual_spelling() -> None:
    assert parse_cookie_setting('{"a": "1"}') == {"a": "1"}
    assert parse_cookie_setting('[{"name": "a", "value": "1"}]') == {"a": "1"}
    assert parse_cookie_setting("a=1; b=x=y") == {"a": "1", "b": "x=y"}
    assert parse_cookie_setting(None) == {}
