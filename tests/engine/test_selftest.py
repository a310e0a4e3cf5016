"""`dip-engine --selftest`: the built-in end-to-end check passes, and fails loudly when it should."""
from __future__ import annotations

import numpy as np

from dip_engine import cli, selftest


def test_selftest_flag_restores_saves_reloads_and_prints_one_line(capsys):
    assert cli.main(["--selftest"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("selftest ok: restored 48x40 in 20 iterations")   # 2 fits of 10


def test_selftest_image_is_noisy_but_valid():
    clean, noisy = selftest.test_image()
    assert clean.shape == noisy.shape == (selftest.HEIGHT, selftest.WIDTH, 3)
    assert 0.0 <= noisy.min() and noisy.max() <= 1.0 and np.abs(noisy - clean).mean() > 0.03


def test_selftest_failure_is_one_line_and_exit_1(monkeypatch, capsys):
    def broken(*a, **k):
        raise selftest.SelftestError("the fit did not learn")
    monkeypatch.setattr(selftest, "run_selftest", broken)
    assert cli.main(["--selftest"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["selftest failed: SelftestError: the fit did not learn"]
