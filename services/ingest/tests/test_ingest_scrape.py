"""store.scraped: prices, history, delisting, rejections and redelivery (both backends)."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
import zstandard
from splitcart_ingest import catalogue, models
from splitcart_shared.clock import utc
from splitcart_shared.events import CompressedProducts


async def _ready(harness: Any, rows: list[dict[str, Any]] | None = None) -> None:
    await harness.discover()
    if rows is not None:
        await harness.scrape(rows)


async def test_first_full_scrape_creates_products_current_prices_and_history(harness: Any) -> None:
    p = harness.make_product
    await _ready(harness)
    envelope = await harness.scrape(
        [p("1", 350), p("2", 199, was_price_cents=250, on_special=True)]
    )
    prices = await harness.prices()
    assert {sku: r["price_cents"] for sku, r in prices.items()} == {"1": 350, "2": 199}
    assert prices["2"]["was_price_cents"] == 250 and prices["2"]["on_special"]
    scraped_at = utc(prices["1"]["observed_at"])
    assert utc(prices["1"]["first_seen"]) == scraped_at == utc(prices["1"]["valid_from"])
    assert len(await harness.history("1")) == 1
    (ingested,) = await harness.events("store.ingested")
    assert ingested["source_event_id"] == str(envelope.event_id)
    assert (ingested["products"], ingested["new_products"], ingested["delisted"]) == (2, 2, 0)
    assert ingested["store_id"] == "100" and ingested["lease_token"] == "lease-1"


async def test_unchanged_prices_extend_the_open_history_row(harness: Any) -> None:
    p = harness.make_product
    await _ready(harness, [p("1", 350)])
    await harness.scrape([p("1", 350)])
    third = harness.scrape_event([p("1", 350)])
    await harness.deliver(third)
    (row,) = await harness.history("1")
    assert utc(row["last_seen"]) == utc(third.scraped_at)
    current = (await harness.prices())["1"]
    assert utc(current["observed_at"]) == utc(current["last_seen"]) == utc(third.scraped_at)
    assert utc(current["valid_from"]) == utc(row["valid_from"])


@pytest.mark.parametrize(
    "change",
    [
        {"price_cents": 300},
        {"was_price_cents": 400, "on_special": True},
        {"unit_price_cents": 60},
        {"unit_measure": "1kg"},
        {"available": False},
        {"price_cents": None},
    ],
)
async def test_a_new_history_row_only_when_a_price_field_changes(
    harness: Any, change: dict[str, Any]
) -> None:
    p = harness.make_product
    await _ready(harness, [p("1", 350), p("2", 500)])
    await harness.scrape([p("1", 350, **change), p("2", 500, name="Renamed, same price")])
    first, second = await harness.history("1")
    assert utc(second["valid_from"]) > utc(first["valid_from"])
    assert all(second[k] == v for k, v in change.items())
    assert len(await harness.history("2")) == 1
    (_, ingested) = await harness.events("store.ingested")
    assert ingested["changed_prices"] == 1 and ingested["new_products"] == 0


async def test_full_scrape_delists_what_it_no_longer_lists(harness: Any) -> None:
    p = harness.make_product
    await _ready(harness, [p("1"), p("2"), p("3")])
    await harness.scrape([p("1"), p("3")], kind="full")
    prices = await harness.prices()
    assert prices["2"]["delisted"] and prices["2"]["delisted_at"] is not None
    assert not prices["1"]["delisted"] and not prices["3"]["delisted"]
    assert (await harness.events("store.ingested"))[-1]["delisted"] == 1


async def test_spot_scrape_never_delists(harness: Any) -> None:
    p = harness.make_product
    await _ready(harness, [p("1"), p("2"), p("3")])
    await harness.scrape([p("1", 999)], kind="spot", expected_count=None)
    prices = await harness.prices()
    assert not any(r["delisted"] for r in prices.values())
    assert prices["1"]["price_cents"] == 999
    assert (await harness.events("store.ingested"))[-1]["delisted"] == 0


async def test_a_relisted_product_starts_a_new_history_row(harness: Any) -> None:
    p = harness.make_product
    await _ready(harness, [p("1"), p("2")])
    await harness.scrape([p("1")])
    await harness.scrape([p("1"), p("2")])
    assert not (await harness.prices())["2"]["delisted"]
    assert len(await harness.history("2")) == 2


async def test_new_skus_among_known_ones_apply_with_every_change_once(harness: Any) -> None:
    p = harness.make_product
    await _ready(harness, [p("1", 100), p("2", 200), p("3", 300)])
    await harness.scrape([p("1", 110), p("2", 200, name="Renamed"), p("4", 400), p("5", 500)])
    (_, ingested) = await harness.events("store.ingested")
    assert (ingested["new_products"], ingested["changed_prices"], ingested["delisted"]) == (2, 1, 1)
    prices = await harness.prices()
    assert {sku: (r["price_cents"], r["delisted"]) for sku, r in prices.items()} == {
        "1": (110, False),
        "2": (200, False),
        "3": (300, True),
        "4": (400, False),
        "5": (500, False),
    }
    assert [len(await harness.history(sku)) for sku in "12345"] == [2, 1, 1, 1, 1]
    assert (await harness.product_row("coles", "2"))["name"] == "Renamed"


async def test_raw_snapshot_is_kept_compressed(harness: Any) -> None:
    p = harness.make_product
    rows = [p("1"), p("2")]
    await _ready(harness)
    envelope = await harness.scrape(rows, categories_scraped=["Pantry"])
    (snapshot,) = await harness.rows(models.snapshots)
    assert snapshot["event_id"] == str(envelope.event_id)
    assert snapshot["kind"] == "full" and snapshot["product_count"] == 2
    assert snapshot["categories_scraped"] == ["Pantry"]
    assert zstandard.ZstdDecompressor().decompress(snapshot["data"]).count(b"\n") == 1


async def test_redelivered_scrape_changes_nothing(harness: Any) -> None:
    p = harness.make_product
    await _ready(harness)
    scrape = harness.scrape_event([p("1"), p("2")])
    envelope = await harness.deliver(scrape)
    before = await harness.state()
    await harness.deliver(scrape, envelope)
    assert await harness.state() == before
    assert len(await harness.events("store.ingested")) == 1


def _garbled(blob: bytes) -> CompressedProducts:
    return CompressedProducts(count=1, data=base64.b64encode(blob).decode())


def _raw(lines: list[bytes], count: int | None = None) -> CompressedProducts:
    blob = zstandard.ZstdCompressor().compress(b"\n".join(lines))
    return CompressedProducts(
        count=len(lines) if count is None else count, data=base64.b64encode(blob).decode()
    )


REJECTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("served_store_mismatch", "other store served", {"served_store_id": "999"}),
    ("served_store_mismatch", "no store served", {"served_store_id": None}),
    ("truncated", "scraper says incomplete", {"complete": False}),
    ("truncated", "far fewer than expected", {"expected_count": 100}),
    ("malformed", "not zstd", {"products": _garbled(b"not zstd at all")}),
    ("malformed", "count disagrees", {"products": _raw([b'{"sku": "9", "name": "x"}'], 2)}),
    ("malformed", "not json", {"products": _raw([b"{nope"])}),
    ("malformed", "missing name", {"products": _raw([b'{"sku": "9"}'])}),
    ("malformed", "unknown field", {"products": _raw([b'{"sku": "9", "name": "x", "zz": 1}'])}),
    (
        "malformed",
        "negative price",
        {"products": _raw([b'{"sku": "9", "name": "x", "price_cents": -5}'])},
    ),
    ("malformed", "blank sku", {"products": _raw([b'{"sku": "  ", "name": "x"}'])}),
    ("malformed", "duplicate sku", {"products": _raw([b'{"sku": "9", "name": "x"}'] * 2)}),
    (
        "unknown_store",
        "store never discovered",
        {"requested_store_id": "555", "served_store_id": "555"},
    ),
]


@pytest.mark.parametrize(("reason", "case", "override"), REJECTIONS, ids=[r[1] for r in REJECTIONS])
async def test_every_rejection_names_its_reason_and_writes_nothing(
    harness: Any, reason: str, case: str, override: dict[str, Any]
) -> None:
    p = harness.make_product
    await _ready(harness, [p("1"), p("2")])
    before = await harness.state()
    rows = [p("1", 111), p("2", 222)]
    scrape = harness.scrape_event(rows, **override)
    envelope = await harness.deliver(scrape)
    assert await harness.state() == before
    (rejected,) = await harness.events("scrape.rejected")
    assert rejected["reason"] == reason, rejected["detail"]
    assert rejected["source_event_id"] == str(envelope.event_id)
    assert rejected["detail"]


async def test_a_catalogue_staged_piece_by_piece_is_applied_whole(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalogue, "PIECE_BYTES", 300)  # about one product a piece
    p = harness.make_product
    await _ready(harness, [p(str(i), 100 + i) for i in range(30)])
    prices = await harness.prices()
    assert {sku: r["price_cents"] for sku, r in prices.items()} == {
        str(i): 100 + i for i in range(30)
    }


async def test_a_fault_in_a_later_piece_refuses_the_scrape_and_writes_nothing(
    harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalogue, "PIECE_BYTES", 300)  # earlier pieces are loaded by then
    p = harness.make_product
    await _ready(harness, [p("1"), p("2")])
    before = await harness.state()
    lines = [orjson.dumps(p(str(i), 100 + i)) for i in range(30)] + [b'{"sku": "x"}']
    await harness.deliver(harness.scrape_event([], products=_raw(lines), expected_count=31))
    assert await harness.state() == before
    (rejected,) = await harness.events("scrape.rejected")
    assert rejected["reason"] == "malformed"
    assert rejected["detail"].startswith("invalid product at 30.name:")


@pytest.mark.parametrize("offset_hours", [0, -1])
async def test_a_scrape_not_newer_than_the_applied_one_is_a_stale_lease(
    harness: Any, offset_hours: int
) -> None:
    from datetime import timedelta

    p = harness.make_product
    await _ready(harness)
    latest = harness.scrape_event([p("1", 100)])
    await harness.deliver(latest)
    before = await harness.state()
    old = harness.scrape_event(
        [p("1", 999)], scraped_at=latest.scraped_at + timedelta(hours=offset_hours)
    )
    await harness.deliver(old)
    assert await harness.state() == before
    (rejected,) = await harness.events("scrape.rejected")
    assert rejected["reason"] == "stale_lease"


async def test_a_full_scrape_at_the_moment_of_an_applied_spot_check_applies(harness: Any) -> None:
    p = harness.make_product
    await _ready(harness)
    await harness.deliver(harness.scrape_event([p("1", 100), p("2", 200)]))
    spot = harness.scrape_event([p("1", 110)], kind="spot")
    await harness.deliver(spot)
    # The check asked for the whole catalogue at once: same moment, more of it.
    full = harness.scrape_event([p("1", 110), p("3", 300)], scraped_at=spot.scraped_at)
    await harness.deliver(full)
    assert await harness.events("scrape.rejected") == []
    prices = await harness.prices()
    assert prices["2"]["delisted"] and not prices["3"]["delisted"]  # the full scrape's view
    # A second full scrape of that same moment is stale, and so is a spot check of it.
    for kind in ("full", "spot"):
        again = harness.scrape_event([p("1", 999)], kind=kind, scraped_at=spot.scraped_at)
        await harness.deliver(again)
    rejected = await harness.events("scrape.rejected")
    assert [r["reason"] for r in rejected] == ["stale_lease", "stale_lease"]


async def test_redelivered_rejection_is_not_rejected_twice(harness: Any) -> None:
    await _ready(harness)
    scrape = harness.scrape_event([harness.make_product("1")], served_store_id="7")
    envelope = await harness.deliver(scrape)
    await harness.deliver(scrape, envelope)
    assert len(await harness.events("scrape.rejected")) == 1


async def test_a_scrape_of_a_closed_store_still_applies(harness: Any) -> None:
    await harness.discover(stores=[harness.make_store("100"), harness.make_store("101")])
    await harness.discover(stores=[harness.make_store("101")])
    await harness.scrape([harness.make_product("1")])
    assert set(await harness.prices()) == {"1"}


async def test_an_undecodable_message_is_dead_lettered_and_the_consumer_keeps_serving(
    harness: Any,
) -> None:
    from splitcart_shared.bus import InProcessBus

    bus = InProcessBus()
    await bus.subscribe(harness.sub)
    await bus.deliver_raw(harness.sub, b'{"event_type": "store.scraped", "payload": {}}')
    (dead,) = await harness.rows(models.messaging.dead_letters)
    assert dead["error"].startswith("poison")
    await _ready(harness)
    await harness.scrape([harness.make_product("1")])
    assert set(await harness.prices()) == {"1"}
