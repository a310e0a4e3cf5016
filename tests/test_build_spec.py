"""build.spec stays valid without building: it is executed with stand-ins for PyInstaller's
Analysis/PYZ/EXE/COLLECT, and every input it names (entry scripts, runtime hook, data folders,
files it keeps or strips) must exist; nothing a real run imports may be excluded."""
from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "build.spec"


class _Recorder:
    calls: list = []

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        _Recorder.calls.append(self)


class Analysis(_Recorder):
    def __init__(self, scripts, **kwargs):
        super().__init__(scripts, **kwargs)
        self.scripts_in = scripts
        self.pure, self.scripts, self.binaries, self.datas = [], [], [], []


class PYZ(_Recorder):
    pass


class EXE(_Recorder):
    pass


class COLLECT(_Recorder):
    pass


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    _Recorder.calls = []
    ns = {"__file__": str(SPEC), "SPECPATH": str(REPO), "workpath": str(tmp_path_factory.mktemp("work")),
          "DISTPATH": str(REPO / "dist"), "Analysis": Analysis, "PYZ": PYZ, "EXE": EXE, "COLLECT": COLLECT}
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), ns)
    ns["calls"] = list(_Recorder.calls)
    return ns


def _of(spec, kind):
    return [c for c in spec["calls"] if isinstance(c, kind)]


def test_two_programs_one_folder_no_upx(spec):
    exes = {e.kwargs["name"]: e for e in _of(spec, EXE)}
    assert set(exes) == {"dip-studio", "dip-engine"}
    assert exes["dip-studio"].kwargs["console"] is False and exes["dip-engine"].kwargs["console"] is True
    (coll,) = _of(spec, COLLECT)
    assert coll.kwargs["name"] == "dip-studio"
    assert exes["dip-studio"] in coll.args and exes["dip-engine"] in coll.args
    for obj in [*exes.values(), coll]:
        assert obj.kwargs["upx"] is False
    for e in exes.values():
        assert e.kwargs["exclude_binaries"] is True          # one-folder: libraries go to COLLECT


def test_entry_scripts_and_runtime_hook_exist_and_call_the_real_entry_points(spec):
    studio, engine = _of(spec, Analysis)
    (s_entry,), (e_entry,) = studio.scripts_in, engine.scripts_in
    # The bundle's two programs start where the installed commands do (pyproject's scripts).
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for entry, target in ((s_entry, scripts["gui-scripts"]["dip-studio"]), (e_entry, scripts["scripts"]["dip-engine"])):
        module, func = target.split(":")
        assert f"from {module} import {func}" in Path(entry).read_text(encoding="utf-8"), (entry, target)
    for hook in studio.kwargs["runtime_hooks"] + engine.kwargs["runtime_hooks"]:
        assert Path(hook).is_file(), hook
    assert engine.kwargs["runtime_hooks"] == []               # the console program has its streams


def test_data_folders_exist_where_the_app_looks_for_them(spec):
    from app.ui import resources
    # In the bundle app/ui/resources.pyc sits in sys._MEIPASS/app/ui: parents[2] is _MEIPASS.
    assert resources.ROOT == REPO / "resources"
    dests = {}
    for analysis in _of(spec, Analysis):
        for src, dest in analysis.kwargs["datas"]:
            assert Path(src).is_dir(), src
            assert dest == "resources/" + Path(src).name
            dests[dest] = Path(src)
    assert (dests["resources/icons"] / "inpaint.svg").is_file()
    assert (dests["resources/styles"] / "dark.qss").is_file()
    assert (dests["resources/samples"] / "chelsea.png").is_file()     # the app's self-test opens it
    qss = (dests["resources/styles"] / "dark.qss").read_text(encoding="utf-8")
    for name in re.findall(r"url\(@ICONS@/([^)]+)\)", qss):
        assert (dests["resources/icons"] / name).is_file(), name


