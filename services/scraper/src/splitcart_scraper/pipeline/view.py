"""The live terminal view of a run (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table

CHAINS = ("coles", "woolworths", "aldi", "iga")


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.2f}%"


def render(snapshot: dict[str, Any]) -> Panel:
    table = Table(expand=True)
    for column in (
        "chain",
        "catalogue requests",
        "locator requests",
        "groups",
        "accuracy",
        "coverage",
    ):
        table.add_column(column, justify="right" if column != "chain" else "left")
    for chain in CHAINS:
        table.add_row(
            chain,
            str(snapshot.get("requests", {}).get(chain, 0)),
            str(snapshot.get("locator_requests", {}).get(chain, 0)),
            str(snapshot.get("groups", {}).get(chain, "-")),
            _pct(snapshot.get("accuracy", {}).get(chain)),
            _pct(snapshot.get("coverage", {}).get(chain)),
        )
    header = (
        f"day {snapshot.get('day', 0)}/{snapshot.get('days', 0)}  {snapshot.get('date', '')}   "
        f"due stores: {snapshot.get('due', 0)}   leases in flight: {snapshot.get('leases', 0)}   "
        f"archives: {snapshot.get('archives', 0)}   errors: {snapshot.get('errors', 0)}"
    )
    return Panel(Group(header, table), title="splitcart", subtitle=snapshot.get("phase", ""))
