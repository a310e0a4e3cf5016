"""Issue #7's absolute product targets at full size, with the default preset and 2 threads:
vase object removal run to the end; F16 (512x512) and zebra (576x384) timed over 21 iterations
(the first one included), to be multiplied by the iterations the preset needs.

    python -m bench.absolute        # -> bench/results/absolute.json
"""
from __future__ import annotations

import json
import sys

from bench import cases as bench_cases
from bench.run import RESULTS, _write_atomic, machine, run_one
from dip_engine import presets


def main() -> int:
    for case in ("vase_object", "f16_denoise", "zebra_sr4"):
        bench_cases.build_or_exit(case, None, "bench.absolute")  # data folder: $DIP_BENCH_DATA
    out: dict = {"machine": machine(), "preset": presets.DEFAULT, "threads": 2}
    r = run_one("vase_object", presets.DEFAULT, None, None, 0, "auto", threads=2)
    out["vase_object"] = {k: r[k] for k in ("size", "iterations", "stopped_by", "wall_s", "s_per_iter")}
    for case in ("f16_denoise", "zebra_sr4"):
        r = run_one(case, presets.DEFAULT, None, 21, 0, "never", threads=2)
        out[case] = {k: r[k] for k in ("size", "iterations", "wall_s", "s_per_iter")}
    _write_atomic(RESULTS / "absolute.json", json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