def test_the_engine_bundle_leaves_qt_out_and_the_app_keeps_it(spec):
    studio, engine = _of(spec, Analysis)
    assert "PySide6" in engine.kwargs["excludes"] and "app" in engine.kwargs["excludes"]
    assert not any(x in ("PySide6", "PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "app")
                   for x in studio.kwargs["excludes"])


def test_kept_and_stripped_files_exist_in_the_installed_torch(spec):
    torch_dir = Path(__import__("torch").__file__).parent
    for dest in spec["KEEP"] + spec["STRIP"]:
        assert (torch_dir.parent / dest).is_file(), dest
    assert not spec["_dropped"](("torch/bin/torch_shm_manager", "", "BINARY"))
    assert spec["_dropped"](("torch/bin/test_api", "", "BINARY"))
    assert spec["_dropped"](("PySide6/Qt/plugins/platformthemes/libqgtk3.so", "", "BINARY"))
    assert not spec["_dropped"](("PySide6/Qt/plugins/platforms/libqxcb.so", "", "BINARY"))
    assert not spec["_dropped"](("PySide6/Qt/plugins/platforms/libqoffscreen.so", "", "BINARY"))


def test_torch_config_modules_keep_their_source(spec):
    mode = spec["COLLECTION_MODE"]
    assert mode["torch"] == "pyz"
    # install_config_module() reads the module's own source at `import torch`
    assert mode.get("torch._dynamo.config") == "pyz+py" and mode.get("torch.distributed.config") == "pyz+py"


def test_analysis_arguments_match_the_installed_pyinstaller(spec):
    build_main = pytest.importorskip("PyInstaller.building.build_main")
    params = inspect.signature(build_main.Analysis.__init__).parameters
    for analysis in _of(spec, Analysis):
        unknown = set(analysis.kwargs) - set(params)
        assert not unknown, f"PyInstaller's Analysis takes no {unknown}"


def _excluded(module: str, excludes: list[str]) -> bool:
    return any(module == x or module.startswith(x + ".") for x in excludes)


def test_nothing_a_real_fit_or_the_app_imports_is_excluded(spec):
    # A fresh interpreter runs a tiny fit of each task through the engine and reports what it
    # imported; then it opens the app's main window off screen and reports again.
    code = """if True:
        import json, os, sys
        import numpy as np
        import torch
        torch.set_num_threads(1)
        from dip_engine import cli, imageio, restore, selftest
        cli.build_parser()
        photo = imageio.Photo((np.random.default_rng(0).random((24, 32, 3)) * 255).astype(np.uint8))
        mask = np.zeros((24, 32), bool); mask[8:16, 10:20] = True
        for task, kw in (("denoise", {}), ("sr", {"scale": 2}), ("inpaint", {"mask": mask})):
            job = restore.Job(task, photo, preset="fast", iters=2, channels=8, stop="auto", threads=1, **kw)
            for step in restore.run(job):
                pass
            restore.metadata(job, step)
        print(json.dumps(sorted(sys.modules)))
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        import qasync
        from PySide6.QtWidgets import QApplication
        from app import main, selftest as app_selftest, worker
        from app.ui.window import MainWindow
        app = QApplication([])
        main.apply_theme(app)
        import tempfile
        from PySide6.QtCore import QSettings
        ini = os.path.join(tempfile.mkdtemp(), "settings.ini")
        window = MainWindow(QSettings(ini, QSettings.Format.IniFormat))
        print(json.dumps(sorted(sys.modules)))
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, cwd=REPO,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    engine_loaded, app_loaded = (json.loads(line) for line in out.stdout.strip().splitlines()[-2:])
    assert [m for m in engine_loaded if _excluded(m, spec["ENGINE_EXCLUDES"])] == []
    assert [m for m in app_loaded if _excluded(m, spec["EXCLUDES"])] == []


def test_build_tools_are_pinned():
    constraints = (REPO / "constraints.txt").read_text(encoding="utf-8")
    assert re.search(r"^pyinstaller==\S+$", constraints, re.MULTILINE | re.IGNORECASE)
    assert re.search(r"^pyinstaller-hooks-contrib==\S+$", constraints, re.MULTILINE | re.IGNORECASE)
    assert re.search(r'^build = \["pyinstaller', (REPO / "pyproject.toml").read_text(encoding="utf-8"), re.MULTILINE)
