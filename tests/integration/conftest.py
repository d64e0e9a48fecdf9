"""The real local stack for integration tests.

One session-scoped fixture brings up Kafka and InfluxDB under ``.wastestream-test`` on their own
ports (so a running ``make demo`` stack is left alone), and stops them at the end if it started them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from wastestream.settings import StackSettings
from wastestream.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


def test_settings(**overrides) -> StackSettings:
    values = dict(
        state_dir=ROOT / ".wastestream-test",
        kafka_port=int(os.environ.get("WASTESTREAM_TEST_KAFKA_PORT", 29092)),
        kafka_controller_port=int(os.environ.get("WASTESTREAM_TEST_KAFKA_CONTROLLER_PORT", 29093)),
        influx_port=int(os.environ.get("WASTESTREAM_TEST_INFLUX_PORT", 28086)),
        kafka_heap="768m",
        topic_partitions=3,
    )
    values.update(overrides)
    return StackSettings(**values)


test_settings.__test__ = False  # not a test


@pytest.fixture(scope="session")
def stack() -> Iterator[StackSettings]:
    s = test_settings()
    st = Stack(s)
    already = all(x.running for x in st.status())
    if not already:
        st.reset(print)
    st.up(print)
    try:
        yield test_settings()  # re-read: now carries the onboarding token
    finally:
        if not already and not os.environ.get("WASTESTREAM_TEST_KEEP_STACK"):
            st.down(print)


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]
