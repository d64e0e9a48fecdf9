"""Fault injection for a worker started by a fault test (on PYTHONPATH only there): with
``WASTESTREAM_FAULT_SLOW_VISITS=<seconds>``, the worker waits that long before each ``visits``
message it reads, so its visit sets are applied long after their fixes were read (a slow or
overloaded machine, seen in CI at ~3.5× slower)."""

import os

_delay = float(os.environ.get("WASTESTREAM_FAULT_SLOW_VISITS") or 0)
if _delay > 0:
    import asyncio

    from wastestream.stream_processors import app as _app

    _parse = _app.Worker._parse

    async def _slow_parse(self, model, topic, raw):  # noqa: ANN001, ANN202
        if topic == "visits":
            await asyncio.sleep(_delay)
        return await _parse(self, model, topic, raw)

    _app.Worker._parse = _slow_parse
