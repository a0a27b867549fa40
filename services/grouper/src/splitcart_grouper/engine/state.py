"""Groups of one company as plain in-memory data the service loads and persists.

Group ids: new groups get ``f"{founder}#{serial}"`` where ``founder`` is the store
the group started with and ``serial`` is :attr:`GroupingState.serial`, a counter the
state carries (so ids are deterministic and never reused within one state's history).
The service either persists ``serial`` with the groups, or passes its own ``id_factory``
(e.g. UUIDs) to the procedures in :mod:`.decisions`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

IdFactory = Callable[[str], str]


@dataclass
class Group:
    id: str
    anchor: str
    stores: set[str]  # members and the anchor

    @property
    def members(self) -> list[str]:
        return sorted(self.stores - {self.anchor})


@dataclass
class GroupingState:
    """Every store of one company in exactly one group.

    ``tie_breaks`` maps a member whose mismatch awaits a tie-breaker to the member asked
    to be rescraped for it (see :func:`.decisions.health_checks`).
    """

    groups: dict[str, Group] = field(default_factory=dict)
    group_of: dict[str, str] = field(default_factory=dict)
    tie_breaks: dict[str, str] = field(default_factory=dict)
    serial: int = 0

    @classmethod
    def from_groups(cls, groups: Iterable[Group], serial: int = 0) -> GroupingState:
        state = cls(serial=serial)
        for group in groups:
            state.groups[group.id] = group
            for store in group.stores:
                state.group_of[store] = group.id
        return state

    def copy(self) -> GroupingState:
        groups = {gid: Group(g.id, g.anchor, set(g.stores)) for gid, g in self.groups.items()}
        return GroupingState(groups, dict(self.group_of), dict(self.tie_breaks), self.serial)

    def group(self, store: str) -> Group:
        return self.groups[self.group_of[store]]

    def is_anchor(self, store: str) -> bool:
        return store in self.group_of and self.group(store).anchor == store

    def anchors(self) -> list[str]:
        return sorted(g.anchor for g in self.groups.values())

    def default_id(self, founder: str) -> str:
        self.serial += 1
        return f"{founder}#{self.serial}"

    def found(self, store: str, id_factory: IdFactory | None = None) -> Group:
        """Put ``store`` (not currently grouped) alone in a new group."""
        gid = (id_factory or self.default_id)(store)
        if gid in self.groups:
            raise ValueError(f"group id {gid!r} already in use")
        group = Group(gid, store, {store})
        self.groups[gid] = group
        self.group_of[store] = gid
        return group

    def detach(self, store: str) -> None:
        """Take ``store`` out of its group (which must keep another anchor or vanish)."""
        group = self.group(store)
        group.stores.discard(store)
        del self.group_of[store]
        self.tie_breaks.pop(store, None)
        if not group.stores:
            del self.groups[group.id]

    def move(self, store: str, into: Group) -> None:
        self.detach(store)
        into.stores.add(store)
        self.group_of[store] = into.id

    def partition(self) -> list[frozenset[str]]:
        """The groups as store sets, in a canonical order (for comparing outcomes)."""
        return sorted((frozenset(g.stores) for g in self.groups.values()), key=sorted)
