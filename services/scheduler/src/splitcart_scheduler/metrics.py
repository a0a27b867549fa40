"""Prometheus gauges of due work and live leases (scraper autoscaling reads them)."""

from __future__ import annotations

from prometheus_client import Gauge
from splitcart_shared.events import COMPANIES

from splitcart_scheduler.models import REASONS
from splitcart_scheduler.service import Stats

DUE_STORES = Gauge(
    "splitcart_scheduler_due_stores",
    "Stores due to be handed out now, by company and reason",
    ["company", "reason"],
)
LIVE_LEASES = Gauge(
    "splitcart_scheduler_live_leases", "Leases currently held, by company", ["company"]
)


def publish(stats: Stats) -> None:
    # Every series is set, zero included, so an autoscaler sees work drain to nothing.
    for company in COMPANIES:
        LIVE_LEASES.labels(company).set(0)
        for reason in REASONS.values():
            DUE_STORES.labels(company, reason).set(0)
    for due_company, reason, count in stats.due:
        DUE_STORES.labels(due_company, reason).set(count)
    for lease_company, live, _cap in stats.leases:
        LIVE_LEASES.labels(lease_company).set(live)
