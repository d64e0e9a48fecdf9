"""`make bench`: benchmarks printed as a table, each beside a baseline measured in the same run.

Figures are throughput on this machine at the time of the run; the ratio to the baseline is what
carries over between machines. Results are also written as JSON under ``bench/results/``.
"""

from __future__ import annotations

import json
import platform
import re
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
            Location(
                0,
                3,
                31.2 + i * 1e-4,
                121.4 + i * 1e-4,
                5,
                25.5,
                i % 360,
                t0 + timedelta(seconds=30 * i),
                {0x01: (1234 + i).to_bytes(4, "big"), 0x30: b"\x1b", 0x31: b"\x0b"},
            ),
            "013800138000",
            i,
        )
        for i in range(1000)
    ]
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
    from wastestream.stream_processors.heap import tune_gc
    from wastestream.stream_processors.recompute import recompute

    city = build_city(808)
    d = tmp / "day"
    write_offline(city, date(2026, 11, 23), 808, Faults.demo(), d)
    tune_gc()  # as `wastestream recompute` does
    start = time.perf_counter()
    res = recompute(city, d)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    for topic in ("gps.fixes", "weigh.tickets", "deadletter"):
        for _ in read_events(d, topic):
            pass
    parse_only = time.perf_counter() - start
    return BenchResult(
        f"recompute one seed-city day ({res.counts['fixes']:,} fixes)",
        "s",
        seconds,
        "parse the files only",
        parse_only,
        "< 30 s",
    )


def bench_recompute_parallel(tmp: Path, days: int = 3) -> BenchResult:
    """Fixes/s of `recompute --processes <cores>` against one process, the same files (a few seed-city
    days in one folder), the same run; the figures are compared too."""
    import os

    from wastestream.producers.simulator.city import build_city
    from wastestream.producers.simulator.day import Faults
    from wastestream.producers.simulator.offline import write_offline
    from wastestream.stream_processors.eventfiles import EventWriter, read_events
    from wastestream.stream_processors.heap import tune_gc
    from wastestream.stream_processors.parallel import recompute_parallel
    from wastestream.stream_processors.recompute import recompute

    city = build_city(808)
    d = tmp / "days"
    w = EventWriter(d)
    for k in range(days):
        one = tmp / f"day{k}"
        write_offline(city, date(2026, 11, 20) + timedelta(days=k), 808 + k, Faults.demo(), one)
        for topic in ("gps.fixes", "weigh.tickets", "deadletter"):
            for v in read_events(one, topic):
                w.write(topic, v)
    w.close()
    tune_gc()  # as `wastestream recompute` does
    cores = max(2, os.cpu_count() or 1)
    start = time.perf_counter()  # first, while this process is small: the processes are forked from it
    many = recompute_parallel(city, d, cores)
    tn = time.perf_counter() - start
    start = time.perf_counter()
    single = recompute(city, d)
    t1 = time.perf_counter() - start
    same = {k: r.fields for k, r in single.records.items()} == {k: r.fields for k, r in many.records.items()}
    n = single.counts["fixes"]
    return BenchResult(
        f"recompute in {cores} processes, {n:,} fixes ({'same figures' if same else 'FIGURES DIFFER'})",
        "fixes/s",
        n / tn,
        "1 process, same run",
        n / t1,
        "≥ 50,000/s per core",
    )


def run_benchmarks(
    out: Console,
    results_dir: Path = Path("bench/results"),
    pipeline_settings=None,  # noqa: ANN001
    report: Callable[[str], None] = print,
) -> list[BenchResult]:
    import tempfile

    results = [bench_decode()]
    with tempfile.TemporaryDirectory() as tmp:
        results.append(bench_recompute(Path(tmp)))
    with tempfile.TemporaryDirectory() as tmp:
        results.append(bench_recompute_parallel(Path(tmp)))
    if pipeline_settings is not None:
        results += run_pipeline_benchmarks(pipeline_settings, out, report)
    warnings = early_warning_quality(out)
    violations = violation_quality(out)
    t = Table("benchmark", "value", "unit", "baseline (same run)", "value / baseline", "goal")
    for r in results:
        t.add_row(r.name, f"{r.value:,.1f}", r.unit, f"{r.baseline:,.1f} ({r.baseline_name})", f"{r.ratio:.2f}", r.goal)
    out.print(t)
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = results_dir / f"bench-{stamp}.json"
    path.write_text(
        json.dumps(
            {
                "when": stamp,
                "machine": platform.platform(),
                "python": platform.python_version(),
                "results": [asdict(r) | {"ratio": r.ratio} for r in results],
                "early_warning": warnings,
                "violations": violations,
            },
            indent=1,
        )
    )
    out.print(f"written to {path}")
    return results


