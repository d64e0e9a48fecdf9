"""The floor of any Faust worker on this machine: a bare agent that only validates each fix.

Run by ``make bench`` as a subprocess over the same topic as the real worker, so the worker's
fixes/s can be read against what Faust itself sustains here (the same run, the same broker).
``python -m wastestream.bench_floor BOOTSTRAP TOPIC N`` prints ``rate <fixes/s>`` and exits.
"""

from __future__ import annotations

import os
import sys
import time
import uuid


def main(bootstrap: str, topic_name: str, n: int) -> None:
    import faust
    from faust.worker import Worker

    from wastestream.schemas import GpsFix

    app = faust.App(
        f"floor{uuid.uuid4().hex[:6]}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
    )
    topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw")
    state: dict = {"n": 0, "t0": None}

    @app.agent(topic)
    async def floor(stream):  # noqa: ANN001, ANN202
        async for events in stream.take_events(5000, within=0.25):
            if state["t0"] is None:
                state["t0"] = time.perf_counter()
            for e in events:
                GpsFix.model_validate_json(e.value)
            state["n"] += len(events)
            if state["n"] >= n:
                # straight to fd 1: the Faust worker redirects sys.stdout into its logging
                os.write(1, f"rate {n / (time.perf_counter() - state['t0']):.1f}\n".encode())
                os._exit(0)  # measured; no orderly Faust shutdown needed

    w = Worker(app, loglevel="error", quiet=True)
    w.spinner = None  # see stream_processors.app.run_worker
    w.execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
