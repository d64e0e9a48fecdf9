"""The ``wastestream`` command.

Every error an operator can cause is reported as one line on stderr with exit code 1 or 2;
tracebacks are kept for real bugs (and shown with ``WASTESTREAM_DEBUG=1``).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from wastestream.errors import WastestreamError
from wastestream.settings import Settings, get_settings, get_stack_settings

app = typer.Typer(
    help="wastestream: sanitation telemetry pipeline (JT/T 808 trucks, weighbridges, clearance, tonnage).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
stack_app = typer.Typer(help="The local Kafka + InfluxDB stack.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

ServiceNames = Annotated[
    list[str] | None,
    typer.Argument(
        help="kafka, influxdb (default: both); gateway, weighbridge, worker, notify run in the background "
        "(`up` starts what each needs first)"
    ),
]


def _report(msg: str) -> None:
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {msg}")


@stack_app.command("up")
def stack_up(
    services: ServiceNames = None,
    brokers: Annotated[
        int | None, typer.Option(help="Kafka nodes (KRaft): 3 makes a local cluster with replication 3, min ISR 2")
    ] = None,
) -> None:
    """Install (cached) and start the local services; idempotent."""
    from wastestream.stack import Stack, write_local_env

    s = get_stack_settings()
    if brokers is not None and brokers != s.kafka_brokers:
        if any(svc.pid() is not None for svc in Stack(s).kafka_nodes):
            raise WastestreamError(f"Kafka runs with {s.kafka_brokers} node(s): `wastestream stack reset` first")
        # remembered in <state_dir>/local.env, so every later command and process sees the cluster
        write_local_env(
            s.local_env_file,
            {
                "WASTESTREAM_KAFKA_BROKERS": str(brokers),
                # what every runtime process bootstraps from (they know nothing of the local stack)
                "WASTESTREAM_KAFKA_BOOTSTRAP_SERVERS": s.model_copy(update={"kafka_brokers": brokers}).local_brokers
                if brokers > 1
                else "",
                "WASTESTREAM_TOPIC_REPLICATION_FACTOR": str(min(3, brokers)),
                "WASTESTREAM_TOPIC_MIN_INSYNC_REPLICAS": str(2 if brokers >= 3 else 1),
            },
        )
        get_settings.cache_clear()
        get_stack_settings.cache_clear()
        s = get_stack_settings()
    started = time.monotonic()
    Stack(s).up(_report, services)
    _report(f"stack up in {time.monotonic() - started:.1f}s")
    _print_where(s)


@stack_app.command("install")
def stack_install(services: ServiceNames = None) -> None:
    """Fetch the Kafka jars and build influxd into the cache without starting anything."""
    from wastestream.stack import Stack

    Stack(get_stack_settings()).install(_report, services)


@stack_app.command("down")
def stack_down(services: ServiceNames = None) -> None:
    """Stop the local services (no process is left behind)."""
    from wastestream.stack import Stack

    Stack(get_stack_settings()).down(_report, services)


@stack_app.command("reset")
def stack_reset() -> None:
    """Stop the services and delete their local data and the onboarding token."""
    from wastestream.stack import Stack

    Stack(get_stack_settings()).reset(_report)


@stack_app.command("status")
def stack_status() -> None:
    """Show whether each service runs and is ready; exit 1 if any is not."""
    from wastestream.stack import Stack

    st = Stack(get_stack_settings())
    rows = st.status()
    rows += [r for r in st.status(["gateway", "weighbridge", "worker"]) if r.pid is not None]
    t = Table("service", "state", "pid", "address", "log")
    for r in rows:
        state = "[green]ready[/green]" if r.running else f"[red]{r.detail or 'stopped'}[/red]"
        t.add_row(r.name, state, str(r.pid or "-"), r.address, str(r.log))
    out.print(t)
    if not all(r.running for r in rows):
        raise typer.Exit(1)


@stack_app.command("logs")
def stack_logs(
    service: Annotated[str, typer.Argument(help="kafka or influxdb")] = "kafka",
    lines: Annotated[int, typer.Option("-n", help="lines from the end")] = 50,
) -> None:
    """Print the end of a service's log."""
    from wastestream.stack import Stack

    svc = Stack(get_stack_settings()).select([service])[0]
    if not svc.log_file.exists():
        raise WastestreamError(f"no log yet at {svc.log_file}")
    with open(svc.log_file, "rb") as f:
        tail = f.read().splitlines()[-lines:]
    sys.stdout.write(b"\n".join(tail).decode(errors="replace") + "\n")


