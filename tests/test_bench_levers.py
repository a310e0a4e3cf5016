"""bench.levers' summary: PSNR per variant by fitting time and by iteration."""
from bench import levers


def _row(variant, spi, psnrs):
    curve = [[i, round(i * spi, 1), p, None] for i, p in zip((200, 400, 800), psnrs)]
    best = max(curve, key=lambda c: c[2])
    return {"variant": variant, "case": "c", "curve": curve, "best_psnr": best[2], "best_t": best[1],
            "best_it": best[0], "s_per_iter": spi}


def test_summary_compares_variants_at_the_same_iterations_and_the_same_seconds():
    rows = [_row("fast", 0.3, [20.0, 22.0, 24.0]), _row("fast", 0.3, [21.0, 23.0, 25.0]),
            _row("fast+bf16", 0.15, [20.0, 22.5, 24.5])]
    fast, bf16 = levers.summary(rows).splitlines()
    assert "runs  2" in fast and "it200  20.50" in fast and "it800  24.50" in fast and "s/it 0.300" in fast
    assert "it400  22.50" in bf16 and "120s  24.50" in bf16    # 800 iterations in 120 s
    assert "240s  24.50" in fast and "600s" not in fast       # its curves end at 240 s
