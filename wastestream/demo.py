"""`make demo`: the whole system on one machine, with the seed city simulated through it."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date

from rich.console import Console

from wastestream.errors import WastestreamError
from wastestream.settings import Settings, StackSettings


def wait_consumed(
    settings: Settings, group: str, topics: list[str], timeout: float, report: Callable[[str], None]
) -> None:
    from wastestream.admin import end_offsets, group_lag

    ends = end_offsets(settings, topics)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        behind = group_lag(settings, group, ends)
        if behind == 0:
            return
        report(f"demo: worker has {behind:,} messages to go")
        time.sleep(3)
    raise WastestreamError(f"the worker did not catch up in {timeout:.0f}s; see {settings.log_dir}/worker.log")


def run_demo(settings: Settings, day: date, speed: str, seed: int, report: Callable[[str], None], out: Console) -> None:
    from wastestream.producers.simulator.city import build_city
    from wastestream.producers.simulator.day import Faults
    from wastestream.producers.simulator.online import run_online
    from wastestream.schemas import dump_city
    from wastestream.stack import Stack
    from wastestream.stream_processors.summary import print_summary

    settings = StackSettings(state_dir=settings.state_dir)
    stack = Stack(settings)
    report("demo: starting from empty local data (the demo's figures are compared with the simulator's truth)")
    stack.reset(report)
    settings = StackSettings(state_dir=settings.state_dir)  # the reset removed the old secrets
    stack = Stack(settings)
    stack.up(report)
    s = StackSettings(state_dir=settings.state_dir)  # re-read: secrets written by the first `stack up`
    city = build_city(seed)
    s.city_file.parent.mkdir(parents=True, exist_ok=True)
    dump_city(city, s.city_file)
    report(
        f"demo: seed city ({len(city.routes)} routes, {len(city.collection_points)} points, "
        f"{len(city.stations)} stations) written to {s.city_file}"
    )
    stack = Stack(s)
    stack.up(report, ["gateway", "weighbridge", "worker"])
    truth = s.state_dir / "demo" / f"truth-{day}.json"
    started = time.monotonic()
    # the demo's faults, and a few operating violations to find (a speeder, a roadside dumping, a night trip)
    faults = Faults(**{**vars(Faults.demo()), "overspeeding": 1, "dumping": 1, "night_trips": 1})
    run_online(s, city, day, seed, faults, speed, "00:00", "24:00", truth, report)
    wait_consumed(s, "wastestream-worker", [s.topic("gps.fixes"), s.topic("weigh.tickets")], 600, report)
    # the last deadlines are judged at the ticks after the read marks that follow the last fixes read
    # (one per tick interval), then flushed at the next commit point
    time.sleep(3 * s.worker_tick_interval_s + s.worker_commit_interval_s + 2)
    report(f"demo: simulated {day} in {time.monotonic() - started:.0f}s")
    print_summary(s, day, out)
    from wastestream.assess import run_assess
    from wastestream.schemas.assessment import load_table

    month = day.isoformat()[:7]
    assessed, *_, files = run_assess(s, city, load_table(), month, None, s.state_dir / "assessments", report)
    scores = ", ".join(f"{c} {sc.score:g}" for c, sc in sorted(assessed.contractors.items()))
    out.print(f"assessment {month} (the shipped illustrative deduction table): {scores}")
    out.print()
    out.print("[bold]Where to look[/bold]")
    out.print(f"  InfluxDB   {s.influx_url}  org {s.influx_org}, bucket {s.influx_bucket} (+ contractor-c01 … -c10)")
    out.print(f"  token      WASTESTREAM_INFLUX_TOKEN in {s.local_env_file}")
    out.print(f"  figures    wastestream summary --date {day}")
    out.print(f"  truth      {truth} (what the simulator did; the figures must equal it)")
    out.print(f"  topics     gps.fixes, weigh.tickets, visits, clearance, alerts, deadletter on {s.kafka_bootstrap}")
    out.print(
        f"  processes  gateway :{s.gateway_port} (JT/T 808), weighbridge http://127.0.0.1:{s.weighbridge_port}/docs, worker"
    )
    out.print(f"  assessment {files['html']} (+ .xlsx, .csv, .json; again: wastestream assess --month {month})")
    out.print("  dashboards deploy/grafana (compose): Dispatch → 违规作业 violations, Contractor → 考核得分 score")
    out.print(f"  logs       {s.log_dir}/")
    out.print("  stop       wastestream stack down   (or: make stack-down)")