def violation_quality(out: Console) -> dict:
    """The violation rules over honest and planted simulated days (quality against the simulator's
    truth: recall per kind, false positives; no baseline)."""
    from datetime import date

    from wastestream.producers.simulator.city import build_city
    from wastestream.stream_processors.violation_quality import measure

    tallies = measure(build_city(808), date(2026, 11, 16), days=3)
    rows = {name: t.rows() for name, t in tallies.items()}
    for name, rs in rows.items():
        t = Table(f"violations, {name} days (3 seeded days)", "kind", "true", "found", "recall", "false positives")
        for r in rs:
            t.add_row("", r["kind"], str(r["true"]), str(r["found"]), str(r["recall"]), str(r["false_positives"]))
        out.print(t)
    return rows


def early_warning_quality(out: Console) -> dict:
    """The early warning on a simulated day with a late truck, a breakdown and stops driven past
    (quality, not speed: counts against the simulator's truth; no baseline)."""
    from datetime import date

    from wastestream.producers.simulator.city import build_city
    from wastestream.stream_processors.early_warning import measure

    summary = measure(build_city(808), date(2026, 11, 16)).summary()
    t = Table("early warning (at_risk)", "value")
    for k, v in summary.items():
        t.add_row(k, str(v))
    out.print(t)
    return summary


def app_env(s) -> dict[str, str]:  # noqa: ANN001
    """The environment that points a `wastestream` app process at ``s``'s topics, city, bucket and state."""
    import os

    return {
        **os.environ,
        "WASTESTREAM_TOPIC_PREFIX": s.topic_prefix,
        "WASTESTREAM_CITY_FILE": str(s.city_file),
        "WASTESTREAM_INFLUX_BUCKET": s.influx_bucket,
        "WASTESTREAM_STATE_DIR": str(s.state_dir),
        "WASTESTREAM_WORKER_LATENCY_WINDOW": str(s.worker_latency_window),
    }


def start_workers(s, group: str, workers: int) -> list:  # noqa: ANN001
    """Start ``workers`` worker processes in one group on ``s``'s topics; return once the group is
    stable (every worker joined, partitions assigned) — so no measurement holds start-up or rebalance."""
    import subprocess
    import sys

    from wastestream.admin import group_members

    env = app_env(s)
    logs = s.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for i in range(workers):
        with open(logs / f"bench-{group}-{i}.log", "wb") as log:  # the child keeps its own descriptor
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "wastestream.cli", "worker", "--clock", "event", "--app-id", group],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            )
    deadline = time.monotonic() + 180
    while group_members(s, group) != ("Stable", workers):
        gone = [i for i, p in enumerate(procs) if p.poll() is not None]
        if gone or time.monotonic() > deadline:
            for p in procs:
                p.kill()
            why = "exited" if gone else "did not form a stable group in 180 s"
            last = (logs / f"bench-{group}-{gone[0] if gone else 0}.log").read_text(errors="replace").strip()
            last = last.splitlines()[-1] if last else "(nothing logged)"
            raise RuntimeError(f"bench: {workers} worker(s) {why}; last line of the log: {last}")
        time.sleep(0.5)
    time.sleep(3)  # changelog/table recovery of the (empty) partitions
    return procs


def stop_workers(procs: list) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(60)


