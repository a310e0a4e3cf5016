"""The time left that a run in parts shows (dip_engine.eta)."""
from __future__ import annotations

import pytest

from dip_engine import eta, presets

BEFORE = eta.Prior(guess=800.0, soonest=350.0)


def test_the_prior_expects_an_auto_stop_halfway_or_the_whole_budget():
    balanced = presets.get("jpeg", "balanced")
    assert eta.prior(balanced, 1500, stops=True) == eta.Prior((1500 + 350) / 2, 350)
    assert eta.prior(balanced, 1500, stops=False) == eta.Prior(1500, 1500)


def test_parts_run_shuffled_the_same_every_run_so_the_first_to_end_are_a_fair_sample():
    n = 100
    order = eta.order(n)
    assert sorted(order) == list(range(n)) and order == eta.order(n)
    first = order[:20]   # the first fifth comes from every quarter of the photo, not its top rows
    assert all(any(q * 25 <= i < (q + 1) * 25 for i in first) for q in range(4))


def test_before_any_part_ends_each_is_expected_to_run_the_guess_shared_over_the_workers():
    # 4 parts on 2 workers, 2 running at 100 iterations after 10 s: 0.1 s per iteration and worker
    left = eta.estimate([100, 100, 0, 0], {}, 1500, BEFORE, workers=2, wall=10.0)
    assert left.mid == pytest.approx(0.1 * (700 + 800))
    assert left.late == pytest.approx(0.1 * (1400 + 1500))
    assert left.soon == pytest.approx(0.1 * (250 + 350))


def test_the_seconds_before_the_first_iteration_are_not_counted_as_fitting_time():
    # the workers took 3 s to start; from then on 200 iterations in 10 s: 0.1 s per iteration and worker
    fixed = eta.Prior(1500, 1500)
    left = eta.estimate([100, 100, 0, 0], {}, 1500, fixed, workers=2, wall=13.0, started=(3.0, 0))
    assert left.mid == pytest.approx(0.1 * (1400 + 1500))
    # until each worker has done a few more since, the whole time is all there is to go by
    early = eta.estimate([5, 5, 0, 0], {}, 1500, fixed, workers=2, wall=3.5, started=(3.0, 2))
    assert early.mid == pytest.approx(3.5 * 2 / 10 * (1495 + 1500))


def test_a_part_still_running_counts_as_at_least_as_long_as_it_ran():
    """The parts that end first are the short ones: one that ended at 400 while another still runs
    at 900 must not make the rest look 400 long."""
    ended = {0: 400}
    short_so_far = eta.estimate([400, 300, 0, 0, 0, 0], ended, 1500, BEFORE, 1, wall=70.0)
    long_so_far = eta.estimate([400, 900, 0, 0, 0, 0], ended, 1500, BEFORE, 1, wall=130.0)
    assert short_so_far.mid < long_so_far.mid
    assert long_so_far.mid > 0.1 * 4 * 400 * 1.2   # 0.1 s per iteration; 4 parts still to come


def test_the_last_part_runs_alone_so_its_time_is_not_shared_out():
    # 2 workers; 3 parts ended at 500 iterations, the last at 100 of an expected ~500
    ended = {0: 500, 1: 500, 2: 500}
    left = eta.estimate([500, 500, 500, 100], ended, 1500, BEFORE, workers=2, wall=80.0)
    per_worker = 80.0 * 2 / 1600
    assert left.mid > per_worker * 400   # over 400 iterations on one worker, not 200 on each of two


def test_the_range_runs_from_the_shortest_parts_so_far_to_every_budget():
    ended = {0: 400, 1: 600, 2: 1500}
    left = eta.estimate([400, 600, 1500, 200, 0, 0], ended, 1500, BEFORE, workers=1, wall=270.0)
    assert left.soon <= left.mid <= left.late
    assert left.late == pytest.approx(0.1 * (1300 + 2 * 1500))
