"""The floor of any Faust worker on this machine: a bare agent that only validates each fix.

Run by ``make bench`` as a subprocess over the same topic as the real worker, so the worker's
fixes/s can be read against what Faust itself sustains here (the same run, the same broker).
``python -m wastestream.bench_floor BOOTSTRAP TOPIC N [table]`` prints ``rate <fixes/s>`` and exits
(N fixes: a batch value counts its fixes).
With ``table``: the agent also keeps a per-(vehicle, local day) count in a plain Faust ``Table`` (each
update sends a changelog message) — the same job as the Quix Streams peer (``bench/peers``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid


def main(bootstrap: str, topic_name: str, n: int, mode: str = "validate", partitions: int = 6) -> None:
    import faust

    from wastestream.schemas.events import read_fix_value

    app = faust.App(
        f"floor{uuid.uuid4().hex[:6]}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=tempfile.mkdtemp(prefix="bench-floor-"),
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        topic_partitions=partitions,
    )
    topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw")
    state: dict = {"n": 0, "t0": None}

    def done() -> None:
        # straight to fd 1: the Faust worker redirects sys.stdout into its logging
        os.write(1, f"rate {n / (time.perf_counter() - state['t0']):.1f}\n".encode())
        os._exit(0)  # measured; no orderly Faust shutdown needed

    if mode == "table":
        from zoneinfo import ZoneInfo

        tz = ZoneInfo("Asia/Shanghai")
        counts = app.Table("counts", default=int, partitions=partitions)

        @app.agent(topic)
        async def table_peer(stream):  # noqa: ANN001, ANN202
            async for event in stream.events():  # one at a time: a table update needs its event
                if state["t0"] is None:
                    state["t0"] = time.perf_counter()
                for fix in read_fix_value(event.value)[0]:
                    counts[f"{fix.vehicle_id}|{fix.device_time.astimezone(tz).date()}"] += 1
                    state["n"] += 1
                if state["n"] >= n:
                    done()

        return _run(app)

    @app.agent(topic)
    async def floor(stream):  # noqa: ANN001, ANN202
        async for events in stream.take_events(5000, within=0.25):
            if state["t0"] is None:
                state["t0"] = time.perf_counter()
            for e in events:
                state["n"] += len(read_fix_value(e.value)[0])  # one fix, or a batch's
            if state["n"] >= n:
                done()

    _run(app)


def _run(app) -> None:  # noqa: ANN001
    from faust.worker import Worker

    w = Worker(app, loglevel="error", quiet=True)
    w.spinner = None  # see stream_processors.app.run_worker
    w.execute_from_commandline()


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1], int(args[2]), args[3] if len(args) > 3 else "validate", int(args[4]) if len(args) > 4 else 6)