def bench_latency(  # noqa: ANN001
    settings, rate: int, seconds: float, tmp: Path, report: Callable[[str], None], fix_batch: int = 1
) -> dict:
    """Fixes produced at ``rate``/s for ``seconds`` (the seed city's fixes re-timed to now, as live
    terminals would send them, from a fleet of ``rate`` × 10 trucks: one fix per truck every 10 s);
    the worker measures receive → written-to-InfluxDB per fix. First every truck sends one fix (at
    ``rate``): the cold start — new vehicle-days, first judgements, new InfluxDB series — reported
    apart; then the ``rate × seconds`` fixes measured, from trucks the worker knows, as all day long.
    With ``fix_batch`` > 1, fixes are gathered per partition as the gateway does (up to that many, for
    at most its linger): the latency includes the wait in the batch."""
    import uuid

    from kafka import KafkaProducer

    from wastestream.admin import ensure_topics
    from wastestream.producers.simulator.city import build_city
    from wastestream.producers.simulator.day import Faults
    from wastestream.producers.simulator.offline import write_offline
    from wastestream.stream_processors.eventfiles import read_events
    from wastestream.stream_processors.partitioning import partition_of
    from wastestream.topics import ALL_TOPICS

    u = uuid.uuid4().hex[:6]
    d = tmp / f"lat{u}"
    seed = build_city(808)
    write_offline(seed, date(2026, 11, 23), 808, Faults(), d)
    fixes = list(read_events(d, "gps.fixes"))
    # a fleet in which each truck sends a fix every 10 s, as terminals do (the seed city's ~100 trucks
    # would each send dozens per second): the seed day's positions handed round its vehicles
    city = scaled_city(len(seed.collection_points), max(len(seed.vehicles), rate * 10))
    city_file = d / "city-fleet.json"
    city_file.write_text(city.model_dump_json())
    fleet = [v for v in city.vehicles if v.kind == "collection"]
    s = settings.model_copy(update={"topic_prefix": f"lat{u}.", "city_file": city_file, "influx_bucket": f"lat-{u}"})
    ensure_topics(s, ALL_TOPICS)
    group = f"lat{u}"
    for old in s.state_dir.glob(f"worker-stats-{group}-*.json"):
        old.unlink()
    n = int(rate * seconds)
    procs = start_workers(s.model_copy(update={"worker_latency_window": n}), group, 1)
    producer = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all", linger_ms=5)
    topic = s.topic("gps.fixes")
    linger = s.fix_batch_linger_ms / 1000
    pending: dict[int, list] = {}  # partition → fixes gathered, since (perf counter)
    since: dict[int, float] = {}

    def send(p: int) -> None:
        batch = pending.pop(p)  # (vehicle, its fix's JSON): a contract-2 batch value
        producer.send(topic, key=batch[-1][0].encode(), value=b"[" + b",".join(f for _, f in batch) + b"]", partition=p)

    # each fix's JSON from a template: this process shares the worker's two cores, and building a
    # GpsFix per fix (model_copy + dump) cost it half a core at 2,500 fixes/s — a gateway runs elsewhere
    templates = [fix_template(f) for f in fixes]
    part_of = {v.id: partition_of(v.id, s.topic_partitions) for v in fleet}

    def phase(first: int, count: int) -> tuple[float, dict]:
        """Fixes ``first`` … ``first + count - 1`` sent at ``rate``; once the worker has written the
        figures of all fixes so far: the rate sent and the worker's stats."""
        start = time.perf_counter()
        for i in range(first, first + count):
            due = start + (i - first) / rate
            while (lag := due - time.perf_counter()) > 0:
                time.sleep(min(lag, 0.005))
            now = datetime.now(UTC)
            k, j = i % len(fleet), i // len(fleet)  # the truck, its j-th fix
            v, base = fleet[k], fixes[k % len(fixes)]
            # a truck drives north at its seed fix's speed (no speed jumps: a fix every 10 s, 10 s apart)
            lat = base.lat + j * base.speed_kmh / 3.6 * 10 / 111_320
            f = (
                templates[k % len(templates)]
                % {
                    "vehicle_id": v.id,
                    "terminal_id": v.terminal_id,
                    "device_time": (now - timedelta(seconds=1)).isoformat(),
                    "received_at": now.isoformat(),
                    "lat": f"{lat:.7f}",
                    "lon": f"{base.lon:.7f}",
                }
            ).encode()
            if fix_batch == 1:
                producer.send(topic, key=v.id.encode(), value=f)
                continue
            p = part_of[v.id]
            pending.setdefault(p, []).append((v.id, f))
            t_now = time.perf_counter()
            since.setdefault(p, t_now)
            if len(pending[p]) >= fix_batch or t_now - min(since.values()) >= linger:
                for q in [q for q in pending if len(pending[q]) >= fix_batch or t_now - since[q] >= linger]:
                    send(q)
                    del since[q]
        for q in list(pending):
            send(q)
            del since[q]
        producer.flush()
        sent_rate = count / (time.perf_counter() - start)
        deadline = time.monotonic() + 600
        stats: dict = {}
        while time.monotonic() < deadline:
            files = list(s.state_dir.glob(f"worker-stats-{group}-*.json"))
            stats = json.loads(files[0].read_text()) if files else {}
            if stats.get("latency_total", 0) >= first + count:
                break
            time.sleep(1)
        else:
            raise RuntimeError(
                f"bench: the worker wrote {stats.get('latency_total')} of {first + count} fixes in 600 s"
            )
        return sent_rate, stats

    try:
        # every truck's first fix (new vehicle-days, new InfluxDB series), then the steady state: the
        # worker's latency quantiles are over its latest n fixes (WASTESTREAM_WORKER_LATENCY_WINDOW)
        cold_rate, cold = phase(0, len(fleet))
        sent_rate, stats = phase(len(fleet), n)
    finally:
        producer.close()
        stop_workers(procs)
    report(
        f"bench: latency at {sent_rate:,.0f} fixes/s: p50 {stats.get('latency_p50_s')} s, p99 {stats.get('latency_p99_s')} s"
        f" (the {len(fleet):,} trucks' first fixes before, at {cold_rate:,.0f}/s: p50 {cold.get('latency_p50_s')} s,"
        f" p99 {cold.get('latency_p99_s')} s)"
    )
    return {
        "rate": sent_rate,
        "p50": stats.get("latency_p50_s"),
        "p99": stats.get("latency_p99_s"),
        "n": stats.get("latency_n"),
        "trucks": len(fleet),
        "cold_p50": cold.get("latency_p50_s"),
        "cold_p99": cold.get("latency_p99_s"),
    }


