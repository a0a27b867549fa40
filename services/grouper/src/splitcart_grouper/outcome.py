"""What a round's decisions mean for the ``grouping`` tables and for the event stream.

The engine returns the company's new groups and its decisions in decision order. Here
they are turned into rows (memberships, groups, history, evidence) by comparing the
stored state with the new one, and into events by replaying the decisions in order, so
each event says what was true when it was decided (the anchor a member was confirmed
against, its streak at that moment).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from splitcart_shared.clock import utc
from splitcart_shared.events import (
    GroupAnchorChanged,
    GroupMemberConfirmed,
    GroupMerged,
    OverlapEvidence,
    Payload,
    StoreEjected,
    StoreRescrapeRequested,
)

from splitcart_grouper.engine import (
    AnchorChanged,
    Confirmed,
    Decision,
    Ejected,
    Evidence,
    Founded,
    Group,
    GroupingState,
    Merged,
    Rehomed,
    RescrapeRequested,
)

Row = dict[str, Any]


@dataclass(frozen=True)
class StoredMembership:
    store_id: str
    group_id: str
    role: str
    joined_at: datetime
    last_confirmed_at: datetime | None
    consecutive_confirmations: int
    awaiting_tie_break_from: str | None

    @classmethod
    def of(cls, row: Row) -> StoredMembership:
        confirmed = row["last_confirmed_at"]
        return cls(
            store_id=row["store_id"],
            group_id=row["group_id"],
            role=row["role"],
            joined_at=utc(row["joined_at"]),
            last_confirmed_at=utc(confirmed) if confirmed is not None else None,
            consecutive_confirmations=int(row["consecutive_confirmations"]),
            awaiting_tie_break_from=row["awaiting_tie_break_from"],
        )


@dataclass
class StoredState:
    """A company's groups as the tables hold them before a round."""

    company: str
    anchors: dict[str, str] = field(default_factory=dict)  # group id -> anchor store
    members: dict[str, StoredMembership] = field(default_factory=dict)

    @classmethod
    def of(cls, company: str, group_rows: Iterable[Row], member_rows: Iterable[Row]) -> StoredState:
        state = cls(company, {g["id"]: g["anchor_store_id"] for g in group_rows})
        state.members = {m.store_id: m for m in map(StoredMembership.of, member_rows)}
        return state

    def to_engine(self) -> GroupingState:
        stores: dict[str, set[str]] = {gid: set() for gid in self.anchors}
        for m in self.members.values():
            stores[m.group_id].add(m.store_id)
        state = GroupingState.from_groups(
            Group(gid, anchor, stores[gid]) for gid, anchor in self.anchors.items()
        )
        state.tie_breaks = {
            m.store_id: m.awaiting_tie_break_from
            for m in self.members.values()
            if m.awaiting_tie_break_from is not None
        }
        return state

    def placement(self, store: str) -> tuple[str, str, str] | None:
        """(group, anchor, role) of a stored store."""
        m = self.members.get(store)
        return None if m is None else (m.group_id, self.anchors[m.group_id], m.role)


def overlap_evidence(proof: Evidence) -> OverlapEvidence:
    return OverlapEvidence(
        store_a=proof.store_a,
        store_b=proof.store_b,
        compared=proof.compared,
        mismatches=proof.mismatches,
        true_overlap=proof.true_overlap,
        range_overlap=proof.range_overlap,
        matched=proof.matched,
    )


@dataclass
class Outcome:
    """Everything a round writes: rows per table and events, in order."""

    new_groups: list[Row] = field(default_factory=list)
    changed_groups: list[Row] = field(default_factory=list)
    deleted_groups: list[str] = field(default_factory=list)
    memberships: list[Row] = field(default_factory=list)
    history_closed: list[str] = field(default_factory=list)
    history_opened: list[Row] = field(default_factory=list)
    evidence: list[Row] = field(default_factory=list)
    events: list[Payload] = field(default_factory=list)


