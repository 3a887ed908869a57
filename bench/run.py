"""Run the benchmark scenarios against stock supervisord 4.3.0 and ours, side by side.

    python -m bench.run [--repeat N] [--only NAME ...] [--quick]
    python -m bench.run --containers      # a tenant container against a bare runtime

Each scenario runs stock, then ours, N times alternating; the table shows medians, the ratio
ours/stock, the target ratio from issue 5, and the physical-limit reference where there is one.
Results also go to bench/results/latest.json and bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import memory
from . import scenarios as s

Metrics = dict[str, float]


@dataclass
class Scenario:
    name: str
    run: Callable[[str], Metrics]
    metric: str  # the headline metric compared as ours/stock
    target: float | None = None  # the ratio ours/stock to reach (lower is better)
    reference: Callable[[], Metrics] | None = None
    quick: bool = True  # part of --quick
    extra_metrics: list[str] = field(default_factory=list)


SCENARIOS = [
    Scenario("start 100", s.start_n(100), "seconds", None, lambda: s.bare_posix_spawn(100)),
    Scenario("start 500", s.start_n(500), "seconds", 0.4, lambda: s.bare_posix_spawn(500)),
    Scenario(
        "start 1000",
        s.start_n(1000),
        "seconds",
        None,
        lambda: s.bare_posix_spawn(1000),
        quick=False,
    ),
    Scenario("idle CPU, 500 running", s.idle_500, "cpu_percent", 0.1, extra_metrics=["rss_mib"]),
    Scenario("chatty beside 1000 idle", s.chatty_beside_1000, "cpu_percent", 0.1, quick=False),
    Scenario("kill -> RUNNING, no poller", s.kill_to_running, "seconds", 0.01),
    Scenario("shutdown, 20 TERM-ignoring", s.shutdown_20_term_ignoring, "seconds", 0.1),
    Scenario("stop all, 20 TERM-ignoring", s.stop_all_20_term_ignoring, "seconds", None),
    Scenario("kill -> RUNNING, client polling", s.kill_to_running_polled, "seconds", None),
    Scenario("getAllProcessInfo at 500", s.get_all_process_info_500, "daemon_cpu_s", 0.05),
    Scenario("supervisorctl status at 500", s.ctl_status_500, "seconds", 0.25),
    Scenario("supervisorctl restart one", s.ctl_restart_one, "seconds", None),
    Scenario(
        "update: 500, 10 changed + 10 added",
        s.update_500_changed_10_added_10,
        "seconds",
        0.1,
        extra_metrics=["unchanged_pids_kept"],
    ),
    Scenario(
        "tenant runtime memory, 3 programs",
        memory.runtime_memory(memory.TENANT_KEYS),
        "uss_mib",
        0.42,  # issue 18: 6 MiB or less, 0.42 of stock's 14.2
        memory.bare_python,
        extra_metrics=["private_dirty_mib", "rss_mib"],
    ),
    Scenario(
        "256 MiB stdout, 64 KiB writes",
        s.log_throughput("chunks"),
        "daemon_cpu_s",
        0.5,
        lambda: s.cat_reference("chunks"),
        quick=False,
        extra_metrics=["mib_per_s", "bytes_lost"],
    ),
    Scenario(
        "2 M short lines",
        s.log_throughput("lines"),
        "daemon_cpu_s",
        0.5,
        lambda: s.cat_reference("lines"),
        quick=False,
        extra_metrics=["mib_per_s", "bytes_lost"],
    ),
]


def machine_description() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"Linux {platform.release()}, Python {platform.python_version()}"
    return f"{os.cpu_count()} cores, {cpu}, {system}"


def run_scenario(scenario: Scenario, repeat: int) -> dict[str, object]:
    samples: dict[str, list[Metrics]] = {"stock": [], "ours": []}
    for _ in range(repeat):
        for impl in ("stock", "ours"):
            samples[impl].append(scenario.run(impl))
            print(f"  {scenario.name} [{impl}]: {samples[impl][-1]}", file=sys.stderr)
    medians = {
        impl: {key: statistics.median(m[key] for m in runs) for key in runs[0]}
        for impl, runs in samples.items()
    }
    result: dict[str, object] = {
        "name": scenario.name,
        "metric": scenario.metric,
        "target": scenario.target,
        "medians": medians,
    }
    stock_value = medians["stock"][scenario.metric]
    ours_value = medians["ours"][scenario.metric]
    result["ratio"] = ours_value / stock_value if stock_value else None
    if scenario.reference is not None:
        result["reference"] = statistics.median(
            scenario.reference()[scenario.metric] for _ in range(repeat)
        )
    return result


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def render_table(results: list[dict[str, object]]) -> str:
    lines = [
        "| scenario | metric | stock | ours | ours/stock | target | reference "
        "| other (ours / stock) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        medians = r["medians"]  # type: ignore[assignment]
        metric = r["metric"]
        ratio = r["ratio"]
        target = r["target"]
        verdict = ""
        if isinstance(ratio, float) and isinstance(target, float):
            verdict = " ✓" if ratio <= target else " ✗"
        others = [
            f"{key} {_fmt(medians['ours'][key])} / {_fmt(medians['stock'][key])}"
            for key in medians["ours"]
            if key != metric
        ]
        lines.append(
            f"| {r['name']} | {metric} | {_fmt(medians['stock'][metric])} | "
            f"{_fmt(medians['ours'][metric])} | {_fmt(ratio)}{verdict} | "
            f"{_fmt(target)} | {_fmt(r.get('reference'))} | {'; '.join(others)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="scenario names (substring match)")
    parser.add_argument("--quick", action="store_true", help="skip the slow scenarios")
    parser.add_argument(
        "--containers",
        action="store_true",
        help="only what a tenant container costs (bench.containers; root)",
    )
    args = parser.parse_args(argv)
    if args.containers:
        from . import containers

        return containers.main(["--repeat", str(args.repeat)])
    chosen = [
        sc
        for sc in SCENARIOS
        if (not args.quick or sc.quick)
        and (not args.only or any(word in sc.name for word in args.only))
    ]
    machine = machine_description()
    print(f"machine: {machine}", file=sys.stderr)
    results = []
    for scenario in chosen:
        print(f"running {scenario.name} x{args.repeat}", file=sys.stderr)
        results.append(run_scenario(scenario, args.repeat))
    table = render_table(results)
    print(f"\nMachine: {machine}; medians of {args.repeat} runs; {time.strftime('%Y-%m-%d')}\n")
    print(table)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    (out / "latest.md").write_text(f"Machine: {machine}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
