"""The DR pair: a durable primary, its streaming standby and the BIND zone that names the primary.

The stack starts it with ``REHEARSAL_DR=sync|async`` (``start_dr_services`` on the stack's own primary);
tests and bench/dr.py that need only the pair start it alone::

    with DrPairRun("sync") as pair:           # /tmp state dir, free port, both servers and named
        pair.env["DR_DATABASE_HOST"]          # primary.db.rehearsal.test, served by pair.env["DNS_SERVER"]
    # stopped; pair.leftovers lists any process or runtime dir left behind (there should be none)

Both nodes listen on the same port, each on its own loopback address (pg_a 127.0.0.1, pg_b 127.0.0.2), so
an A record names a node. The env variables (same names in the stack's env file): DR_MODE,
DR_DATABASE_HOST/PORT, DR_{PRIMARY,STANDBY}_{NAME,HOST,DATA_DIR,SERVER_OPTIONS}, POSTGRES_BIN_DIR,
POSTGRES_ADMIN_DSN, DNS_SERVER/PORT/ZONE/TTL, DNS_TSIG_KEY_NAME/ALGORITHM/SECRET.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

from rehearsal.services.bind import BindServer
from rehearsal.services.postgres import (
    DR_NODE_NAMES,
    PG_BIN,
    PostgresCluster,
    dr_settings,
    free_port,
    release_runtime_dir,
    runtime_dir,
    start_dr_standby,
)


def dns_label(node_name: str) -> str:
    return node_name.replace("_", "-")  # host names have no underscores


def start_dr_services(primary: PostgresCluster, state_dir: Path, dns_port: int, mode: str, started) -> dict:
    """Standby of ``primary`` and the BIND zone; ``started(name, stop, **info)`` registers each part as it
    comes up (so a failure later still stops it). Returns the env variables."""
    link = state_dir / "postgres-standby"
    standby = start_dr_standby(primary, link)
    started("postgres-standby", lambda: (standby.stop(), release_runtime_dir(link)), mode=mode,
            address=f"{standby.host}:{standby.port}", data_dir=str(standby.data_dir))
    dns = BindServer(state_dir / "bind", dns_port, records={
        "primary": primary.host, dns_label(primary.name): primary.host, dns_label(standby.name): standby.host})
    dns.start()
    started("bind", dns.stop, address=f"{dns.host}:{dns.port}", zone=dns.zone)
    env = {**dns.env(), "DR_MODE": mode, "DR_DATABASE_HOST": dns.fqdn("primary"),
           "DR_DATABASE_PORT": str(primary.port), "POSTGRES_BIN_DIR": str(PG_BIN)}
    for role, node in (("PRIMARY", primary), ("STANDBY", standby)):
        env.update({f"DR_{role}_NAME": node.name, f"DR_{role}_HOST": node.host,
                    f"DR_{role}_DATA_DIR": str(node.data_dir), f"DR_{role}_SERVER_OPTIONS": node.server_options})
    return env


def dr_primary(state_dir: Path, port: int, mode: str) -> PostgresCluster:
    """The pair's primary (pg_a, durable settings) in a runtime dir linked from ``state_dir/postgres``."""
    return PostgresCluster(runtime_dir(state_dir / "postgres"), port, settings=dr_settings(mode), name=DR_NODE_NAMES[0])


class DrPairRun:
    """The DR pair alone, in a state dir of its own under /tmp, on a free port."""

    def __init__(self, mode: str = "sync", prefix: str = "greenlang-dr-pair-"):
        self.mode = mode
        self.prefix = prefix
        self.state_dir: Path | None = None
        self.env: dict[str, str] = {}
        self._stops: list = []
        self.leftovers: list[str] = []

    def _started(self, name, stop, **_info) -> None:
        self._stops.append((name, stop))

    def up(self) -> DrPairRun:
        from rehearsal.testing import free_ports

        self.state_dir = Path(tempfile.mkdtemp(prefix=self.prefix, dir="/tmp"))
        port, dns_port = free_port("127.0.0.1"), free_ports(1)[0]
        try:
            primary = dr_primary(self.state_dir, port, self.mode)
            primary.init().start()
            self._started("postgres", lambda: (primary.stop(), release_runtime_dir(self.state_dir / "postgres")))
            self.env = start_dr_services(primary, self.state_dir, dns_port, self.mode, self._started)
            self.env.update(POSTGRES_ADMIN_DSN=primary.dsn("postgres"), POSTGRES_USER=primary.user,
                            POSTGRES_PASSWORD=primary.password, REHEARSAL_STATE_DIR=str(self.state_dir))
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> list[str]:
        """Stop everything (reverse order), remove the runtime dirs and the state dir; returns what was left."""
        from rehearsal.testing import processes_referring_to

        if self.state_dir is None:
            return []
        while self._stops:
            _name, stop = self._stops.pop()
            with contextlib.suppress(Exception):
                stop()
        # Processes started afterwards by the tests (a rejoined node) stop through the same data dirs.
        for link in self.state_dir.glob("postgres*"):
            with contextlib.suppress(Exception):
                PostgresCluster(link, 0).stop()
            release_runtime_dir(link)
        left = processes_referring_to(self.state_dir)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.state_dir, self.leftovers = None, left
        return left

    def __enter__(self) -> DrPairRun:
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()


def main(argv: list[str] | None = None) -> int:
    """``python -m rehearsal.services.dr_pair serve --mode sync --env-file F``: the pair in the foreground until
    SIGTERM (molecule's create starts it, destroy stops it); the env variables go to F (mode 0600) as
    ``export NAME=value`` lines, and as a JSON object to F with the suffix .json, written once the pair is up."""
    import argparse
    import json
    import shlex
    import signal
    import threading

    parser = argparse.ArgumentParser(prog="python -m rehearsal.services.dr_pair")
    parser.add_argument("action", choices=["serve"])
    parser.add_argument("--mode", choices=["sync", "async"], default="sync")
    parser.add_argument("--env-file", type=Path, required=True)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with DrPairRun(args.mode) as pair:
        tmp = args.env_file.with_suffix(".tmp")
        tmp.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(pair.env.items())))
        tmp.chmod(0o600)
        as_json = args.env_file.with_suffix(".json")  # the same, for readers that do not speak shell quoting
        as_json.write_text(json.dumps(pair.env, indent=1))
        as_json.chmod(0o600)
        tmp.replace(args.env_file)
        stop.wait()
    args.env_file.unlink(missing_ok=True)
    args.env_file.with_suffix(".json").unlink(missing_ok=True)
    return 0 if not pair.leftovers else 1


if __name__ == "__main__":
    import sys

    sys.exit(main())
