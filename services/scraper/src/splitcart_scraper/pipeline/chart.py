"""A PNG chart of a simulation: requests per day against brute force, and price accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHAINS = ("coles", "woolworths", "aldi", "iga")


def write_chart(report: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = report["days"]
    x = [d["day"] for d in days]
    fig, (cost, accuracy) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    ours = [sum(d["requests"].values()) for d in days]
    brute = [sum(d["brute_force_requests"].values()) for d in days]
    cost.plot(x, brute, label="brute force (every store, every day)", linestyle="--")
    cost.plot(x, ours, label="splitcart", linewidth=2)
    cost.set_yscale("log")
    cost.set_ylabel("catalogue requests per day")
    cost.set_title(f"requests: {report['request_savings']}x fewer than brute force")
    cost.legend()
    for chain in CHAINS:
        values = [d["price_accuracy"].get(chain) for d in days]
        accuracy.plot(
            x, [v * 100 if v is not None else None for v in values], marker="o", label=chain
        )
    accuracy.set_ylabel("price accuracy (%)")
    accuracy.set_xlabel("simulated day")
    accuracy.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
