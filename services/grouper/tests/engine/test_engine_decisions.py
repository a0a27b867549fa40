"""Health checks, merging and re-homing (issue 7 behaviour)."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
from splitcart_grouper.engine import (
    AnchorChanged,
    CompanyPrices,
    Confirmed,
    Decision,
    Ejected,
    Founded,
    Group,
    GroupingState,
    Merged,
    ReferenceComparator,
    Rehomed,
    RescrapeRequested,
    full_regroup,
    run_round,
)
from splitcart_grouper.engine.overlap import Comparator

from .engine_support import NOW, PARAMS, add, base_prices, company, fast, tick, variant

BASE = base_prices(400)
OTHER_ZONE = variant(BASE, 100, offset=100)
THIRD_ZONE = variant(BASE, 100, offset=250, bump=50)


def zones() -> tuple[CompanyPrices, GroupingState]:
    """Zone X: a (anchor), b, c, d. Zone Y: y1 (anchor), y2. All observed 1 h before NOW."""
    rows = {s: BASE for s in "abcd"} | {"y1": OTHER_ZONE, "y2": OTHER_ZONE}
    prices = company(rows)
    state = full_regroup(list(prices), fast(prices)).state
    assert state.partition() == [frozenset("abcd"), frozenset({"y1", "y2"})]
    return prices, state


def ingest(prices: CompanyPrices, rows: dict[str, np.ndarray], hours_after: float = 1.0) -> None:
    for store, row in rows.items():
        add(prices, store, row, hours_ago=-hours_after)


def kinds(decisions: list[Decision], kind: type) -> list[Decision]:
    return [d for d in decisions if isinstance(d, kind)]


def test_new_stores_start_alone_and_merge_with_their_zone() -> None:
    prices, state = zones()
    ingest(prices, {"new": BASE})
    result = run_round(state, fast(prices, 2), {"new": "full"})
    founded = kinds(result.decisions, Founded)
    merged = kinds(result.decisions, Merged)
    assert [f.store for f in founded] == ["new"]
    assert [(m.moved, m.into_group, m.anchor) for m in merged] == [
        (("new",), state.group_of["a"], "a")
    ]
    assert merged[0].evidence.matched and merged[0].evidence.compared == 400


def test_rogue_is_ejected_and_rehomed() -> None:
    prices, state = zones()
    ingest(prices, {"b": OTHER_ZONE, "c": BASE})
    result = run_round(state, fast(prices, 2), {"b": "full", "c": "full"})
    ejected = kinds(result.decisions, Ejected)
    rehomed = kinds(result.decisions, Rehomed)
    assert [(e.store, e.reason, e.evidence.mismatches) for e in ejected] == [("b", "mismatch", 100)]
    assert [(r.store, r.into_group) for r in rehomed] == [("b", state.group_of["y1"])]
    assert ejected[0].new_group == rehomed[0].from_group not in result.state.groups
    assert result.state.partition() == [frozenset("acd"), frozenset({"b", "y1", "y2"})]


def test_confirmed_member_with_fresher_data_takes_the_anchor_title() -> None:
    prices, state = zones()
    ingest(prices, {"c": BASE})
    result = run_round(state, fast(prices, 2), {"c": "full"})
    confirmed = kinds(result.decisions, Confirmed)
    assert [(c.store, c.takes_anchor) for c in confirmed] == [("c", True)]
    changed = kinds(result.decisions, AnchorChanged)
    assert [(a.old_anchor, a.new_anchor, a.members) for a in changed] == [
        ("a", "c", ("a", "b", "d"))
    ]
    assert result.state.group("a").anchor == "c"


@pytest.mark.parametrize("named", [True, False])
def test_a_named_successor_takes_the_title_on_data_as_fresh_as_the_anchors(named: bool) -> None:
    prices, state = zones()
    ingest(prices, {"a": BASE, "c": BASE})  # the anchor and c scraped at the same moment
    group = state.group_of["a"]
    successors = {group: ["c"]} if named else None
    result = run_round(state, fast(prices, 2), {"a": "full", "c": "full"}, successors=successors)
    confirmed = kinds(result.decisions, Confirmed)
    assert [(c.store, c.takes_anchor) for c in confirmed] == [("c", named)]
    assert result.state.group("a").anchor == ("c" if named else "a")


def test_a_fresher_member_that_differs_on_a_few_lines_does_not_take_the_title() -> None:
    prices, state = zones()
    ingest(prices, {"c": variant(BASE, 3)})  # still a match, but not priced alike throughout
    result = run_round(state, fast(prices, 2), {"c": "full"})
    confirmed = kinds(result.decisions, Confirmed)
    assert [(c.store, c.takes_anchor, c.evidence.mismatches) for c in confirmed] == [
        ("c", False, 3)
    ]
    assert result.state.group("a").anchor == "a"


def test_member_fresh_from_a_spot_check_confirms_but_does_not_take_the_anchor_title() -> None:
    prices, state = zones()
    sample = np.arange(0, 400, 3)  # a spot check sees a third of the catalogue
    prices.upsert_store("c", sample, BASE[sample], np.full(sample.size, tick(0)), replace=False)
    result = run_round(state, fast(prices, 2), {"c": "spot"})
    confirmed = kinds(result.decisions, Confirmed)
    assert [(c.store, c.takes_anchor) for c in confirmed] == [("c", False)]
    assert kinds(result.decisions, AnchorChanged) == []
    assert result.state.group("a").anchor == "a"


def test_merge_gives_the_title_to_the_anchor_holding_the_whole_catalogue() -> None:
    probe = np.arange(0, 400, 3)  # two new stores, each seen only through a probe
    prices = CompanyPrices()
    for store in ("p1", "p2"):
        prices.upsert_store(store, probe, BASE[probe], np.full(probe.size, tick(1)))
    first = full_regroup(["p1", "p2"], fast(prices)).state
    assert first.partition() == [frozenset({"p1", "p2"})]
    add(prices, "z", BASE)  # then a full scrape of a store of the same zone
    result = run_round(first, fast(prices), {"z": "full"})
    assert result.state.partition() == [frozenset({"p1", "p2", "z"})]
    assert result.state.group("z").anchor == "z"


def test_spot_check_sharing_too_few_products_neither_confirms_nor_ejects() -> None:
    prices, state = zones()
    few = np.arange(0, PARAMS.min_shared - 1)  # fewer than min_shared, all equal
    prices.upsert_store("c", few, BASE[few], np.full(few.size, tick(0)), replace=True)
    result = run_round(state, fast(prices, 2), {"c": "spot"})
    assert kinds(result.decisions, Confirmed) == []
    assert kinds(result.decisions, Ejected) == []
    assert result.state.group("c").id == state.group("a").id


def test_spot_check_with_too_many_mismatches_ejects_even_when_small() -> None:
    prices, state = zones()
    few = np.arange(0, PARAMS.min_shared - 1)
    prices.upsert_store("c", few, BASE[few] + 10, np.full(few.size, tick(0)), replace=True)
    result = run_round(state, fast(prices, 2), {"c": "spot", "b": "full", "d": "full"})
    assert [e.store for e in kinds(result.decisions, Ejected)] == ["c"]


def test_promotions_below_the_threshold_do_not_split_a_group() -> None:
    prices, state = zones()
    promoted = variant(BASE, 4, offset=20, bump=-100)  # 1 % of the range on special
    ingest(prices, {"b": promoted, "c": promoted})
    result = run_round(state, fast(prices, 2), {"b": "full", "c": "full"})
    assert not kinds(result.decisions, Ejected)
    assert {c.store for c in kinds(result.decisions, Confirmed)} == {"b", "c"}
    assert result.state.partition() == state.partition()


def test_majority_of_fresh_members_agreeing_against_the_anchor_makes_it_the_rogue() -> None:
    prices, state = zones()
    ingest(prices, {"a": THIRD_ZONE, "b": BASE, "c": BASE})
    result = run_round(state, fast(prices, 2), {"a": "full", "b": "full", "c": "full"})
    changed = kinds(result.decisions, AnchorChanged)
    ejected = kinds(result.decisions, Ejected)
    assert [(a.old_anchor, a.new_anchor) for a in changed] == [("a", "b")]
    assert [(e.store, e.reason) for e in ejected] == [("a", "anchor_rogue")]
    assert [c.store for c in kinds(result.decisions, Confirmed)] == ["c"]
    assert result.state.group("b").anchor == "b"
    assert result.state.partition() == [
        frozenset("a"),
        frozenset("bcd"),
        frozenset({"y1", "y2"}),
    ]


def test_minority_against_the_anchor_is_ejected_not_the_anchor() -> None:
    prices, state = zones()
    ingest(prices, {"b": THIRD_ZONE, "c": BASE, "d": BASE})
    result = run_round(state, fast(prices, 2), {s: "full" for s in "bcd"})
    assert [(e.store, e.reason) for e in kinds(result.decisions, Ejected)] == [("b", "mismatch")]
    assert result.state.group("c").anchor in {"c", "d"}  # the fresher members took the title


def test_lone_mismatch_requests_a_tie_breaker_before_deciding() -> None:
    prices, state = zones()
    ingest(prices, {"b": OTHER_ZONE})
    result = run_round(state, fast(prices, 2), {"b": "full"})
    assert result.decisions == [RescrapeRequested("c", "tie_break", state.group_of["a"])]
    assert result.state.tie_breaks == {"b": "c"}
    assert result.state.partition() == state.partition()


def test_tie_breaker_agreeing_with_the_anchor_ejects_the_member() -> None:
    prices, state = zones()
    ingest(prices, {"b": OTHER_ZONE})
    state = run_round(state, fast(prices, 2), {"b": "full"}).state
    ingest(prices, {"c": BASE}, hours_after=3)
    result = run_round(state, fast(prices, 4), {"c": "full"})
    assert [(e.store, e.reason) for e in kinds(result.decisions, Ejected)] == [("b", "mismatch")]
    assert [r.store for r in kinds(result.decisions, Rehomed)] == ["b"]
    assert result.state.tie_breaks == {}


def test_tie_breaker_agreeing_with_the_member_makes_the_anchor_the_rogue() -> None:
    prices, state = zones()
    ingest(prices, {"b": THIRD_ZONE})
    state = run_round(state, fast(prices, 2), {"b": "full"}).state
    ingest(prices, {"c": THIRD_ZONE}, hours_after=3)
    result = run_round(state, fast(prices, 4), {"c": "full"})
    assert [(e.store, e.reason) for e in kinds(result.decisions, Ejected)] == [
        ("a", "anchor_rogue")
    ]
    assert result.state.group("b").anchor == "c"  # the freshest of the majority


def test_repeated_lone_mismatch_after_a_tie_break_request_is_ejected() -> None:
    prices, state = zones()
    ingest(prices, {"b": OTHER_ZONE})
    state = run_round(state, fast(prices, 2), {"b": "full"}).state
    ingest(prices, {"b": OTHER_ZONE}, hours_after=3)
    result = run_round(state, fast(prices, 4), {"b": "full"})
    assert [e.store for e in kinds(result.decisions, Ejected)] == ["b"]


def test_member_of_a_group_of_two_is_ejected_without_a_tie_breaker() -> None:
    prices, state = zones()
    ingest(prices, {"y2": BASE})
    result = run_round(state, fast(prices, 2), {"y2": "full"})
    assert not kinds(result.decisions, RescrapeRequested)
    assert [e.store for e in kinds(result.decisions, Ejected)] == ["y2"]
    assert [(r.store, r.into_group) for r in kinds(result.decisions, Rehomed)] == [
        ("y2", state.group_of["a"])
    ]


def test_stale_anchor_requests_a_rescrape_and_its_group_is_skipped() -> None:
    prices, state = zones()
    ingest(prices, {"b": OTHER_ZONE}, hours_after=74)
    result = run_round(state, fast(prices, 75), {"b": "full"})
    assert result.decisions == [RescrapeRequested("a", "stale_anchor", state.group_of["a"])]
    assert result.state.partition() == state.partition()


def test_ejected_spot_check_without_a_home_asks_for_a_full_rescrape() -> None:
    prices, state = zones()
    ingest(prices, {"b": THIRD_ZONE, "c": BASE})
    result = run_round(state, fast(prices, 2), {"b": "spot", "c": "full"})
    assert RescrapeRequested("b", "rehoming", result.state.group_of["b"]) in result.decisions


def test_a_rogue_anchor_matching_another_zone_does_not_fold_the_groups() -> None:
    prices, state = zones()
    # a's prices move to zone Y; its members b, c, d still price as zone X.
    ingest(prices, {"a": OTHER_ZONE})
    result = run_round(state, fast(prices, 2), {"a": "full"})
    assert kinds(result.decisions, Merged) == []
    assert result.state.partition() == state.partition()
    asked = [(r.store, r.reason) for r in kinds(result.decisions, RescrapeRequested)]
    assert asked == [("b", "tie_break"), ("c", "tie_break")]
    # Their whole catalogues make a the rogue; it leaves alone and joins zone Y.
    ingest(prices, {"b": BASE, "c": BASE}, hours_after=3)
    after = run_round(result.state, fast(prices, 4), {"b": "full", "c": "full"})
    assert [(e.store, e.reason) for e in kinds(after.decisions, Ejected)] == [("a", "anchor_rogue")]
    assert set(after.state.partition()) == {frozenset("bcd"), frozenset({"a", "y1", "y2"})}


def test_groups_whose_members_lack_current_data_fold_once_a_member_each_is_verified() -> None:
    # Two groups of one zone, founded apart; the members' data is past the freshness window.
    prices = company({"b": BASE, "d": BASE}, hours_ago=80)
    for store in ("a", "c"):
        add(prices, store, BASE)
    state = GroupingState.from_groups([Group("g1", "a", {"a", "b"}), Group("g2", "c", {"c", "d"})])
    held = run_round(state, fast(prices), {"a": "full", "c": "full"})
    assert kinds(held.decisions, Merged) == []
    asked = [(r.store, r.reason) for r in kinds(held.decisions, RescrapeRequested)]
    assert asked == [("b", "tie_break"), ("d", "tie_break")]
    ingest(prices, {"b": BASE, "d": BASE})
    result = run_round(held.state, fast(prices, 2), {"b": "full", "d": "full"})
    assert result.state.partition() == [frozenset("abcd")]
    assert len(kinds(result.decisions, Merged)) == 1
    assert not result.state.tie_breaks


def test_groups_whose_members_agree_fold_at_once() -> None:
    prices = company({s: BASE for s in "abcd"})
    state = GroupingState.from_groups([Group("g1", "a", {"a", "b"}), Group("g2", "c", {"c", "d"})])
    ingest(prices, {"a": BASE})
    result = run_round(state, fast(prices, 2), {"a": "full"})
    assert result.state.partition() == [frozenset("abcd")]
    assert kinds(result.decisions, RescrapeRequested) == []


def test_chain_of_near_matches_does_not_drift_into_one_group() -> None:
    near = variant(BASE, 6)  # 6 mismatches of 400 with BASE: a match
    far = variant(near, 6, offset=6)  # 6 with `near`, 12 with BASE: not a match
    prices = company({"a": BASE, "b": near, "c": far})
    cmp = fast(prices)
    assert cmp.compare("a", "b").matched and cmp.compare("b", "c").matched
    assert not cmp.compare("a", "c").matched
    state = full_regroup(list(prices), cmp).state
    assert state.partition() == [frozenset("ab"), frozenset("c")]
    # c matches member b, but joins only through anchor a, which it does not match.
    ingest(prices, {"c": far})
    result = run_round(state, fast(prices, 2), {"c": "full"})
    assert result.state.partition() == state.partition()
    assert not kinds(result.decisions, Merged)


def test_chain_joins_only_by_an_explicit_anchor_to_anchor_merge() -> None:
    near, far = variant(BASE, 6), variant(variant(BASE, 6), 6, offset=6)
    prices = company({"a": BASE, "b": near, "c": far})
    state = full_regroup(list(prices), fast(prices)).state
    ingest(prices, {"b": near, "c": far})  # b, confirmed with fresher data, takes the title
    successors = {state.group_of["a"]: ["b"]}  # (it differs: only a named successor may)
    result = run_round(state, fast(prices, 2), {"b": "full", "c": "full"}, successors=successors)
    merged = kinds(result.decisions, Merged)
    assert [(m.anchor, m.moved, m.evidence.store_b) for m in merged] == [("b", ("c",), "c")]
    assert merged[0].evidence.matched
    assert_members_match_their_anchor(result.state, fast(prices, 2))


def assert_members_match_their_anchor(state: GroupingState, cmp: Comparator) -> None:
    for group in state.groups.values():
        assert all(cmp.compare(group.anchor, m).matched for m in group.members)


def test_stores_of_different_companies_are_never_compared() -> None:
    coles, woolworths = company({"c1": BASE, "c2": BASE}), company({"w1": BASE})
    result = run_round(GroupingState(), fast(coles), {"c1": "full", "c2": "full", "w1": "full"})
    # The engine only sees one company's prices: a store it has no prices for stays alone.
    assert result.state.partition() == [frozenset({"c1", "c2"}), frozenset({"w1"})]
    assert "w1" not in coles and len(woolworths) == 1


@pytest.mark.parametrize(
    "scenario",
    [
        {"b": OTHER_ZONE, "c": BASE},
        {"a": THIRD_ZONE, "b": BASE, "c": BASE},
        {"b": OTHER_ZONE},
        {"new": OTHER_ZONE, "y2": BASE},
    ],
)
def test_round_decides_the_same_with_the_reference_comparator(
    scenario: dict[str, np.ndarray],
) -> None:
    prices, state = zones()
    ingest(prices, scenario)
    fresh = dict.fromkeys(scenario, "full")
    later = NOW.replace(hour=14)
    by_fast = run_round(state, fast(prices, 2), fresh)  # type: ignore[arg-type]
    ref = ReferenceComparator.from_prices(prices, later, PARAMS)
    by_ref = run_round(state, ref, fresh)  # type: ignore[arg-type]
    assert by_ref.state.partition() == by_fast.state.partition()
    assert [_shape(d) for d in by_ref.decisions] == [_shape(d) for d in by_fast.decisions]


def _shape(decision: Decision) -> tuple[object, ...]:
    """A decision without its evidence counts (the reference's may be lower bounds)."""
    kept = (getattr(decision, f.name) for f in fields(decision) if f.name != "evidence")
    return (type(decision).__name__, *kept)


def test_touched_scope_merges_like_the_exhaustive_scope_after_a_fixed_point() -> None:
    prices, state = zones()
    ingest(prices, {"new": OTHER_ZONE, "c": BASE, "y2": THIRD_ZONE})
    fresh = {"new": "full", "c": "full", "y2": "full"}
    every = run_round(state, fast(prices, 2), fresh, merge_scope="all")  # type: ignore[arg-type]
    touched = run_round(state, fast(prices, 2), fresh, merge_scope="touched")  # type: ignore[arg-type]
    assert every.decisions == touched.decisions
    assert touched.state.group_of["new"] == touched.state.group_of["y1"]


def test_a_round_leaves_its_input_state_untouched() -> None:
    prices, state = zones()
    before = state.copy()
    ingest(prices, {"b": OTHER_ZONE, "c": BASE})
    run_round(state, fast(prices, 2), {"b": "full", "c": "full"})
    assert state == before


# --- spot checks within sampling noise, and tie-breaks that must settle ---------------------


def spot(prices: CompanyPrices, store: str, row: np.ndarray, sample: np.ndarray) -> None:
    """A spot check of ``store`` seeing the products ``sample`` priced as in ``row``."""
    prices.upsert_store(store, sample, row[sample], np.full(sample.size, tick(0)), replace=True)


SAMPLE = np.arange(0, 120)  # a spot check's bucket: 120 products (allowed mismatches: 2)


def test_spot_mismatches_within_sampling_noise_ask_for_the_whole_catalogue() -> None:
    prices, state = zones()
    local = variant(BASE, 4, offset=10)  # 4 of 400 priced by the store itself: a match
    spot(prices, "c", local, SAMPLE)  # ... all 4 inside the bucket: 4 of 120
    result = run_round(state, fast(prices, 2), {"c": "spot"})
    assert result.decisions == [RescrapeRequested("c", "tie_break", state.group_of["a"])]
    assert result.state.tie_breaks == {"c": "c"}
    assert result.state.partition() == state.partition()
    # The whole catalogue arrives: 4 of 400 is a match, confirmed, nobody waits any more.
    add(prices, "c", local, hours_ago=-2)
    settled = run_round(result.state, fast(prices, 3), {"c": "full"})
    assert [c.store for c in kinds(settled.decisions, Confirmed)] == ["c"]
    assert settled.state.tie_breaks == {}
    assert settled.state.partition() == state.partition()


@pytest.mark.parametrize(("own", "verified"), [(8, True), (9, False)])
def test_a_sample_holding_no_more_mismatches_than_the_whole_catalogue_may_is_verified(
    own: int, verified: bool
) -> None:
    prices, state = zones()
    local = variant(BASE, own, offset=10)  # lines the store prices itself, of 400 (8 allowed)
    bucket = np.arange(0, 100)  # ... every one of them inside the sampled categories
    assert not PARAMS.doubtful(100, own)  # far past a sample's noise: the count alone ejects
    spot(prices, "c", local, bucket)
    result = run_round(state, fast(prices, 2), {"c": "spot", "b": "full", "d": "full"})
    if not verified:
        assert [(e.store, e.reason) for e in kinds(result.decisions, Ejected)] == [
            ("c", "mismatch")
        ]
        return
    assert kinds(result.decisions, Ejected) == []
    assert RescrapeRequested("c", "tie_break", state.group_of["a"]) in result.decisions
    assert result.state.tie_breaks == {"c": "c"}
    # Its whole catalogue: 8 of 400 is a match.
    add(prices, "c", local, hours_ago=-2)
    settled = run_round(result.state, fast(prices, 3), {"c": "full"})
    assert [c.store for c in kinds(settled.decisions, Confirmed)] == ["c"]
    assert settled.state.partition() == state.partition()


def test_a_member_verifying_itself_is_not_judged_again_on_its_sample() -> None:
    prices, state = zones()
    spot(prices, "c", variant(BASE, 4, offset=10), SAMPLE)
    state = run_round(state, fast(prices, 2), {"c": "spot"}).state
    ingest(prices, {"b": BASE}, hours_after=2)  # another member's data meanwhile
    result = run_round(state, fast(prices, 3), {"b": "full"})
    assert kinds(result.decisions, Ejected) == []
    assert result.state.tie_breaks == {"c": "c"}


def test_spot_mismatches_beyond_sampling_noise_are_decided_at_once() -> None:
    prices, state = zones()
    spot(prices, "b", OTHER_ZONE, np.arange(100, 220))  # another zone: 100 of 120 differ
    spot(prices, "c", BASE, np.arange(100, 220))
    result = run_round(state, fast(prices, 2), {"b": "spot", "c": "spot"})
    assert [(e.store, e.reason) for e in kinds(result.decisions, Ejected)] == [("b", "mismatch")]
    assert "b" not in result.state.tie_breaks


def test_an_anchor_is_not_found_rogue_on_doubtful_samples() -> None:
    prices, state = zones()
    own = variant(BASE, 4, offset=10)  # the anchor prices 4 lines itself, all in the bucket
    ingest(prices, {"a": own})
    for store in "bcd":
        spot(prices, store, BASE, SAMPLE)
    result = run_round(state, fast(prices, 2), {s: "spot" for s in "bcd"})
    assert kinds(result.decisions, Ejected) == []
    assert kinds(result.decisions, AnchorChanged) == []
    assert result.state.tie_breaks == {"b": "b", "c": "c", "d": "d"}


def test_a_waiting_member_made_anchor_waits_no_more() -> None:
    prices, state = zones()
    ingest(prices, {"b": THIRD_ZONE})
    state = run_round(state, fast(prices, 2), {"b": "full"}).state
    assert state.tie_breaks == {"b": "c"}
    ingest(prices, {"c": THIRD_ZONE, "d": THIRD_ZONE}, hours_after=3)
    result = run_round(state, fast(prices, 4), {"c": "full", "d": "full"})
    new_anchor = result.state.group("b").anchor
    assert new_anchor in {"b", "c", "d"} and new_anchor not in result.state.tie_breaks
    assert result.state.tie_breaks == {}


def test_any_other_fresh_member_breaks_a_pending_tie() -> None:
    prices, state = zones()
    ingest(prices, {"b": OTHER_ZONE})
    state = run_round(state, fast(prices, 2), {"b": "full"}).state
    assert state.tie_breaks == {"b": "c"}
    ingest(prices, {"d": BASE}, hours_after=3)  # not the asked member, but a member
    result = run_round(state, fast(prices, 4), {"d": "full"})
    assert [(e.store, e.reason) for e in kinds(result.decisions, Ejected)] == [("b", "mismatch")]
    assert result.state.tie_breaks == {}


def test_a_wait_on_data_no_longer_current_is_forgotten() -> None:
    prices, state = zones()
    ingest(prices, {"b": OTHER_ZONE})
    state = run_round(state, fast(prices, 2), {"b": "full"}).state
    ingest(prices, {"a": BASE}, hours_after=80)  # b's data has aged out meanwhile
    result = run_round(state, fast(prices, 81), {"a": "full"})
    assert result.state.tie_breaks == {}
    assert kinds(result.decisions, Ejected) == []


@pytest.mark.parametrize("changed", [1, 3, 4, 6, 8, 9, 30])
def test_spot_doubt_decides_the_same_with_the_reference_comparator(changed: int) -> None:
    prices, state = zones()
    for store in ("b", "c"):
        spot(prices, store, variant(BASE, changed, offset=5), SAMPLE)
    fresh = {"b": "spot", "c": "spot"}
    by_fast = run_round(state, fast(prices, 2), fresh)  # type: ignore[arg-type]
    ref = ReferenceComparator.from_prices(prices, NOW.replace(hour=14), PARAMS)
    by_ref = run_round(state, ref, fresh)  # type: ignore[arg-type]
    assert by_ref.state.partition() == by_fast.state.partition()
    assert [_shape(d) for d in by_ref.decisions] == [_shape(d) for d in by_fast.decisions]
    assert by_ref.state.tie_breaks == by_fast.state.tie_breaks
