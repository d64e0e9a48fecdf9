"""Messages fetched while Faust ends a rebalance are not cleared away.

faust-streaming's recovery sends ``on_rebalance_complete``, resumes the source partitions, seeks
them (awaiting the consumer thread) and then resumes flow control, which clears every channel queue.
Flow control is already active then (recovery resumed it to read the changelogs), so a message the
fetcher delivered in between went into an agent's queue and was cleared, with the client's position
past it. The worker suspends flow control when the signal comes: the conductor's delivery waits in
``flow_control.acquire()`` (as Faust's ``on_message`` does first) until the resume, after the clear.
No broker: the worker's Faust app is built, not started."""

from __future__ import annotations

import asyncio

from wastestream.producers.simulator.city import build_city
from wastestream.settings import Settings
from wastestream.stream_processors.app import Worker

CITY = build_city(808)


async def _end_of_rebalance(worker: Worker | None, tmp_path) -> int:  # noqa: ANN001
    app = (worker or Worker(Settings(state_dir=tmp_path), CITY, sink=None, app_id="flow")).app
    fc = app.flow_control
    fc.resume()  # recovery resumed flow to read the changelogs
    queue = app.FlowControlQueue(maxsize=100, clear_on_resume=True)  # an agent's channel queue
    if worker is not None:
        await worker._on_recovered(None)  # on_rebalance_complete

    async def deliver(message: str) -> None:  # Faust's conductor, for each message fetched
        await fc.acquire()
        queue.put_nowait(message)

    fetched = asyncio.ensure_future(deliver("a weigh.tickets message"))
    await asyncio.sleep(0)  # the fetcher runs while recovery awaits the seek
    fc.resume()  # the end of Faust's _resume_streams
    await fetched
    return queue.qsize()


def test_without_the_worker_a_message_fetched_at_the_end_of_a_rebalance_is_cleared(tmp_path):
    assert asyncio.run(_end_of_rebalance(None, tmp_path)) == 0


def test_the_worker_holds_it_until_flow_control_resumes_and_it_is_delivered(tmp_path):
    w = Worker(Settings(state_dir=tmp_path), CITY, sink=None, app_id="flow")
    assert asyncio.run(_end_of_rebalance(w, tmp_path)) == 1
    assert w.recovered
