"""An anchor that prices lines itself hands its title to a member that does not.

A store may price a few lines itself (fresh produce). As anchor, such a store lends its own
prices on those lines to every member; the effective-price API corrects that from the
members' own sightings (``queries.anchor_lines``), but those age: the members are checked
rarely, and the group's price moves on. So when an anchor's fresh full scrape comes in and
the members' sightings show it pricing lines itself (at least ``MIN_LINES`` of them), the
member seen most often at the group's price on those lines is asked for its whole catalogue
(``store.rescrape_requested``, reason ``tie_break``: the members against their anchor).
When that scrape is checked and the member still matches, it is fresher than the anchor,
and the health check hands it the title as it would any member fresh from a full scrape.
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
    heir: str
    lines: int


async def handovers(
    session: AsyncSession, company: str, anchors: Collection[str], pk_of: Mapping[str, int]
) -> list[Handover]:
    """For each group whose anchor is in ``anchors`` (stores fresh from a full scrape), the
    member to take the title when the anchor prices lines itself."""
    if not anchors:
        return []
    since = clock.now() - WITNESS_WINDOW
    found: list[Handover] = []
    for group in await repository.company_groups(session, company):
        anchor = str(group["anchor_store_id"])
        if anchor not in anchors or anchor not in pk_of:
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
        found.append(Handover(str(group["id"]), anchor, str(best["store_id"]), len(lines)))
    return found


def requests(found: list[Handover], state: GroupingState) -> list[RescrapeRequested]:
    """The rescrape requests still standing after the round: the anchor kept its title and
    the heir is still its member."""
    out: list[RescrapeRequested] = []
    for h in found:
        group = state.groups.get(h.group)
        if group is None or group.anchor != h.anchor or h.heir not in group.members:
            continue
        out.append(RescrapeRequested(h.heir, "tie_break", h.group))
    return out
