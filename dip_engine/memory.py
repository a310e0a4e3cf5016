"""How much memory a fit needs, how much the device has, and how much we allow ourselves.

`estimate` predicts the peak memory a fit adds on top of the running process. Feature maps
dominate: every layer's output is kept for the backward pass and gradients of the same size
appear during it. We count the elements of every layer's output with forward passes on
PyTorch's "meta" device (shapes only, no memory, no arithmetic), so the count is exact for any
network a preset builds, then scale it by a constant measured on the real thing:

    bytes = ACTIVATION_FACTOR x 4 x (feature-map elements)
            + 4 x 4 x parameters            (weights, gradients, two Adam moments)
            + 4 x (z + observation + EMA/best snapshots)
            + BASE

Calibration (2-core CPU, PyTorch 2.13 CPU, float32, one thread, `fit.fit` with
reg-noise, EMA and ES-WMV, peak RSS from getrusage minus the RSS before the fit; measured with
`python -m dip_engine.memory calibrate`):

    preset (denoise)      size       feature-map elements   measured peak   estimate   ratio
    paper (128 ch x 5)    64x64           8,077,520            192 MB          278 MB     1.45
    paper                 128x128        32,015,696            354 MB          376 MB     1.06
    paper                 256x256       127,496,144            694 MB          767 MB     1.10
    paper                 512x512       508,873,424          2,135 MB        2,327 MB     1.09
    balanced (64 ch)      256x256        54,669,312            641 MB          660 MB     1.03
    balanced              512x384       164,007,936          1,369 MB        1,500 MB     1.13
     (16 ch x 4 fits since 12-07)
    fast (32 ch, SURE;    128x128         7,032,832            179 MB          269 MB     1.50
     16 ch since 12-07)
    fast                  256x256        28,131,328            393 MB          441 MB     1.12
    fast                  512x512       112,525,312            957 MB        1,100 MB     1.18

Our denoising presets (SURE loss, 2026-12-06) keep two forward passes for the backward one, so
their feature maps count twice; the 32-channel net fitted from noise measured 163 MB at 128x128
and 735 MB at 512x512 (estimates 250 and 816 MB), the 64-channel one 505 MB at 256x256 and
978 MB at 512x384 (estimates 494 and 1,041 MB).

Above ~128x128 the peak grows by 3.6-3.8 bytes per counted element (our count includes
padding and in-place activation outputs, so about one float per counted element survives to the
peak) on top of ~200 MB that the first forward/backward allocates once (oneDNN kernels and
scratch). The estimate errs on the large side for tiny fits, where that constant dominates.
The paper's net at 1024x1024 comes to 8.6 GB by this estimate.

FIELD.md, the authors' own notebook code at 512x512 with the default net: 2.8 GB peak for the
whole process (interpreter, their numpy copies and PSNR bookkeeping included), 1024x1024 about
11 GB by their linear extrapolation; our loop adds 2.1 GB at 512x512 on top of the process.
"""
from __future__ import annotations

import functools
import os
import sys
from fractions import Fraction

import torch

from .presets import Preset

# Bytes per counted feature-map element / 4, and a constant; CPU calibrated (see above), CUDA/MPS
# a cautious guess (cuDNN workspaces, caching allocator) until measured on such a device.
ACTIVATION_FACTOR = {"cpu": 1.0, "cuda": 1.25, "mps": 1.25}
BASE = {"cpu": 200 << 20, "cuda": 512 << 20, "mps": 512 << 20}  # allocator slack, kernels, workspaces
SHARE = {"cpu": 0.6, "cuda": 0.8, "mps": 0.6}                    # of the available memory we allow

# (denoise preset, height, width, measured peak bytes added by the fit), from the table above.
CALIBRATION: list[tuple[str, int, int, int]] = [
    ("paper", 64, 64, 192_020_480), ("paper", 128, 128, 353_755_136), ("paper", 256, 256, 694_341_632),
    ("paper", 512, 512, 2_134_536_192), ("balanced", 256, 256, 640_692_224),
    ("balanced", 512, 384, 1_369_358_336), ("fast", 128, 128, 179_281_920), ("fast", 256, 256, 393_457_664),
    ("fast", 512, 512, 957_014_016),
]


