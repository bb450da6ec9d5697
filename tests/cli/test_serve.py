"""`main.py serve` as a process: JSON logs one object per line, the start-up block, and a clear
refusal (exit 1, before any start-up) when the port is taken."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTED = "Application startup complete"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUNNING_")}
    env.update(DUNNING_VAR_DIR=str(tmp_path / "var"), DUNNING_PORT=str(port), DUNNING_EMBEDDED_WORKER="true")
    return env


class Server:
    """A `serve` process whose stderr lines are collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path):
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), "serve", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.started = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))
            if STARTED in line:
                self.started.set()
        self.started.set()  # ended without starting: the waiter looks at the lines

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=10)


@pytest.fixture
def served(tmp_path):
    port = free_port()
    env = environment(tmp_path, port)
    server = Server(["--json"], env, tmp_path)
    try:
        assert server.started.wait(timeout=120), "serve did not start in 120 s"
        assert server.process.poll() is None, server.lines
        yield server, port, env
    finally:
        server.stop()


def test_serve_logs_json_lines_and_a_second_serve_on_the_port_says_it_is_taken(served, tmp_path):
    server, port, env = served
    assert httpx.get(f"http://127.0.0.1:{port}/v1/customers").status_code == 401
    second = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 1
    said = " ".join((second.stdout + second.stderr).split())
    assert f"port {port} is in use on 127.0.0.1" in said and "set DUNNING_PORT" in said
    assert STARTED not in said and "Traceback" not in said
    server.stop()

    records = [json.loads(line) for line in server.lines if line.strip()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    startup = next(r for r in records if r["message"].startswith("starting:"))
    assert startup["startup"]["database"] == f"sqlite:///{tmp_path / 'var' / 'dunning.db'}"
    assert startup["startup"]["public_url"].startswith(f"http://127.0.0.1:{port} ")
    assert startup["startup"]["worker"].startswith("embedded: cycle every 300 s")
    assert any(
        r["logger"] == "uvicorn.access" and "GET /v1/customers" in r["message"] and "401" in r["message"]
        for r in records
    )
    assert (tmp_path / "var" / "dunning.db").exists()  # DUNNING_VAR_DIR holds the default database
