"""Helpers shared by the benchmark scripts: a service under uvicorn on loopback, memory, output."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH_KEY = "dk_benchmark_key_0123456789abcdefghij"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def service(var_dir: Path, **env: str):
    """`main.py serve` in a subprocess with its own SQLite file; yields (base_url, pid)."""
    port = free_port()
    environment = {**os.environ, "DUNNING_DATABASE_URL": f"sqlite:///{var_dir / 'dunning.db'}",
                   "DUNNING_VAR_DIR": str(var_dir), "DUNNING_EMBEDDED_WORKER": "false",
                   "DUNNING_BOOTSTRAP_API_KEY": BENCH_KEY, "DUNNING_PORT": str(port), **env}
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "serve"], env=environment, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/v1/customers", headers=auth_header()).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the service did not start")
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


def auth_header() -> dict[str, str]:
    return {"Authorization": f"Bearer {BENCH_KEY}"}


def peak_rss_mb(pid: int | None = None) -> float:
    """VmHWM: the resident-set high-water mark of a process (this one by default)."""
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    line = next(l for l in status.splitlines() if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def report(title: str, rows: list[tuple[str, str]]) -> None:
    print(title)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
