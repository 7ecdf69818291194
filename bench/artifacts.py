"""Stream a large artifact through aiotrack's proxy and compare with a plain disk copy.

    python bench/artifacts.py                # 1 GiB, local destination in a temp dir
    python bench/artifacts.py --size-mib 256 --dir /mnt/fast

Uploads (PUT) and downloads (GET) one generated file through ``/api/2.0/mlflow-artifacts`` of a
real ``aiotrack server`` process, checks that the sha256 of what comes back is identical,
samples the server's RSS (``VmRSS`` in /proc/<pid>/status, server and children) every 20 ms
during each transfer, and times ``shutil.copyfile`` of the same file on the same disk.
Prints one small table; exit status 1 when the bytes differ.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.servers import free_port  # noqa: E402

__all__ = ["TransferError", "download", "generate", "sha256", "upload"]

CHUNK = 1024 * 1024


class TransferError(RuntimeError):
    """An upload or download through the proxy did not complete."""


def _rss_kib(pid: int) -> int:
    total = 0
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            pids.extend(int(c) for c in children)
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


class RssSampler:
    """Peak RSS of a process tree while the ``with`` block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_kib(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def generate(path: Path, size: int) -> None:
    """Write ``size`` bytes of incompressible, never-repeating data to ``path``."""
    block = os.urandom(16 * CHUNK)
    with path.open("wb") as f:
        written = 0
        while written < size:
            n = min(len(block), size - written)
            # Vary every block so that nothing downstream can deduplicate.
            f.write(written.to_bytes(8, "little") + block[8:n] if n > 8 else block[:n])
            written += n


def sha256(path: Path) -> str:
    """Hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(8 * CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("aiotrack exited during start-up")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("aiotrack did not become healthy")


def upload(port: int, target: str, source: Path) -> None:
    """PUT ``source`` to ``target`` on 127.0.0.1:``port``, streamed from the file with a
    ``Content-Length``; raise :class:`TransferError` unless the answer is 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600, blocksize=CHUNK)
    with source.open("rb") as f:
        conn.request(
            "PUT",
            target,
            body=f,
            headers={
                "Content-Length": str(source.stat().st_size),
                "Content-Type": "application/octet-stream",
            },
        )
        resp = conn.getresponse()
        resp.read()
    if resp.status != 200:
        raise TransferError(f"upload failed: HTTP {resp.status}")


def download(port: int, target: str, dest: Path) -> int:
    """GET ``target`` into ``dest`` over a raw socket (http.client's reads would be the limit)."""
    with socket.create_connection(("127.0.0.1", port), timeout=600) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        buffer = bytearray(4 * CHUNK)
        view = memoryview(buffer)
        head = b""
        while b"\r\n\r\n" not in head:
            n = sock.recv_into(view)
            if not n:
                raise TransferError("download failed: connection closed")
            head += bytes(view[:n])
        header, _, first = head.partition(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        if status != 200:
            raise TransferError(f"download failed: HTTP {status}")
        lengths = [
            int(line.split(b":", 1)[1])
            for line in header.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ]
        if not lengths:
            raise TransferError("download failed: the response has no Content-Length")
        length = lengths[0]
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, first)
            remaining = length - len(first)
            while remaining > 0:
                n = sock.recv_into(view, min(len(buffer), remaining))
                if not n:
                    raise TransferError("download failed: connection closed early")
                os.write(fd, view[:n])
                remaining -= n
        finally:
            os.close(fd)
    return length


def _drop_caches() -> None:
    """Write dirty pages out and drop the page cache (needs root), as before a cold copy."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--dir", default=None, help="where files and the destination live")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="drop the page cache (root) before every transfer, so each one reads from disk",
    )
    args = parser.parse_args()
    try:
        _compare(args)
    except TransferError as exc:
        raise SystemExit(str(exc)) from None


def _compare(args: argparse.Namespace) -> None:
    settle = _drop_caches if args.cold else (lambda: None)
    size = args.size_mib * CHUNK

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="aiotrack-bench-") as tmp:
        work = Path(tmp)
        source = work / "source.bin"
        print(f"generating {args.size_mib} MiB ...", flush=True)
        generate(source, size)

        settle()
        start = time.perf_counter()
        shutil.copyfile(source, work / "copy.bin")
        copy_s = time.perf_counter() - start
        (work / "copy.bin").unlink()

        port = free_port()
        log = (work / "server.log").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "aiotrack", "server",
                "--backend-store-uri", f"sqlite:///{work / 'db.sqlite'}",
                "--artifacts-destination", str(work / "dest"),
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            ],
            stdout=log, stderr=subprocess.STDOUT, cwd=work,
        )  # fmt: skip
        try:
            _wait_healthy(port, proc)
            baseline = _rss_kib(proc.pid)
            target = "/api/2.0/mlflow-artifacts/artifacts/bench/run/artifacts/source.bin"
            settle()
            with RssSampler(proc.pid) as up_rss:
                cpu, start = _cpu_s(proc.pid), time.perf_counter()
                upload(port, target, source)
                up_s, up_cpu = time.perf_counter() - start, _cpu_s(proc.pid) - cpu
            settle()
            with RssSampler(proc.pid) as down_rss:
                cpu, start = _cpu_s(proc.pid), time.perf_counter()
                length = download(port, target, work / "downloaded.bin")
                down_s, down_cpu = time.perf_counter() - start, _cpu_s(proc.pid) - cpu
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()

        same = sha256(source) == sha256(work / "downloaded.bin") and length == size
        mib = size / CHUNK
        rows = [
            ("disk copy (shutil.copyfile)", copy_s, None, None),
            ("upload through proxy (PUT)", up_s, up_rss.peak - baseline, up_cpu),
            ("download through proxy (GET)", down_s, down_rss.peak - baseline, down_cpu),
        ]
        print(
            f"\n{'transfer of ' + str(args.size_mib) + ' MiB':32} {'seconds':>8} {'MiB/s':>8} "
            f"{'vs copy':>8} {'RSS growth':>11} {'server CPU s':>12}"
        )
        for name, seconds, growth, cpu_s in rows:
            rss = f"{growth / 1024:.1f} MiB" if growth is not None else "-"
            cpu_text = f"{cpu_s:.2f}" if cpu_s is not None else "-"
            print(
                f"{name:32} {seconds:8.2f} {mib / seconds:8.0f} {copy_s / seconds:8.0%} {rss:>11}"
                f" {cpu_text:>12}"
            )
        print(f"\nserver RSS before transfers: {baseline / 1024:.1f} MiB; sha256 identical: {same}")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