def _print_where(s) -> None:  # noqa: ANN001
    out.print(f"Kafka     {s.kafka_bootstrap}   (topics: see `wastestream topics`)")
    out.print(f"InfluxDB  {s.influx_url}   org={s.influx_org} bucket={s.influx_bucket}")
    out.print(f"Token     in {s.local_env_file} (WASTESTREAM_INFLUX_TOKEN)")
    out.print(f"Logs      {s.log_dir}/")


@app.command("topics")
def topics(
    create: Annotated[bool, typer.Option("--create", help="create missing topics on the configured broker")] = False,
) -> None:
    """List wastestream's Kafka topics with partitions and retention."""
    from wastestream.topics import ALL_TOPICS

    s = get_settings()
    if create:
        from wastestream.admin import ensure_topics

        created = ensure_topics(s, ALL_TOPICS)
        _report(f"created: {', '.join(created) or 'none (all exist)'}")
    t = Table("topic", "key", "partitions", "retention (days)", "content")
    for spec in ALL_TOPICS:
        t.add_row(
            spec.name,
            spec.key,
            str(spec.partitions or s.topic_partitions),
            f"{spec.retention_ms / 86_400_000:g}",
            spec.description,
        )
    out.print(t)


@app.command("init")
def init_cmd(
    seed_city: Annotated[bool, typer.Option(help="write the seed city to the city file if there is none")] = True,
) -> None:
    """Prepare a deployment's state once: generate the secrets the services need into
    <state_dir>/local.env (values from the environment still win) and, if the city file is missing,
    write the seed city there (replace it with your own)."""
    from wastestream.stack import ensure_local_secrets

    s = get_stack_settings()
    ensure_local_secrets(s)
    _report(f"secrets: {s.local_env_file}")
    if s.city_file.exists():
        _report(f"city: {s.city_file} (kept)")
    elif seed_city:
        from wastestream.producers.simulator.city import build_city
        from wastestream.schemas import dump_city

        s.city_file.parent.mkdir(parents=True, exist_ok=True)
        dump_city(build_city(808), s.city_file)
        _report(f"city: the seed city written to {s.city_file}")
    else:
        raise WastestreamError(f"no city file at {s.city_file}")


@app.command("settings")
def show_settings() -> None:
    """Print the effective settings (secrets masked)."""
    s = get_settings()
    for k, v in s.model_dump().items():
        out.print(f"{k} = {v}")


jt808_app = typer.Typer(help="JT/T 808 debugging tools.", no_args_is_help=True)
app.add_typer(jt808_app, name="jt808")


@jt808_app.command("decode")
def jt808_decode(hex_frames: Annotated[str, typer.Argument(help="hex of one or more frames (spaces allowed)")]) -> None:
    """Decode JT/T 808 frames and print each message as JSON (exit 1 if any frame was rejected)."""
    import json

    from wastestream.producers.jt808.tools import decode_hex_to_json

    lines = decode_hex_to_json(hex_frames)
    for line in lines:
        out.print(line, markup=False)
    bad = [json.loads(line)["error"] for line in lines if "error" in json.loads(line)]
    if bad:
        err.print(f"[red]error:[/red] {len(bad)} of {len(lines)} frame(s) rejected: {', '.join(bad)}")
        raise typer.Exit(1)


@jt808_app.command("encode")
def jt808_encode(
    message: Annotated[str, typer.Argument(help="location | heartbeat | register | auth | logout")],
    terminal: Annotated[str, typer.Option(help="terminal phone number (BCD digits)")] = "013800138000",
    serial: Annotated[int, typer.Option(help="message serial")] = 1,
    v2019: Annotated[bool, typer.Option("--2019", help="2019 header (protocol version 1)")] = False,
    lat: float = 31.230416,
    lon: float = 121.473701,
    speed: Annotated[float, typer.Option(help="km/h")] = 0.0,
    heading: int = 0,
    time_: Annotated[str | None, typer.Option("--time", help="ISO time with offset (default now)")] = None,
    auth_code: str = "",
    plate: str = "沪A00000",
) -> None:
    """Build a test frame and print its hex."""
    from wastestream.producers.jt808.tools import build_frame

    out.print(
        build_frame(
            message,
            terminal,
            serial,
            1 if v2019 else None,
            lat=lat,
            lon=lon,
            speed=speed,
            heading=heading,
            time=time_,
            auth_code=auth_code,
            plate=plate,
        )
    )


