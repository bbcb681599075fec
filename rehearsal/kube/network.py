"""Pod networking for the node agent: a bridge per stack, a network namespace and a veth per pod.

kube-apiserver refuses loopback addresses in EndpointSlices, so every pod gets an address of its own
from a /24 the stack picks among 10.244.0.0/16 (one not already on an interface of this machine). The
host end of the bridge carries the subnet's first address: nginx, Prometheus and the probes reach pods
through it. Names derive from the state dir, so `down` (or a later `down` after a crash) finds and
removes every namespace, veth and the bridge of that stack and nothing of another one.

Services the host runs on loopback (PostgreSQL, Redis) are offered inside each pod's namespace on the
same 127.0.0.1 ports by a relay, so a DSN written for the host works unchanged from a pod: the relay
listens in the pod's namespace (a socket stays in the namespace it was created in) and connects from
the host's.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import ipaddress
import logging
import os
import selectors
import socket
import subprocess
import threading
from pathlib import Path

log = logging.getLogger(__name__)

IP = "/usr/sbin/ip"
POD_NETWORK = ipaddress.ip_network("10.244.0.0/16")
NETNS_ETC = Path("/etc/netns")
LOCK_FILE = "/run/lock/greenlang-rehearsal-net.lock"
CLONE_NEWNET = 0x40000000


class NetworkError(RuntimeError):
    pass


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([IP, *args], capture_output=True, text=True, timeout=30, check=False)
    if check and proc.returncode != 0:
        raise NetworkError(f"`ip {' '.join(args)}` failed: {proc.stderr.strip()}")
    return proc


def stack_tag(state_dir: Path) -> str:
    return hashlib.sha256(str(Path(state_dir).resolve()).encode()).hexdigest()[:7]


def bridge_mac(tag: str) -> str:
    """A locally administered unicast MAC (02:...) of the stack ``tag``."""
    digest = hashlib.sha256(f"bridge {tag}".encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


def _used_networks() -> list[ipaddress.IPv4Network]:
    out = _ip("-4", "-o", "addr", "show").stdout
    nets = []
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            nets.append(ipaddress.ip_interface(parts[parts.index("inet") + 1]).network)
    return nets


class PodNetwork:
    """The bridge of one stack and the namespaces of its pods."""

    def __init__(self, state_dir: Path):
        self.tag = stack_tag(state_dir)
        self.bridge = f"glbr{self.tag}"
        self.netns_prefix = f"gl{self.tag}-"
        self.subnet: ipaddress.IPv4Network | None = None
        self.gateway = ""
        self._next = 2
        self._free: list[int] = []
        self._pods: dict[str, tuple[str, str]] = {}  # pod uid -> (netns, ip)
        self._counter = 0
        self._lock = threading.Lock()
        self.relay = LoopbackRelay()

    # -- the bridge --------------------------------------------------------------------------------

    def create(self) -> PodNetwork:
        remove_leftovers(self.tag)
        Path(LOCK_FILE).parent.mkdir(parents=True, exist_ok=True)
        with open(LOCK_FILE, "w") as lock:  # two stacks starting at once must not pick the same /24
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = _used_networks()
            candidates = list(POD_NETWORK.subnets(new_prefix=24))
            start = int(self.tag, 16) % len(candidates)
            for subnet in candidates[start:] + candidates[:start]:
                if not any(subnet.overlaps(u) for u in used):
                    break
            else:
                raise NetworkError(f"no free /24 left in {POD_NETWORK}")
            self.subnet = subnet
            self.gateway = str(subnet.network_address + 1)
            # A bridge without an address of its own takes its lowest port's MAC, so a pod's veth could
            # change it: the kernel then drops every neighbour entry on it and the pods' entries for the
            # gateway point at a MAC that is gone. A fixed, locally administered MAC keeps both.
            _ip("link", "add", self.bridge, "address", bridge_mac(self.tag), "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/{subnet.prefixlen}", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        self.relay.start()
        return self

    def destroy(self) -> None:
        self.relay.stop()
        remove_leftovers(self.tag)

    # -- pods --------------------------------------------------------------------------------------

    def _allocate(self) -> str:
        """A never used address while the /24 has one, then the longest released (what a client may still
        hold for an address, a connection or a cached entry, is then least likely to reach the new pod)."""
        if self._next < self.subnet.num_addresses - 1:
            self._next += 1
            return str(self.subnet.network_address + self._next - 1)
        if self._free:
            return str(self.subnet.network_address + self._free.pop(0))
        raise NetworkError(f"no pod address left in {self.subnet}")

    def attach(self, uid: str, relay_ports: tuple[int, ...] = ()) -> tuple[str, str]:
        """(netns name, pod IP) for a pod, creating them on first call."""
        with self._lock:
            if uid in self._pods:
                return self._pods[uid]
            self._counter += 1
            ip = self._allocate()
            netns = f"{self.netns_prefix}{self._counter}"
            host_end = f"glv{self.tag}{self._counter:x}"[:15]
            self._pods[uid] = (netns, ip)
        try:
            _ip("netns", "add", netns)
            self._write_netns_etc(netns, ip)
            _ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", netns)
            _ip("link", "set", host_end, "master", self.bridge, "up")
            _ip("-n", netns, "addr", "add", f"{ip}/{self.subnet.prefixlen}", "dev", "eth0")
            _ip("-n", netns, "link", "set", "lo", "up")
            _ip("-n", netns, "link", "set", "eth0", "up")
            _ip("-n", netns, "route", "add", "default", "via", self.gateway)
            # The host may still hold the MAC of the pod that had this address before: it would send there
            # for seconds (stale, delay, probe) and the new pod's probes would time out meanwhile.
            _ip("neigh", "flush", "to", ip, "dev", self.bridge, check=False)
            for port in relay_ports:
                self.relay.offer(netns, port)
        except Exception:
            self.detach(uid)
            raise
        return netns, ip

    def detach(self, uid: str) -> None:
        with self._lock:
            entry = self._pods.pop(uid, None)
        if entry is None:
            return
        netns, ip = entry
        self.relay.withdraw(netns)
        _ip("netns", "del", netns, check=False)  # takes its veth pair (and the bridge port) with it
        _remove_netns_etc(netns)
        with self._lock:
            self._free.append(int(ipaddress.ip_address(ip)) - int(self.subnet.network_address))

    @staticmethod
    def _write_netns_etc(netns: str, ip: str) -> None:
        """`ip netns exec` bind-mounts /etc/netns/<name>/* over /etc: no name server inside the pod (the
        host's is unreachable from the bridge, and a lookup there would hang, e.g. http.server's getfqdn)."""
        etc = NETNS_ETC / netns
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text("# rehearsal pod: no name server, /etc/hosts only\n"
                                         "options attempts:1 timeout:1\n")
        (etc / "hosts").write_text(f"127.0.0.1 localhost\n::1 localhost\n{ip} {netns}\n")

    def netns_of(self, uid: str) -> str | None:
        entry = self._pods.get(uid)
        return entry[0] if entry else None


def leftovers(tag: str) -> list[str]:
    """Namespaces, veths and the bridge of the stack ``tag`` that exist right now."""
    found = [f"netns {n}" for n in _netns_names() if n.startswith(f"gl{tag}-")]
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        name = line.split(":", 2)[1].strip().split("@")[0] if ":" in line else ""
        if name in (f"glbr{tag}",) or name.startswith(f"glv{tag}"):
            found.append(f"link {name}")
    return found


def _netns_names() -> list[str]:
    return [line.split()[0] for line in _ip("netns", "list", check=False).stdout.splitlines() if line.strip()]


def _remove_netns_etc(netns: str) -> None:
    etc = NETNS_ETC / netns
    for f in ("resolv.conf", "hosts"):
        with contextlib.suppress(FileNotFoundError):
            (etc / f).unlink()
    with contextlib.suppress(OSError):
        etc.rmdir()


def remove_leftovers(tag: str) -> list[str]:
    """Delete whatever ``leftovers`` finds; what was removed."""
    removed = []
    for name in _netns_names():
        if name.startswith(f"gl{tag}-"):
            _ip("netns", "del", name, check=False)
            removed.append(f"netns {name}")
    for etc in NETNS_ETC.glob(f"gl{tag}-*") if NETNS_ETC.is_dir() else []:
        _remove_netns_etc(etc.name)
    for entry in leftovers(tag):
        name = entry.split(" ", 1)[1]
        _ip("link", "del", name, check=False)
        removed.append(entry)
    return removed


# -- host loopback services inside pod namespaces ------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def listen_in_netns(netns: str, host: str, port: int) -> socket.socket:
    """A listening TCP socket created inside ``netns`` (setns only moves the calling thread, so the work
    runs in a short-lived thread of its own)."""
    result: dict = {}

    def work() -> None:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))
                s.listen(64)
                s.setblocking(False)
                result["sock"] = s
            finally:
                _setns(own)
        except OSError as exc:
            result["error"] = exc
        finally:
            os.close(own)
            os.close(target)

    t = threading.Thread(target=work, name=f"netns-listen-{netns}")
    t.start()
    t.join()
    if "error" in result:
        raise NetworkError(f"cannot listen on {host}:{port} in {netns}: {result['error']}")
    return result["sock"]


class LoopbackRelay:
    """One thread relaying 127.0.0.1:<port> inside pod namespaces to 127.0.0.1:<port> on the host."""

    BUFFER = 65536

    def __init__(self):
        self._sel = selectors.DefaultSelector()
        self._listeners: dict[str, list[socket.socket]] = {}
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loopback-relay", daemon=True)
        self._peers: dict[socket.socket, socket.socket] = {}

    def start(self) -> None:
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for socks in self._listeners.values():
            for s in socks:
                s.close()
        for s in list(self._peers):
            s.close()
        self._wake_r.close()
        self._wake_w.close()

    def offer(self, netns: str, port: int) -> None:
        sock = listen_in_netns(netns, "127.0.0.1", port)
        with self._lock:
            self._listeners.setdefault(netns, []).append(sock)
            self._sel.register(sock, selectors.EVENT_READ, ("accept", port))
        self._wake_w.send(b"x")

    def withdraw(self, netns: str) -> None:
        with self._lock:
            for s in self._listeners.pop(netns, []):
                with contextlib.suppress(KeyError, ValueError):
                    self._sel.unregister(s)
                s.close()

    def _close_pair(self, s: socket.socket) -> None:
        other = self._peers.pop(s, None)
        for x in (s, other):
            if x is None:
                continue
            self._peers.pop(x, None)
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(x)
            x.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            events = self._sel.select(timeout=1.0)  # epoll: registering from another thread is safe
            for key, _mask in events:
                kind, port = key.data
                if kind == "wake":
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                elif kind == "accept":
                    try:
                        inner, _ = key.fileobj.accept()
                    except OSError:
                        continue
                    try:
                        outer = socket.create_connection(("127.0.0.1", port), timeout=5)
                    except OSError:
                        inner.close()
                        continue
                    for s in (inner, outer):
                        s.setblocking(False)
                    self._peers[inner], self._peers[outer] = outer, inner
                    with self._lock:
                        self._sel.register(inner, selectors.EVENT_READ, ("data", None))
                        self._sel.register(outer, selectors.EVENT_READ, ("data", None))
                else:
                    s = key.fileobj
                    try:
                        data = s.recv(self.BUFFER)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    peer = self._peers.get(s)
                    if not data or peer is None:
                        with self._lock:
                            self._close_pair(s)
                        continue
                    try:
                        peer.setblocking(True)
                        peer.sendall(data)
                        peer.setblocking(False)
                    except OSError:
                        with self._lock:
                            self._close_pair(s)
