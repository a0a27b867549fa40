"""Read side of the API: groups, memberships, effective prices and ad-hoc comparisons."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from splitcart_shared.clock import clock, utc
from splitcart_shared.errors import DomainError, NotFound
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_grouper import repository
from splitcart_grouper.engine import GroupingParams
from splitcart_grouper.schemas import (
    Comparison,
    EffectivePrice,
    EffectivePricePage,
    EvidenceOut,
    GroupDetail,
    GroupPage,
    GroupSummary,
    MemberOut,
    PricePair,
    StoreGroup,
    dollars,
)

Row = dict[str, Any]


def _next(offset: int, limit: int, total: int) -> int | None:
    return offset + limit if offset + limit < total else None


async def list_groups(
    session: AsyncSession, company: str, limit: int, offset: int, oldest: datetime
) -> GroupPage:
    rows = await repository.group_summaries(session, company, limit, offset)
    total = await repository.count_groups(session, company)
    found = [GroupSummary.model_validate({**r, "anchor_fresh": _fresh(r, oldest)}) for r in rows]
    return GroupPage(
        groups=found,
        total=total,
        limit=limit,
        offset=offset,
        next_offset=_next(offset, limit, total),
    )


def _fresh(row: Row, oldest: datetime) -> bool:
    at = row["anchor_last_scraped_at"]
    return at is not None and utc(at) >= oldest


async def _evidence(
    session: AsyncSession, company: str, store_ids: list[str]
) -> dict[str, EvidenceOut]:
    rows = await repository.latest_evidence(session, company, store_ids)
    return {store: EvidenceOut.model_validate(row) for store, row in rows.items()}


async def get_group(session: AsyncSession, group_id: str) -> GroupDetail:
    group = await repository.group(session, group_id)
    if group is None:
        raise NotFound(f"no group {group_id!r}", group_id=group_id)
    rows = await repository.members_of(session, group_id)
    last = await _evidence(session, group["company"], [m["store_id"] for m in rows])
    members = [
        MemberOut.model_validate({**m, "last_evidence": last.get(m["store_id"])}) for m in rows
    ]
    members.sort(key=lambda m: (m.role != "anchor", m.store_id))
    return GroupDetail.model_validate({**group, "size": len(members), "members": members})


async def store_group(session: AsyncSession, company: str, store_id: str) -> StoreGroup:
    member = await repository.membership(session, company, store_id)
    if member is None:
        raise NotFound(
            f"store {company}/{store_id} is in no group", company=company, store_id=store_id
        )
    group = await repository.group(session, member["group_id"])
    assert group is not None  # the foreign key
    size = len(await repository.members_of(session, member["group_id"]))
    return StoreGroup.model_validate(
        {
            **member,
            "anchor_store_id": group["anchor_store_id"],
            "size": size,
            "last_evidence": (await _evidence(session, company, [store_id])).get(store_id),
        }
    )


# --- effective prices ---------------------------------------------------------------------


async def effective_prices(
    session: AsyncSession, company: str, store_id: str, oldest: datetime, limit: int, offset: int
) -> EffectivePricePage:
    """Per product, the store's own current price (``direct_scrape``) unless its anchor
    observed the product more recently, then the anchor's (``inferred_group``); products
    only the anchor has current are inferred too. A product the anchor lists without a
    price today (unavailable there) is inferred at the anchor's last price for it.

    A member is scraped rarely and its anchor often: preferring the member's own but
    older observation would serve a price its group has already moved away from (the
    SPEC glossary: inferred "unless it has its own fresher direct observation").
    """
    store = await repository.catalog_store(session, company, store_id)
    if store is None:
        raise NotFound(
            f"no store {company}/{store_id} in the catalog", company=company, store_id=store_id
        )
    member = await repository.membership(session, company, store_id)
    group = await repository.group(session, member["group_id"]) if member else None
    anchor_id = group["anchor_store_id"] if group else store_id
    own = await repository.current_price_details(session, store["id"], oldest)
    inherited: list[Row] = []
    anchor = None
    if anchor_id != store_id and group is not None:
        anchor = await repository.catalog_store(session, company, anchor_id)
    if anchor is not None and group is not None:
        inherited = await _anchor_rows(session, anchor["id"], oldest)
        inherited = await _without_anchor_lines(
            session, company, group["id"], anchor_id, anchor["id"], inherited
        )
    items = _effective(own, inherited, store_id, anchor_id)
    direct = sum(p.source == "direct_scrape" for p in items)
    return EffectivePricePage(
        company=company,
        store_id=store_id,
        group_id=group["id"] if group else None,
        anchor_store_id=anchor_id,
        direct=direct,
        inferred=len(items) - direct,
        prices=items[offset : offset + limit],
        total=len(items),
        limit=limit,
        offset=offset,
        next_offset=_next(offset, limit, len(items)),
    )


async def _anchor_rows(session: AsyncSession, anchor_pk: int, oldest: datetime) -> list[Row]:
    rows: list[Row] = await repository.current_price_details(session, anchor_pk, oldest)
    # A product the anchor lists but cannot sell today (no price) may well be on the
    # member's shelf: its price there is the anchor's last price, dated when last seen.
    rows += await repository.last_prices_while_available(session, anchor_pk, oldest)
    rows.sort(key=lambda r: r["product_id"])
    return rows


# Member observations this recent can show that the anchor prices a product itself.
WITNESS_WINDOW = timedelta(days=14)
# At least this many members, and more of them than agree with the anchor.
MIN_WITNESSES = 2


async def _without_anchor_lines(
    session: AsyncSession,
    company: str,
    group_id: str,
    anchor_id: str,
    anchor_pk: int,
    inherited: list[Row],
) -> list[Row]:
    """The anchor's rows, except products the anchor prices itself (a store's own fresh
    lines): where most members seen pricing a product priced it alike but not as the
    anchor did at that moment, the members' price stands for the group, taken from the
    latest member seen at it. Inheriting the anchor's own price there would be wrong for
    every member."""
    if not inherited:
        return inherited
    members = await repository.group_store_pks(session, company, group_id, [anchor_id])
    if not members:
        return inherited
    since = clock.now() - WITNESS_WINDOW
    tallies = await repository.member_prices_against_anchor(session, anchor_pk, members, since)
    lines = anchor_lines(tallies)
    if not lines:
        return inherited
    replacements = {
        r["product_id"]: r
        for r in await repository.latest_member_rows(session, members, lines, since)
    }
    return [replacements.get(r["product_id"], r) for r in inherited]


def anchor_lines(tallies: list[Row]) -> dict[int, int]:
    """``product_id: the members' price`` for the products the anchor prices itself.

    ``tallies``: per (product, member price, anchor price at the member's moment), how many
    members. A product qualifies when the members disagreeing with the anchor are at least
    ``MIN_WITNESSES``, agree among themselves, and outnumber the members agreeing with it.
    """
    by_product: dict[int, list[Row]] = {}
    for row in tallies:
        by_product.setdefault(int(row["product_id"]), []).append(row)
    lines: dict[int, int] = {}
    for product, rows in by_product.items():
        agree = sum(int(r["stores"]) for r in rows if r["price_cents"] == r["anchor_cents"])
        rivals: dict[int, int] = {}
        for r in rows:
            if r["price_cents"] != r["anchor_cents"]:
                rivals[int(r["price_cents"])] = rivals.get(int(r["price_cents"]), 0) + int(
                    r["stores"]
                )
        if not rivals:
            continue
        price, count = max(rivals.items(), key=lambda item: (item[1], -item[0]))
        if count >= MIN_WITNESSES and count > agree and count > sum(rivals.values()) - count:
            lines[product] = price
    return lines


def _effective(
    own: list[Row], inherited: list[Row], store_id: str, anchor_id: str
) -> list[EffectivePrice]:
    """Merge by product; on equal observation times the store's own price wins."""
    chosen = {
        r["product_id"]: _price(r, "inferred_group", r.get("store_id") or anchor_id)
        for r in inherited
    }
    seen = {r["product_id"]: r["observed_at"] for r in inherited}
    for r in own:
        if r["product_id"] not in seen or r["observed_at"] >= seen[r["product_id"]]:
            chosen[r["product_id"]] = _price(r, "direct_scrape", store_id)
    return [chosen[p] for p in sorted(chosen)]


def _price(row: Row, source: str, from_store: str) -> EffectivePrice:
    return EffectivePrice.model_validate(
        {
            **row,
            "source": source,
            "from_store_id": from_store,
            "price": dollars(row["price_cents"]),
            "was_price": dollars(row["was_price_cents"]),
            "unit_price": dollars(row["unit_price_cents"]),
        }
    )


# --- comparison ---------------------------------------------------------------------------


async def compare(
    session: AsyncSession, company: str, a: str, b: str, now: datetime, params: GroupingParams
) -> Comparison:
    """True Overlap of two stores now, counted in full (no early stop), with the
    mismatching products; the match decision is the engine's exact rule."""
    if a == b:
        raise DomainError("compare two different stores", a=a, b=b)
    oldest = now - params.freshness
    rows_a = await _current(session, company, a, oldest)
    rows_b = {r["product_id"]: r for r in await _current(session, company, b, oldest)}
    window = params.pairing_window
    shared = [
        (r, rows_b[r["product_id"]])
        for r in rows_a
        if r["product_id"] in rows_b and _within(r, rows_b[r["product_id"]], window)
    ]
    odd = [_pair(x, y) for x, y in shared if x["price_cents"] != y["price_cents"]]
    smaller = min(len(rows_a), len(rows_b))
    return Comparison(
        company=company,
        a=a,
        b=b,
        current_a=len(rows_a),
        current_b=len(rows_b),
        compared=len(shared),
        mismatches=len(odd),
        true_overlap=(len(shared) - len(odd)) / len(shared) if shared else None,
        range_overlap=len(shared) / smaller if smaller else None,
        matched=params.matched(len(shared), len(odd), smaller),
        mismatching=odd,
    )


async def _current(
    session: AsyncSession, company: str, store_id: str, oldest: datetime
) -> list[Row]:
    store = await repository.catalog_store(session, company, store_id)
    if store is None:
        raise NotFound(
            f"no store {company}/{store_id} in the catalog", company=company, store_id=store_id
        )
    rows: list[Row] = await repository.current_price_details(session, store["id"], oldest)
    return rows


def _within(x: Row, y: Row, window: timedelta) -> bool:
    # Whole seconds, as the engine counts them.
    gap = int(x["observed_at"].timestamp()) - int(y["observed_at"].timestamp())
    return abs(gap) <= window.total_seconds()


def _pair(x: Row, y: Row) -> PricePair:
    return PricePair(
        product_id=x["product_id"],
        sku=x["sku"],
        name=x["name"],
        price_a=dollars(x["price_cents"]),
        price_a_cents=x["price_cents"],
        price_b=dollars(y["price_cents"]),
        price_b_cents=y["price_cents"],
        observed_a=x["observed_at"],
        observed_b=y["observed_at"],
    )