def _kind(device) -> str:
    if isinstance(device, str) and device == "auto":
        from . import device as devices
        device = devices.pick("auto")
    t = torch.device(device).type
    return t if t in SHARE else "cpu"


def _count(preset: Preset, height: int, width: int, channels_out: int) -> tuple[int, int, int]:
    """(feature-map elements, parameters, input elements) of one forward pass at this output size.

    For the skip net the count is exactly A*h*w + B*(h + w) + D in the padded size (every level
    halves exactly; reflection padding adds a border), so three shape-only passes per network
    give it for every size; the Deep Decoder's geometric sizes are counted directly."""
    from .fit import padded_size
    kind, multiple, min_size, cin = _network(preset, channels_out)
    if kind == "decoder":
        return _count_direct(preset, height, width, channels_out)
    h, w = padded_size((height, width), multiple, min_size)
    a, b, d, params = _coefficients(preset, channels_out)
    return round(a * h * w + b * (h + w) + d), params, cin * h * w // preset.unshuffle ** 2


@functools.lru_cache(maxsize=64)
def _network(preset: Preset, channels_out: int) -> tuple[str, int, int, int]:
    from . import nets
    from .fit import build_net
    with torch.device("meta"):
        net = build_net(preset, channels_out)
    if isinstance(net, nets.DeepDecoder):
        return "decoder", 1, 1, net.channels
    return "skip", net.multiple, net.min_size, 2 if preset.input == "meshgrid" else preset.input_channels


@functools.lru_cache(maxsize=64)
def _coefficients(preset: Preset, channels_out: int) -> tuple[Fraction, Fraction, Fraction, int]:
    _, multiple, min_size, _ = _network(preset, channels_out)
    s = max(multiple, min_size)
    # Tiny real passes on the CPU (no gradients): quicker than the meta device's Python kernels.
    f11 = _count_direct(preset, s, s, channels_out, "cpu")[0]
    f21 = _count_direct(preset, 2 * s, s, channels_out, "cpu")[0]
    f22, params, _ = _count_direct(preset, 2 * s, 2 * s, channels_out, "cpu")
    # f(h, w) = a*h*w + b*(h + w) + d
    a = Fraction(f22 - 2 * f21 + f11, s * s)   # deep levels make a and b fractions
    b = (f21 - f11 - a * s * s) / s
    d = f11 - a * s * s - 2 * b * s
    return a, b, d, params


@functools.lru_cache(maxsize=256)
def _count_direct(preset: Preset, height: int, width: int, channels_out: int,
                  device: str = "meta") -> tuple[int, int, int]:
    """Count by running the network once: on the meta device (shapes only, any size, ~0.3 s) or,
    for small sizes, for real on the CPU."""
    total = 0

    def hook(_module, _inp, out):
        nonlocal total
        if isinstance(out, torch.Tensor):
            total += out.numel()
    params, z = forward_once(preset, height, width, channels_out, hook, device)
    return total, params, z


