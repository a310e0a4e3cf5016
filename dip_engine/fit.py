"""The fitting loop: optimise a randomly initialised network so that operator(net(z)) matches
the observation, yielding `Step` records as it goes.

The loop is a plain generator so the CLI, the GUI's worker thread and tests all drive the same
code. Cancellation and pause are cooperative through a `Control` object.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np
import torch
from torch import nn

from . import nets
from .confidence import Tracker
from .nets import inputs
from .noise import estimate_sigma
from .operators import weighted_mse
from .presets import Preset
from .stopping import EXPECTED_STOP, WindowedVariance

BLOWUP_RATIO = 10 ** 0.5  # a loss more than 5 dB above the lowest so far counts as a blow-up
ES_PIXELS = 64 * 64      # ES-WMV looks at a strided copy of about this many pixels
GATE_EVERY = 10          # iterations between checks of the auto-stop gate and the usable level (Problem)


class Control:
    """Thread-safe remote control for a running fit: stop, pause, resume, learning rate."""

    def __init__(self):
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._checkpoint = threading.Event()
        self.lr: float | None = None

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused loop so it can stop

    def pause(self) -> None:
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def set_lr(self, lr: float) -> None:
        self.lr = float(lr)

    def request_checkpoint(self) -> None:
        """Ask for the fit's state on the next Step (`Step.checkpoint`); the final Step always has it.
        While paused, the fit answers with an extra Step of the same iteration before it waits."""
        self._checkpoint.set()

    def take_checkpoint_request(self) -> bool:
        if self._checkpoint.is_set():
            self._checkpoint.clear()
            return True
        return False

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> float:
        """Block while paused; return the seconds spent waiting."""
        if self._running.is_set():
            return 0.0
        t = time.perf_counter()
        self._running.wait()
        return time.perf_counter() - t


@dataclass
class Problem:
    """What to fit: `operator(crop(net(z))) ~ observation`, with `weight` marking pixels that count."""
    observation: torch.Tensor          # 1 x C x h x w, values in [0, 1]
    operator: nn.Module                # maps the clean estimate to the observation's space
    size: tuple[int, int]              # (H, W) of the clean estimate
    weight: torch.Tensor | None = None  # 1 x 1 x h x w, 1 where the observation is known
    # The result is "usable" (better than the classical fallback) once the smoothed output's data
    # term falls to this level; None: usable from the start (restore.py says per task why).
    usable_mse: float | None = None
    # 1 x 1 x h x w: known pixels the fit leaves out, the data term's pixels for the usable level
    # (None: `weight`); they join the fit once the result is usable (inpainting, physics.py)
    judged: torch.Tensor | None = None
    # Auto-stop may only fire once the smoothed output's data term has fallen to this level
    # (denoising: about the noise power, so the net has explained the photo); None: no such gate.
    stop_gate_mse: float | None = None
    # Standard deviation of the observation's Gaussian noise (denoising; Preset.loss "sure")
    noise_sigma: float | None = None


@dataclass
class Step:
    iteration: int                     # iterations done so far
    total: int                         # the iteration budget
    loss: float
    elapsed_s: float                   # fitting time, pauses excluded
    s_per_iter: float
    eta_s: float | None
    image: np.ndarray | None = None    # H x W x C smoothed output (preview and final steps)
    variance: float | None = None      # ES-WMV statistic
    peak_iteration: int | None = None  # where ES-WMV puts the quality peak so far
    stop_suggested: bool = False
    done: bool = False
    stopped_by: str | None = None      # "auto" | "user" | "iterations"
    restarts: int = 0                  # blow-ups recovered from
    checkpoint: dict | None = None     # the fit's full state (on request, and on the final step)
    region: tuple[int, int, int, int] | None = None  # filled in by restore: (top, left, bottom, right)
    result: object | None = None       # filled in by restore on the final step: an imageio.Photo
    extra: dict = field(default_factory=dict)
    progress: float | None = None      # fraction of the run done, 0..1, monotone (fixed total)
    eta_range: tuple[float, float] | None = None  # (soonest, latest) seconds left
    usable: bool = True                # the image is judged better than the classical fallback
    result_iteration: int | None = None  # final step: the iteration whose smoothed output is `image`
    confidence: np.ndarray | None = None  # with `image`: H x W per-pixel std of the output lately (confidence.py)


def _cpu_state(obj):
    """A deep copy of an optimiser state dict with every tensor on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu_state(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu_state(v) for v in obj)
    return obj