@app.command("gateway")
def gateway(
    host: Annotated[str | None, typer.Option(help="listen address (default from settings)")] = None,
    port: Annotated[int | None, typer.Option(help="listen port (default from settings)")] = None,
) -> None:
    """Run the JT/T 808 TCP gateway: terminals in, gps.fixes and deadletter out."""
    from wastestream.producers.gateway import run_gateway

    run_gateway(get_settings(), host, port, _report)


def _date(value: str | None) -> date:
    from datetime import timedelta

    from wastestream.domain.localtime import local_date

    today = local_date(datetime.now(UTC), get_settings().timezone)
    if value is None or value == "today":
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise WastestreamError(f"--date: {value!r} is not a date like 2026-11-23") from None


def _load_city(path: Path, compact: bool = False):  # noqa: ANN202
    """The city; ``compact`` for long-running processes that only read it (see schemas/compact.py)."""
    from wastestream.schemas import CityFileError, load_city
    from wastestream.schemas.compact import load_city_compact

    try:
        return load_city_compact(path) if compact else load_city(path)
    except CityFileError as e:
        raise WastestreamError(str(e)) from None


@app.command("simulate")
def simulate(
    date_: Annotated[str | None, typer.Option("--date", help="local day to simulate (default today)")] = None,
    seed: Annotated[int, typer.Option(help="random seed: same seed, same city and day")] = 808,
    faults: Annotated[str, typer.Option(help="none | demo")] = "demo",
    offline: Annotated[Path | None, typer.Option(help="write JSON Lines + truth.json here instead of sending")] = None,
    write_city: Annotated[Path | None, typer.Option(help="write the seed city's reference data here")] = None,
    speed: Annotated[str, typer.Option(help="online: simulated seconds per second, e.g. 60, or 'max'")] = "60",
    from_: Annotated[str, typer.Option("--from", help="online: local time to start, HH:MM")] = "00:00",
    to: Annotated[str, typer.Option(help="online: local time to stop, HH:MM (24:00 = end of day + uploads)")] = "24:00",
    truth_out: Annotated[Path | None, typer.Option("--truth", help="online: write the ground truth here")] = None,
) -> None:
    """Simulate the seed city: 10 contractors, 17 stations (≈1,289 t/day), 54 routes, 94 timed stops."""
    from wastestream.producers.simulator.city import build_city
    from wastestream.producers.simulator.day import Faults
    from wastestream.schemas import dump_city

    if faults not in ("none", "demo"):
        raise WastestreamError(f"--faults: {faults!r}; choose none or demo")
    f = Faults.demo() if faults == "demo" else Faults()
    s = get_settings()
    day = _date(date_)
    city = build_city(seed)
    if write_city is not None:
        write_city.parent.mkdir(parents=True, exist_ok=True)
        dump_city(city, write_city)
        _report(f"city written to {write_city}")
    if offline is not None:
        from wastestream.producers.simulator.offline import write_offline

        truth, counts = write_offline(city, day, seed, f, offline)
        _report(f"{day}: {counts} → {offline}/ (ground truth in truth.json)")
        _report(
            f"in-tonnage {truth.to_json()['tonnage_in_total_kg'] / 1000:,.1f} t, stops {truth.to_json()['status_counts']}"
        )
        return
    if write_city is not None and offline is None and speed == "none":
        return
    from wastestream.producers.simulator.online import run_online

    run_online(s, city, day, seed, f, speed, from_, to, truth_out, _report)


