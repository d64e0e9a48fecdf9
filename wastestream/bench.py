"""`make bench`: benchmarks printed as a table, each beside a baseline measured in the same run.

Figures are throughput on this machine at the time of the run; the ratio to the baseline is what
carries over between machines. Results are also written as JSON under ``bench/results/``.
"""

from __future__ import annotations

import json
import platform
import struct
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table


@dataclass
class BenchResult:
    name: str
    unit: str
    value: float
    baseline_name: str
    baseline: float
    goal: str

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")


def rate(fn: Callable[[], int], min_seconds: float = 1.0) -> float:
    """Items per second: repeat ``fn`` (which returns how many items it did) for at least min_seconds."""
    fn()  # warm up
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < min_seconds:
        n += fn()
    return n / elapsed


def bench_decode() -> BenchResult:
    from wastestream.producers.jt808 import Location, decode, encode_one
    from wastestream.producers.jt808.framing import unframe

    t0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    frames = [
        encode_one(
            Location(0, 3, 31.2 + i * 1e-4, 121.4 + i * 1e-4, 5, 25.5, i % 360, t0 + timedelta(seconds=30 * i),
                     {0x01: (1234 + i).to_bytes(4, "big"), 0x30: b"\x1b", 0x31: b"\x0b"}),
            "013800138000",
            i,
        )
        for i in range(1000)
    ]  # fmt: skip
    loc = struct.Struct(">IIIIHHH")

    def full() -> int:
        for f in frames:
            decode(f)
        return len(frames)

    def baseline() -> int:  # framing + checksum + one struct unpack: the floor of any decoder
        for f in frames:
            loc.unpack_from(unframe(f), 12)
        return len(frames)

    return BenchResult(
        "JT/T 808 0x0200 decode", "frames/s", rate(full), "unframe+checksum+unpack", rate(baseline), "≥ 50,000"
    )


def bench_recompute(tmp: Path) -> BenchResult:
    from wastestream.producers.simulator.city import build_city
    from wastestream.producers.simulator.day import Faults
    from wastestream.producers.simulator.offline import write_offline
    from wastestream.stream_processors.eventfiles import read_events
    from wastestream.stream_processors.recompute import recompute

    city = build_city(808)
    d = tmp / "day"
    write_offline(city, date(2026, 11, 23), 808, Faults.demo(), d)
    start = time.perf_counter()
    res = recompute(city, d)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    for topic in ("gps.fixes", "weigh.tickets", "deadletter"):
        for _ in read_events(d, topic):
            pass
    parse_only = time.perf_counter() - start
    return BenchResult(
        f"recompute one seed-city day ({res.counts['fixes']:,} fixes)", "s", seconds, "parse the files only", parse_only,
        "< 30 s",
    )  # fmt: skip


def run_benchmarks(out: Console, results_dir: Path = Path("bench/results")) -> list[BenchResult]:
    import tempfile

    results = [bench_decode()]
    with tempfile.TemporaryDirectory() as tmp:
        results.append(bench_recompute(Path(tmp)))
    t = Table("benchmark", "value", "unit", "baseline (same run)", "value / baseline", "goal")
    for r in results:
        t.add_row(r.name, f"{r.value:,.1f}", r.unit, f"{r.baseline:,.1f} ({r.baseline_name})", f"{r.ratio:.2f}", r.goal)
    out.print(t)
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = results_dir / f"bench-{stamp}.json"
    path.write_text(
        json.dumps(
            {"when": stamp, "machine": platform.platform(), "python": platform.python_version(),
             "results": [asdict(r) | {"ratio": r.ratio} for r in results]},
            indent=1,
        )
    )  # fmt: skip
    out.print(f"written to {path}")
    return results
