"""An anchor that prices lines itself hands its title to a member that does not.

A store may price a few lines itself (fresh produce). As anchor, such a store lends its own
prices on those lines to every member; the effective-price API corrects that from the
members' own sightings (``queries.anchor_lines``), but those age: the members are checked
rarely, and the group's price moves on. So when the members' sightings show the anchor
pricing at least ``MIN_LINES`` lines itself:

* at a full scrape in the group, the member seen at the group's price on most of those
  lines (then the most recently seen, then the lowest id) is asked for its whole catalogue
  (``store.rescrape_requested``, reason ``tie_break``: the members against their anchor);
* a member seen at the group's price on any of those lines is the anchor's successor: when
  its full scrape is checked and it still matches, it takes the title even when the
  anchor's data is as fresh as its own (see ``engine.run_round``).

Members are seldom seen on a given line (a spot check reads a tenth of the catalogue), so
more rules find the witnesses sooner: a sighting made before the anchor had any price
for the product counts against its first price when that came within
``FIRST_PRICE_GRACE`` (new stores are probed before their group's anchor is first scraped);
and where one member alone was seen on at least ``MIN_LINES`` products, each at another
price than the anchor's, the lowest id among the other members is asked for its whole
catalogue: a second opinion, which agrees with whichever of the two does not price them
itself. And a group of at least ``AUDIT_MEMBERS`` members none of which was fully scraped
in the witness window has its anchor audited: its lowest id is asked for its whole
catalogue, which agrees with the anchor's, or brings a doubt the rules above settle.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from splitcart_shared.clock import clock
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_grouper import repository
from splitcart_grouper.engine import GroupingState, RescrapeRequested
from splitcart_grouper.queries import WITNESS_WINDOW, Row, anchor_lines

# One line could be one member's mistake seen twice; a store pricing its own fresh lines
# prices several.
MIN_LINES = 2
# New stores are probed before their group's anchor is first fully scraped (the same day):
# their sightings count against the anchor's first price when it came this soon after.
FIRST_PRICE_GRACE = timedelta(hours=12)
# A group this large has its anchor audited: one member's whole catalogue per witness window.
AUDIT_MEMBERS = 5


@dataclass(frozen=True)
class Handover:
    group: str
    anchor: str
    heir: str  # the member to ask for its whole catalogue
    successors: frozenset[str]  # members seen at the group's price on the anchor's lines


async def handovers(
    session: AsyncSession, company: str, full: Collection[str], pk_of: Mapping[str, int]
) -> list[Handover]:
    """For each group with a store in ``full`` (stores fresh from a full scrape) whose
    anchor prices lines itself: who should take the anchor title; or, where a single
    member differs from the anchor on lines nobody else was seen at, whom to ask."""
    if not full:
        return []
    touched = set(await repository.groups_of(session, company, list(full)))
    store_of = {pk: store for store, pk in pk_of.items()}
    since = clock.now() - WITNESS_WINDOW
    found: list[Handover] = []
    for group in await repository.company_groups(session, company):
        anchor = str(group["anchor_store_id"])
        if group["id"] not in touched or anchor not in pk_of:
            continue
        members = await repository.group_store_pks(session, company, group["id"], [anchor])
        if not members:
            continue
        tallies = await repository.member_prices_against_anchor(
            session, pk_of[anchor], members, since, FIRST_PRICE_GRACE
        )
        lines = anchor_lines(tallies)
        if len(lines) < MIN_LINES:
            asked = await _to_ask(session, tallies, members, store_of, since)
            if asked is not None:
                found.append(Handover(str(group["id"]), anchor, asked, frozenset()))
            continue
        witnesses = await repository.line_witnesses(session, members, lines, since)
        if not witnesses:
            continue
        best = min(witnesses, key=lambda w: (-w["lines"], -w["at"].timestamp(), w["store_id"]))
        named = frozenset(str(w["store_id"]) for w in witnesses)
        found.append(Handover(str(group["id"]), anchor, str(best["store_id"]), named))
    return found


async def _to_ask(
    session: AsyncSession,
    tallies: list[Row],
    members: list[int],
    store_of: Mapping[int, str],
    since: datetime,
) -> str | None:
    """The member to ask for its whole catalogue, if any: a second opinion where one member
    alone differs from the anchor on lines; otherwise, in a group of at least
    ``AUDIT_MEMBERS`` members none of which was fully scraped in the witness window, an
    audit of the anchor (the lowest id), whose catalogue either agrees with the anchor's
    or brings a doubt to settle."""
    doubt = _doubtful(tallies)
    if len(doubt) >= MIN_LINES:
        seen = await repository.line_witnesses(session, members, doubt, since)
        return _second_opinion(seen, members, store_of)
    if len(members) < AUDIT_MEMBERS or await repository.fully_scraped_since(
        session, members, since
    ):
        return None
    ids = sorted(store_of[pk] for pk in members if pk in store_of)
    return ids[0] if ids else None


def _doubtful(tallies: list[Row]) -> dict[int, int]:
    """``product_id: price`` of the products one member alone was seen at, at another price
    than the anchor's: either of the two prices them itself."""
    seen: dict[int, list[Row]] = {}
    for row in tallies:
        seen.setdefault(int(row["product_id"]), []).append(row)
    return {
        product: int(rows[0]["price_cents"])
        for product, rows in seen.items()
        if len(rows) == 1
        and int(rows[0]["stores"]) == 1
        and rows[0]["price_cents"] != rows[0]["anchor_cents"]
    }


def _second_opinion(seen: list[Row], members: list[int], store_of: Mapping[int, str]) -> str | None:
    """When one member alone differs from the anchor on at least ``MIN_LINES`` products
    nobody else was seen at, a second member's whole catalogue tells which of the two
    prices them itself (it agrees with the other): the lowest id among the other members.
    None when the products were seen by more than one member (no single doubter)."""
    doubters = {str(w["store_id"]) for w in seen if int(w["lines"]) >= MIN_LINES}
    if len(doubters) != 1:
        return None
    others = sorted(
        store_of[pk] for pk in members if pk in store_of and store_of[pk] not in doubters
    )
    return others[0] if others else None


def successors(found: list[Handover]) -> dict[str, frozenset[str]]:
    return {h.group: h.successors for h in found}


def requests(
    found: list[Handover], state: GroupingState, full: Collection[str]
) -> list[RescrapeRequested]:
    """After the round: the asked member's whole catalogue, while the anchor keeps its title
    and the member is still its member (one whose full scrape came in this round was judged
    on it already). Asked again at the group's next full scrape until it comes."""
    out: list[RescrapeRequested] = []
    for h in found:
        group = state.groups.get(h.group)
        if h.heir in full or group is None:
            continue
        if group.anchor != h.anchor or h.heir not in group.members:
            continue
        out.append(RescrapeRequested(h.heir, "tie_break", h.group))
    return out