@app.command("recompute")
def recompute_cmd(
    events: Annotated[Path, typer.Option(help="folder with gps.fixes.jsonl, weigh.tickets.jsonl, deadletter.jsonl")],
    date_: Annotated[str | None, typer.Option("--date", help="only this local day")] = None,
    city_file: Annotated[
        Path | None, typer.Option("--city", help="reference data (default <events>/city.yaml, then settings)")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the figures here instead of InfluxDB")] = None,
    dead_out: Annotated[
        Path | None, typer.Option("--dead-letters", help="write the refused inputs here (JSON Lines)")
    ] = None,
    processes: Annotated[
        int, typer.Option(help="processes, partitioned as the topics are (0: one per core); the same figures")
    ] = 1,
) -> None:
    """Run the worker's core over event files; write the same figures to InfluxDB (or JSON).

    A line that is not a valid message stops it with file:line; an input the checks refuse (unknown
    id, wrong clock, bad arithmetic) is counted, listed by kind, and it goes on (exit 0)."""
    from wastestream.stream_processors.recompute import recompute

    s = get_settings()
    if not events.is_dir():
        raise WastestreamError(f"--events: {events} is not a folder")
    cf = city_file or (events / "city.yaml" if (events / "city.yaml").exists() else s.city_file)
    city = _load_city(cf)
    from wastestream.stream_processors.heap import tune_gc

    tune_gc()  # the city is loaded: out of the cyclic collector's sight (the processes forked inherit it)
    started = time.monotonic()
    if processes < 0:
        raise WastestreamError("--processes: 0 (one per core) or more")
    n = processes or (os.cpu_count() or 1)
    progress = lambda what, k: _report(f"recompute: {k:,} {what}")  # noqa: E731
    when = _date(date_) if date_ else None
    if n > 1:
        from wastestream.stream_processors.parallel import recompute_parallel

        res = recompute_parallel(city, events, n, when, progress, core_options=s.core_options())
    else:
        res = recompute(city, events, when, progress, core_options=s.core_options())
    _report(
        f"recompute: {res.counts} in {time.monotonic() - started:.1f}s; {len(res.records)} series; days {[str(d) for d in res.days]}"
    )
    if res.dead_letters:
        _report(f"recompute: refused {res.rejected_by_kind} (counted under data_quality)")
    if dead_out is not None:
        dead_out.write_text("".join(dl.model_dump_json() + "\n" for dl in res.dead_letters), encoding="utf-8")
        _report(f"{len(res.dead_letters)} refused inputs written to {dead_out}")
    if json_out is not None:
        from wastestream.stream_processors.eventfiles import write_json

        write_json(
            json_out, [r.as_dict() for r in sorted(res.records.values(), key=lambda r: (r.measurement, r.tags, r.time))]
        )
        _report(f"figures written to {json_out}")
        return
    from wastestream.stream_processors.sink import InfluxSink

    sink = InfluxSink(s, city)
    sink.write(list(res.records.values()))
    sink.close()
    _report(f"figures written to InfluxDB {s.influx_url} bucket {s.influx_bucket}")


@app.command("worker")
def worker(
    clock: Annotated[
        str | None,
        typer.Option(help="event (newest event time; replays) or wall (live); default WASTESTREAM_WORKER_CLOCK (wall)"),
    ] = None,
    loglevel: Annotated[str, typer.Option(help="crit | error | warn | info | debug")] = "warn",
    app_id: Annotated[
        str, typer.Option(help="Faust app id = consumer group and table changelog prefix")
    ] = "wastestream-worker",
) -> None:
    """Run the Faust stream processors: gps.fixes + weigh.tickets → InfluxDB, clearance, alerts."""
    from wastestream.stream_processors.app import run_worker

    if clock is not None and clock not in ("event", "wall"):
        raise WastestreamError(f"--clock: {clock!r}; choose event or wall")
    s = get_settings()
    s.influx_token_value()
    run_worker(s, _load_city(s.city_file, compact=True), clock, loglevel, app_id)


@app.command("replay")
def replay(
    events: Annotated[Path, typer.Option(help="folder with <topic>.jsonl files (simulator offline output)")],
    rate: Annotated[
        float | None, typer.Option(help="at most this many messages per second (a fix batch is one); default: flat out")
    ] = None,
) -> None:
    """Produce event files onto their Kafka topics (kafka-python, acks=all), in file order."""
    from wastestream.producers.replay import replay_files

    counts = replay_files(get_settings(), events, lambda topic, n: _report(f"replay: {topic} {n:,}"), rate=rate)
    _report(f"replayed {counts}")


@app.command("weighbridge")
def weighbridge(
    host: Annotated[str | None, typer.Option(help="listen address (default from settings)")] = None,
    port: Annotated[int | None, typer.Option(help="listen port (default from settings)")] = None,
) -> None:
    """Run the weighbridge ticket API: stations POST tickets (JSON or CSV) → weigh.tickets."""
    from wastestream.producers.weighbridge import run_weighbridge

    s = get_settings()
    run_weighbridge(s, _load_city(s.city_file), host, port, _report)


@app.command("weighbridge-token")
def weighbridge_token(station: Annotated[str, typer.Argument(help="station id, e.g. S01")]) -> None:
    """Print the bearer token a station's weighing software must send."""
    from wastestream.producers.weighbridge import tokens_from_settings

    s = get_settings()
    tokens = {st: tok for tok, st in tokens_from_settings(s, _load_city(s.city_file)).items()}
    if station not in tokens:
        raise WastestreamError(f"unknown station {station!r}")
    out.print(tokens[station])


@app.command("evidence")
def evidence(
    point: Annotated[str, typer.Option(help="collection point id, e.g. P0146")],
    date_: Annotated[str | None, typer.Option("--date", help="local day (default yesterday)")] = "yesterday",
    out_dir: Annotated[Path, typer.Option("--out", help="folder for the JSON, GeoJSON, PNG and HTML")] = Path("out"),
) -> None:
    """Proof of service of a point on a day: the service visit with its fixes, catch-up visits, and
    each of its contractor's trucks' closest approach (from InfluxDB)."""
    from wastestream.proof import read_evidence, write_evidence

    s = get_settings()
    proof, fixes = read_evidence(s, _load_city(s.city_file), point, _date(date_))
    sv = proof["service"]
    out.print(f"[bold]{proof['point']}[/bold] {proof['name']} {proof['day']}: [bold]{proof['status']}[/bold]")
    if sv:
        out.print(f"  service: {sv['vehicle']} {sv['arrival']} → {sv['departure']} ({sv['dwell_s']:.0f} s)")
    for c in proof["catch_up"]:
        out.print(f"  catch-up (补收): {c['vehicle']} {c['arrival']}")
    for v, c in list(proof["closest_approach"].items())[:5]:
        out.print(f"  closest: {v} {c['distance_m']:.0f} m at {c['at']}")
    paths = write_evidence(proof, fixes, out_dir)
    _report(f"evidence: {', '.join(str(p) for p in paths.values())}")


@app.command("complaints")
def complaints(
    once: Annotated[bool, typer.Option(help="judge every case once and exit (else every interval)")] = False,
) -> None:
    """Judge citizens' complaints against the evidence: served before / not served / no point here;
    track catch-up orders until a visit clears them (outcomes → InfluxDB ``complaints``)."""
    import signal

    from wastestream.stream_processors.complaints import Tracker

    s = get_settings()
    s.influx_token_value()
    tracker = Tracker(s, _load_city(s.city_file), _report)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    try:
        if once:
            tracker.cycle()
        else:
            tracker.run(s.complaints_interval_s, lambda: stopping)
    finally:
        tracker.close()


@app.command("dispatch-token")
def dispatch_token() -> None:
    """Print the bearer token the dispatch center's system sends with complaints (POST /v1/complaints)."""
    from wastestream.producers.weighbridge import dispatch_tokens_from_settings

    tokens = dispatch_tokens_from_settings(get_settings())
    out.print(next(iter(tokens)))


@app.command("contractor-token")
def contractor_token(contractor: Annotated[str, typer.Argument(help="contractor id, e.g. C01")]) -> None:
    """Print the bearer token a contractor sends with its non-collection reports
    (POST /v1/service-exceptions)."""
    from wastestream.producers.weighbridge import contractor_tokens_from_settings

    s = get_settings()
    tokens = contractor_tokens_from_settings(s, _load_city(s.city_file))
    mine = [t for t, c in tokens.items() if c == contractor]
    if not mine:
        raise WastestreamError(f"no contractor {contractor!r} (known: {', '.join(sorted(set(tokens.values())))})")
    out.print(mine[0])


@app.command("notify")
def notify() -> None:
    """Page alerts from the alerts topic to the dispatch robot (DingTalk / WeCom / webhook): each
    raised and resolved alert once, retried until the robot takes it, offsets committed after."""
    from wastestream.notify.service import run_notify

    run_notify(get_settings(), _report)


@app.command("summary")
def summary(date_: Annotated[str | None, typer.Option("--date", help="local day (default today)")] = None) -> None:
    """Print a day's figures from InfluxDB: tonnage, clearance, station balance."""
    from wastestream.stream_processors.summary import print_summary

    print_summary(get_settings(), _date(date_), out)


@app.command("unknown-terminals")
def unknown_terminals_cmd(
    date_: Annotated[str | None, typer.Option("--date", help="local day (default today)")] = None,
) -> None:
    """Terminal ids seen but not registered (first/last seen, count), so operators can register them."""
    from influxdb_client import InfluxDBClient

    from wastestream.stream_processors import queries

    s = get_settings()
    day = _date(date_)
    with InfluxDBClient(url=s.influx_url, token=s.influx_token_value(), org=s.influx_org) as c:
        rows = list(c.query_api().query_stream(queries.unknown_terminals(s.influx_bucket, day, s.timezone)))
    t = Table("terminal", "source", "first seen", "last seen", "count")
    for r in rows:
        t.add_row(r["terminal"], r["source"], r["first_seen"], r["last_seen"], str(r["count"]))
    out.print(f"[bold]{day}[/bold]: {len(rows)} unregistered terminal(s)")
    out.print(t)


@app.command("demo")
def demo(
    date_: Annotated[
        str, typer.Option("--date", help="local day to simulate (default yesterday: a complete day)")
    ] = "yesterday",
    speed: Annotated[str, typer.Option(help="simulated seconds per second, or max")] = "max",
    seed: int = 808,
) -> None:
    """Stack up, start gateway + weighbridge + worker, simulate the seed city's day, print the figures."""
    from wastestream.demo import run_demo

    run_demo(get_settings(), _date(date_), speed, seed, _report, out)


@app.command("bench")
def bench(
    pipeline: Annotated[
        bool, typer.Option(help="also the Kafka → Faust → InfluxDB pipeline (starts the stack)")
    ] = False,
) -> None:
    """Benchmarks as a table, each beside a baseline measured in the same run."""
    from wastestream.bench import run_benchmarks

    s = None
    if pipeline:
        from wastestream.stack import Stack

        Stack(get_stack_settings()).up(_report)
        s = Settings()  # re-read the onboarding token
    run_benchmarks(out, pipeline_settings=s, report=_report)


@app.command("fuzz")
def fuzz(
    cases: Annotated[int, typer.Option(help="mutated frames to feed")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="random seed (a failure names its case)")] = 808,
) -> None:
    """Fuzz the gateway's JT/T 808 path (splitter, decoder, session) with mutated frames."""
    from rich.table import Table

    from wastestream.errors import WastestreamError
    from wastestream.producers.jt808.fuzz import run_fuzz

    started = time.monotonic()
    s = run_fuzz(cases, seed, progress=lambda done: _report(f"fuzz: {done:,} of {cases:,} cases"))
    t = Table("rejection reason", "dead letters")
    for reason, n in s.dead.most_common():
        t.add_row(reason, f"{n:,}")
    out.print(t)
    out.print(
        f"{s.cases:,} cases ({s.frames:,} frames) in {time.monotonic() - started:.0f}s: {s.fixes:,} fixes, "
        f"{s.replies:,} replies, {s.dead_total:,} dead letters, {len(s.failures)} invariant failures"
    )
    for f in s.failures[:10]:
        out.print(f"  {f}")
    if s.failures:
        raise WastestreamError(f"fuzz: {len(s.failures)} case(s) broke an invariant (first: {s.failures[0][:120]})")


