"""``splitcart run`` (the main job) and ``splitcart simulate``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live

from splitcart_scraper.pipeline.chart import write_chart
from splitcart_scraper.pipeline.driver import Simulation, SimulationConfig, Stack
from splitcart_scraper.pipeline.view import render

console = Console()


def _execute(config: SimulationConfig, live: bool) -> dict[str, Any]:
    stack = Stack(config)
    mode = "distributed" if config.distributed else "embedded"
    console.print(f"[bold]starting[/] sandbox and services ({mode}) in {config.out_dir}")
    stack.start()
    try:
        if not live:
            return asyncio.run(Simulation(config, stack).run())
        with Live(render({}), console=console, refresh_per_second=4) as screen:
            simulation = Simulation(
                config, stack, on_update=lambda snap: screen.update(render(snap))
            )
            return asyncio.run(simulation.run())
    finally:
        stack.stop()


def _summary(report: dict[str, Any], out: Path) -> None:
    console.print(
        f"\n[bold]requests[/] {report['requests']} vs brute force {report['brute_force_requests']} "
        f"→ [bold]{report['request_savings']}x[/] fewer"
    )
    console.print(f"savings by chain: {report['request_savings_by_chain']}")
    accuracy = report["price_accuracy"]
    shown = "-" if accuracy is None else f"{accuracy:.4%}"
    console.print(f"price accuracy: {shown}  by chain: {report['price_accuracy_by_chain']}")
    roles = {
        chain: {role: "-" if v is None else f"{v:.4%}" for role, v in by_role.items()}
        for chain, by_role in report.get("price_accuracy_by_role", {}).items()
    }
    console.print(f"price accuracy of anchors (and stores alone) and of members: {roles}")
    console.print(
        f"false merges: {report['false_merges']}  missed merges: {report['missed_merges']}  "
        f"coverage: {report['coverage']}"
    )
    console.print(f"archives: {out / 'archives'}  report: {out / 'report.json'}")


def run(
    days: Annotated[int, typer.Option(help="simulated days")] = 3,
    store_scale: Annotated[float, typer.Option(help="share of the country's stores")] = 0.03,
    product_scale: Annotated[float, typer.Option(help="share of real catalogue sizes")] = 0.02,
    seed: Annotated[int, typer.Option()] = 7,
    out: Annotated[Path, typer.Option(help="where the database, archives and report go")] = Path(
        "var/run"
    ),
) -> None:
    """The main job: the sandbox and all services (embedded), live, then a summary."""
    config = SimulationConfig(
        days=days,
        seed=seed,
        store_scale=store_scale,
        product_scale=product_scale,
        out_dir=out,
        accuracy_sample=1.0,
    )
    report = _execute(config, live=console.is_terminal)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    _summary(report, out)


def simulate(
    days: Annotated[int, typer.Option()] = 14,
    store_scale: Annotated[float, typer.Option()] = 1.0,
    product_scale: Annotated[float, typer.Option()] = 0.02,
    seed: Annotated[int, typer.Option()] = 7,
    distributed: Annotated[
        bool, typer.Option(help="separate processes on Postgres + RabbitMQ")
    ] = False,
    step_hours: Annotated[int, typer.Option(help="simulated hours per step")] = 6,
    accuracy_sample: Annotated[
        float, typer.Option(help="share of stores compared with the truth daily")
    ] = 0.25,
    out: Annotated[Path, typer.Option()] = Path("var/simulation"),
    alone_refresh_hours: Annotated[
        float,
        typer.Option(help="refresh interval of stores alone in their group (anchors: 24 h)"),
    ] = 24.0,
) -> None:
    """Run the pipeline over simulated days; write report.json and chart.png."""
    config = SimulationConfig(
        days=days,
        seed=seed,
        store_scale=store_scale,
        product_scale=product_scale,
        distributed=distributed,
        step_hours=step_hours,
        accuracy_sample=accuracy_sample,
        out_dir=out,
        alone_refresh_hours=alone_refresh_hours,
    )
    report = _execute(config, live=console.is_terminal)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    write_chart(report, out / "chart.png")
    _summary(report, out)
    console.print(f"chart: {out / 'chart.png'}")
