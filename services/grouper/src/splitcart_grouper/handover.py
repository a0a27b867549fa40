"""An anchor that prices lines itself hands its title to a member that does not.

A store may price a few lines itself (fresh produce). As anchor, such a store lends its own
prices on those lines to every member; the effective-price API corrects that from the
members' own sightings (``queries.anchor_lines``), but those age: the members are checked
rarely, and the group's price moves on. So when the members' sightings show the anchor
pricing at least ``MIN_LINES`` lines itself:

* at the anchor's full scrape, the member seen at the group's price on most of those lines
  (then the most recently seen, then the lowest id) is asked for its whole catalogue
  (``store.rescrape_requested``, reason ``tie_break``: the members against their anchor);
* a member seen at the group's price on any of those lines is the anchor's successor: when
  its full scrape is checked and it still matches, it takes the title even when the
  anchor's data is as fresh as its own (see ``engine.run_round``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from splitcart_shared.clock import clock
from sqlalchemy.ext.asyncio import AsyncSession

from splitcart_grouper import repository
from splitcart_grouper.engine import GroupingState, RescrapeRequested
from splitcart_grouper.queries import WITNESS_WINDOW, anchor_lines

# One line could be one member's mistake seen twice; a store pricing its own fresh lines
# prices several.
MIN_LINES = 2


@dataclass(frozen=True)
class Handover:
    group: str
    anchor: str
    heir: str  # the member to ask for its whole catalogue
    successors: frozenset[str]  # members seen at the group's price on the anchor's lines
    lines: int


async def handovers(
    session: AsyncSession, company: str, full: Collection[str], pk_of: Mapping[str, int]
) -> list[Handover]:
    """For each group with a store in ``full`` (stores fresh from a full scrape) whose
    anchor prices lines itself: who should take the anchor title."""
    if not full:
        return []
    touched = set(await repository.groups_of(session, company, list(full)))
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
            session, pk_of[anchor], members, since
        )
        lines = anchor_lines(tallies)
        if len(lines) < MIN_LINES:
            continue
        witnesses = await repository.line_witnesses(session, members, lines, since)
        if not witnesses:
            continue
        best = min(witnesses, key=lambda w: (-w["lines"], -w["at"].timestamp(), w["store_id"]))
        named = frozenset(str(w["store_id"]) for w in witnesses)
        found.append(Handover(str(group["id"]), anchor, str(best["store_id"]), named, len(lines)))
    return found


def successors(found: list[Handover]) -> dict[str, frozenset[str]]:
    return {h.group: h.successors for h in found}


def requests(
    found: list[Handover], state: GroupingState, full: Collection[str]
) -> list[RescrapeRequested]:
    """After the round: the heir's whole catalogue, asked at the anchor's full scrape while
    the anchor keeps its title and the heir is still its member (an heir whose own full
    scrape came in this round was judged on it already)."""
    out: list[RescrapeRequested] = []
    for h in found:
        group = state.groups.get(h.group)
        if h.anchor not in full or h.heir in full:
            continue
        if group is None or group.anchor != h.anchor or h.heir not in group.members:
            continue
        out.append(RescrapeRequested(h.heir, "tie_break", h.group))
    return out