grafana_app = typer.Typer(help="Grafana dashboards and alert rules as code.", no_args_is_help=True)
app.add_typer(grafana_app, name="grafana")


def _plan_t(city) -> float:  # noqa: ANN001
    return round(sum(p.expected_kg for p in city.collection_points) / 1000, 1)


ChannelOpt = Annotated[
    str, typer.Option(help="the alert contact point: webhook, dingding (DingTalk robot) or wecom (WeCom robot)")
]


BasemapOpt = Annotated[
    str, typer.Option(help="map base layer: osm (OpenStreetMap, WGS-84) or amap (高德 AutoNavi tiles, GCJ-02)")
]


def _basemap(value: str):  # noqa: ANN202
    from wastestream.grafana.dashboards import BASEMAPS

    if value not in BASEMAPS:
        raise WastestreamError(f"--basemap: {value!r}; choose one of {', '.join(BASEMAPS)}")
    return value


def _channel(value: str):  # noqa: ANN202
    from wastestream.grafana.alerts import CHANNELS

    if value not in CHANNELS:
        raise WastestreamError(f"--channel: {value!r}; choose one of {', '.join(CHANNELS)}")
    return value


@grafana_app.command("export")
def grafana_export(channel: ChannelOpt = "webhook", basemap: BasemapOpt = "osm") -> None:
    """Write deploy/grafana/provisioning (file-based provisioning for the compose stack)."""
    from wastestream.grafana.files import write_provisioning
    from wastestream.producers.simulator.city import build_city

    city = build_city(808)
    for p in write_provisioning(_plan_t(city), tz=city.timezone, channel=_channel(channel), basemap=_basemap(basemap)):
        out.print(str(p))


