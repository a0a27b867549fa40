"""Grouping decisions: health checks, merging and re-homing over any comparator.

The procedures only ever ask a :class:`~.overlap.Comparator` "does A match these?" and
"what is the evidence of A against B?", and they visit stores in a fixed order, so the
reference loop and the fast comparator produce identical groups whenever their match
decisions agree (which the integer rule in :mod:`.params` guarantees).

Orders (all ties broken by store key, keys compared as strings):

* groups are health-checked in ascending anchor key;
* merging visits anchors by descending group size, then key (sizes as the pass starts);
  at its turn an anchor is compared with every other standing anchor that has not had
  its turn yet, in the same order (sizes as they are then), and each match merges (the
  smaller group folds into the larger; equal sizes keep the lower anchor key). Anchors
  never change while merging, so each pair is compared at most once, and after the
  pass no two standing anchors match: the fixed point;
* re-homing takes ejected stores in ascending key; each joins the first matching
  anchor in merge order.

Because True Overlap is not transitive, a merge is decided anchor to anchor: the
members that came along are re-verified at their own next health check.

Health-check rules (per group, members checked = those ingested in this batch, or
waiting on a tie-break this batch may settle, that have current prices):

* anchor without current prices: ``RescrapeRequested(stale_anchor)``; the group sits
  out the whole round (not checked, not merged, no home for re-homing);
* every checked member matches: ``Confirmed``; the confirmed member fresh from a full
  scrape with the freshest data (latest observation; ties: key), if fresher than the
  anchor's and without a single mismatch, takes the title; a member the caller names a
  successor of the anchor (one that does not price as the anchor does on lines the
  anchor prices itself) takes it when as fresh as the anchor;
* at least two checked and a strict majority of them mismatch the anchor while matching
  one representative of theirs (tried freshest first): the anchor is the rogue. The
  representative becomes anchor, the old anchor is ejected (``anchor_rogue``), the other
  checked members are confirmed or ejected against the new anchor;
* a single checked member mismatching: ``RescrapeRequested(tie_break)`` of another member
  (the one with the oldest data, then lowest key) and nothing else yet. It is decided
  when the tie-breaker's data arrives (two checked: the rules above) or when it arrives
  alone again still mismatching (ejected). In a group of two nobody can break the tie:
  the member is ejected and the anchor keeps the group;
* otherwise the mismatching members are ejected (``mismatch``), the rest confirmed.

Ejected stores are re-homed after merging; one left alone after a spot check, or with
no current prices, gets ``RescrapeRequested(rehoming)``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .overlap import Comparator, Evidence
from .state import Group, GroupingState, IdFactory

ScrapeKind = Literal["full", "spot"]
MergeScope = Literal["all", "touched"]


@dataclass(frozen=True, slots=True)
class Founded:
    """A store seen for the first time starts in a group of one."""

    store: str
    group: str


@dataclass(frozen=True, slots=True)
class Confirmed:
    """A freshly checked member still matches its anchor (the service counts streaks)."""

    store: str
    group: str
    evidence: Evidence
    takes_anchor: bool


@dataclass(frozen=True, slots=True)
class Ejected:
    store: str
    old_group: str
    new_group: str
    reason: Literal["mismatch", "anchor_rogue"]
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class AnchorChanged:
    group: str
    old_anchor: str
    new_anchor: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Merged:
    into_group: str
    from_group: str
    anchor: str
    moved: tuple[str, ...]
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class RescrapeRequested:
    store: str
    reason: Literal["stale_anchor", "tie_break", "rehoming"]
    group: str


@dataclass(frozen=True, slots=True)
class Rehomed:
    store: str
    from_group: str
    into_group: str
    evidence: Evidence


Decision = Founded | Confirmed | Ejected | AnchorChanged | Merged | RescrapeRequested | Rehomed


@dataclass
class RoundResult:
    """The company's groups after the round, and what was decided, in decision order."""

    state: GroupingState
    decisions: list[Decision] = field(default_factory=list)


def full_regroup(
    stores: Iterable[str], comparator: Comparator, *, id_factory: IdFactory | None = None
) -> RoundResult:
    """Group ``stores`` from scratch: all alone, then merge to a fixed point.

    Stores without current prices stay alone (the scheduler already favours stale
    anchors, so no rescrape is requested for them here).
    """
    run = _Round(GroupingState(), comparator, id_factory)
    keys = sorted(set(stores))
    run.admit(keys)
    run.merge(eligible=[s for s in keys if run.current(s)], focus=None)
    return RoundResult(run.state, run.out)


