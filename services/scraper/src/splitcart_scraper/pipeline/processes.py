"""Starting the sandbox and the services as processes (or in-process), and stopping them."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICES = ("scheduler", "ingest", "grouper", "archiver", "scraper")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def splitcart_command() -> list[str]:
    exe = shutil.which("splitcart")
    return [exe] if exe else [sys.executable, "-m", "splitcart_shared.cli"]


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    url: str

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        if not self.alive():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class ProcessGroup:
    processes: list[Process] = field(default_factory=list)

    def start(
        self, name: str, args: list[str], env: dict[str, str], log_dir: Path, url: str
    ) -> Process:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        handle = log_path.open("wb")
        popen = subprocess.Popen(
            splitcart_command() + args,
            env={**os.environ, **env},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = Process(name, popen, log_path, url)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def wait_ready(process: Process, path: str, timeout: float = 180.0) -> None:
    """Poll ``process.url + path`` until it answers 200; fail with the log tail if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited during start-up:\n{process.tail()}")
        try:
            if httpx.get(process.url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} not ready after {timeout}s:\n{process.tail()}")