@grafana_app.command("provision")
def grafana_provision(
    url: Annotated[str, typer.Option(help="Grafana URL")] = "http://127.0.0.1:3000",
    user: Annotated[
        str, typer.Option(help="Grafana admin user (password from WASTESTREAM_GRAFANA_PASSWORD)")
    ] = "admin",
    influx_url: Annotated[str | None, typer.Option(help="InfluxDB URL as Grafana reaches it")] = None,
    webhook: Annotated[
        str, typer.Option(help="where alert notifications are POSTed (the robot URL for dingding / wecom)")
    ] = "http://127.0.0.1:9000/alerts",
    channel: ChannelOpt = "webhook",
    basemap: BasemapOpt = "osm",
    contractors_only: Annotated[
        bool, typer.Option(help="only the contractor orgs and viewers (the main org is file-provisioned)")
    ] = False,
) -> None:
    """Provision folders, datasources, dashboards, alert rules and contractor orgs (idempotent)."""
    from wastestream.grafana.isolation import contractor_read_tokens, read_token, viewer_passwords
    from wastestream.grafana.provision import GrafanaTarget, provision

    s = get_settings()
    password = os.environ.get("WASTESTREAM_GRAFANA_PASSWORD")
    if not password:
        raise WastestreamError("set WASTESTREAM_GRAFANA_PASSWORD (the Grafana admin password)")
    city = _load_city(s.city_file)
    tokens = contractor_read_tokens(s, city)
    target = GrafanaTarget(
        url,
        (user, password),
        influx_url or s.influx_url,
        s.influx_org,
        webhook,
        _channel(channel),
        _basemap(basemap),
        viewer_passwords(s, city),
    )
    rep = provision(
        target, city, s.influx_bucket, read_token(s, s.influx_bucket), tokens, _plan_t(city), contractors_only
    )
    _report(f"grafana: created {len(rep.created)}, updated {len(rep.updated)}")
    _report(
        "grafana: contractor viewers contractor-<id>, passwords in "
        f"{s.state_dir / 'grafana-viewers.json'} (each sees only its own organisation)"
    )


