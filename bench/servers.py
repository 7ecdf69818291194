"""Start and stop the servers under benchmark, and sample their memory.

Each server runs in its own session so that the whole process tree (uvicorn workers of
``mlflow server``) can be measured and stopped. Everything binds to 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Server",
    "ServerSpec",
    "free_port",
    "mlflow_version",
    "reference_venv",
    "rss_bytes",
    "tree_cpu_seconds",
    "tree_pids",
]

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reference_venv() -> Path:
    """The virtualenv whose ``bin/mlflow`` is the reference server: ``AIOTRACK_MLFLOW_REFERENCE``,
    else ``.venv-ref`` of the repository (MLflow 3.17.2)."""
    return Path(os.environ.get("AIOTRACK_MLFLOW_REFERENCE", REPO / ".venv-ref"))


def mlflow_version(venv: Path) -> str:
    """The MLflow version installed in ``venv`` (from its dist-info), or "" if none is."""
    for info in sorted(venv.glob("lib/python*/site-packages/mlflow-*.dist-info")):
        return info.name.removeprefix("mlflow-").removesuffix(".dist-info")
    return ""


@dataclass(frozen=True)
class ServerSpec:
    """What to run: ``kind`` is ``aiotrack``, ``mlflow`` or ``noop`` (`bench.noop`);
    ``workers`` for mlflow; ``venv`` the reference virtualenv (default `reference_venv`).
    An mlflow server from an explicit ``venv`` is labelled with its version."""

    kind: str
    workers: int = 1
    venv: Path | None = None

    @property
    def label(self) -> str:
        if self.kind == "mlflow":
            version = mlflow_version(self.venv) if self.venv is not None else ""
            return f"mlflow {version + ' ' if version else ''}{self.workers}w"
        return "no-op" if self.kind == "noop" else "aiotrack"


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU time of ``root`` and its descendants (clock ticks -> s)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / ticks


def tree_rss_bytes(root: int) -> int:
    """Resident memory of ``root`` and its descendants, bytes."""
    return rss_bytes(tree_pids(root))


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of the processes ``pids`` (those still alive), bytes."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


@dataclass
class Server:
    """A running server with a background RSS sampler (``peak_rss`` in bytes)."""

    spec: ServerSpec
    backend_uri: str
    workdir: Path
    url: str = ""
    process: subprocess.Popen[bytes] | None = None
    peak_rss: int = 0
    _stop_sampler: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
        if self.spec.kind == "aiotrack":
            cmd = [sys.executable, "-m", "aiotrack", "server", "--backend-store-uri",
                   self.backend_uri, "--host", "127.0.0.1", "--port", str(port),
                   "--log-level", "warning"]  # fmt: skip
        elif self.spec.kind == "noop":
            cmd = [sys.executable, "-m", "bench.noop", str(port)]
            env["PYTHONPATH"] = str(REPO)
        else:
            venv = self.spec.venv or reference_venv()
            uri = self.backend_uri.replace("postgresql://", "postgresql+psycopg2://", 1)
            cmd = [str(venv / "bin" / "mlflow"), "server", "--backend-store-uri", uri,
                   "--host", "127.0.0.1", "--port", str(port),
                   "--workers", str(self.spec.workers)]  # fmt: skip
            env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        log = (self.workdir / f"{self.spec.label.replace(' ', '-')}.log").open("wb")
        self.process = subprocess.Popen(
            cmd, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.spec.label} exited during start-up; see {log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.spec.label} did not start within 120 s")
            time.sleep(0.2)
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        assert self.process is not None
        while not self._stop_sampler.wait(0.1):
            self.peak_rss = max(self.peak_rss, tree_rss_bytes(self.process.pid))

    def cpu_seconds(self) -> float:
        assert self.process is not None
        return tree_cpu_seconds(self.process.pid)

    def wait_idle(self, *, busy: float = 0.1, limit: float = 600.0) -> float:
        """Block until the server's process tree uses less than ``busy`` of a core over a
        second (at most ``limit`` s); return the seconds waited.

        A server that answers slower than it is asked (``mlflow server`` under the mixed
        scenario) still holds thousands of queued requests when the load generator stops; the
        next scenario would otherwise be measured against that backlog, or fail on it."""
        t0 = time.monotonic()
        before = self.cpu_seconds()
        while time.monotonic() - t0 < limit:
            time.sleep(1.0)
            now = self.cpu_seconds()
            if now - before < busy:
                break
            before = now
        return time.monotonic() - t0

    def stop(self) -> None:
        self._stop_sampler.set()
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
