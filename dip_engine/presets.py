"""Task -> configuration. `paper` reproduces the authors' notebooks (FIELD.md); `fast`,
`balanced` and `quality` are ours: smaller networks with auto-stop, tuned by the bench."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

TASKS = ("denoise", "jpeg", "sr", "inpaint")
DEFAULT = "fast"  # the preset the bench measures against the paper's (bench/README.md)


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    iterations: int
    lr: float = 0.01
    net: str = "skip"                    # "skip" | "decoder"
    input: str = "noise"                 # "noise" | "meshgrid" | "observation" (denoising: the noisy
                                         # photo itself, padded; reg_noise then perturbs it)
    input_channels: int = 32
    channels: int | tuple[int, ...] = 128
    scales: int = 5
    skip_channels: int | tuple[int, ...] = 4
    upsample: str = "bilinear"           # "bilinear" | "nearest"
    kernel_down: int = 3
    pad: str = "reflection"              # "reflection" (the paper's) | "zeros"
    need1x1_up: bool = True
    reg_noise: float = 1 / 30            # std of the per-step perturbation of z (input "observation":
                                         # as a fraction of the photo's noise level)
    exp_weight: float = 0.99             # EMA of outputs
    ema_warmup: bool = False             # shorter EMA memory early on (min(w, (1+t)/(10+t))): less lag
    es_window: int = 50                  # ES-WMV window (iterations)
    es_patience: int = 400               # iterations without a new variance minimum before auto-stop
    auto_stop: bool = True               # False: the run ends at its budget whatever `stop` asks
    region: bool = False                 # inpainting: fit a crop around the mask only
    margin: float = 0.5                  # context margin around the mask, as a fraction of its box size
    unshuffle: int = 1                   # fit on a grid this many times coarser, pixel-shuffled to full size
    train: str = "weights"               # "weights" (DIP) | "input" (Deep Random Projector: frozen convs)
    loss: str = "mse"                    # "mse" | "rmse" (DRP's square root of the MSE) | "sure"
                                         # (denoising: Stein's unbiased risk estimate, Problem.noise_sigma)
    tv: float = 0.0                      # weight of a total-variation term on the output (DRP)
    tile: int | None = None              # denoise/jpeg/sr: photos bigger than this are fitted in
                                         # overlapping tiles of this side (output px: SR tiles the
                                         # small photo by tile // scale); None: only when memory
                                         # or Stop needs tiles. Inpainting: marks spread over more
                                         # than 4 tile² are filled in tiles (those with marks; CPUs only)
    overlap: int | None = None           # ... overlapping by this many output px (None: tile // 8,
                                         # at least restore.MIN_OVERLAP px of the fitted photo)
    fits: int = 1                        # denoise/jpeg/sr: fit every tile (or the whole photo) this
                                         # many times, with seeds seed, seed + 1, ..., and average them

    def to_dict(self) -> dict:
        return asdict(self)


def _paper(task: str, variant: str = "") -> Preset:
    d = "The authors' notebook settings (slow; for reference and benchmarks)."
    if task == "denoise":
        return Preset("paper", d, 3000)
    if task == "jpeg":
        return Preset("paper", d, 2400, input_channels=3, channels=(8, 16, 32, 64, 128),
                      skip_channels=(0, 0, 0, 4, 4))
    if task == "sr":
        return Preset("paper", d, 2000, reg_noise=0.03)
    if variant == "object":   # vase: meshgrid input, no skips
        return Preset("paper-object", d, 5001, input="meshgrid", input_channels=2, skip_channels=0,
                      upsample="nearest", reg_noise=0.03)
    if variant == "holes":    # library: deeper, 5x5 down-convs, no skips, 1-ch input
        return Preset("paper-holes", d, 3001, input_channels=1, channels=(16, 32, 64, 128, 128, 128),
                      scales=6, skip_channels=0, kernel_down=5, need1x1_up=False, upsample="nearest",
                      reg_noise=0.0)
    return Preset("paper", d, 6001, skip_channels=128, upsample="nearest", reg_noise=0.03)


def _inpaint(p: Preset) -> Preset:
    """Inpainting never auto-stops: ES-WMV watches the whole crop, where the known pixels settle
    long before the fill does. It fired at iteration 140 on a 13-px stroke across fur and left a
    flat smudge (issue 13); on the bench's strokes and on kate the fill keeps sharpening to the
    end of the budget, and on hole pixels alone the variance keeps falling past the quality peak
    (library, kate), so there is no peak to detect. The budgets end near each net's peak instead
    (bench/README.md, "Inpainting: no auto-stop")."""
    return replace(p, auto_stop=False)


def _ours(task: str, name: str, holes: bool = False) -> Preset:
    width = {"fast": 32, "balanced": 64, "quality": 128}[name]
    text = {"fast": "Small network that stops itself at the quality peak: the everyday choice.",
            "balanced": "Medium network with auto-stop: more capacity, about 3.7x the work per step.",
            "quality": "The paper's full-size network with auto-stop: slowest, most detail."}[name]
    iters = {"fast": 1500, "balanced": 2500, "quality": 4000}[name]
    # ES-WMV patience: on F16 (128 px) the 32-channel net's variance minimum never stalled for more
    # than 112 iterations before the peak; the wider nets move slower.
    base = Preset(name, text, iters, channels=width, ema_warmup=True, es_patience=200 if name == "fast" else 300)
    if task == "denoise":
        # SURE (Jo, Chun, Choi, ICCV 2021): the net takes the noisy tile itself, perturbed by half
        # its noise level, and minimises Stein's unbiased estimate of the error against the clean
        # tile, so it does not fit the noise: no peak to catch, no auto-stop. On 128-px crops it
        # levels off within 300-400 iterations (F16: 30.93 dB at 350, where the net fitted from
        # noise peaks at 30.40 near 1000); each iteration costs two forward passes. On F16 and 12
        # validation photos, whole in tiles, it beat that net (auto-stopped, in the same tiles) on
        # every photo, +0.66 dB on average (bench/README.md, "SURE").
        # Tiles of 128 px: whole photos of 192 to 512 px in overlapping 128-px tiles on 2 cores were
        # +0.3 to +3.6 dB over one whole fit of the net from noise (bench/README.md, "Tiles"). On
        # CPUs only: restore.plan fits the photo whole on a GPU, which small tiles one after another
        # leave idle (bench/README.md, "GPU").
        # Zero padding: 8-12 % less time per iteration than reflection padding.
        # `quality` is wider: 64 channels gained 0.14 dB on average over 32 (6 photos x 2 seeds at
        # 128 px, 0.36 on lighthouse) for 2.4x the time per iteration; its 128 are not measured.
        text = {"fast": "Two small networks that learn the noise away (SURE), averaged: a fixed budget, "
                        "no stop needed.",
                "balanced": "Four small networks that learn the noise away (SURE), averaged: about twice "
                            "the time of Fast, a little cleaner.",
                "quality": "The paper's network width, learning the noise away (SURE): slowest; not "
                           "measured against Fast or Balanced on whole photos."}[name]
        sure = replace(base, pad="zeros", tile=128, input="observation", input_channels=3, loss="sure",
                       reg_noise=0.5, iterations=400, auto_stop=False, description=text)
        # `fast`: two fits of 16 channels and 200 iterations per tile, with seeds s and s + 1,
        # averaged: two independent fits err partly independently. On F16 and the 12 validation
        # photos, whole, it beat one fit of 32 channels and 400 iterations (`fast` until 12-07)
        # by 0.13 dB on average (on 12 of 13 photos; seeds 0 and 1, and 2 and 3 on three of them)
        # in about half its time, and passed BM3D on F16 (bench/README.md, "SURE").
        # `balanced`: four such fits, seeds s .. s + 3: on F16, lighthouse, street and pagoda,
        # whole, at two seeds each, the average of four beat that of two by 0.07-0.17 dB on every
        # photo, for twice the time (bench/README.md, "SURE"). It was one 64-channel fit of 400
        # iterations, about 5x `fast`'s time, never measured against it on whole photos.
        fits = {"fast": 2, "balanced": 4}.get(name)
        if fits:
            return replace(sure, channels=16, iterations=200, fits=fits)
        return sure
    if task == "jpeg":
        return replace(base, iterations=iters * 4 // 5)
    if task == "sr":
        size = {"fast": "Small network", "balanced": "Medium network", "quality": "The paper's full-size network"}[name]
        base = replace(base, description=f"{size} for upscaling: runs its whole budget, the detail keeps sharpening.")
        if name == "fast":
            # SR needs capacity below full resolution: on zebra x4 (160 px crop) 32 channels
            # everywhere plateau at 27.3 dB, (32,32,64,128,128) too. (32,64,128,128) over 4 scales
            # with zero padding climbs fastest: seeds 0 / 1 reach 27.57 / 27.19 dB at 500
            # iterations and 27.70 / 27.38 at 600, against 27.18 / 26.67 at 500 for
            # (32,64,128,128,128) over 5 scales with reflection (seed 1: 26.78 at 600), in 8 %
            # less time per iteration (the paper net's best on seed 0: 27.60). With reflection
            # padding the 4-scale net gets 26.92 at 500 (bench/README.md).
            # Tiles of 192 px out (48 px of the small photo at x4), the size it was tuned on, as
            # denoising: photos of 576x384 / 512x384 px out fitted whole end their 600 iterations
            # under Lanczos (zebra 24.56 dB, street 25.28, lighthouse 32.30); in tiles they reach
            # 26.18, 26.69 and 33.03 dB (+0.3 to +1.4 over Lanczos, seed 0; seed 1 within 0.1),
            # in about 1.5x the whole fit's time (bench/README.md, "SR in tiles").
            # Measured at x4 only. CPUs only, as denoising's tiles.
            # Overlap 32 px out (8 px of the small photo at x4) instead of 64: the same result
            # (-0.01 to +0.21 dB, 4 runs on 3 photos) in 0.80-0.82x the time, because fewer or
            # smaller tiles cover the photo; at x8 (4 px instead of 12) -0.01 dB in 0.51x the
            # time, one photo (bench/README.md, "SR in tiles").
            return replace(base, reg_noise=0.03, channels=(32, 64, 128, 128), scales=4, pad="zeros",
                           iterations=600, tile=192, overlap=32)
        return replace(base, reg_noise=0.03)
    if task == "inpaint" and holes:
        # The paper's deep net without skip connections (depth helps large holes, skips hurt),
        # narrower for `fast`. It peaks early and then degrades (bench, library holes at 128 px:
        # 27.7 dB at 450 iterations, 26.1 at 950; 5 scales instead of 6: 26.2), so the budget
        # ends near the peak: ES-WMV does not see an inpainting peak (the fill's variance keeps
        # falling), measured on kate and library.
        what = "a small deep network, a quick look" if name == "fast" else "the paper's deep network"
        return replace(base, description=f"Large holes and objects: {what}; a short budget that ends near the quality peak.",
                       iterations={"fast": 500, "balanced": 700, "quality": 700}[name],
                       channels=(8, 16, 32, 64, 64, 64) if name == "fast" else (16, 32, 64, 128, 128, 128),
                       scales=6, skip_channels=0, kernel_down=5, need1x1_up=False, upsample="nearest",
                       input_channels=1, reg_noise=0.0, region=True)
    if task == "inpaint":
        # Thin marks (text, scratches): no quality peak, the fill keeps sharpening slowly. `fast`
        # passes the paper net's best on kate (37.55 dB, 6000 its) at 900 and reaches 37.81 at
        # 1500, 37.98 at 1900 (bench, 128 px crop): its budget stops at 1500.
        # Marks spread over more than four 128-px tiles are filled in such tiles (those with marks, on
        # CPUs, as denoising's tiles): kate whole at 512² ended at 42.48 dB after 1500 iterations,
        # its 25 tiles reach 44.41 at 600 and 45.21 at 1500 (seed 1: 44.97 and 45.79; the paper
        # net's best: 45.40), in about the whole fit's time on 2 cores; beach and lighthouse
        # (scratches) gain 0.58 and 0.26 dB over two seeds (bench/README.md, "Thin marks in
        # tiles"). `fast` only: the wider nets are not measured in tiles.
        size = {"fast": "Small network", "balanced": "Medium network", "quality": "The paper's full-size network"}[name]
        return replace(base, skip_channels=width, upsample="nearest", reg_noise=0.03, region=True,
                       tile=128 if name == "fast" else None,
                       iterations=1500 if name == "fast" else iters + 500,
                       description=f"{size} for text and scratches: runs its whole budget, the fill keeps sharpening.")
    return base


def _sr(p: Preset) -> Preset:
    """Super-resolution never auto-stops: the low-resolution photo has no noise for the net to
    overfit, so the fit keeps improving to the end of its budget (the authors' net on zebra at
    full size still rises at 2000 iterations; `fast` on 4 validation crops improved in 8 of 8 runs
    up to 1200). ES-WMV saw a variance minimum at iteration 70 of `fast` on zebra at full size
    (576x384 out) and ended the run at 270, still under Lanczos, so the user got Lanczos back
    (bench/README.md, "Full size on the CPU")."""
    return replace(p, auto_stop=False)


def _draft() -> Preset:
    """One of `fast`'s two denoising fits: half its time, a little softer. On F16 and the 12
    validation photos, whole, one fit gave 0.21 dB less than the two averaged on average
    (bench/README.md, "SURE"). The Deep Random Projector that held this name before 12-06 was
    behind SURE at every time mark; it stays a lever (`bench.levers --variants drp`)."""
    return replace(_ours("denoise", "fast"), name="draft", fits=1,
                   description="One of Fast's two small networks: half the time, slightly softer.")


def names(task: str) -> list[str]:
    _check_task(task)
    extra = ["paper-object", "paper-holes"] if task == "inpaint" else []
    draft = ["draft"] if task == "denoise" else []
    return [*draft, "fast", "balanced", "quality", "paper", *extra]


def get(task: str, name: str = DEFAULT, holes: bool = False) -> Preset:
    """The preset `name` for `task`; ValueError names the valid choices. `holes`: inpainting of
    objects and large holes (`regions.large_holes`), which our presets fit with another net."""
    _check_task(task)
    if name not in names(task):
        raise ValueError(f"unknown preset '{name}' for {task}: choose one of {', '.join(names(task))}")
    if name == "draft":
        return _draft()
    p = _paper(task, name.partition("-")[2]) if name.startswith("paper") else _ours(task, name, holes)
    return _inpaint(p) if task == "inpaint" else _sr(p) if task == "sr" else p


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task '{task}': choose one of {', '.join(TASKS)}")