@app.command("assess")
def assess_month(
    month: Annotated[str, typer.Option(help="the month: YYYY-MM, current or previous (local calendar)")],
    contractor: Annotated[str | None, typer.Option(help="only this contractor")] = None,
    table_file: Annotated[Path | None, typer.Option("--table", help="the deduction table (YAML)")] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="folder for JSON, CSV, .xlsx, HTML and PNG (default <state>/assessments)"),
    ] = None,
    write: Annotated[bool, typer.Option(help="write the scores and deductions to InfluxDB")] = True,
    every: Annotated[
        float | None,
        typer.Option(help="run again every this many seconds (a service: the running daily score stays current)"),
    ] = None,
) -> None:
    """A month's assessment of the contractors by the deduction table: scores, fines and every
    deduction with its evidence; run again after late uploads to see what changed. With --every and
    --month current, each run also re-assesses the previous month during the new month's first 3 days
    (late uploads of its last days)."""
    import signal

    from wastestream.schemas.assessment import DEFAULT_TABLE, TableFileError, load_table

    try:
        table = load_table(table_file or DEFAULT_TABLE)
    except TableFileError as e:
        raise WastestreamError(str(e)) from None
    s = get_settings()
    city = _load_city(s.city_file)
    months = _months(month, city.timezone)
    out_dir = out_dir or s.state_dir / "assessments"
    if every is None:
        for m in months:
            _assess_once(s, city, table, m, contractor, out_dir, write)
        return
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    alive = s.state_dir / "assess.alive"  # the k8s liveness probe reads its age
    while not stopping:
        for m in _months(month, city.timezone):
            _assess_once(s, city, table, m, contractor, out_dir, write)
        alive.parent.mkdir(parents=True, exist_ok=True)
        alive.touch()
        deadline = time.monotonic() + every
        while not stopping and time.monotonic() < deadline:
            time.sleep(min(1.0, every))