def fix_template(fix) -> str:  # noqa: ANN001
    """``fix``'s JSON as a %-template of ``vehicle_id``, ``terminal_id``, ``device_time``,
    ``received_at`` (the times as ISO 8601 text), ``lat`` and ``lon`` (numbers as text): a fix per
    send without building a model."""
    marks = {  # field → (a value that cannot occur, its JSON text)
        "vehicle_id": ("@@vehicle@@", '"@@vehicle@@"'),
        "terminal_id": ("@@terminal@@", '"@@terminal@@"'),
        "device_time": (datetime(2001, 1, 1, tzinfo=UTC), '"2001-01-01T00:00:00Z"'),
        "received_at": (datetime(2002, 1, 1, tzinfo=UTC), '"2002-01-01T00:00:00Z"'),
        "lat": (-11.1234567, "-11.1234567"),
        "lon": (-111.1234567, "-111.1234567"),
    }
    text = fix.model_copy(update={k: v for k, (v, _) in marks.items()}).model_dump_json().replace("%", "%%")
    for name, (_, mark) in marks.items():
        if text.count(f":{mark}") != 1:
            raise ValueError(f"fix_template: {mark} not once in {text[:200]}")
        quote = '"' if mark.startswith('"') else ""
        text = text.replace(f":{mark}", f":{quote}%({name})s{quote}")
    return text


