"""`dip-engine`: the command other issues and outside checks rely on."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from dip_engine import cli, imageio
from tests.conftest import REPO, smooth_image

FAST = ["--preset", "fast", "--iters", "3", "--channels", "8", "--quiet"]


@pytest.fixture
def photo_png(tmp_path):
    p = tmp_path / "photo.png"
    Image.fromarray((smooth_image(40, 48) * 255).astype(np.uint8)).save(p)
    return p


@pytest.fixture
def mask_png(tmp_path):
    m = np.zeros((40, 48), np.uint8)
    m[10:20, 20:30] = 255
    p = tmp_path / "mask.png"
    Image.fromarray(m).save(p)
    return p


def run(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_denoise_writes_result_and_json(capsys, photo_png, tmp_path):
    out = tmp_path / "out.png"
    code, stdout, err = run(capsys, "denoise", photo_png, "-o", out, *FAST, "--json", "--seed", "5")
    assert code == 0, err
    summary = json.loads(stdout)
    # `fast` fits a photo this small whole, twice (Preset.fits): 2 x 3 iterations
    assert summary["task"] == "denoise" and summary["preset"] == "fast" and summary["iterations"] == 6
    assert summary["stopped_by"] == "iterations" and summary["output"] == str(out)
    assert summary["wall_s"] > 0 and summary["s_per_iter"] > 0
    assert imageio.load_image(out).data.shape == (40, 48, 3)
    assert imageio.read_metadata(out)["dip:seed"] == "5"


def test_sr_is_scale_times_larger(capsys, photo_png, tmp_path):
    out = tmp_path / "big.png"
    code, _, err = run(capsys, "sr", photo_png, "-o", out, "--scale", "2", *FAST)
    assert code == 0, err
    assert Image.open(out).size == (96, 80)


def test_inpaint_keeps_known_pixels(capsys, photo_png, mask_png, tmp_path):
    out = tmp_path / "filled.png"
    code, _, err = run(capsys, "inpaint", photo_png, "--mask", mask_png, "-o", out, *FAST)
    assert code == 0, err
    a, b = np.asarray(Image.open(photo_png)), np.asarray(Image.open(out))
    known = np.asarray(Image.open(mask_png)) == 0
    assert np.array_equal(a[known], b[known])


def test_snapshots(capsys, photo_png, tmp_path):
    snaps = tmp_path / "snaps"
    code, _, err = run(capsys, "jpeg", photo_png, "-o", tmp_path / "o.png", *FAST, "--snapshots", snaps, "--every", "1")
    assert code == 0, err
    assert sorted(p.name for p in snaps.iterdir()) == ["photo_000001.png", "photo_000002.png"]


def bad_cases(tmp_path, photo_png, mask_png):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((40, 48), np.uint8)).save(empty)
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(small)
    existing = tmp_path / "exists.png"
    existing.write_bytes(b"keep me")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    out = tmp_path / "o.png"
    return [
        (["denoise", tmp_path / "missing.png", "-o", out], "missing.png"),
        (["denoise", text, "-o", out], "notes.png"),
        (["inpaint", photo_png, "--mask", small, "-o", out], "small.png"),
        (["inpaint", photo_png, "--mask", empty, "-o", out], "empty"),
        (["inpaint", photo_png, "--mask", tmp_path / "nomask.png", "-o", out], "nomask.png"),
        (["sr", photo_png, "-o", out, "--scale", "1"], "scale"),
        (["sr", photo_png, "-o", out, "--scale", "nine"], "scale"),
        (["denoise", photo_png, "-o", tmp_path / "nodir" / "o.png"], "does not exist"),
        (["denoise", photo_png, "-o", tmp_path / "o.gif"], "unsupported output"),
        (["denoise", photo_png, "-o", existing], "already exists"),
        (["denoise", photo_png, "-o", photo_png, "--overwrite"], "overwrite the input"),
        (["denoise", photo_png], "required"),
        (["denoise", photo_png, "-o", out, "--preset", "turbo"], "invalid choice"),
        (["denoise", photo_png, "-o", out, "--iters", "0"], "at least 1"),
        (["blur", photo_png, "-o", out], "invalid choice"),
    ] + ([] if os.geteuid() == 0 else [(["denoise", photo_png, "-o", ro / "o.png"], "not writable")])


def test_every_bad_input_exits_2_with_one_line(capsys, tmp_path, photo_png, mask_png):
    for args, needle in bad_cases(tmp_path, photo_png, mask_png):
        code, out, err = run(capsys, *args, "--quiet")
        lines = err.strip().splitlines()
        assert code == 2, (args, err)
        assert len(lines) == 1 and lines[0].startswith("dip-engine: error:"), (args, err)
        assert needle in lines[0], (args, err)
        assert "Traceback" not in err
    assert (tmp_path / "exists.png").read_bytes() == b"keep me"
    assert not (tmp_path / "o.png").exists()


def test_python_dash_m_is_the_same_command(tmp_path, photo_png):
    out = tmp_path / "o.png"
    res = subprocess.run([sys.executable, "-m", "dip_engine", "denoise", str(photo_png), "-o", str(out), *FAST,
                          "--json", "--threads", "1"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["iterations"] == 6 and out.exists()
    res = subprocess.run([sys.executable, "-m", "dip_engine", "denoise", str(tmp_path / "nope.png"), "-o", str(out)],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert res.returncode == 2 and "nope.png" in res.stderr and "Traceback" not in res.stderr


def test_progress_bar_on_stderr(capsys, photo_png, tmp_path):
    code, _, err = run(capsys, "denoise", photo_png, "-o", tmp_path / "o.png", "--preset", "fast", "--iters", "3",
                       "--channels", "8")
    assert code == 0
    assert "6/6" in err and ("it/s" in err or "s/it" in err)   # two fits of 3 iterations


def test_forced_tiles_say_so(capsys, photo_png, tmp_path):
    out = tmp_path / "tiled.png"
    code = cli.main(["denoise", str(photo_png), "-o", str(out), "--preset",
                    "fast", "--iters", "2", "--channels", "8", "--tile", "32"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "tiles" in err and Image.open(out).size == (48, 40)


def test_bf16_on_tiles_in_two_workers_and_the_project_remembers_it(capsys, photo_png, tmp_path):
    from dip_engine.project import load_project
    proj = tmp_path / "run.dipproj"
    code, out, err = run(capsys, "denoise", photo_png, "-o", tmp_path / "bf16.png", *FAST[:-1], "--tile", "32",
                         "--workers", "2", "--precision", "bf16", "--project", proj, "--json")
    assert code == 0, err
    assert json.loads(out)["iterations"] > 3 and Image.open(tmp_path / "bf16.png").size == (48, 40)
    assert "runs in bfloat16 (mixed precision) on cpu" in err
    assert load_project(proj).settings["precision"] == "bf16"


# ---------------------------------------------------------------------------------------------
# project files and resuming

# one fit (not `fast`'s two), so that a resumed run goes on with the fit's own state
PROJ = ["--preset", "draft", "--channels", "8", "--stop", "never", "--threads", "1", "--quiet"]


def test_project_then_resume_equals_an_uninterrupted_run(capsys, photo_png, tmp_path):
    from dip_engine.project import load_project
    proj = tmp_path / "run.dipproj"
    code, _, err = run(capsys, "denoise", photo_png, "-o", tmp_path / "short.png", *PROJ, "--iters", "8",
                       "--project", proj, "--every", "3", "--seed", "4")
    assert code == 0, err
    p = load_project(proj)
    assert p.checkpoint_iteration == 8 and p.settings["seed"] == 4 and p.result is not None
    assert [h.iteration for h in p.history] == [3, 6, 8] and p.history[-1].final
    code, out, err = run(capsys, "resume", proj, "-o", tmp_path / "resumed.png", "--iters", "14", "--json",
                         "--threads", "1", "--quiet")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["resumed_from"] == 8 and summary["iterations"] == 14 and summary["seed"] == 4
    assert load_project(proj).checkpoint_iteration == 14                  # the project follows the run
    code, _, err = run(capsys, "denoise", photo_png, "-o", tmp_path / "full.png", *PROJ, "--iters", "14",
                       "--seed", "4")
    assert code == 0, err
    a = np.asarray(Image.open(tmp_path / "resumed.png")).astype(int)
    b = np.asarray(Image.open(tmp_path / "full.png")).astype(int)
    assert np.abs(a - b).max() <= 1


def test_resume_refuses_bad_projects_with_one_line(capsys, photo_png, tmp_path):
    from dip_engine.project import Project, save_project
    junk = tmp_path / "junk.dipproj"
    junk.write_bytes(b"not a zip")
    empty = save_project(Project(imageio.load_image(photo_png), {"task": "denoise"}), tmp_path / "empty.dipproj")
    existing = tmp_path / "exists.dipproj"
    existing.write_bytes(b"keep")
    for args, needle in ((["resume", junk, "-o", tmp_path / "o.png"], "not a DIP Studio project"),
                         (["resume", tmp_path / "none.dipproj", "-o", tmp_path / "o.png"], "no such project"),
                         (["resume", empty, "-o", tmp_path / "o.png"], "no run state"),
                         (["denoise", photo_png, "-o", tmp_path / "o.png", "--project", existing], "already exists")):
        code, _, err = run(capsys, *args, "--quiet")
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and needle in lines[0], (args, err)
    assert existing.read_bytes() == b"keep" and not (tmp_path / "o.png").exists()


def test_killed_run_resumes_from_its_last_checkpoint(photo_png, tmp_path):
    """SIGKILL a CLI run that writes checkpoints; `resume` goes on from the last one and finishes."""
    import signal
    import time
    from dip_engine.project import ProjectError, load_project
    proj, out = tmp_path / "killed.dipproj", tmp_path / "o.png"
    proc = subprocess.Popen([sys.executable, "-m", "dip_engine", "denoise", str(photo_png), "-o", str(out), *PROJ,
                             "--iters", "100000", "--project", str(proj), "--every", "5"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline, seen = time.monotonic() + 240, 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                seen = load_project(proj, checkpoint=False).history[-1].iteration if proj.exists() else 0
            except (ProjectError, IndexError):
                seen = 0
            if seen >= 10:
                break
            time.sleep(0.2)
        assert seen >= 10, proc.stderr.read().decode() if proc.poll() is not None else "no checkpoint in time"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    assert not out.exists()
    saved = load_project(proj).checkpoint_iteration
    assert saved >= 10 and saved % 5 == 0
    res = subprocess.run([sys.executable, "-m", "dip_engine", "resume", str(proj), "-o", str(out), "--iters",
                          str(saved + 6), "--threads", "1", "--quiet", "--json"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["resumed_from"] == saved and summary["iterations"] == saved + 6
    assert imageio.load_image(out).data.shape == (40, 48, 3)


def test_a_run_too_young_to_help_saves_the_classical_answer_and_says_so(capsys, photo_png, tmp_path):
    # issue 13: 3 iterations of SR are a blur far worse than the photo: the Lanczos upscale is saved
    out = tmp_path / "big.png"
    code, stdout, err = run(capsys, "sr", photo_png, "-o", out, "--scale", "2", "--preset", "fast", "--iters", "3",
                            "--channels", "8", "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["kept"] == "lanczos" and summary["result_iteration"] is None
    assert "the Lanczos upscale is kept, back-projected onto your photo once" in err
    from dip_engine import classical, physics
    src = imageio.load_image(photo_png).pixels
    kept = classical.back_project(classical.lanczos_upscale(src, 96, 80), src, physics.of("sr", scale=2).downsample)
    assert np.abs(imageio.load_image(out).pixels - kept).max() <= 1 / 255 + 1e-6


def test_inpainting_runs_its_whole_budget_from_the_cli(capsys, photo_png, mask_png, tmp_path):
    code, stdout, err = run(capsys, "inpaint", photo_png, "--mask", mask_png, "-o", tmp_path / "f.png",
                            "--preset", "fast", "--iters", "80", "--channels", "8", "--json", "--quiet")
    summary = json.loads(stdout)
    assert code == 0 and summary["stopped_by"] == "iterations" and summary["iterations"] == 80
    assert summary["peak_iteration"] is None


@pytest.fixture
def fit_always_usable(monkeypatch):
    """A 3-iteration fit counts as usable, so its result (not the classical answer) is saved."""
    from dip_engine import classical
    monkeypatch.setattr(classical, "usable_mse", lambda *a, **k: None)


def test_confidence_map_is_a_16_bit_png_with_its_scale(capsys, photo_png, mask_png, tmp_path, fit_always_usable):
    from dip_engine import confidence
    out, conf = tmp_path / "out.png", tmp_path / "conf.png"
    code, stdout, err = run(capsys, "denoise", photo_png, "-o", out, *FAST,
                            "--confidence", conf, "--json", "--seed", "4")
    assert code == 0, err
    assert json.loads(stdout)["confidence"] == str(conf)
    img = Image.open(conf)
    assert img.mode.startswith("I;16") and img.size == (48, 40)
    assert img.info["Description"] == confidence.PNG_SCALE and "65535" in confidence.PNG_SCALE
    meta = imageio.read_metadata(conf)
    assert meta["dip:confidence_scale"] == confidence.PNG_SCALE and meta["dip:seed"] == "4"
    assert np.asarray(img).astype(np.int64).max() > 0
    code, _, err = run(capsys, "sr", photo_png, "-o", tmp_path / "big.png", "--scale", "2", *FAST,
                       "--confidence", tmp_path / "big_conf.png")
    assert code == 0, err
    assert Image.open(tmp_path / "big_conf.png").size == (96, 80)


def test_confidence_must_be_a_png_and_inpainting_has_none(capsys, photo_png, mask_png, tmp_path):
    code, _, err = run(capsys, "denoise", photo_png, "-o", tmp_path / "o.png", *FAST,
                       "--confidence", tmp_path / "c.jpg")
    assert code == 2 and "16-bit PNG" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "inpaint", photo_png, "--mask", mask_png, "-o", tmp_path / "o.png", *FAST,
                       "--confidence", tmp_path / "c.png")
    assert code == 2 and "inpaint has no confidence map" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_variations_record_their_seeds_and_each_is_reproduced_by_its_seed(capsys, tmp_path):
    # a noisy photo and 150 iterations: each variation's own result is kept (the fit beats the
    # photo), also in worker processes where a test's monkeypatching does not reach
    noisy = np.clip(smooth_image(40, 48) + np.random.default_rng(0).normal(0, 0.08, (40, 48, 3)), 0, 1)
    photo_png = tmp_path / "noisy.png"
    Image.fromarray(np.rint(noisy * 255).astype(np.uint8)).save(photo_png)
    out = tmp_path / "out.png"
    ONE_FIT = ["--preset", "draft", "--iters", "150", "--stop", "never", "--channels", "8", "--quiet"]
    code, stdout, err = run(capsys, "denoise", photo_png, "-o", out, *ONE_FIT, "--variations", "2", "--seed", "5",
                            "--threads", "1", "--confidence", tmp_path / "c.png", "--json",
                            "--project", tmp_path / "v.dipproj")
    assert code == 0, err
    files = [tmp_path / "out.v1.png", tmp_path / "out.v2.png"]
    assert not out.exists() and all(f.exists() for f in files)
    assert [v["seed"] for v in json.loads(stdout)["variations"]] == [5, 6]
    assert [imageio.read_metadata(f)["dip:seed"] for f in files] == ["5", "6"]
    assert [imageio.read_metadata(f)["dip:variation"] for f in files] == ["1 of 2", "2 of 2"]
    assert (tmp_path / "c.v1.png").exists() and (tmp_path / "c.v2.png").exists()
    summary = json.loads(stdout)
    assert summary["confidence_across_variations"] == str(tmp_path / "c.png")
    assert imageio.read_metadata(tmp_path / "c.png")["dip:seeds"] == "5,6"
    spread = np.asarray(Image.open(tmp_path / "c.png")).astype(np.float64) / 4096 / 255
    a, b = (imageio.load_image(f).data for f in files)
    assert not np.array_equal(a, b)
    # their maps and their spread (half their difference, root mean square over channels) together
    half2 = (((a.astype(np.float64) - b) / 255 / 2) ** 2).mean(-1)
    own = [np.asarray(Image.open(tmp_path / f"c.v{k}.png")).astype(np.float64) / 4096 / 255 for k in (1, 2)]
    expect = np.sqrt((own[0] ** 2 + own[1] ** 2) / 2 + half2)
    close = (np.maximum(own[0], own[1]) < 15 / 255) & (expect < 15 / 255)   # the files clip at 16 levels
    assert close.sum() > 20
    assert np.abs(spread - expect)[close].max() < 2e-4 and spread.max() > 0
    code, _, err = run(capsys, "denoise", photo_png, "-o", tmp_path / "again.png", *ONE_FIT, "--seed", "6",
                       "--threads", "1")
    assert code == 0, err
    assert np.array_equal(imageio.load_image(tmp_path / "again.png").data, b)
    from dip_engine import project
    p = project.load_project(tmp_path / "v.dipproj")
    assert [v.seed for v in p.variations] == [5, 6] and p.chosen is None
    assert np.array_equal(p.variations[1].result.data, b) and p.variations[1].metadata["dip:seed"] == "6"
    assert p.variations[0].confidence.shape == (40, 48)
    code, _, err = run(capsys, "denoise", photo_png, "-o", out, *ONE_FIT, "--variations", "2")
    assert code == 2 and "out.v1.png: already exists" in err