def _copy_moments(src, dst: dict | None = None) -> dict:
    """Copy an optimiser's per-parameter state tensors from `src` into `dst` (a new copy if None)."""
    if dst is None:
        return {p: {k: v.clone() for k, v in st.items() if torch.is_tensor(v)} for p, st in src.items()}
    for p, st in src.items():
        for k, v in st.items():
            if torch.is_tensor(v):
                dst[p][k].copy_(v)
    return dst


def _cpu(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach().to("cpu", copy=True)


@dataclass(eq=False)
class FitState:
    """Everything a fit carries from one iteration to the next.

    `state_dict()` is the checkpoint (`Step.checkpoint`: CPU tensors, numbers, lists and dicts,
    so a project stores it with `torch.save` and reads it with weights_only) and
    `load_state_dict()` resumes from one; keys an older checkpoint lacks keep their start values.
    """
    net: nn.Module
    optimizer: torch.optim.Optimizer
    z: torch.Tensor                       # the net's input
    noise_rng: torch.Generator            # perturbs the input each iteration
    es: WindowedVariance
    confidence: Tracker | None
    seed: int
    usable: bool                          # the result beats the classical answer (latched while running)
    gated: bool                           # auto-stop may fire (Problem.stop_gate_mse reached)
    iteration: int = 0
    smoothed: torch.Tensor | None = None  # EMA of the outputs
    best: torch.Tensor | None = None      # the EMA taken after the detected peak
    best_due: int | None = None           # the iteration at which `best` is to be taken
    best_it: int | None = None            # the iteration whose EMA `best` is
    lowest_loss: float | None = None      # of the accepted steps (blow-up detection)
    restarts: int = 0                     # blow-ups recovered from
    elapsed_s: float = 0.0                # fitting time, pauses excluded

    _TENSORS = ("z", "smoothed", "best")
    _NUMBERS = ("iteration", "best_due", "best_it", "usable", "gated", "lowest_loss", "restarts", "elapsed_s",
                "seed")

    def state_dict(self) -> dict:
        s = {k: getattr(self, k) for k in self._NUMBERS}
        s.update({k: _cpu(getattr(self, k)) for k in self._TENSORS})
        s.update(net={k: _cpu(v) for k, v in self.net.state_dict().items()},
                 optimizer=_cpu_state(self.optimizer.state_dict()), noise_rng=self.noise_rng.get_state(),
                 es=self.es.state_dict(), confidence=self.confidence.state_dict() if self.confidence else None)
        return s

    def load_state_dict(self, s: dict) -> None:
        device = self.z.device
        self.net.load_state_dict(s["net"])
        self.optimizer.load_state_dict(s["optimizer"])
        self.noise_rng.set_state(s["noise_rng"])
        self.es.load_state_dict(s["es"])
        if self.confidence is not None:
            self.confidence.load_state_dict(s.get("confidence"), device)
        with torch.no_grad():  # in place: the optimiser may hold z (Deep Random Projector)
            self.z.copy_(s["z"])
        self.smoothed, self.best = (None if s.get(k) is None else s[k].to(device) for k in ("smoothed", "best"))
        self.iteration, self.restarts, self.elapsed_s = s["iteration"], s["restarts"], s["elapsed_s"]
        self.best_due, self.best_it = s.get("best_due"), s.get("best_it")
        self.usable = self.usable or s.get("usable", False)
        self.gated = self.gated or s.get("gated", True)
        self.lowest_loss = s.get("lowest_loss", s.get("last_loss"))  # older checkpoints: the last loss


def build_net(preset: Preset, c_out: int) -> nn.Module:
    if preset.net == "decoder":
        return nets.DeepDecoder(c_out, channels=_first(preset.channels), layers=preset.scales)
    k = preset.unshuffle
    net = nets.skip(preset.input_channels, c_out * k * k, preset.channels, preset.scales, preset.skip_channels,
                    kernel_down=preset.kernel_down, upsample=preset.upsample, need1x1_up=preset.need1x1_up,
                    pad=preset.pad)
    return nets.Shuffled(net, k) if k > 1 else net


def _first(v):
    return v if isinstance(v, int) else v[0]


def make_optimizer(params: list[torch.Tensor], lr: float) -> torch.optim.Adam:
    """Adam with its fused kernel where the device has one: 5-10 % less time per iteration on a
    CPU for small nets (bench/README.md), same update rule."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):  # no fused kernel for this device or dtype
        return torch.optim.Adam(params, lr=lr, foreach=True)


def padded_size(size: tuple[int, int], multiple: int, min_size: int = 0) -> tuple[int, int]:
    """The smallest size >= `size` (and >= min_size) made of whole multiples: pad, never crop."""
    return tuple(max(math.ceil(s / multiple) * multiple, min_size) for s in size)  # type: ignore[return-value]


def input_shape(preset: Preset, net: nn.Module, size: tuple[int, int]) -> tuple[int, int, int]:
    """(channels, height, width) of the net's input z for an output of `size`."""
    if isinstance(net, nets.DeepDecoder):
        return (net.channels, *net.input_size(*size))
    h, w = padded_size(size, net.multiple, net.min_size)
    if isinstance(net, nets.Shuffled):
        h, w = net.input_size(h, w)
    return (2 if preset.input == "meshgrid" else preset.input_channels), h, w


def make_input(preset: Preset, net: nn.Module, size: tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    c, h, w = input_shape(preset, net, size)
    if isinstance(net, nets.DeepDecoder):
        return inputs.noise(c, h, w, gen, scale=1.0)
    if preset.input == "meshgrid":
        return inputs.meshgrid(h, w)
    return inputs.noise(c, h, w, gen)


def _random_projector(net: nn.Module, z: torch.Tensor) -> nn.Module:
    """Deep Random Projector (Li et al., CVPR 2023): the convolutions keep their random weights;
    the input z, a batch norm in front of the net and the nets' batch norms are what is fitted."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.requires_grad_(False)
    z.requires_grad_(True)
    return nn.Sequential(nn.BatchNorm2d(z.shape[1]).to(z.device), net)


def observation_input(obs: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """The observation as the net's input (Preset.input "observation"), reflected out to `shape`."""
    h, w = shape[-2:]
    ph, pw = h - obs.shape[-2], w - obs.shape[-1]
    if ph >= obs.shape[-2] or pw >= obs.shape[-1]:   # reflection needs more pixels than it adds
        return nn.functional.pad(obs, (0, pw, 0, ph), mode="replicate")
    return nn.functional.pad(obs, (0, pw, 0, ph), mode="reflect") if ph or pw else obs.clone()


def sure_divergence(forward, z: torch.Tensor, out: torch.Tensor, eps: float, gen: torch.Generator) -> torch.Tensor:
    """Mean over pixels of d out / d z (the net's divergence where input and output pixels meet),
    by one random finite difference (Ramani et al. 2008): b . (f(z + eps b) - f(z)) / eps."""
    b = torch.randn(z.shape, generator=gen, device=z.device, dtype=z.dtype)
    moved = forward(z + eps * b)
    h, w = out.shape[-2:]
    return (b[..., :h, :w] * (moved - out)).mean() / eps


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (anisotropic TV, per element)."""
    return ((x[..., 1:, :] - x[..., :-1, :]).abs().sum() + (x[..., :, 1:] - x[..., :, :-1]).abs().sum()) / x.numel()


class _Stopped(Exception):
    """Stop was pressed in the middle of an iteration."""


def _stop_between_layers(net: nn.Module, control: Control) -> None:
    """Hooks that end an iteration at the next convolution, forward or backward, once Stop is
    pressed: one iteration of a big tile takes many seconds, and Stop must act within about two
    (issue 12). A hook that finds Stop unpressed costs a flag test (microseconds per layer)."""
    def check(*_):
        if control.stopped:
            raise _Stopped

    def after(_module, _inputs, out):
        check()
        if isinstance(out, torch.Tensor) and out.requires_grad:
            out.register_hook(check)   # runs when this layer's gradient is computed
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(after)


def fit(problem: Problem, preset: Preset, *, iterations: int | None = None, seed: int = 0,
        auto_stop: bool = True, preview_every: int = 10, control: Control | None = None,
        device: torch.device | str = "cpu", lr: float | None = None,
        resume: dict | None = None, confidence: bool = True, precision: str = "fp32") -> Iterator[Step]:
    """Run the fit, yielding a Step per iteration (with an image every `preview_every`) and a
    final one (done=True) whose image is the result: the smoothed output at the detected peak.

    `resume`: a Step.checkpoint of an earlier run of the same problem and preset; the fit goes on
    from there and gives the same result as a run that was never interrupted.
    `confidence`: track how much each output pixel still varies (`Step.confidence`).
    `precision`: "fp32", or "bf16": the net runs under bfloat16 autocast in channels-last layout;
    its weights, the loss, the optimiser and every image stay float32 (`device.pick_precision`)."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', not '{precision}'")
    bf16 = precision == "bf16"
    # channels-last is the layout oneDNN's and cuDNN's bfloat16 convolutions work in
    layout = torch.channels_last if bf16 else torch.preserve_format
    control = control or Control()
    device = torch.device(device)
    total = int(iterations or preset.iterations)
    c = problem.observation.shape[1]
    H, W = problem.size
    if preset.input == "observation":   # the net takes the photo in: as many channels as it has
        preset = replace(preset, input_channels=c)

    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_net(preset, c)
    net = net.to(device, memory_format=layout)
    z = make_input(preset, net, (H, W), gen).to(device, memory_format=layout)
    if preset.input == "observation":
        z = observation_input(problem.observation, z.shape).to(device, memory_format=layout)
    # the noise level SURE needs, and the observation input's perturbation, which scales with it
    sigma = (problem.noise_sigma or estimate_sigma(problem.observation[0].permute(1, 2, 0).cpu().numpy())) if preset.loss == "sure" \
        or preset.input == "observation" else None
    reg_noise = preset.reg_noise * sigma if preset.input == "observation" else preset.reg_noise
    if preset.train == "input":
        net = _random_projector(net, z)
    trained = [p for p in net.parameters() if p.requires_grad] + ([z] if z.requires_grad else [])
    obs = problem.observation.to(device)
    weight = problem.weight.to(device) if problem.weight is not None else None
    held_out = problem.judged is not None
    judged = problem.judged.to(device) if held_out else weight
    every = weight + judged if held_out else weight   # the fit's weight once the result is usable
    op = problem.operator.to(device)
    opt = make_optimizer(trained, lr or preset.lr)
    es = WindowedVariance(preset.es_window, preset.es_patience)
    st = FitState(net, opt, z,
                  torch.Generator(device=device).manual_seed(seed + 1), es,
                  Tracker(preset.es_window) if confidence else None, seed,
                  usable=problem.usable_mse is None, gated=problem.stop_gate_mse is None)
    if resume is not None:
        st.load_state_dict(resume)
    conf = st.confidence

    _stop_between_layers(net, control)

    def forward(inp: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = net(inp, (H, W)) if isinstance(net, nets.DeepDecoder) else net(inp)
        return out[..., :H, :W].float()

    stride = max(1, int(math.sqrt(H * W / ES_PIXELS)))
    good = [p.detach().clone() for p in trained]  # clone: on CPU .cpu() would alias the live tensor
    stops = auto_stop and preset.auto_stop
    # ES-WMV finds the peak of the raw output; the EMA lags it by about 1 / (1 - w) iterations, so
    # the result is the EMA that many iterations after the detected peak (or the latest EMA when
    # the run ends before then).
    lag = round(1 / (1 - preset.exp_weight)) if preset.exp_weight < 1 else 0
    good_moments = None  # the optimiser state that goes with `good`
    stopped_by = "iterations"

    def snapshot_image(t: torch.Tensor) -> np.ndarray:
        return t[0].permute(1, 2, 0).float().cpu().numpy().copy()

    def data_term(t: torch.Tensor, on: torch.Tensor | None = weight) -> float:
        with torch.no_grad():
            return float(weighted_mse(op(t), obs, on))

    def usable(t: torch.Tensor) -> bool:
        return data_term(t, judged) <= problem.usable_mse if problem.usable_mse is not None else True

    def judge() -> None:
        """Latch `usable` once the smoothed output gets there (the fit only gets closer)."""
        if not st.usable and usable(st.smoothed):
            st.usable = True
            if held_out:
                st.lowest_loss = None   # the loss takes in the judged pixels: a step up, not a blow-up

    def step(done: bool, loss: float, with_image: bool) -> Step:
        it = st.iteration
        spi = st.elapsed_s / max(it, 1)
        img = shown = None
        if with_image and st.smoothed is not None:
            at_best = done and st.best is not None and st.best_due is None
            shown = st.best if at_best else st.smoothed
            img = snapshot_image(shown)
        if shown is not None and done and not (held_out and st.usable):
            # latched while running (`judge`); the final image is judged on its own, unless the
            # judged pixels have joined the fit by then
            st.usable = usable(shown)
        if done:
            eta = rng = None
        else:
            soon = min(es.earliest_stop(it), total) if stops else total
            guess = min(total, max(soon, round(EXPECTED_STOP * total))) if stops else total
            eta, rng = spi * (guess - it), (spi * (soon - it), spi * (total - it))
        s = Step(it, total, loss, st.elapsed_s, spi, eta, img,
                 es.variance, es.peak if preset.auto_stop else None,  # no peak to show where there is none to find
                 preset.auto_stop and st.gated and es.should_stop, done, stopped_by if done else None, st.restarts,
                 progress=1.0 if done else it / total, eta_range=rng, usable=st.usable,
                 result_iteration=(st.best_it if shown is st.best else it) if done and shown is not None else None)
        if img is not None and conf is not None:
            s.confidence = conf.map()
        if done or control.take_checkpoint_request():
            s.checkpoint = st.state_dict()
        return s

    loss_value = float("nan")
    while st.iteration < total:
        if control.paused and not control.stopped and control.take_checkpoint_request():
            # asked for the state while paused: hand it over now, not after the pause
            s = step(False, loss_value, False)
            s.checkpoint = st.state_dict()
            yield s
            continue
        st.elapsed_s -= control.wait_while_paused()
        if control.stopped:
            stopped_by = "user"
            break
        if control.lr is not None:
            for g in opt.param_groups:
                g["lr"] = control.lr
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        try:
            z_in = inputs.perturb(st.z, reg_noise, st.noise_rng)
            out = forward(z_in)
            loss = weighted_mse(op(out), obs, every if held_out and st.usable else weight)
            if preset.loss == "rmse":
                loss = loss.sqrt()
            elif preset.loss == "sure":
                # MSE + 2 sigma^2 div: unbiased for the error against the clean photo, up to the
                # constant sigma^2 left out so the loss stays positive for the blow-up check.
                # The probe's step is half the noise level, as Jo et al. (ICCV 2021).
                loss = loss + 2 * sigma ** 2 * sure_divergence(forward, z_in, out, 0.5 * sigma, st.noise_rng)
            if preset.tv:
                loss = loss + preset.tv * total_variation(out)
            loss.backward()
        except _Stopped:   # mid-iteration: the parameters are still those of the last full step
            st.elapsed_s += time.perf_counter() - t0
            stopped_by = "user"
            break
        loss_value = float(loss.detach())
        if st.lowest_loss is not None and (not math.isfinite(loss_value) or loss_value > BLOWUP_RATIO * st.lowest_loss):
            # Blow-up: go back to the last good parameters and their optimiser moments. Fresh
            # moments would not do: Adam's first step moves every weight by the full learning
            # rate, which throws a well-fitted net off again and again.
            with torch.no_grad():
                for p, g in zip(trained, good):
                    p.copy_(g)
                if good_moments is None:
                    opt.state.clear()
                else:
                    _copy_moments(good_moments, opt.state)
            st.restarts += 1
        else:
            st.lowest_loss = loss_value if st.lowest_loss is None else min(st.lowest_loss, loss_value)
            with torch.no_grad():
                for p, g in zip(trained, good):  # the parameters that produced this good loss
                    g.copy_(p)
                if opt.state:
                    good_moments = _copy_moments(opt.state, good_moments)
            opt.step()
            with torch.no_grad():
                o = out.detach()
                if conf is not None:
                    conf.update(o)
                it = st.iteration
                w = min(preset.exp_weight, (1 + it) / (10 + it)) if preset.ema_warmup else preset.exp_weight
                st.smoothed = o.clone() if st.smoothed is None else st.smoothed.mul_(w).add_(o, alpha=1 - w)
                if (it + 1) % GATE_EVERY == 0:
                    judge()
                if not st.gated and (it + 1) % GATE_EVERY == 0 and data_term(st.smoothed) <= problem.stop_gate_mse:
                    # ES-WMV looks for its minimum from here on: earlier minima are a blur that
                    # has not yet taken in the photo's texture
                    st.gated = True
                    es.restart_minimum()
                    st.best = st.best_it = st.best_due = None
                if es.update(it + 1, o[0, :, ::stride, ::stride].float().cpu().numpy()) and st.gated:
                    st.best_due = it + 1 + lag
                if st.best_due is not None and it + 1 >= st.best_due:
                    st.best, st.best_due, st.best_it = st.smoothed.clone(), None, it + 1
        st.iteration += 1
        st.elapsed_s += time.perf_counter() - t0
        if stops and st.gated and es.should_stop:
            stopped_by = "auto"
            break
        if st.iteration % preview_every == 0 and st.iteration < total:
            yield step(False, loss_value, True)
        else:
            yield step(False, loss_value, False)
    yield step(True, loss_value, True)
