"""Ground truth and control, for evaluation only: scrapers never call /admin."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import numpy as np
import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from splitcart_scraper.sandbox.common import Sandbox, json_response
from splitcart_scraper.sandbox.world import CHAINS, Store, World


class ClockMove(BaseModel):
    advance_days: float | None = None
    advance_hours: float | None = None
    set: datetime | None = None
    day: int | None = None


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def _chain(chain: str) -> str:
    if chain not in CHAINS:
        raise HTTPException(404, f"unknown chain {chain!r}; known: {', '.join(CHAINS)}")
    return chain


def find_store(world: World, chain: str, store_id: str) -> Store:
    store = world.store(_chain(chain), store_id)
    if store is None and chain == "coles" and store_id.isdigit():
        store = next((s for s in world.chains["coles"].stores if s.number == int(store_id)), None)
    if store is None:
        raise HTTPException(404, f"unknown {chain} store {store_id!r}")
    return store


def clock_view(world: World) -> dict[str, Any]:
    now = world.clock.now()
    day = world.today()
    return {
        "now": now.isoformat(),
        "start": world.start.isoformat(),
        "day": day,
        "date": (world.start + timedelta(days=day)).date().isoformat(),
    }


def store_view(world: World, store: Store, day: int) -> dict[str, Any]:
    chain = world.chains[store.chain]
    rogue = store.rogue_zone is not None
    return {
        "chain": store.chain,
        "store_id": store.store_id,
        "retailer_store_id": store.retailer_store_id or None,
        "division": store.division,
        "name": store.name,
        "state": store.state,
        "zone": world.zone_id(store, day),
        "open": store.is_open(day),
        "open_day": store.open_day,
        "close_day": store.close_day if store.close_day < (1 << 30) else None,
        "rogue_day": store.rogue_day,
        "zone_before": chain.zones[store.zone].zone_id,
        "zone_after": chain.zones[store.rogue_zone].zone_id
        if rogue and store.rogue_zone is not None
        else None,
        "fresh_local": store.fresh_local,
        "scrapable": store.chain != "iga" or bool(store.retailer_store_id),
    }


def truth_rows(world: World, store: Store, day: int) -> dict[str, list[Any]]:
    t = world.truth(store, day)
    cat = world.chains[store.chain].catalogue
    skus = (
        [f"{s:018d}" for s in cat.sku[t["index"]].tolist()]
        if store.chain == "aldi"
        else [str(s) for s in t["sku"].tolist()]
    )
    was = t["was_price_cents"]
    return {
        "sku": skus,
        "price_cents": t["price_cents"].tolist(),
        "was_price_cents": [None if w < 0 else w for w in was.tolist()],
        "on_special": t["on_special"].tolist(),
        "available": t["available"].tolist(),
        "listed": t["listed"].tolist(),
    }


def router() -> APIRouter:
    api = APIRouter(prefix="/admin", tags=["admin"])

    @api.get("/world")
    def world_summary(request: Request) -> dict[str, Any]:
        return _sandbox(request).world.summary()

    @api.get("/clock")
    def get_clock(request: Request) -> dict[str, Any]:
        return clock_view(_sandbox(request).world)

    @api.post("/clock")
    def move_clock(request: Request, move: ClockMove) -> dict[str, Any]:
        world = _sandbox(request).world
        try:
            _apply(world, move)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        return clock_view(world)

    @api.get("/stores")
    def stores(
        request: Request, chain: str | None = None, day: int | None = None
    ) -> dict[str, Any]:
        world = _sandbox(request).world
        when = world.today() if day is None else day
        chains = [_chain(chain)] if chain else list(CHAINS)
        rows = [store_view(world, s, when) for c in chains for s in world.chains[c].stores]
        return {"day": when, "stores": rows}

    @api.get("/truth/{chain}/{store_id}")
    def truth(
        request: Request,
        chain: str,
        store_id: str,
        day: int | None = None,
        format: Annotated[Literal["json", "ndjson", "columns"], Query()] = "json",
    ) -> Response:
        world = _sandbox(request).world
        store = find_store(world, chain, store_id)
        when = world.today() if day is None else day
        cols = truth_rows(world, store, when)
        return _render(cols, format, {"chain": chain, "store_id": store.store_id, "day": when})

    @api.get("/price")
    def price(
        request: Request, chain: str, store: str, sku: str, day: int | None = None
    ) -> dict[str, Any]:
        world = _sandbox(request).world
        found = find_store(world, chain, store)
        when = world.today() if day is None else day
        cat = world.chains[chain].catalogue
        index = cat.sku_index.get(int(sku)) if sku.isdigit() else None
        if index is None:
            raise HTTPException(404, f"unknown {chain} sku {sku!r}")
        return _single(world, found, index, when)

    @api.get("/counters")
    def counters(request: Request) -> dict[str, Any]:
        sandbox = _sandbox(request)
        return {**sandbox.counters.snapshot(), "faults": dict(sandbox.faults.injected)}

    @api.post("/counters/reset")
    def reset_counters(request: Request) -> dict[str, Any]:
        sandbox = _sandbox(request)
        sandbox.counters.reset()
        sandbox.faults.injected.clear()
        return {"reset": True}

    @api.get("/faults")
    def get_faults(request: Request) -> dict[str, Any]:
        return _sandbox(request).faults.config.to_dict()

    @api.put("/faults")
    def set_faults(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        injector = _sandbox(request).faults
        try:
            injector.update(body)
        except (ValueError, AttributeError, TypeError) as exc:
            raise HTTPException(400, str(exc)) from exc
        return injector.config.to_dict()

    return api


def _apply(world: World, move: ClockMove) -> None:
    if move.set is not None:
        moment = move.set if move.set.tzinfo else move.set.replace(tzinfo=world.start.tzinfo)
        world.clock.set(moment)
    elif move.day is not None:
        world.clock.set(world.start + timedelta(days=move.day))
    else:
        hours = (move.advance_days or 0) * 24 + (move.advance_hours or 0)
        world.clock.advance(timedelta(hours=hours))


def _render(cols: dict[str, list[Any]], fmt: str, head: dict[str, Any]) -> Response:
    if fmt == "columns":
        return json_response({**head, **cols})
    names = list(cols)
    rows = [dict(zip(names, values, strict=True)) for values in zip(*cols.values(), strict=True)]
    if fmt == "ndjson":
        body = b"".join(orjson.dumps(r) + b"\n" for r in rows)
        return Response(body, media_type="application/x-ndjson")
    return json_response({**head, "rows": rows})


def _single(world: World, store: Store, index: int, day: int) -> dict[str, Any]:
    idx = np.array([index], dtype=np.int64)
    cat = world.chains[store.chain].catalogue
    p = world.prices(store, idx, day)
    in_range = index in set(world.range_of(store).tolist())
    listed = bool(world.listed_mask(cat, idx, day, store.range_frac, store.dept_only)[0])
    special = bool(p.on_special[0])
    return {
        "chain": store.chain,
        "store_id": store.store_id,
        "day": day,
        "sku": f"{int(cat.sku[index]):018d}" if store.chain == "aldi" else str(int(cat.sku[index])),
        "price_cents": int(p.price[0]),
        "was_price_cents": int(p.regular[0]) if special else None,
        "on_special": special,
        "available": bool(p.available[0]),
        "listed": listed and in_range and store.is_open(day),
        "zone": world.zone_id(store, day),
    }
