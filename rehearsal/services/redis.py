"""A real Redis (Debian's /usr/bin/redis-server) for the rehearsal stack: the cache VCCI's hit rate
is about, and what the launch's pre-flight checks is reachable.

    cache = RedisServer("/tmp/x/redis", 16379).start()   # waits until it answers PING
    cache.url                                           # redis://:<password>@127.0.0.1:16379/0
    cache.stop()

Loopback only, with a password (``requirepass``) as a production Redis has, no persistence (the
rehearsal's cache is disposable). The password is generated once per data dir and kept in it (0600).
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

from rehearsal.services.daemon import ServiceProcess

REDIS_BIN = os.environ.get("REHEARSAL_REDIS_BIN", "/usr/bin/redis-server")


def redis_command(host: str, port: int, *args: str, password: str | None = None, timeout: float = 2) -> str:
    """Send one command (RESP) and return the first reply line without its type byte."""
    def encode(*parts: str) -> bytes:
        return f"*{len(parts)}\r\n".encode() + b"".join(f"${len(p.encode())}\r\n{p}\r\n".encode() for p in parts)

    with socket.create_connection((host, port), timeout=timeout) as sock:
        if password:
            sock.sendall(encode("AUTH", password))
            reply = sock.recv(256)
            if not reply.startswith(b"+OK"):
                raise OSError(f"redis AUTH refused: {reply.decode(errors='replace').strip()}")
        sock.sendall(encode(*args))
        return sock.recv(4096).decode(errors="replace").split("\r\n", 1)[0][1:]


class RedisServer:
    def __init__(self, data_dir: str | os.PathLike, port: int, host: str = "127.0.0.1", binary: str = REDIS_BIN):
        self.data_dir = Path(data_dir).resolve()
        self.host, self.port, self.binary = host, int(port), binary
        self._process: ServiceProcess | None = None

    @property
    def password(self) -> str:
        path = self.data_dir / "password"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(18))
        return path.read_text().strip()

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{self.host}:{self.port}/0"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "redis.conf"

    def write_config(self) -> None:
        # The password sits in a 0600 config file, not on the command line (visible in ps).
        self.config_file.touch(mode=0o600)
        self.config_file.write_text("\n".join([
            f"bind {self.host}", f"port {self.port}", "protected-mode yes", f"dir {self.data_dir}",
            'save ""', "appendonly no", "daemonize no", "loglevel warning", f"requirepass {self.password}",
            "maxmemory 64mb", "maxmemory-policy allkeys-lru", ""]))

    def ping(self) -> bool:
        return redis_command(self.host, self.port, "PING", password=self.password, timeout=1) == "PONG"

    def start(self, timeout: float = 20) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        self._process = ServiceProcess("redis", [self.binary, str(self.config_file)], self.data_dir,
                                       # redis-server retitles itself "redis-server host:port" once it runs.
                                       markers=(str(self.config_file), f"{self.host}:{self.port}"))
        self._process.start(self.ping, timeout)
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