def run_round(
    state: GroupingState,
    comparator: Comparator,
    fresh: Mapping[str, ScrapeKind],
    *,
    id_factory: IdFactory | None = None,
    merge_scope: MergeScope = "all",
    successors: Mapping[str, Collection[str]] | None = None,
) -> RoundResult:
    """One round after a batch of ``store.ingested`` of one company.

    ``fresh`` names the stores ingested in the batch and the kind of scrape;
    ``successors`` (group id: members) the members that take the anchor title when
    confirmed on a full scrape as fresh as the anchor's. The input state is not modified.
    ``merge_scope="all"`` compares every pair of current anchors (the exhaustive fixed
    point); ``"touched"`` only pairs involving an anchor whose data or group changed this
    round, which is enough when the previous round reached a fixed point and nothing else
    changed since.
    """
    run = _Round(state.copy(), comparator, id_factory)
    run.successors = successors or {}
    run.admit(sorted(s for s in fresh if s not in run.state.group_of))
    for group in run.groups_to_check(fresh):
        run.check_group(group, fresh)
    run.touched.update(s for s in fresh if run.state.is_anchor(s))
    run.merge(eligible=run.mergeable(), focus=None if merge_scope == "all" else run.touched)
    run.rehome(fresh)
    return RoundResult(run.state, run.out)


