"""`wastestream replay --rate`: at most that many messages per second, however fast the broker takes them."""

from __future__ import annotations

import pytest

from wastestream.errors import WastestreamError
from wastestream.producers import replay
from wastestream.settings import Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_the_pacer_holds_a_fast_sender_to_its_rate(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(replay.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(replay.time, "sleep", clock.sleep)
    pace = replay._Pacer(rate=20.0)
    for _ in range(41):  # sending itself takes no time: the 41st message goes out 2 s after the first
        pace()
    assert clock.now - 100.0 == pytest.approx(2.0)


def test_the_pacer_does_not_wait_for_a_slow_sender(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(replay.time, "monotonic", clock.monotonic)
    monkeypatch.setattr(replay.time, "sleep", clock.sleep)
    pace = replay._Pacer(rate=20.0)
    for _ in range(10):
        pace()
        clock.now += 1.0  # each message takes longer than its 50 ms share
    assert clock.slept == []


def test_without_a_rate_nothing_waits(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(replay.time, "sleep", clock.sleep)
    pace = replay._Pacer(rate=None)
    for _ in range(1000):
        pace()
    assert clock.slept == []


@pytest.mark.parametrize("rate", [0.0, -5.0, float("nan")])
def test_a_rate_that_is_no_rate_is_refused_naming_the_option(tmp_path, rate):
    with pytest.raises(WastestreamError, match="--rate"):
        replay.replay_files(Settings(), tmp_path, rate=rate)
