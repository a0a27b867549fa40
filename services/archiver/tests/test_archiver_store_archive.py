"""Store and company archives: contents equal the database, inherited history, categories,
schemas, manifest and events, atomic writes (both backends)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import pytest
from splitcart_archiver import builder, models
from splitcart_archiver.archive_schema import validator
from splitcart_archiver.service import Archiver
from splitcart_ingest import models as catalog
from splitcart_shared.clock import utc
from splitcart_shared.db import Database
from splitcart_shared.errors import DomainError, NotFound
from sqlalchemy import select

from .conftest import Seed, at, outbox_events, read_json


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def pt(day: float, price: str | None, source: str = "direct_scrape", **kw: Any) -> dict[str, Any]:
    point = {
        "date": iso(at(day)),
        "price": price,
        "was_price": None,
        "unit_price": None,
        "unit_measure": None,
        "on_special": False,
        "available": True,
        "source": source,
    }
    point.update(kw)
    return point


def inferred(day: float, price: str) -> dict[str, Any]:
    return pt(day, price, "inferred_group")


async def seed_direct_store(seed: Seed) -> None:
    await seed.company()
    await seed.store("COL:858", state="NSW")
    await seed.product("1", category=["Pantry", "Snacks"])
    await seed.product("2", category=["Dairy", "Milk"], barcode="9300000000001")
    await seed.product("3", category=[])
    await seed.price("COL:858", "1", at(0), at(2), 350)
    await seed.price("COL:858", "1", at(3), at(5), 299, was_price_cents=350, on_special=True)
    await seed.price("COL:858", "2", at(1), at(4), 120, unit_price_cents=24, unit_measure="100ml")
    await seed.price("COL:858", "3", at(2), at(2), None, available=False)


async def seed_member_store(seed: Seed) -> None:
    """Store 200: member of 100's group over days [10, 20), its own anchor over [20, 25),
    member of 300's group from day 25 on."""
    await seed.company()
    for store_id in ("100", "200", "300"):
        await seed.store(store_id)
    await seed.product("A", category=["Pantry", "Snacks"])
    await seed.product("B", category=["Dairy", "Milk"])
    await seed.price("200", "A", at(0), at(8), 350)
    await seed.price("200", "A", at(15), at(15), 340)  # a spot check while a member
    for day, cents in ((5, 360), (12, 370), (15, 380), (22, 390)):
        await seed.price("100", "A", at(day), at(day + 1), cents)
    await seed.price("100", "B", at(0), at(30), 100)
    await seed.price("300", "A", at(1), at(29), 500)
    await seed.price("300", "A", at(30), at(31), 510)
    await seed.membership("200", "g1", "100", at(10), at(20))
    await seed.membership("200", "g2", "200", at(20), at(25))
    await seed.membership("200", "g3", "300", at(25))
    await seed.group("g3", "300", ["200"])


async def test_direct_store_archive_holds_exactly_its_price_history(
    seed: Seed, archiver: Archiver
) -> None:
    await seed_direct_store(seed)
    (built,) = await archiver.build("coles", "COL:858")
    assert built.path == "store_data/coles/COL_858.json"
    document = read_json(archiver.root, built.path)
    assert document["metadata"]["store"]["store_id"] == "COL:858"
    assert document["metadata"]["product_count"] == 3 == len(document["products"])
    by_sku = {p["sku"]: p for p in document["products"]}
    assert by_sku["1"]["price_history"] == [
        pt(0, "3.50"),
        pt(3, "2.99", was_price="3.50", on_special=True),
    ]
    assert by_sku["2"]["price_history"] == [pt(1, "1.20", unit_price="0.24", unit_measure="100ml")]
    assert by_sku["3"]["price_history"] == [pt(2, None, available=False)]
    assert by_sku["2"] == {
        "sku": "2",
        "name": "Product 2",
        "brand": "Acme",
        "size": "500g",
        "barcode": "9300000000001",
        "category_path": ["Dairy", "Milk"],
        "url": "https://shop.example/2",
        "image_url": "https://img.example/2.jpg",
        "price_history": by_sku["2"]["price_history"],
    }