class _Round:
    """Working state of one procedure run: the groups, the comparator, the output."""

    def __init__(self, state: GroupingState, cmp: Comparator, ids: IdFactory | None) -> None:
        self.state, self.cmp, self.ids = state, cmp, ids
        self.out: list[Decision] = []
        self.skipped: set[str] = set()
        self.ejected: list[str] = []
        self.touched: set[str] = set()
        self.successors: Mapping[str, Collection[str]] = {}

    def current(self, store: str) -> bool:
        return self.cmp.knows(store) and self.cmp.current_count(store) > 0

    def freshest_first(self, store: str) -> tuple[int, str]:
        return (-self.cmp.latest(store), store)

    def merge_order(self, store: str) -> tuple[int, str]:
        return (-len(self.state.group(store).stores), store)

    def admit(self, stores: Iterable[str]) -> None:
        for store in stores:
            self.out.append(Founded(store, self.state.found(store, self.ids).id))
            self.touched.add(store)

    # -- 1. health checks ---------------------------------------------------------------

    def groups_to_check(self, fresh: Collection[str]) -> list[Group]:
        """Groups with a fresh store or a tie-break that this batch may settle, by anchor."""
        waiting = [m for m, asked in self.state.tie_breaks.items() if m in fresh or asked in fresh]
        ids = {self.state.group_of[s] for s in [*fresh, *waiting] if s in self.state.group_of}
        return sorted((self.state.groups[g] for g in ids), key=lambda g: g.anchor)

    def check_group(self, group: Group, fresh: Mapping[str, ScrapeKind]) -> None:
        self.update_waits(group, fresh)
        checked = self.to_check(group, fresh)
        if not checked:
            return
        if not self.current(group.anchor):
            self.out.append(RescrapeRequested(group.anchor, "stale_anchor", group.id))
            self.skipped.add(group.id)
            return
        found = dict(zip(checked, self.cmp.compare_many(group.anchor, checked), strict=True))
        # A spot check that shared too few products with the anchor proves nothing either
        # way: the member is left as it is, and its next check adds to the evidence.
        checked = [m for m in checked if not self.inconclusive(found[m])]
        # A spot check whose mismatches are within a matching store's sampling noise is
        # verified on the member's whole catalogue before anything is decided on it.
        doubted = [m for m in checked if self.doubtful(m, found[m], fresh)]
        for m in doubted:
            self.verify(group, m)
        checked = [m for m in checked if m not in doubted]
        if not checked:
            return
        odd = [m for m in checked if not found[m].matched]
        majority = self.majority_against_anchor(odd, len(checked))
        if majority:
            self.anchor_is_rogue(group, checked, majority, found[majority[0]], fresh)
        elif len(checked) == 1 and odd and self.ask_tie_break(group, odd[0]):
            return
        else:
            self.confirm(group, [m for m in checked if m not in odd], found, fresh)
            for m in odd:
                self.eject(m, group, "mismatch", found[m])

    def inconclusive(self, proof: Evidence) -> bool:
        return self.cmp.params.inconclusive(proof.compared, proof.mismatches, proof.matched)

    def doubtful(self, member: str, proof: Evidence, fresh: Mapping[str, ScrapeKind]) -> bool:
        """A spot check that does not match, yet could come from a matching store: within
        a sample's noise, or with no more mismatches than the group's whole catalogue (the
        anchor's) may hold, all of them in the sampled categories."""
        if fresh.get(member) != "spot" or proof.matched:
            return False
        params = self.cmp.params
        catalogue = self.cmp.current_count(proof.store_a)
        return params.doubtful(proof.compared, proof.mismatches) or (
            params.within_catalogue_allowance(proof.mismatches, catalogue)
        )

    def verify(self, group: Group, member: str) -> None:
        """Ask for ``member``'s full catalogue (a tie-break the member breaks itself)."""
        if self.state.tie_breaks.get(member) == member:
            return  # already asked; the request stands
        self.state.tie_breaks[member] = member
        self.out.append(RescrapeRequested(member, "tie_break", group.id))

    def update_waits(self, group: Group, fresh: Mapping[str, ScrapeKind]) -> None:
        """A member whose doubted data is no longer current has nothing left to settle and
        waits no more (its next check or the pending rescrape decides afresh); a member
        that was verifying its own doubted spot check and now arrives with its whole
        catalogue is judged afresh on it."""
        waiting = self.state.tie_breaks
        for m in group.members:
            if m not in waiting:
                continue
            if not self.current(m) or (waiting[m] == m and fresh.get(m) == "full"):
                del waiting[m]

    def to_check(self, group: Group, fresh: Mapping[str, ScrapeKind]) -> list[str]:
        """Fresh members with current prices, plus members awaiting a tie-breaker when their
        tie-breaker or any other member of the group arrived in this batch (any member's
        fresh data can break the tie)."""
        waiting = self.state.tie_breaks
        others_fresh = any(m in fresh for m in group.members)

        def due(m: str) -> bool:
            asked = waiting.get(m)
            if m in fresh:
                return True
            return asked is not None and asked != m and (asked in fresh or others_fresh)

        return [m for m in group.members if due(m) and self.current(m)]

    def majority_against_anchor(self, odd: list[str], checked: int) -> list[str] | None:
        """A strict majority of the checked members that match one representative of
        theirs but not the anchor; representatives are tried freshest first."""
        if checked < 2 or 2 * len(odd) <= checked:
            return None
        for rep in sorted(odd, key=self.freshest_first):
            rest = [m for m in odd if m != rep]
            cluster = [rep] + [
                m for m, ok in zip(rest, self.cmp.matches(rep, rest), strict=True) if ok
            ]
            if 2 * len(cluster) > checked:
                return cluster
        return None

    def ask_tie_break(self, group: Group, doubted: str) -> bool:
        """One member against the anchor and nobody else fresh: ask for another member's
        data before deciding. A member already waiting on a tie-break that still stands
        alone is not given a second one (it is ejected), nor is a member of a group of two
        (there is nobody to ask; the anchor keeps the group)."""
        if doubted in self.state.tie_breaks:
            return False
        others = [m for m in group.members if m != doubted]
        if not others:
            return False
        asked = min(others, key=lambda m: (self.cmp.latest(m) if self.cmp.knows(m) else 0, m))
        self.state.tie_breaks[doubted] = asked
        self.out.append(RescrapeRequested(asked, "tie_break", group.id))
        return True

    def confirm(
        self,
        group: Group,
        confirmed: list[str],
        found: Mapping[str, Evidence],
        fresh: Mapping[str, ScrapeKind],
    ) -> None:
        """Record confirmations; the freshest confirmed member with data fresher than the
        anchor's takes the anchor title if it priced every shared product as the anchor
        did; a named successor takes it on data as fresh. Only a member fresh from a full
        scrape can: an anchor's prices stand for the whole group, so a spot check's tenth
        of the catalogue cannot. A member that matches with a few differences may be one
        that prices those lines itself: handing it the title on freshness alone would lend
        its own prices to the group."""
        anchor_latest = self.cmp.latest(group.anchor)
        named = self.successors.get(group.id, ())

        def heir_worthy(m: str) -> bool:
            latest = self.cmp.latest(m)
            if m in named:
                return latest >= anchor_latest
            return latest > anchor_latest and found[m].mismatches == 0

        fresher = [m for m in confirmed if fresh.get(m) == "full" and heir_worthy(m)]
        heir = min(fresher, key=self.freshest_first) if fresher else None
        for m in confirmed:
            self.state.tie_breaks.pop(m, None)
            self.out.append(Confirmed(m, group.id, found[m], takes_anchor=m == heir))
        if heir is not None:
            self.change_anchor(group, heir)

    def change_anchor(self, group: Group, new: str) -> None:
        old, group.anchor = group.anchor, new
        self.state.tie_breaks.pop(new, None)  # an anchor waits on nobody
        self.touched.add(new)
        self.out.append(AnchorChanged(group.id, old, new, tuple(group.members)))

    def anchor_is_rogue(
        self,
        group: Group,
        checked: list[str],
        majority: list[str],
        proof: Evidence,
        fresh: Mapping[str, ScrapeKind],
    ) -> None:
        """The majority's representative becomes anchor, the old anchor is ejected and
        the other checked members are judged against the new anchor."""
        old = group.anchor
        self.change_anchor(group, majority[0])
        self.eject(old, group, "anchor_rogue", proof)
        rest = [m for m in checked if m != group.anchor]
        found = dict(zip(rest, self.cmp.compare_many(group.anchor, rest), strict=True))
        self.confirm(group, [m for m in rest if found[m].matched], found, fresh)
        for m in rest:
            if not found[m].matched:
                self.eject(m, group, "mismatch", found[m])

    def eject(
        self, store: str, group: Group, reason: Literal["mismatch", "anchor_rogue"], proof: Evidence
    ) -> None:
        self.state.detach(store)
        alone = self.state.found(store, self.ids)
        self.ejected.append(store)
        self.out.append(Ejected(store, group.id, alone.id, reason, proof))

    # -- 2. merging ---------------------------------------------------------------------

    def mergeable(self) -> list[str]:
        """Anchors with current prices, except skipped groups and this round's ejected
        stores (those are re-homed instead)."""
        ejected = set(self.ejected)
        return [
            a
            for a in self.state.anchors()
            if self.state.group_of[a] not in self.skipped and a not in ejected and self.current(a)
        ]

    def merge(self, eligible: list[str], focus: set[str] | None) -> None:
        """Merge matching anchors until no two eligible anchors match.

        One pass suffices: every pair of anchors still standing at the end was compared
        when the first of the two took its turn (the other was standing then too), and a
        match would have merged them. ``done`` holds anchors that had their turn, so no
        pair is compared twice. With a ``focus`` only pairs involving a focused anchor
        are compared; those are fetched up front, one batch per focused anchor (data
        does not change while merging, so this decides nothing differently).
        """
        alive = {a for a in eligible if self.state.is_anchor(a)}
        known = self.prefetch(alive, focus)
        done: set[str] = set()
        turns = sorted(alive, key=self.merge_order)
        ranking, resized = turns, False
        for a in turns:
            if a not in alive:
                continue
            if resized:  # groups grew: rank the standing anchors by their new sizes
                ranking, resized = sorted(alive, key=self.merge_order), False
            rivals = [b for b in ranking if b in alive and b not in done and b != a]
            if focus is not None and a not in focus:
                rivals = [b for b in rivals if b in focus]
            done.add(a)
            for b in self.matching(a, rivals, known):
                if a in alive and self.corroborated(self.state.group(a), self.state.group(b)):
                    alive.discard(self.fold(self.state.group(a), self.state.group(b)))
                    resized = True

    def matching(self, a: str, rivals: list[str], known: dict[tuple[str, str], bool]) -> list[str]:
        """The rivals ``a`` matches, in the rivals' order."""
        unknown = [b for b in rivals if (a, b) not in known]
        hits = {b for b, ok in zip(unknown, self.cmp.matches(a, unknown), strict=True) if ok}
        if known:
            hits.update(b for b in rivals if known.get((a, b)))
        return [b for b in rivals if b in hits] if hits else []

    def prefetch(self, alive: set[str], focus: set[str] | None) -> dict[tuple[str, str], bool]:
        known: dict[tuple[str, str], bool] = {}
        for f in sorted(alive & (focus or set()), key=self.merge_order):
            others = sorted(alive - {f}, key=self.merge_order)
            for b, ok in zip(others, self.cmp.matches(f, others), strict=True):
                known[f, b] = known[b, f] = ok
        return known

    def corroborated(self, one: Group, other: Group) -> bool:
        """Whether two groups whose anchors match may fold.

        A group of one folds on its anchor's evidence alone. When both groups have
        members, the anchors' match stands for the groups only if each side's members
        agree with the other side's anchor: an anchor whose own prices moved to another
        zone (a rogue anchor) matches that zone's anchor while its members still price
        as before, and folding would put two zones in one group. Each side's members
        with current data are compared with the other anchor; a side whose conclusive
        evidence (a match, or a mismatch beyond sampling noise) is not a majority of
        matches holds the fold back and has members asked for their whole catalogue:
        one when it has no conclusive evidence, two when its members disagree with the
        other anchor (two fresh members against their own anchor make it the rogue at
        the group's health check). A verified member that still agrees takes its
        anchor's title with its fresher data, so the pair is compared again.
        """
        if len(one.stores) < 2 or len(other.stores) < 2:
            return True
        agreed = [self.side_agrees(one, other.anchor), self.side_agrees(other, one.anchor)]
        return all(agreed)

    def side_agrees(self, group: Group, anchor: str) -> bool:
        """Whether ``group``'s members agree with ``anchor`` (see :meth:`corroborated`);
        when they do not, members are asked for their whole catalogue."""
        members = sorted((m for m in group.members if self.current(m)), key=self.freshest_first)
        found = dict(zip(members, self.cmp.compare_many(anchor, members), strict=True))
        decided = {m: e for m, e in found.items() if e.matched or self.conclusive_mismatch(e)}
        agree = sum(e.matched for e in decided.values())
        if decided and 2 * agree > len(decided):
            return True
        against = [m for m, e in decided.items() if not e.matched]
        others = sorted(
            (m for m in group.members if m not in against),
            key=lambda m: self.freshest_first(m) if self.cmp.knows(m) else (0, m),
        )
        wanted = 2 if against else 1
        for member in [*against, *others][:wanted]:
            self.verify(group, member)
        return False

    def conclusive_mismatch(self, proof: Evidence) -> bool:
        """A mismatch that is neither short of evidence nor within a sample's noise."""
        params = self.cmp.params
        return not (
            proof.matched
            or self.inconclusive(proof)
            or params.doubtful(proof.compared, proof.mismatches)
        )

    def fold(self, one: Group, other: Group) -> str:
        """Merge the smaller group into the larger (equal sizes: lower anchor key wins);
        returns the anchor that no longer is one."""
        into, gone = sorted((one, other), key=lambda g: (-len(g.stores), g.anchor))
        kept = into.anchor
        proof = self.cmp.compare(into.anchor, gone.anchor)
        moved = tuple(sorted(gone.stores))
        for store in moved:
            self.state.tie_breaks.pop(store, None)
            self.state.group_of[store] = into.id
        into.stores.update(moved)
        del self.state.groups[gone.id]
        self.out.append(Merged(into.id, gone.id, into.anchor, moved, proof))
        if self.holds_far_more(gone.anchor, into.anchor):
            # The larger group's anchor holds only part of the catalogue (a new store's
            # probe): the title goes to the anchor whose prices can stand for the group.
            self.change_anchor(into, gone.anchor)
            return kept
        return gone.anchor

    def holds_far_more(self, a: str, b: str) -> bool:
        """``a`` has more than twice ``b``'s current products."""
        return self.cmp.current_count(a) > 2 * self.cmp.current_count(b)

    # -- 3. re-homing -------------------------------------------------------------------

    def rehome(self, fresh: Mapping[str, ScrapeKind]) -> None:
        """Each ejected store joins the first matching anchor. Homes are the current
        anchors plus the ejected stores already left alone this round (so two rogues
        that now price alike end up together). One that finds no home on a spot check's
        partial data, or has no current data at all, asks for a rescrape."""
        settled: list[str] = []
        for store in sorted(set(self.ejected)):
            own = self.state.group_of[store]
            if not self.current(store):
                self.out.append(RescrapeRequested(store, "rehoming", own))
                continue
            homes = sorted(self.mergeable() + settled, key=self.merge_order)
            found = self.cmp.matches(store, homes)
            home = next((a for a, ok in zip(homes, found, strict=True) if ok), None)
            if home is None:
                settled.append(store)
                if fresh.get(store) == "spot":
                    self.out.append(RescrapeRequested(store, "rehoming", own))
                continue
            into = self.state.group(home)
            self.state.move(store, into)
            self.out.append(Rehomed(store, own, into.id, self.cmp.compare(home, store)))
