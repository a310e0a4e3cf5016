import numpy as np

from dip_engine.stopping import WindowedVariance


def synthetic_run(peak: int, n: int = 600, seed: int = 0):
    """Outputs whose spread around a fixed image is smallest at `peak` (the shape ES-WMV expects:
    the fit settles, then starts chasing noise)."""
    rng = np.random.default_rng(seed)
    base = rng.random(1024)
    for i in range(n):
        amp = 0.02 + abs(i - peak) / n
        yield i, base + rng.normal(0, amp, 1024)


def test_finds_the_minimum_variance_and_stops_after_patience():
    det = WindowedVariance(window=20, patience=50)
    stopped_at = None
    for i, out in synthetic_run(peak=250):
        det.update(i, out)
        if det.should_stop:
            stopped_at = i
            break
    assert stopped_at is not None
    assert abs(det.peak - 250) <= 30
    assert stopped_at - det.peak == 50


def test_no_stop_while_still_improving():
    det = WindowedVariance(window=10, patience=20)
    for i, out in synthetic_run(peak=300, n=300):
        det.update(i, out)
        assert not det.should_stop
    assert det.peak >= 280


def test_running_sums_match_direct_variance():
    det = WindowedVariance(window=5, patience=10)
    rng = np.random.default_rng(1)
    xs = [rng.random(10) for _ in range(12)]
    for i, x in enumerate(xs):
        det.update(i, x)
    stack = np.stack(xs[-5:])
    assert np.isclose(det.variance, ((stack - stack.mean(0)) ** 2).mean())


def test_state_round_trip():
    a = WindowedVariance(window=5, patience=10)
    rng = np.random.default_rng(2)
    xs = [rng.random(10) for _ in range(20)]
    for i, x in enumerate(xs[:12]):
        a.update(i, x)
    b = WindowedVariance(window=5, patience=10)
    b.load_state_dict(a.state_dict())
    for i, x in enumerate(xs[12:], start=12):
        a.update(i, x)
        b.update(i, x)
    assert np.isclose(a.variance, b.variance) and a.peak == b.peak