async def test_every_direct_history_row_appears_once_with_its_exact_values(
    seed: Seed, archiver: Archiver, db: Database
) -> None:
    await seed_direct_store(seed)
    (built,) = await archiver.build("coles", "COL:858")
    document = read_json(archiver.root, built.path)
    h, p = catalog.price_history, catalog.products
    query = select(p.c.sku, h).join(p, p.c.id == h.c.product_id).order_by(h.c.valid_from)
    async with db.read() as session:
        rows = (await session.execute(query)).mappings().all()
    archived = {
        (prod["sku"], point["date"]): point
        for prod in document["products"]
        for point in prod["price_history"]
    }
    assert len(archived) == len(rows)
    for row in rows:
        point = archived[row["sku"], iso(utc(row["valid_from"]))]
        cents = row["price_cents"]
        assert point["price"] == (None if cents is None else f"{cents // 100}.{cents % 100:02d}")
        assert point["source"] == "direct_scrape"


async def test_member_inherits_its_anchors_history_only_while_a_member(
    seed: Seed, archiver: Archiver
) -> None:
    await seed_member_store(seed)
    (built,) = await archiver.build("coles", "200")
    document = read_json(archiver.root, built.path)
    by_sku = {p["sku"]: p["price_history"] for p in document["products"]}
    assert by_sku["A"] == [
        pt(0, "3.50"),
        inferred(10, "3.60"),  # the anchor's price in effect when 200 joined
        inferred(12, "3.70"),
        pt(15, "3.40"),  # its own observation wins over the anchor's (3.80) at day 15
        inferred(25, "5.00"),  # the new anchor's price carried in at the new membership
        inferred(30, "5.10"),
    ]
    assert by_sku["B"] == [inferred(10, "1.00")]  # 300 never listed B; 200 left 100 on day 20
    memberships = document["metadata"]["memberships"]
    assert [(m["anchor_store_id"], m["valid_to"]) for m in memberships] == [
        ("100", iso(at(20))),
        ("300", None),
    ]
    assert document["metadata"]["store"]["group"] == {
        "group_id": "g3",
        "role": "member",
        "anchor_store_id": "300",
    }


async def test_anchor_archive_has_only_direct_points(seed: Seed, archiver: Archiver) -> None:
    await seed_member_store(seed)
    (built,) = await archiver.build("coles", "100")
    document = read_json(archiver.root, built.path)
    sources = {p["source"] for prod in document["products"] for p in prod["price_history"]}
    assert sources == {"direct_scrape"}
    dates = [p["date"] for p in document["products"][0]["price_history"]]
    assert dates == sorted(dates)


async def test_category_hierarchy_covers_only_this_stores_products(
    seed: Seed, archiver: Archiver
) -> None:
    await seed_direct_store(seed)
    await seed.store("999")
    await seed.product("4", category=["Frozen", "Pizza"])
    await seed.price("999", "4", at(0))
    await seed.product("5", category=["Pantry", "Biscuits"])
    await seed.price("COL:858", "5", at(0))
    (built,) = await archiver.build("coles", "COL:858")
    hierarchy = read_json(archiver.root, built.path)["metadata"]["category_hierarchy"]
    assert hierarchy == [
        {
            "name": "Dairy",
            "product_count": 1,
            "children": [{"name": "Milk", "product_count": 1, "children": []}],
        },
        {
            "name": "Pantry",
            "product_count": 2,
            "children": [
                {"name": "Biscuits", "product_count": 1, "children": []},
                {"name": "Snacks", "product_count": 1, "children": []},
            ],
        },
    ]


