"""Prometheus metrics shared by every service."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

EVENTS_PUBLISHED = Counter(
    "splitcart_events_published_total", "Events published from an outbox", ["service", "event_type"]
)
EVENTS_UNROUTABLE = Counter(
    "splitcart_events_unroutable_total", "Events no queue was bound for", ["service", "event_type"]
)
EVENTS_HANDLED = Counter(
    "splitcart_events_handled_total",
    "Events handled by a consumer",
    ["consumer", "event_type", "outcome"],
)
EVENTS_DEAD_LETTERED = Counter(
    "splitcart_events_dead_lettered_total", "Events dead-lettered", ["consumer", "event_type"]
)
OUTBOX_PENDING = Gauge("splitcart_outbox_pending", "Unpublished outbox rows", ["service"])
HANDLER_SECONDS = Histogram(
    "splitcart_handler_seconds", "Consumer handler duration", ["consumer", "event_type"]
)


def render_latest() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
