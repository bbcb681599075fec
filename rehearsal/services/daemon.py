"""Start, wait for and stop one server process of the rehearsal stack (Redis, the image registry).

The process gets its own session (so the stack's ``down`` can kill what is left of it), logs to a file
beside its data, and records its pid so a later process can stop it; ``stop`` only signals a pid whose
command line still names this service's config, never a recycled one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class ServiceError(RuntimeError):
    """The server did not start; the message says why (with the end of its log)."""


class ServiceProcess:
    def __init__(self, name: str, argv: list[str], data_dir: Path, markers: tuple[str, ...]):
        """``markers``: strings of which the live process's command line shows at least one."""
        self.name, self.argv, self.data_dir, self.markers = name, argv, Path(data_dir), markers
        self._proc: subprocess.Popen | None = None

    @property
    def log_file(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / f"{self.name}.pid"

    def start(self, ready: Callable[[], bool], timeout: float = 30) -> None:
        with open(self.log_file, "ab") as log:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          start_new_session=True)
        self.pid_file.write_text(f"{self._proc.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServiceError(f"{self.name} exited with {self._proc.returncode}: {self.log_tail()}")
            with contextlib.suppress(OSError):
                if ready():
                    return
            time.sleep(0.1)
        self.stop()
        raise ServiceError(f"{self.name} not ready after {timeout}s: {self.log_tail()}")

    def _pid(self) -> int | None:
        if self._proc is not None:
            return self._proc.pid
        with contextlib.suppress(OSError, ValueError):
            return int(self.pid_file.read_text().strip())
        return None

    def _alive(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None  # also reaps our child
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
        return any(marker in cmdline for marker in self.markers)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL after ``timeout``."""
        pid = self._pid()
        if pid and self._alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self._alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if self._alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                while self._alive(pid) and time.monotonic() < deadline + 5:
                    time.sleep(0.05)
        self._proc = None
        self.pid_file.unlink(missing_ok=True)

    def running(self) -> bool:
        pid = self._pid()
        return bool(pid) and self._alive(pid)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