def scaled_city(points: int, vehicles: int):  # noqa: ANN201
    """The seed city grown to ``points`` collection points (a 60 m grid across the districts) and
    ``vehicles`` trucks — the province scale of #8's memory goal."""
    import math

    from wastestream.producers.simulator.city import build_city
    from wastestream.schemas import City, Geofence

    city = build_city(808)
    tp, tv = city.collection_points[0], next(v for v in city.vehicles if v.kind == "collection")
    lat0, lon0 = (
        min(p.geofence.lat for p in city.collection_points),
        min(p.geofence.lon for p in city.collection_points),
    )
    side = math.ceil(math.sqrt(points))
    step = 60 / 111_320  # 60 m: fences of 40 m radius do not overlap across contractors
    extra_p = [
        tp.model_copy(
            update={
                "id": f"X{i:06d}",
                "name": f"point {i}",
                "route_id": None,
                "timed_stop": False,
                "contractor_id": city.contractors[i % len(city.contractors)].id,
                "geofence": Geofence(lat=lat0 + (i // side) * step, lon=lon0 + (i % side) * step, radius_m=20),
            }
        )
        for i in range(points - len(city.collection_points))
    ]
    extra_v = [
        tv.model_copy(
            update={
                "id": f"Y{i:06d}",
                "plate": f"沪Y{i:06d}",
                "terminal_id": f"{17_000_000_000 + i}",
                "contractor_id": city.contractors[i % len(city.contractors)].id,
            }
        )
        for i in range(vehicles - len(city.vehicles))
    ]
    return City.model_validate(
        city.model_dump()
        | {
            "collection_points": [p.model_dump() for p in city.collection_points + extra_p],
            "vehicles": [v.model_dump() for v in city.vehicles + extra_v],
        }
    )


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def bench_memory(
    settings,
    tmp: Path,
    report: Callable[[str], None],
    points: int = 200_000,  # noqa: ANN001
    vehicles: int = 50_000,
) -> tuple[float, float]:
    """Peak RSS (MB) of one worker holding ``vehicles`` trucks (a fix each, evaluated) and ``points``
    collection points, and its RSS once started with that city and no data (the baseline)."""
    import uuid

    from kafka import KafkaProducer

    from wastestream.admin import committed_offsets, ensure_topics
    from wastestream.schemas import GpsFix
    from wastestream.topics import ALL_TOPICS

    u = uuid.uuid4().hex[:6]
    report(f"bench: building a city of {points:,} points and {vehicles:,} vehicles")
    city = scaled_city(points, vehicles)
    path = tmp / f"mem{u}-city.json"
    path.write_text(city.model_dump_json())
    s = settings.model_copy(update={"topic_prefix": f"mem{u}.", "city_file": path, "influx_bucket": f"mem-{u}"})
    ensure_topics(s, ALL_TOPICS)
    procs = start_workers(s, f"mem{u}", 1)
    pid = procs[0].pid
    try:
        idle = _rss_kb(pid, "VmRSS") / 1024
        producer = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all", linger_ms=20)
        now = datetime.now(UTC)
        topic = s.topic("gps.fixes")
        for i, v in enumerate(city.vehicles):
            p = city.collection_points[i * 4 % len(city.collection_points)].geofence
            f = GpsFix(
                vehicle_id=v.id,
                terminal_id=v.terminal_id,
                device_time=now,
                received_at=now,
                lat=p.lat,
                lon=p.lon,
                speed_kmh=0,
                heading=0,
                altitude_m=4,
                status=3,
                acc_on=True,
                fix_valid=True,
            )
            producer.send(topic, key=v.id.encode(), value=f.to_json_bytes())
        producer.flush()
        producer.close()
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if sum(o for tp, o in committed_offsets(s, f"mem{u}").items() if tp.topic == topic) >= len(city.vehicles):
                break
            time.sleep(1)
        time.sleep(10)  # ticks decide the points, the flush writes
        peak = _rss_kb(pid, "VmHWM") / 1024
    finally:
        stop_workers(procs)
    report(f"bench: worker RSS {idle:,.0f} MB idle with the city, peak {peak:,.0f} MB")
    return peak, idle


def bench_gateway(
    settings,
    tmp: Path,
    report: Callable[[str], None],
    connections: int = 10_000,  # noqa: ANN001
    senders: int = 200,
    seconds: float = 10,
) -> dict:
    """The real gateway process (publishing to Kafka): ``connections`` terminals log in and stay idle,
    all answer a heartbeat after the hold; then ``senders`` of them report positions as fast as the
    acknowledgements (sent after Kafka's) come back, beside heartbeats/s on the same connections."""
    import asyncio
    import subprocess
    import sys
    import uuid

    from wastestream.admin import ensure_topics
    from wastestream.producers.jt808 import Location
    from wastestream.producers.terminal import Terminal
    from wastestream.topics import ALL_TOPICS

    u = uuid.uuid4().hex[:6]
    city = scaled_city(2_000, connections)
    path = tmp / f"gw{u}-city.json"
    path.write_text(city.model_dump_json())
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = settings.model_copy(update={"topic_prefix": f"gw{u}.", "city_file": path})
    ensure_topics(s, ALL_TOPICS)
    proc = subprocess.Popen(
        [sys.executable, "-m", "wastestream.cli", "gateway", "--port", str(port)],
        env=app_env(s),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out: dict = {}

    async def run() -> None:
        deadline = time.monotonic() + 120
        while True:
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("bench: the gateway did not start") from None
                await asyncio.sleep(0.5)
        terms = [Terminal(v.terminal_id, v.plate, reply_timeout_s=120) for v in city.vehicles[:connections]]
        sem = asyncio.Semaphore(500)

        async def login(t: Terminal) -> None:
            async with sem:
                await t.login("127.0.0.1", port)

        t0 = time.perf_counter()
        for i in range(0, len(terms), 1000):
            await asyncio.gather(*(login(t) for t in terms[i : i + 1000]))
            report(f"bench: gateway: {i + 1000:,} terminals logged in")
        out["login_s"] = time.perf_counter() - t0
        await asyncio.sleep(seconds)  # idle
        beats = await asyncio.gather(*(t.heartbeat() for t in terms), return_exceptions=True)
        out["held"] = sum(1 for b in beats if not isinstance(b, BaseException) and b == 0)

        async def loop(t: Terminal, what: str, until: float, counter: list[int]) -> None:
            i = 0
            while time.perf_counter() < until:
                if what == "loc":
                    ok = await t.report(Location(0, 3, 31.2, 121.4, 5, 20.0, 0, datetime.now(UTC)))
                else:
                    ok = await t.heartbeat() == 0
                counter[0] += bool(ok)
                i += 1

        for what in ("beat", "loc"):
            counter = [0]
            start = time.perf_counter()
            await asyncio.gather(*(loop(t, what, start + seconds, counter) for t in terms[:senders]))
            out[what] = counter[0] / (time.perf_counter() - start)
        await asyncio.gather(*(t.close() for t in terms), return_exceptions=True)

    try:
        asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait(60)
    report(
        f"bench: gateway held {out['held']:,} of {connections:,} connections; {out['loc']:,.0f} positions/s acked "
        f"after Kafka, {out['beat']:,.0f} heartbeats/s"
    )
    return out


def bench_pipeline(
    settings,
    workers: int,
    tmp: Path,
    report: Callable[[str], None],  # noqa: ANN001
    days: int = 4,
    peers: bool = False,
    fix_batch: int = 1,
) -> tuple[float, float, float, list[int], dict[str, float]]:
    """Fixes/s of `workers` Faust workers from gps.fixes to InfluxDB (first to last commit), the raw
    aiokafka consume + JSON decode rate of the same topic, a bare Faust agent's rate (validation
    only: Faust's own ceiling here), and the per-partition message counts. ``fix_batch``: fixes per
    message (1: contract 1; more: batches per partition, as the gateway and replay send them)."""
    import asyncio
    import sys
    import uuid

    from kafka import KafkaConsumer, TopicPartition

    from wastestream.admin import committed_offsets, end_offsets, ensure_topics
    from wastestream.producers.replay import replay_files
    from wastestream.producers.simulator.city import build_city
    from wastestream.producers.simulator.day import Faults
    from wastestream.producers.simulator.offline import write_offline
    from wastestream.topics import ALL_TOPICS

    u = uuid.uuid4().hex[:6]
    city = build_city(808)
    dirs = [tmp / f"bench{u}" / f"day{i}" for i in range(days)]
    for i, d in enumerate(dirs):  # consecutive days, replayed in order
        write_offline(city, date(2026, 11, 23) + timedelta(days=i - days + 1), 808 + i, Faults.demo(), d)
    s = settings.model_copy(
        update={"topic_prefix": f"bench{u}.", "city_file": dirs[0] / "city.yaml", "influx_bucket": f"bench-{u}"}
    )
    ensure_topics(s, ALL_TOPICS)
    topic = s.topic("gps.fixes")
    group = f"bench{u}"
    # the workers start on empty topics and the group settles before any fix is produced, so the
    # measurement holds no start-up and no rebalance: from the first fix produced to the last committed
    procs = start_workers(s, group, workers)
    try:
        t0 = time.perf_counter()
        n = sum(replay_files(s, d, fix_batch=fix_batch)["gps.fixes"] for d in dirs)
        messages = sum(end_offsets(s, [topic]).values())
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            done = sum(o for tp, o in committed_offsets(s, group).items() if tp.topic == topic)
            if done >= messages:
                break
            time.sleep(0.2)
        rate = n / (time.perf_counter() - t0)
        report(f"bench: {workers} worker(s): {rate:,.0f} fixes/s over {n:,} fixes")
    finally:
        stop_workers(procs)
    c = KafkaConsumer(bootstrap_servers=s.kafka_bootstrap)
    parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
    skew = [c.end_offsets(parts)[tp] for tp in parts]
    c.close()

    async def raw() -> float:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=s.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        got, start = 0, None
        try:
            while got < n:
                batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
                for recs in batch.values():
                    if start is None:
                        start = time.perf_counter()
                    for r in recs:
                        v = json.loads(r.value)
                        got += len(v) if isinstance(v, list) else 1
        finally:
            await consumer.stop()
        return n / (time.perf_counter() - (start or time.perf_counter()))

    raw_rate = asyncio.run(raw())
    floor_rate = _peer([sys.executable, "-m", "wastestream.bench_floor", s.kafka_bootstrap, topic, str(n)])
    if not peers:
        return rate, raw_rate, floor_rate, skew, {}
    more = {
        "Faust agent + Table count per (vehicle, day)": _peer(
            [
                sys.executable,
                "-m",
                "wastestream.bench_floor",
                s.kafka_bootstrap,
                topic,
                str(n),
                "table",
                str(len(parts)),
            ]
        )
    }
    quix = Path(__file__).resolve().parents[1] / ".venv-quix" / "bin" / "python"
    peer = Path(__file__).resolve().parents[1] / "bench" / "peers" / "quix_peer.py"
    if quix.exists() and peer.exists():
        more["Quix Streams + RocksDB state, count per (vehicle, day)"] = _peer(
            [str(quix), str(peer), s.kafka_bootstrap, topic, str(n)]
        )
    else:
        report(f"bench: no {quix} (make bench makes it): the Quix Streams peer is left out")
    return rate, raw_rate, floor_rate, skew, more


def _peer(cmd: list[str]) -> float:
    """A peer's rate (its ``rate <msg/s>`` line), NaN if it printed none."""
    import subprocess

    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    return float(next((ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("rate ")), "nan"))


_BENCH_BUCKET = re.compile(r"^(bench|lat|mem)-[0-9a-f]{6}$")  # the buckets the benchmarks name for themselves


def bench_leftovers(
    topics_before: set[str], topics_after: set[str], buckets_before: set[str], buckets_after: set[str]
) -> tuple[list[str], list[str]]:
    """What a benchmark run leaves behind, to remove: the topics it created (its prefixed topics,
    Faust's changelogs, the peers'), and the buckets it created under a benchmark's own name. A topic or
    bucket that was there before the run, or a contractor's bucket, stays."""
    topics = sorted(t for t in topics_after - topics_before if not t.startswith("__"))
    buckets = sorted(b for b in buckets_after - buckets_before if _BENCH_BUCKET.match(b))
    return topics, buckets


def _topics_and_buckets(settings) -> tuple[set[str], set[str]]:  # noqa: ANN001
    from influxdb_client import InfluxDBClient

    from wastestream.admin import admin_client

    with admin_client(settings) as admin:
        topics = set(admin.list_topics())
    with InfluxDBClient(url=settings.influx_url, token=settings.influx_token_value(), org=settings.influx_org) as c:
        buckets = {b.name for b in c.buckets_api().find_buckets_iter()}  # every page
    return topics, buckets


def _remove_leftovers(settings, before: tuple[set[str], set[str]], report: Callable[[str], None]) -> None:  # noqa: ANN001
    """Delete what the run created (each run made ~100 topics and 3 buckets; a development stack that
    had run the benchmarks ten times held ~800 topics, and its later runs were measured on them)."""
    from influxdb_client import InfluxDBClient

    from wastestream.admin import admin_client

    after = _topics_and_buckets(settings)
    topics, buckets = bench_leftovers(before[0], after[0], before[1], after[1])
    with admin_client(settings) as admin:
        for i in range(0, len(topics), 100):
            admin.delete_topics(topics[i : i + 100])
    with InfluxDBClient(url=settings.influx_url, token=settings.influx_token_value(), org=settings.influx_org) as c:
        api = c.buckets_api()
        for name in buckets:
            b = api.find_bucket_by_name(name)
            if b is not None:
                api.delete_bucket(b)
    report(f"bench: removed the run's {len(topics)} topics and {len(buckets)} buckets")


def run_pipeline_benchmarks(settings, out: Console, report: Callable[[str], None]) -> list[BenchResult]:  # noqa: ANN001
    """The pipeline benchmarks; one that fails ends the series, and the table still shows the ones
    measured before it and a row naming the failure (a failure once lost the whole table). The
    topics and buckets they created are removed at the end (the figures are in the table)."""
    results: list[BenchResult] = []
    before = _topics_and_buckets(settings)
    try:
        _pipeline_benchmarks(settings, out, report, results)
    except Exception as e:  # noqa: BLE001 - reported in the table and on the console
        report(f"bench: a pipeline benchmark failed ({type(e).__name__}: {e}); the others before it stand")
        nan = float("nan")
        results.append(BenchResult(f"FAILED: {type(e).__name__}: {e}"[:160], "", nan, "", nan, ""))
    try:
        _remove_leftovers(settings, before, report)
    except Exception as e:  # noqa: BLE001 - the figures stand; say what is left
        report(f"bench: could not remove the run's topics and buckets ({type(e).__name__}: {e})")
    return results


def _pipeline_benchmarks(settings, out: Console, report: Callable[[str], None], results: list[BenchResult]) -> None:  # noqa: ANN001
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        r1, raw1, floor1, skew, more = bench_pipeline(settings, 1, Path(tmp), report, peers=True)
        results.append(
            BenchResult(
                "pipeline, 1 Faust worker, one fix per message: gps.fixes → InfluxDB",
                "fixes/s",
                r1,
                "raw aiokafka consume + JSON decode",
                raw1,
                "(Kafka's own ceiling here)",
            )
        )
        results.append(
            BenchResult(
                "pipeline, 1 Faust worker, one fix per message",
                "fixes/s",
                r1,
                "bare Faust agent, validation only",
                floor1,
                "(Faust's per-message ceiling here)",
            )
        )
        for name, peer_rate in more.items():
            results.append(
                BenchResult(
                    "pipeline, 1 Faust worker, one fix per message",
                    "fixes/s",
                    r1,
                    name,
                    peer_rate,
                    "(a peer, same topic)",
                )
            )
        b = settings.fix_batch
        rb, rawb, floorb, _skew, _ = bench_pipeline(settings, 1, Path(tmp), report, fix_batch=b)
        results.append(
            BenchResult(
                f"pipeline, 1 Faust worker, batches of ≤ {b} fixes (contract 2)",
                "fixes/s",
                rb,
                "bare Faust agent, one fix per message (previous run)",
                floor1,
                "≥ 0.65×, then past it",
            )
        )
        results.append(
            BenchResult(
                f"pipeline, 1 Faust worker, batches of ≤ {b} fixes",
                "fixes/s",
                rb,
                "bare Faust agent, the same batches",
                floorb,
                "(Faust's ceiling with batches)",
            )
        )
        results.append(
            BenchResult(
                f"pipeline, 1 Faust worker, batches of ≤ {b} fixes",
                "fixes/s",
                rb,
                "raw aiokafka consume + JSON decode, the same batches",
                rawb,
                "(Kafka's own ceiling)",
            )
        )
        for rate, batch in ((1000, 1), (2500, b), (5000, b)):
            lat = bench_latency(settings, rate, 20, Path(tmp), report, fix_batch=batch)
            how = (
                "one fix per message"
                if batch == 1
                else f"batches ≤ {batch}, {settings.fix_batch_linger_ms:g} ms linger"
            )
            results.append(
                BenchResult(
                    f"latency p99 receive → InfluxDB at {lat['rate']:,.0f} fixes/s from {lat['trucks']:,} trucks"
                    f" (1 worker, {how})",
                    "s",
                    lat["p99"] or float("nan"),
                    "p50, same run",
                    lat["p50"] or float("nan"),
                    "p99 ≤ 2 s at 2,500/s",
                )
            )
            results.append(
                BenchResult(
                    f"  … the cold start before: each truck's first fix (new vehicle-days and series), {how}",
                    "s",
                    lat["cold_p99"] or float("nan"),
                    "p50, same run",
                    lat["cold_p50"] or float("nan"),
                    "(measured)",
                )
            )
        gw = bench_gateway(settings, Path(tmp), report)
        results.append(
            BenchResult(
                "gateway: idle connections held (answering a heartbeat after 10 s)",
                "connections",
                gw["held"],
                "connections opened",
                10_000,
                "10,000",
            )
        )
        results.append(
            BenchResult(
                "gateway: positions/s acknowledged after Kafka (200 terminals)",
                "frames/s",
                gw["loc"],
                "heartbeats/s, same connections",
                gw["beat"],
                "(measured)",
            )
        )
        peak, idle = bench_memory(settings, Path(tmp), report)
        results.append(
            BenchResult(
                "worker peak RSS, 50,000 vehicles + 200,000 points",
                "MB",
                peak,
                "same worker started, no data",
                idle,
                "≤ 500 MB",
            )
        )
        r2, *_ = bench_pipeline(settings, 2, Path(tmp), report, fix_batch=b)
        results.append(
            BenchResult(
                f"pipeline, 2 Faust workers, batches of ≤ {b} fixes",
                "fixes/s",
                r2,
                "1 worker (same run)",
                rb,
                "scales with workers",
            )
        )
    out.print(f"per-partition fixes (skew): {skew}")
