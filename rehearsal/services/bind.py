"""A BIND 9 authoritative server for the rehearsal stack's DR zone, with TSIG-signed RFC 2136 updates.

Typical use::

    dns = BindServer("/tmp/x/bind", 15353, records={"primary": "127.0.0.1"})
    dns.start()                   # named (Debian bind9) on 127.0.0.1:15353, zone db.rehearsal.test
    dns.resolve("primary")        # '127.0.0.1' (dnspython, straight to this server)
    dns.stop()

The zone accepts dynamic updates (``community.general.nsupdate``, ``nsupdate -y``) signed with the
key ``dns.key_name`` (hmac-sha256, secret generated at start, in ``dns.key_secret``) for names in the
zone only; queries are answered from loopback only and recursion is off. Records get a short TTL
(``ttl``, 1 s by default) so that clients that honour it follow a switch within a second.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

NAMED = os.environ.get("REHEARSAL_NAMED", "/usr/sbin/named")
ZONE = "db.rehearsal.test"
KEY_NAME = "dr-update"
KEY_ALGORITHM = "hmac-sha256"


class BindError(RuntimeError):
    """named did not start or answer; the message carries the end of its log."""


class BindServer:
    """One ``named`` process serving ``zone`` on ``host:port`` from files under ``directory``."""

    def __init__(self, directory: str | os.PathLike, port: int, *, records: dict[str, str], zone: str = ZONE,
                 host: str = "127.0.0.1", ttl: int = 1):
        self.directory = Path(directory).resolve()
        self.port = int(port)
        self.host = host
        self.zone = zone
        self.ttl = int(ttl)
        self.records = dict(records)  # relative name -> IPv4 address
        self.key_name = KEY_NAME
        self.key_algorithm = KEY_ALGORITHM
        self.key_secret = base64.b64encode(secrets.token_bytes(32)).decode()
        self._proc: subprocess.Popen | None = None

    @property
    def log_file(self) -> Path:
        return self.directory / "named.log"

    def fqdn(self, name: str) -> str:
        return f"{name}.{self.zone}"

    def _write_files(self) -> Path:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        for stale in d.glob("*.jnl"):  # a journal from an earlier run would replay its updates
            stale.unlink()
        key = d / "update.key"
        key.write_text(f'key "{self.key_name}" {{ algorithm {self.key_algorithm}; secret "{self.key_secret}"; }};\n')
        key.chmod(0o600)
        lines = [f"$TTL {self.ttl}",
                 f"@ IN SOA ns.{self.zone}. hostmaster.{self.zone}. ({int(time.time())} 60 30 600 {self.ttl})",
                 f"@ IN NS ns.{self.zone}.", f"ns IN A {self.host}"]
        lines += [f"{name} IN A {address}" for name, address in sorted(self.records.items())]
        (d / "zone.db").write_text("\n".join(lines) + "\n")
        conf = d / "named.conf"
        conf.write_text(f"""// written by rehearsal.services.bind
include "{key}";
options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {self.port} {{ {self.host}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    allow-query {{ 127.0.0.0/8; }};
    allow-transfer {{ none; }};
    dnssec-validation no;
    notify no;
}};
controls {{ }};
zone "{self.zone}" {{
    type primary;
    file "{d}/zone.db";
    update-policy {{ grant {self.key_name} zonesub ANY; }};
}};
""")
        proc = subprocess.run(["named-checkconf", "-z", str(conf)], capture_output=True, text=True, timeout=30,
                              check=False)
        if proc.returncode != 0:
            raise BindError(f"named-checkconf refused {conf}: {proc.stdout.strip()} {proc.stderr.strip()}")
        return conf

    def start(self, timeout: float = 30) -> BindServer:
        """Write the configuration and zone, start named in the foreground, wait until it answers."""
        conf = self._write_files()
        log = open(self.log_file, "ab")  # noqa: SIM115 - named's stderr for its whole life
        # -g: foreground, log to stderr; -n 1: one worker (two shared cores); no -u: root keeps the journal writable.
        self._proc = subprocess.Popen([NAMED, "-g", "-4", "-n", "1", "-c", str(conf)], stdout=log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            with contextlib.suppress(Exception):
                self.query_soa()
                return self
            time.sleep(0.1)
        tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-15:])
        self.stop()
        raise BindError(f"named on {self.host}:{self.port} did not answer within {timeout}s:\n{tail}")

    def query_soa(self):
        import dns.message
        import dns.query

        reply = dns.query.udp(dns.message.make_query(self.zone, "SOA"), self.host, port=self.port, timeout=1)
        if not reply.answer:
            raise BindError(f"no SOA for {self.zone}")
        return reply

    def resolve(self, name: str) -> str | None:
        """The A record of ``name`` (relative to the zone, or absolute with a trailing dot), None if absent."""
        import dns.message
        import dns.query
        import dns.rdatatype

        fqdn = name if name.endswith(".") else self.fqdn(name)
        reply = dns.query.udp(dns.message.make_query(fqdn, "A"), self.host, port=self.port, timeout=2)
        for rrset in reply.answer:
            if rrset.rdtype == dns.rdatatype.A:
                return rrset[0].address
        return None

    def env(self) -> dict[str, str]:
        """What clients need: server, port, zone and the update key (secret: the env file is 0600 state)."""
        return {"DNS_SERVER": self.host, "DNS_PORT": str(self.port), "DNS_ZONE": self.zone,
                "DNS_TSIG_KEY_NAME": self.key_name, "DNS_TSIG_KEY_ALGORITHM": self.key_algorithm,
                "DNS_TSIG_KEY_SECRET": self.key_secret, "DNS_TTL": str(self.ttl)}

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; only our own child."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
