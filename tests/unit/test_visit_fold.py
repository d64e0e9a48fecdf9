"""A track's visits are folded when they are read, not per fix (``Core._visits_of``): visit sets
taken after every fix, at random moments, or once at the end must leave every (vehicle, site, day)
with the same last visit set, and a rolled-back event must not lose a change not yet published."""

import random
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wastestream.producers.simulator.city import build_city
from wastestream.producers.simulator.day import Faults
from wastestream.producers.simulator.offline import write_offline
from wastestream.schemas import GpsFix
from wastestream.stream_processors.core import Core
from wastestream.stream_processors.eventfiles import read_events

DAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def city():
    return build_city(808)


@pytest.fixture(scope="module")
def fixes(city, tmp_path_factory):
    d = tmp_path_factory.mktemp("foldday")
    write_offline(city, DAY, 808, Faults.demo(), d)
    return list(read_events(d, "gps.fixes"))


def _key(vs):  # noqa: ANN001, ANN202
    return vs.vehicle_id, vs.site_id, vs.local_date


def _last_sets(core: Core, fixes: list, take_after) -> dict:  # noqa: ANN001
    last = {}
    for i, fix in enumerate(fixes):
        core.on_fix(fix)
        if take_after(i):
            last |= {_key(vs): vs.visits for vs in core.take_visit_sets()}
    last |= {_key(vs): vs.visits for vs in core.take_visit_sets()}
    return last


def test_visit_sets_taken_per_fix_or_once_agree(city, fixes):
    some = fixes[: len(fixes) // 3]
    per_fix = _last_sets(Core(city), some, lambda i: True)
    once = _last_sets(Core(city), some, lambda i: False)
    assert per_fix and per_fix == once


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), every=st.integers(2, 400))
def test_visit_sets_taken_at_random_moments_agree(city, fixes, seed, every):
    rnd = random.Random(seed)
    start = rnd.randrange(0, len(fixes) - 2000)
    some = fixes[start : start + 2000]
    rnd.shuffle(some)  # late and out-of-order fixes too: a fold must not depend on arrival order
    once = _last_sets(Core(city), some, lambda i: False)
    sometimes = _last_sets(Core(city), some, lambda i: rnd.randrange(every) == 0)
    assert sometimes == once


def test_a_rolled_back_event_loses_no_unpublished_visit_change(city, fixes):
    """An event that fails drops the working copies; a track with fixes not folded yet is rebuilt
    from the stores and its sites are published again."""
    at_sites = [f for f in fixes if f.fix_valid][:3000]
    ref = _last_sets(Core(city), at_sites, lambda i: False)
    core = Core(city)
    for fix in at_sites:
        core.on_fix(fix)
    assert core._unfolded  # changes wait for their fold
    bad = GpsFix.model_validate(
        {**at_sites[0].model_dump(), "device_time": at_sites[0].device_time + timedelta(seconds=1)}
    )
    boom = RuntimeError("the store failed")

    def fail(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise boom

    core.rec.position, saved = fail, core.rec.position
    with pytest.raises(RuntimeError):
        core.on_fix(bad)
    core.rec.position = saved
    got = {_key(vs): vs.visits for vs in core.take_visit_sets()}
    assert got == ref
