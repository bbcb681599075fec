"""rehearsal.kube.network: the pod bridge, a network namespace and veth per pod, host services relayed in."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

from rehearsal.kube.network import PodNetwork, leftovers


def _in_netns(netns: str, code: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=timeout, check=False)


def _serve(netns: str, ip: str) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-m", "http.server", "--bind", ip, "8080"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _first_answer_s(ip: str, wait_s: float = 15) -> float:
    """Seconds from the first try until the host gets an HTTP answer from ip:8080 (each try: 1 s timeout)."""
    started = time.monotonic()
    while True:
        try:
            with socket.create_connection((ip, 8080), timeout=1) as conn:
                conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                if conn.recv(12).startswith(b"HTTP/"):
                    return time.monotonic() - started
        except OSError:
            if time.monotonic() - started > wait_s:
                raise
        if time.monotonic() - started > wait_s:
            raise AssertionError(f"{ip}:8080 gave no HTTP answer within {wait_s} s")
        time.sleep(0.05)


@pytest.fixture
def network(tmp_path):
    net = PodNetwork(tmp_path).create()
    try:
        yield net
    finally:
        net.destroy()


def test_each_pod_gets_its_own_address_reachable_from_the_host_over_the_bridge(network):
    ns_a, ip_a = network.attach("uid-a")
    ns_b, ip_b = network.attach("uid-b")
    assert ip_a != ip_b and ns_a != ns_b
    assert {ip_a, ip_b} <= {str(h) for h in network.subnet.hosts()}
    server = _serve(ns_a, ip_a)
    try:
        _first_answer_s(ip_a)
        # The other pod reaches it too (pod to pod over the bridge), but not on its own loopback.
        ok = _in_netns(ns_b, f"import urllib.request as u; print(u.urlopen('http://{ip_a}:8080/', timeout=5).status)")
        assert ok.stdout.strip() == "200", ok.stderr
        lo = _in_netns(ns_b, "import socket; socket.create_connection(('127.0.0.1', 8080), timeout=2)")
        assert lo.returncode != 0 and "refused" in lo.stderr
    finally:
        server.kill()
        server.wait()


def test_a_host_loopback_service_answers_on_the_pods_own_loopback(network):
    host = socket.socket()
    host.bind(("127.0.0.1", 0))
    host.listen(1)
    port = host.getsockname()[1]

    def echo_upper():
        conn, _ = host.accept()
        with conn:
            conn.sendall(conn.recv(100).upper())

    t = threading.Thread(target=echo_upper, daemon=True)
    t.start()
    netns, _ip = network.attach("uid-db", relay_ports=(port,))
    out = _in_netns(netns, f"import socket; s = socket.create_connection(('127.0.0.1', {port}), timeout=5); "
                           "s.sendall(b'select 1'); print(s.recv(100).decode())")
    t.join(timeout=5)
    host.close()
    assert out.stdout.strip() == "SELECT 1", out.stderr


def test_detach_removes_the_namespace_and_destroy_leaves_no_namespace_veth_or_bridge(tmp_path):
    net = PodNetwork(tmp_path).create()
    netns, _ip = net.attach("uid-1")
    net.attach("uid-2")
    assert any(entry == f"netns {netns}" for entry in leftovers(net.tag))
    net.detach("uid-1")
    assert f"netns {netns}" not in leftovers(net.tag)
    assert f"link {net.bridge}" in leftovers(net.tag)
    net.destroy()
    assert leftovers(net.tag) == []


def test_two_stacks_get_different_subnets(tmp_path):
    one = PodNetwork(tmp_path / "one").create()
    try:
        two = PodNetwork(tmp_path / "two").create()
        try:
            assert not one.subnet.overlaps(two.subnet)
            assert one.bridge != two.bridge
        finally:
            two.destroy()
    finally:
        one.destroy()


def test_a_new_pod_gets_an_address_not_just_released(network):
    _ns, ip_a = network.attach("uid-a")
    network.detach("uid-a")
    _ns, ip_b = network.attach("uid-b")
    assert ip_b != ip_a


def test_a_pod_on_a_reused_address_answers_the_host_at_once(network):
    # The host's neighbour entry for the address still names the old pod's MAC: without a flush on attach,
    # the host's packets go to a MAC nobody has until the entry expires (the probes then time out for ~10 s).
    network.attach("uid-other")  # as in a stack, the bridge keeps other ports (a bridge left empty drops its entries)
    ns_a, ip = network.attach("uid-old")
    old = _serve(ns_a, ip)
    try:
        _first_answer_s(ip)
    finally:
        old.kill()
        old.wait()
    network.detach("uid-old")
    # As a while later in a stack: the entry has gone stale (the kernel then keeps using its MAC for seconds).
    subprocess.run(["ip", "neigh", "change", ip, "dev", network.bridge, "nud", "stale"], check=True)
    network._next = network.subnet.num_addresses - 1  # the range is used up: released addresses come back
    ns_b, ip_b = network.attach("uid-new")
    assert ip_b == ip
    new = _serve(ns_b, ip)
    try:
        assert _first_answer_s(ip) < 3
    finally:
        new.kill()
        new.wait()
