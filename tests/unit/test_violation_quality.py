"""The violation rules over an honest and a planted simulated day, held to the simulator's truth:
every planted violation found (dumping included), nothing found that the trucks did not do."""

from datetime import date

from wastestream.producers.simulator.city import build_city
from wastestream.stream_processors.violation_quality import PLANTED, measure


def test_planted_violations_are_all_found_and_honest_days_raise_nothing_else():
    tallies = measure(build_city(808), date(2026, 11, 9), days=1)
    honest, planted = tallies["honest"], tallies["planted"]
    assert sum(honest.extra.values()) == 0 and sum(planted.extra.values()) == 0, (honest.rows(), planted.rows())
    assert planted.hit == planted.want, planted.rows()
    assert planted.want["dumping"] == PLANTED.dumping and planted.want["undelivered"] == PLANTED.undelivered
    assert honest.want["idle_away"] == 1 and honest.want["wrong_station"] == 1  # the breakdown, the ghost ticket
    assert "dumping" not in honest.want  # a broken-down truck that then delivers in full is not dumping
