"""``splitcart bench grouping``: the grouping engine's benchmark as a CLI command."""

from __future__ import annotations

import json

from splitcart_grouper.engine.bench import run_bench


def bench(scale: float = 1.0, subset: int = 200) -> None:
    """Speed and exactness of the grouping engine on planted national data (one JSON line)."""
    print(json.dumps(run_bench(scale, subset)))