def _months(month: str, tz: str) -> list[str]:
    """The month(s) ``--month`` names today: YYYY-MM; current (and, in its first 3 days, the previous
    one); previous."""
    import re
    from datetime import UTC, datetime, timedelta

    from wastestream.domain.localtime import local_date

    today = local_date(datetime.now(UTC), tz)
    last_month = (today.replace(day=1) - timedelta(days=1)).isoformat()[:7]
    if month == "current":
        return [last_month, today.isoformat()[:7]] if today.day <= 3 else [today.isoformat()[:7]]
    if month == "previous":
        return [last_month]
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise WastestreamError(f"--month: expected YYYY-MM, current or previous, got {month!r}")
    return [month]


def _assess_once(s, city, table, month: str, contractor: str | None, out_dir: Path, write: bool) -> None:  # noqa: ANN001
    from wastestream.assess import run_assess

    a, moved, scores, paths = run_assess(s, city, table, month, contractor, out_dir, _report, write)
    t = Table(title=f"{table.name} · {month} (table {table.version})")
    for col in ("contractor", "score", "points", f"fines {table.currency}", "counted", "excused"):
        t.add_column(col, justify="right")
    for c, sc in sorted(a.contractors.items()):
        counted = sum(1 for d in sc.deductions if d.points > 0 or d.money > 0)
        excused = sum(1 for d in sc.deductions if d.status == "excused")
        t.add_row(c, f"{sc.score:g}", f"{sc.points:g}", f"{sc.money:,.2f}", str(counted), str(excused))
    out.print(t)
    if scores or moved:
        out.print(f"[bold]changed since the last run[/bold] ({len(moved)} deduction(s)):")
        for c, (b, x) in sorted(scores.items()):
            out.print(f"  {c}: score {b:g} → {x:g}")
        for m in moved[:20]:
            d = m.after or m.before
            assert d is not None
            out.print(f"  {m.what}: {m.contractor} {d.item} {d.subject} {d.day} ({d.points:g} pts, {d.status})")
    _report(f"assessment: {', '.join(str(p) for p in paths.values())}")


@app.command("report")
def report(
    date_: Annotated[str | None, typer.Option("--date", help="local day (default yesterday)")] = "yesterday",
    contractor: Annotated[str | None, typer.Option(help="only this contractor (reads its own bucket)")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="folder for the PNG and HTML")] = Path("out"),
) -> None:
    """A day's report as PNG + HTML: tonnage, clearance map, scorecard (for contractors without a login)."""
    from wastestream.report import write_report

    s = get_settings()
    png, page, data = write_report(s, _date(date_), out_dir, contractor, city=_load_city(s.city_file))
    _report(f"report: {png} and {page} ({data['tonnage_in_kg'] / 1000:,.1f} t, {data['status_counts']})")


schemas_app = typer.Typer(help="JSON Schema files of every topic value.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")


@schemas_app.command("write")
def schemas_write() -> None:
    """Regenerate schemas/json/*.schema.json from the pydantic models."""
    from wastestream.schemas import write_json_schemas

    for p in write_json_schemas():
        out.print(str(p))


def main(argv: list[str] | None = None) -> None:
    try:
        # without standalone mode click returns a command's typer.Exit code instead of exiting with it
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except WastestreamError as e:
        err.print(f"[red]error:[/red] {e}")
        sys.exit(1)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as e:
        if hasattr(e, "show") and hasattr(e, "exit_code"):  # click/typer usage errors
            e.show()
            sys.exit(e.exit_code)
        if os.environ.get("WASTESTREAM_DEBUG"):
            raise
        err.print(f"[red]error:[/red] {type(e).__name__}: {e} (set WASTESTREAM_DEBUG=1 for a traceback)")
        sys.exit(1)


if __name__ == "__main__":
    main()