class Replay:
    """Walks the decisions in order, tracking anchors and confirmation streaks."""

    def __init__(self, stored: StoredState, now: datetime) -> None:
        self.company, self.now = stored.company, now
        self.anchors = dict(stored.anchors)
        self.streak = {s: m.consecutive_confirmations for s, m in stored.members.items()}
        self.confirmed_at = {s: m.last_confirmed_at for s, m in stored.members.items()}
        self.evidence: list[Row] = []
        self.events: list[Payload] = []

    def run(self, decisions: Iterable[Decision]) -> None:
        for decision in decisions:
            self.apply(decision)

    def apply(self, d: Decision) -> None:
        if isinstance(d, Founded):
            self.anchors[d.group] = d.store
            self.streak[d.store] = 0
        elif isinstance(d, Confirmed):
            self.confirm(d)
        elif isinstance(d, AnchorChanged):
            self.anchors[d.group] = d.new_anchor
            self.events.append(self.anchor_changed(d))
        elif isinstance(d, Ejected):
            self.eject(d)
        elif isinstance(d, Merged):
            self.merge(d)
        elif isinstance(d, Rehomed):
            self.rehome(d)
        elif isinstance(d, RescrapeRequested):
            self.events.append(self.rescrape(d))

    def confirm(self, d: Confirmed) -> None:
        self.streak[d.store] = self.streak.get(d.store, 0) + 1
        self.confirmed_at[d.store] = self.now
        self.record(d.evidence, d.group, "confirmed")
        self.events.append(
            GroupMemberConfirmed(
                company=self.company,
                group_id=d.group,
                store_id=d.store,
                anchor_store_id=self.anchors[d.group],
                consecutive_confirmations=self.streak[d.store],
                evidence=overlap_evidence(d.evidence),
            )
        )

    def anchor_changed(self, d: AnchorChanged) -> GroupAnchorChanged:
        return GroupAnchorChanged(
            company=self.company,
            group_id=d.group,
            old_anchor_store_id=d.old_anchor,
            new_anchor_store_id=d.new_anchor,
            member_store_ids=list(d.members),
        )

    def eject(self, d: Ejected) -> None:
        self.anchors[d.new_group] = d.store
        self.streak[d.store] = 0
        self.record(d.evidence, d.old_group, "ejected" if d.reason == "mismatch" else d.reason)
        self.events.append(
            StoreEjected(
                company=self.company,
                store_id=d.store,
                old_group_id=d.old_group,
                new_group_id=d.new_group,
                reason=d.reason,
                evidence=overlap_evidence(d.evidence),
            )
        )

    def merge(self, d: Merged) -> None:
        self.anchors.pop(d.from_group, None)
        self.streak.update(dict.fromkeys(d.moved, 0))
        self.record(d.evidence, d.into_group, "merged")
        self.events.append(self.merged(d.into_group, d.from_group, d.anchor, d.moved, d.evidence))

    def rehome(self, d: Rehomed) -> None:
        # A rogue alone in its group joining another is that group of one folding in.
        self.anchors.pop(d.from_group, None)
        self.streak[d.store] = 0
        self.record(d.evidence, d.into_group, "rehomed")
        anchor = self.anchors[d.into_group]
        self.events.append(self.merged(d.into_group, d.from_group, anchor, (d.store,), d.evidence))

    def merged(
        self, into: str, gone: str, anchor: str, moved: Iterable[str], proof: Evidence
    ) -> GroupMerged:
        return GroupMerged(
            company=self.company,
            into_group_id=into,
            from_group_id=gone,
            anchor_store_id=anchor,
            moved_store_ids=sorted(moved),
            evidence=overlap_evidence(proof),
        )

    def rescrape(self, d: RescrapeRequested) -> StoreRescrapeRequested:
        return StoreRescrapeRequested(
            company=self.company,
            store_id=d.store,
            reason=d.reason,
            group_id=d.group,
        )

    def record(self, proof: Evidence, group_id: str, decision: str) -> None:
        self.evidence.append(evidence_row(self.company, proof, group_id, decision, self.now))


