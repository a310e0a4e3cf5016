"""`RayPool`: a batch's photos fitted as tasks on a Ray cluster (the optional 'cluster' extra).

Each task gets the loaded photo and returns the result; the batch process writes the outputs and
the manifest, so the cluster's nodes need DIP Studio installed but no shared folder. A task asks
for a GPU when the cluster has GPUs, else for `threads` CPUs.
"""
from __future__ import annotations

from .. import restore
from .workers import fit_photo, one_line

MISSING = ("Ray is not installed: install the cluster extra (pip install 'dip-studio[cluster]'), "
           "or run the batch without --ray")


class ClusterError(RuntimeError):
    """Ray is missing or the cluster cannot be reached; str() is one line."""


def _ray():
    try:
        import ray
    except ImportError:
        raise ClusterError(MISSING) from None
    return ray


def _task(key: str, job: restore.Job, progress) -> tuple:
    def report(p: dict) -> None:
        try:
            progress.put_nowait((key, p))
        except Exception:  # noqa: BLE001 - progress is best effort; the result is what counts
            pass
    try:
        return "done", fit_photo(job, report)
    except Exception as e:  # noqa: BLE001 - reported as this photo's failure
        return "failed", one_line(e)


class RayPool:
    """Photos as Ray tasks. `address`: a cluster's address (None: RAY_ADDRESS, or a new local
    instance); `init`: more arguments for ray.init (tests: num_cpus=2)."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, threads: int | None = None,
                 init: dict | None = None):
        self.address, self._workers, self.threads, self._init = address, workers, threads or 1, init or {}
        self._own = False
        self._refs: dict = {}
        self.gpus = 0

    def start(self) -> None:
        ray = _ray()
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False, **self._init)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise ClusterError(f"cannot reach the Ray cluster at {self.address or 'RAY_ADDRESS'}: "
                                   f"{one_line(e)}: check the address, or run without --ray") from None
            self._own = True
        from ray.util.queue import Queue
        res = ray.cluster_resources()
        self.gpus = int(res.get("GPU", 0))
        cpus = max(1, int(res.get("CPU", 1)))
        self.threads = min(self.threads, cpus)
        self.workers = self._workers or (self.gpus or max(1, cpus // self.threads))
        self._fn = ray.remote(_task).options(num_cpus=self.threads, num_gpus=1 if self.gpus else 0, max_retries=0)
        self._progress = Queue()

    def describe(self) -> str:
        per = f"1 GPU + {self.threads} CPU" if self.gpus else f"{self.threads} CPU"
        return f"Ray: up to {self.workers} tasks at once, {per} each"

    @property
    def capacity(self) -> int:
        return self.workers

    def submit(self, key: str, job: restore.Job) -> None:
        job.threads = self.threads
        self._refs[self._fn.remote(key, job, self._progress)] = key

    def poll(self, timeout: float) -> list[tuple]:
        ray = _ray()
        out: list[tuple] = []
        if self._refs:
            ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=timeout)
            if ready:
                more, _ = ray.wait(list(self._refs), num_returns=len(self._refs), timeout=0)
                ready = list(dict.fromkeys(ready + more))
        else:
            ready = []
        while not self._progress.empty():
            try:
                key, p = self._progress.get_nowait()
            except Exception:  # noqa: BLE001 - emptied meanwhile
                break
            if key in self._refs.values():
                out.append(("progress", key, p))
        for ref in ready:
            key = self._refs.pop(ref)
            try:
                state, value = ray.get(ref)
            except Exception as e:  # noqa: BLE001 - a task or node that died
                state, value = "failed", f"the Ray task failed: {one_line(e)}: run the batch again to retry"
            out.append((state, key, value))
        return out

    def running(self) -> list[str]:
        return list(self._refs.values())

    def pause(self, on: bool) -> None:
        """Tasks on a cluster cannot be paused: the batch only stops handing out photos."""

    def abort(self) -> None:
        ray = _ray()
        for ref in list(self._refs):
            ray.cancel(ref, force=True)
        self._refs.clear()
        self.close()

    def close(self) -> None:
        if self._own:
            _ray().shutdown()
            self._own = False