def forward_once(preset: Preset, height: int, width: int, channels_out: int, hook,
                 device: str = "meta") -> tuple[int, int]:
    """One forward pass of the preset's net at this output size with `hook` on every leaf module
    (a forward hook: module, inputs, output); (parameters, input elements). On the meta device
    it costs shapes only; `latency` uses it too."""
    from . import nets
    from .fit import build_net, input_shape

    with torch.device(device), torch.random.fork_rng(devices=[]):
        net = build_net(preset, channels_out)
    z = torch.zeros(1, *input_shape(preset, net, (height, width)), device=device)
    handles = [m.register_forward_hook(hook) for m in net.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            net(z, (height, width)) if isinstance(net, nets.DeepDecoder) else net(z)
    finally:
        for h in handles:
            h.remove()
    return sum(p.numel() for p in net.parameters()), z.numel()


def feature_elements(preset: Preset, height: int, width: int, channels_out: int = 3) -> int:
    """Elements of all layer outputs in one forward pass at this output size."""
    return _count(preset, int(height), int(width), int(channels_out))[0]


def estimate(preset: Preset, height: int, width: int, channels_out: int = 3, device="cpu") -> int:
    """Bytes of peak memory that fitting a height x width output with `preset` adds on `device`."""
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, not {width}x{height}")
    kind = _kind(device)
    acts, params, z = _count(preset, int(height), int(width), int(channels_out))
    images = 4 * height * width * channels_out  # observation, weight, EMA, best (and the output)
    passes = 2 if preset.loss == "sure" else 1  # SURE's probe keeps a second forward pass for the backward one
    return int(ACTIVATION_FACTOR[kind] * 4 * acts * passes + 16 * params + 4 * (z + images) + BASE[kind])


def available(device="cpu") -> int:
    """Bytes the device can still give us: MemAvailable on CPU, free memory on CUDA."""
    kind = _kind(device)
    if kind == "cuda" and torch.cuda.is_available():
        dev = torch.device(device)
        free, _total = torch.cuda.mem_get_info(dev if dev.index is not None else None)
        # What PyTorch's caching allocator holds but does not use is ours to reuse.
        reserved = torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)
        return int(free + max(0, reserved))
    if kind == "mps":
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        except (AttributeError, RuntimeError):  # older PyTorch: system memory (MPS shares it)
            return _system_available()
    return _system_available()


def _system_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        pass
    if sys.platform == "darwin" or sys.platform.startswith("win"):
        try:
            import psutil  # type: ignore[import-not-found]
            return int(psutil.virtual_memory().available)
        except ImportError:
            pass
    return 4 << 30  # unknown: assume a modest machine


def budget(device="cpu") -> int:
    """Bytes a fit may use: a share of what is available (60 % on CPU, 80 % on CUDA)."""
    return int(SHARE[_kind(device)] * available(device))


def human(n: float) -> str:
    """Bytes as a short string: '912 MB', '9.1 GB'."""
    if n >= 1e9:
        return f"{n / 1e9:.1f} GB"
    return f"{max(n, 0) / 1e6:.0f} MB"


# --- calibration -------------------------------------------------------------------------------

_MEASURE = r"""
import gc, resource, sys, time
import torch
torch.set_num_threads(1)
from dip_engine import presets
from dip_engine.fit import Problem, fit
from dip_engine.operators import Identity
name, h, w, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
p = presets.get("denoise", name)
obs = torch.rand(1, 3, h, w)
gc.collect()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
def hwm():
    # VmHWM belongs to this process image; ru_maxrss survives exec and can report the parent's
    # size at fork time (a large pytest process, say).
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))
before = rss()
peak_before = hwm()
t = time.perf_counter()
for s in fit(Problem(obs, Identity(), (h, w)), p, iterations=iters, auto_stop=False, preview_every=10**9):
    pass
peak = hwm()
print(before, peak_before, peak, (time.perf_counter() - t) / iters)
"""


def measure(preset_name: str, height: int, width: int, iterations: int = 2) -> tuple[int, float]:
    """(bytes, s/iteration) a denoise fit adds to a fresh process's peak RSS (Linux; runs a subprocess)."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", _MEASURE, preset_name, str(height), str(width), str(iterations)],
                         capture_output=True, text=True, check=True, cwd=root,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    before, _peak_before, peak, spi = out.stdout.split()
    return int(peak) - max(int(before), 0), float(spi)


def _calibrate(cases: list[tuple[str, int, int]]) -> None:
    from . import presets
    for name, h, w in cases:
        p = presets.get("denoise", name)
        got, spi = measure(name, h, w)
        acts = feature_elements(p, h, w, 3)
        est = estimate(p, h, w, 3, "cpu")
        print(f"{name:9s} {h}x{w}: feature elems {acts:,}  measured {human(got)} ({got})  "
              f"estimate {human(est)}  ratio {est / got:.2f}  {spi:.2f} s/it", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["calibrate"]:
        sizes = [tuple(a.split(":")) for a in sys.argv[2:]] or [("paper", "128", "128"), ("paper", "256", "256")]
        _calibrate([(n, int(h), int(w)) for n, h, w in sizes])
