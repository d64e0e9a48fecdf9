"""A peer for `make bench`: the same per-(vehicle, local day) count of the gps.fixes topic as a
Quix Streams application with RocksDB state (changelog topics on), run in its own virtualenv
(`.venv-quix`: Quix Streams pins other pydantic versions than wastestream). Prints ``rate <msg/s>``
from the first message processed to the end of ``app.run(count=N)`` (its last checkpoint included).

    .venv-quix/bin/python bench/peers/quix_peer.py BOOTSTRAP TOPIC N
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from quixstreams import Application

TZ = ZoneInfo("Asia/Shanghai")


def main(bootstrap: str, topic_name: str, n: int) -> None:
    first: list[float] = []
    with tempfile.TemporaryDirectory() as state_dir:
        app = Application(
            broker_address=bootstrap,
            consumer_group=f"quixpeer{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest",
            state_dir=state_dir,
            loglevel="ERROR",
        )
        topic = app.topic(topic_name, key_deserializer="str", value_deserializer="json")
        sdf = app.dataframe(topic)

        def count(value: dict, state) -> None:  # noqa: ANN001
            if not first:
                first.append(time.perf_counter())
            day = datetime.fromisoformat(value["device_time"]).astimezone(TZ).date().isoformat()
            state.set(day, state.get(day, 0) + 1)  # state is per message key: the vehicle

        sdf = sdf.update(count, stateful=True)
        app.run(sdf, count=n, collect=False)
        print(f"rate {n / (time.perf_counter() - first[0]):.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