def evidence_row(company: str, proof: Evidence, group_id: str, decision: str, now: datetime) -> Row:
    return {
        "company": company,
        "store_a": proof.store_a,
        "store_b": proof.store_b,
        "group_id": group_id,
        "decided_at": now,
        "compared": proof.compared,
        "mismatches": proof.mismatches,
        "exact": proof.exact,
        "true_overlap": proof.true_overlap,
        "range_overlap": proof.range_overlap,
        "decision": decision,
        "matched": proof.matched,
    }


def diff_state(
    stored: StoredState,
    new: GroupingState,
    now: datetime,
    streak: dict[str, int],
    confirmed_at: dict[str, datetime | None],
) -> Outcome:
    """Rows that turn the stored state into ``new`` (memberships, groups, history)."""
    out = Outcome()
    _diff_groups(stored, new, now, out)
    for store, gid in sorted(new.group_of.items()):
        old = stored.members.get(store)
        row = _membership_row(stored.company, store, gid, new, old, now)
        if old is None or old.group_id == gid:  # a move starts a new streak
            row["consecutive_confirmations"] = streak.get(store, 0)
        row["last_confirmed_at"] = confirmed_at.get(store)
        if old is None or _membership_changed(old, row):
            out.memberships.append(row)
        placed = (gid, new.groups[gid].anchor, row["role"])
        before = stored.placement(store)
        if before != placed:
            _reopen(out, stored.company, store, placed, now, closed=before is not None)
    return out


def _membership_row(
    company: str,
    store: str,
    gid: str,
    new: GroupingState,
    old: StoredMembership | None,
    now: datetime,
) -> Row:
    stayed = old is not None and old.group_id == gid
    return {
        "company": company,
        "store_id": store,
        "group_id": gid,
        "role": "anchor" if new.groups[gid].anchor == store else "member",
        "joined_at": old.joined_at if old is not None and stayed else now,
        "last_confirmed_at": None,
        "consecutive_confirmations": 0,
        "awaiting_tie_break_from": new.tie_breaks.get(store),
    }


def _membership_changed(old: StoredMembership, row: Row) -> bool:
    return (
        old.group_id,
        old.role,
        old.joined_at,
        old.last_confirmed_at,
        old.consecutive_confirmations,
        old.awaiting_tie_break_from,
    ) != (
        row["group_id"],
        row["role"],
        row["joined_at"],
        row["last_confirmed_at"],
        row["consecutive_confirmations"],
        row["awaiting_tie_break_from"],
    )


def _reopen(
    out: Outcome,
    company: str,
    store: str,
    placed: tuple[str, str, str],
    now: datetime,
    closed: bool,
) -> None:
    if closed:
        out.history_closed.append(store)
    gid, anchor, role = placed
    out.history_opened.append(
        {
            "company": company,
            "store_id": store,
            "group_id": gid,
            "anchor_store_id": anchor,
            "role": role,
            "valid_from": now,
            "valid_to": None,
        }
    )


def _diff_groups(stored: StoredState, new: GroupingState, now: datetime, out: Outcome) -> None:
    before = _stores_by_group(stored)
    for gid, group in sorted(new.groups.items()):
        row = {"id": gid, "anchor_store_id": group.anchor, "updated_at": now}
        if gid not in stored.anchors:
            out.new_groups.append({**row, "company": stored.company, "created_at": now})
        elif stored.anchors[gid] != group.anchor or before.get(gid) != group.stores:
            out.changed_groups.append(row)
    out.deleted_groups = sorted(set(stored.anchors) - set(new.groups))


def _stores_by_group(stored: StoredState) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for m in stored.members.values():
        found.setdefault(m.group_id, set()).add(m.store_id)
    return found
