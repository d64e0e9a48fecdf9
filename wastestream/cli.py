"""The ``wastestream`` command.

Every error an operator can cause is reported as one line on stderr with exit code 1 or 2;
tracebacks are kept for real bugs (and shown with ``WASTESTREAM_DEBUG=1``).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from wastestream.errors import WastestreamError
from wastestream.settings import get_settings

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

ServiceNames = Annotated[list[str] | None, typer.Argument(help="kafka and/or influxdb (default: both)")]


def _report(msg: str) -> None:
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {msg}")


@stack_app.command("up")
def stack_up(services: ServiceNames = None) -> None:
    """Install (cached) and start the local services; idempotent."""
    from wastestream.stack import Stack

    s = get_settings()
    started = time.monotonic()
    Stack(s).up(_report, services)
    _report(f"stack up in {time.monotonic() - started:.1f}s")
    _print_where(s)


@stack_app.command("install")
def stack_install(services: ServiceNames = None) -> None:
    """Fetch the Kafka jars and build influxd into the cache without starting anything."""
    from wastestream.stack import Stack

    Stack(get_settings()).install(_report, services)


@stack_app.command("down")
def stack_down(services: ServiceNames = None) -> None:
    """Stop the local services (no process is left behind)."""
    from wastestream.stack import Stack

    Stack(get_settings()).down(_report, services)


@stack_app.command("reset")
def stack_reset() -> None:
    """Stop the services and delete their local data and the onboarding token."""
    from wastestream.stack import Stack

    Stack(get_settings()).reset(_report)


@stack_app.command("status")
def stack_status() -> None:
    """Show whether each service runs and is ready; exit 1 if any is not."""
    from wastestream.stack import Stack

    rows = Stack(get_settings()).status()
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

    svc = Stack(get_settings()).select([service])[0]
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
        from wastestream.stack import ensure_topics

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
    """Decode JT/T 808 frames and print each message as JSON."""
    from wastestream.producers.jt808.tools import decode_hex_to_json

    for line in decode_hex_to_json(hex_frames):
        out.print(line, markup=False)


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
        build_frame(message, terminal, serial, 1 if v2019 else None, lat=lat, lon=lon, speed=speed,
                    heading=heading, time=time_, auth_code=auth_code, plate=plate)
    )  # fmt: skip


@app.command("gateway")
def gateway(
    host: Annotated[str | None, typer.Option(help="listen address (default from settings)")] = None,
    port: Annotated[int | None, typer.Option(help="listen port (default from settings)")] = None,
) -> None:
    """Run the JT/T 808 TCP gateway: terminals in, gps.fixes and deadletter out."""
    from wastestream.producers.gateway import run_gateway

    run_gateway(get_settings(), host, port, _report)


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
        app(args=argv, standalone_mode=False)
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