async def test_company_archive_lists_divisions_and_stores_by_state(
    seed: Seed, archiver: Archiver
) -> None:
    await seed_member_store(seed)
    await seed.store("COL:858", state="NSW", division="Liquorland")
    await seed.store("X1", state=None)
    built = await archiver.build("coles")
    company = read_json(archiver.root, "company_data/coles.json")
    assert company["metadata"]["company"] == "coles" and company["metadata"]["name"] == "Coles"
    assert company["divisions"] == [
        {"name": "Liquorland", "store_count": 1},
        {"name": "Supermarkets", "store_count": 4},
    ]
    by_state = {k: [s["store_id"] for s in v] for k, v in company["stores_by_state"].items()}
    assert by_state == {"NSW": ["COL:858"], "VIC": ["100", "200", "300"], "UNKNOWN": ["X1"]}
    assert company["stores_by_state"]["NSW"][0]["archive"] == "store_data/coles/COL_858.json"
    assert sorted(b.path for b in built) == sorted(
        ["company_data/coles.json"]
        + [f"store_data/coles/{s}.json" for s in ("100", "200", "300", "COL_858", "X1")]
    )


async def test_archives_validate_against_the_published_schemas(
    seed: Seed, archiver: Archiver
) -> None:
    await seed_member_store(seed)
    await seed_direct_store_extra(seed)
    for archive in await archiver.build("coles"):
        kind = "store" if archive.store_id else "company"
        validator(kind).validate(read_json(archiver.root, archive.path))


async def seed_direct_store_extra(seed: Seed) -> None:
    await seed.store("COL:858", state=None)
    await seed.product("9", category=[], brand=None, size=None, url=None, image_url=None)
    await seed.price("COL:858", "9", at(1), at(2), None, available=False)


async def test_schema_rejects_a_float_price(seed: Seed, archiver: Archiver) -> None:
    await seed_direct_store(seed)
    (built,) = await archiver.build("coles", "COL:858")
    document = read_json(archiver.root, built.path)
    document["products"][0]["price_history"][0]["price"] = 3.5
    assert not validator("store").is_valid(document)


async def test_each_file_gets_a_manifest_row_and_an_archive_built_event(
    seed: Seed, archiver: Archiver, db: Database
) -> None:
    await seed_direct_store(seed)
    built = await archiver.build("coles")
    async with db.read() as session:
        rows = (await session.execute(select(models.manifest))).mappings().all()
    assert {r["path"] for r in rows} == {b.path for b in built}
    for row in rows:
        content = (archiver.root / row["path"]).read_bytes()
        assert row["sha256"] == hashlib.sha256(content).hexdigest()
        assert row["bytes"] == len(content)
    events = await outbox_events(db, "archive.built")
    assert [(e["path"], e["store_id"]) for e in events] == [
        ("company_data/coles.json", None),
        ("store_data/coles/COL_858.json", "COL:858"),
    ]
    assert events[1]["rows"] == 3


async def test_a_crash_mid_write_leaves_the_previous_file_intact(
    seed: Seed, archiver: Archiver, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_direct_store(seed)
    (first,) = await archiver.build("coles", "COL:858")
    before = (archiver.root / first.path).read_bytes()
    await seed.price("COL:858", "2", at(6), at(6), 130)
    calls = 0

    def crash_on_second_product(direct: Any, inherited: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk unplugged")
        return original(direct, inherited)

    original = builder.product_history
    monkeypatch.setattr(builder, "product_history", crash_on_second_product)
    with pytest.raises(OSError, match="disk unplugged"):
        await archiver.build("coles", "COL:858")
    assert (archiver.root / first.path).read_bytes() == before
    assert sorted(p.name for p in (archiver.root / first.path).parent.iterdir()) == ["COL_858.json"]
    async with db.read() as session:
        (row,) = (await session.execute(select(models.manifest))).mappings().all()
    assert row["sha256"] == first.sha256
    assert len(await outbox_events(db, "archive.built")) == 1
    monkeypatch.setattr(builder, "product_history", original)
    (second,) = await archiver.build("coles", "COL:858")
    assert second.sha256 != first.sha256


async def test_building_an_unknown_store_is_not_found(seed: Seed, archiver: Archiver) -> None:
    await seed.company()
    with pytest.raises(NotFound):
        await archiver.build("coles", "nope")
    with pytest.raises(DomainError):
        await archiver.build(None, "100")
