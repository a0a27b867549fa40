"""Seeded fault injection, off by default.

Transport-level faults (429, 5xx, slow, reset, malformed) wrap the whole ASGI app;
content faults (truncated pages, served-store mismatch) are asked for by the listing
handlers. Each knob draws from its own counter-based stream, so a given seed and request
order always fault the same requests.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from splitcart_scraper.sandbox.hashing import TAG_FAULT, key_of, uniform

KNOBS = ("rate_limit", "server_error", "slow", "reset", "malformed", "truncated", "store_mismatch")
TRANSPORT_KNOBS = ("rate_limit", "server_error", "reset", "malformed", "slow")
CHAIN_PREFIXES = {
    "woolworths": "woolworths",
    "coles": "coles",
    "aldi": "aldi",
    "iga": "iga",
    "iga-locator": "iga",
}


@dataclass
class Knob:
    rate: float = 0.0
    seed: int = 0
    chains: list[str] | None = None  # None = every chain

    def applies(self, chain: str) -> bool:
        return self.rate > 0 and (self.chains is None or chain in self.chains)


@dataclass
class FaultConfig:
    knobs: dict[str, Knob] = field(default_factory=dict)
    retry_after_seconds: int = 1
    slow_seconds: float = 2.0

    def knob(self, name: str) -> Knob:
        return self.knobs.get(name, Knob())

    def to_dict(self) -> dict[str, Any]:
        return {
            "knobs": {
                n: {"rate": k.rate, "seed": k.seed, "chains": k.chains}
                for n, k in self.knobs.items()
            },
            "retry_after_seconds": self.retry_after_seconds,
            "slow_seconds": self.slow_seconds,
        }


class FaultInjector:
    """Decides, per request and knob, whether to inject; counts what it injected."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self.injected: Counter[str] = Counter()
        self._draws: Counter[str] = Counter()
        self._lock = threading.Lock()

    def fires(self, name: str, chain: str) -> bool:
        knob = self.config.knob(name)
        if not knob.applies(chain):
            return False
        with self._lock:
            draw = self._draws[name]
            self._draws[name] += 1
        hit = bool(uniform(knob.seed, TAG_FAULT, key_of(name), draw)[0] < knob.rate)
        if hit:
            self.injected[name] += 1
        return hit

    def pick(self, name: str, count: int) -> int:
        """A seeded choice in [0, count) for a fault's details (e.g. the wrong store)."""
        knob = self.config.knob(name)
        return int(uniform(knob.seed, TAG_FAULT, key_of(name), -1 - self.injected[name])[0] * count)

    def update(self, body: dict[str, Any]) -> None:
        for name, value in body.items():
            if name == "retry_after_seconds":
                self.config.retry_after_seconds = int(value)
            elif name == "slow_seconds":
                self.config.slow_seconds = float(value)
            elif name in KNOBS:
                self.config.knobs[name] = Knob(
                    float(value.get("rate", 0)), int(value.get("seed", 0)), value.get("chains")
                )
            else:
                raise ValueError(f"unknown fault knob {name!r}; known: {', '.join(KNOBS)}")


def chain_of_path(path: str) -> str | None:
    head = path.lstrip("/").split("/", 1)[0]
    return CHAIN_PREFIXES.get(head)


class FaultMiddleware:
    """Raw ASGI wrapper: cheap when every knob is off."""

    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chain = chain_of_path(scope.get("path", "")) if scope["type"] == "http" else None
        if chain is None or not self.injector.config.knobs:
            await self.app(scope, receive, send)
            return
        fault = next((k for k in TRANSPORT_KNOBS if self.injector.fires(k, chain)), None)
        if fault == "slow":
            await asyncio.sleep(self.injector.config.slow_seconds)
            fault = None
        if fault is None:
            await self.app(scope, receive, send)
        elif fault in ("rate_limit", "server_error"):
            await self._error(send, fault)
        else:
            await self.app(scope, receive, _Mangler(send, fault).send)

    async def _error(self, send: Send, fault: str) -> None:
        if fault == "rate_limit":
            status = 429
            body = b'{"message":"Too Many Requests"}'
            extra = [(b"retry-after", str(self.injector.config.retry_after_seconds).encode())]
        else:
            status = (500, 502, 503)[self.injector.pick("server_error", 3)]
            body = b"<html><body><h1>Service Unavailable</h1></body></html>"
            extra = []
        headers = [
            (b"content-type", b"application/json" if status == 429 else b"text/html"),
            (b"content-length", str(len(body)).encode()),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class ConnectionDropped(ConnectionResetError):
    """Raised mid-response so the server aborts the connection (the client sees a reset)."""


class _HideDroppedConnections(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


def quiet_dropped_connections() -> None:
    """Injected resets are expected: keep their tracebacks out of the server log."""
    logging.getLogger("uvicorn.error").addFilter(_HideDroppedConnections())


class _Mangler:
    """Rewrites a normal response into a malformed body or a dropped connection."""

    def __init__(self, send: Send, fault: str) -> None:
        self._send = send
        self.fault = fault
        self._start: Message | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._start = message
            return
        body: bytes = message.get("body", b"")
        assert self._start is not None
        cut = body[: max(1, len(body) // 2)]
        headers = [(k, v) for k, v in self._start["headers"] if k.lower() != b"content-length"]
        if self.fault == "malformed":
            await self._send({**self._start, "headers": [*headers, _length(cut)]})
            await self._send({"type": "http.response.body", "body": cut})
            return
        await self._send({**self._start, "headers": [*headers, _length(body)]})
        await self._send({"type": "http.response.body", "body": cut, "more_body": True})
        raise ConnectionDropped("sandbox fault: connection reset")


def _length(body: bytes) -> tuple[bytes, bytes]:
    return (b"content-length", str(len(body)).encode())
