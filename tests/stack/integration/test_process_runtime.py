"""Pods as real processes: real probes, restarts with backoff, Jobs' exit codes, graceful deletion.

The pods run on the real control plane (kube-apiserver, controller manager, scheduler) through the node
agent, whose ProcessRuntime starts every container in the pod's own network namespace; one cluster serves
the module, each test gets a namespace of its own. The tests of ``shutdown`` and ``kill_leftovers`` drive
a ProcessRuntime alone, as ``down`` does.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import signal
import sys
import time

import pytest
import requests

from rehearsal.kube.process_runtime import ProcessRuntime
from rehearsal.load import LoadGenerator
from rehearsal.traffic.controller import TrafficPlane
from rehearsal.traffic.render import HTTPROUTES
from tests.stack.integration.traffic_fixtures import (
    MiniCluster,
    ProbeTarget,
    is_ready,
    pod_manifest,
    service_manifest,
    wait_until,
)

IGNORE_SIGTERM = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                  "print('ignoring SIGTERM', flush=True); time.sleep(120)")
# The node agent's runtime backs off from 1 s doubling up to 8 s (MiniCluster's defaults; kube: 10 s to 5 min).
BACKOFF_BASE = 1.0


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    # image_map: a production image reference runs as the rehearsal app (test_image_map_...).
    with MiniCluster(tmp_path_factory.mktemp("runtime"), backoff_base=BACKOFF_BASE,
                     image_map={"ghcr.io/greenlang/cbam": "rehearsal/cbam"}) as mc:
        yield mc


@pytest.fixture
def cluster(mini):
    ns = mini.namespace()
    try:
        yield ns
    finally:
        mini.delete_namespace(ns)


def container_status(pod: dict) -> dict:
    return pod["status"]["containerStatuses"][0]


def statuses(pod: dict) -> list[dict]:
    return (pod.get("status") or {}).get("containerStatuses") or []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) is gone for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_pod_runs_the_demo_app_on_its_own_address_and_turns_ready_from_its_probe(cluster):
    cluster.create("pods", pod_manifest("vcci-a", "vcci", "v7"))
    cluster.create("pods", pod_manifest("vcci-b", "vcci", "v7", env={"FAULT_READINESS_FAIL": "1"}))
    cluster.wait_ready("vcci-a")
    pod = cluster.pod("vcci-a")
    ip = pod["status"]["podIP"]
    # An address of its own on the pod bridge; the node (the bridge's host end) is its hostIP.
    assert ipaddress.ip_address(ip) in cluster.network.subnet and ip != cluster.network.gateway
    assert pod["status"]["hostIP"] == cluster.network.gateway
    assert pod["status"]["phase"] == "Running"
    resp = requests.get(f"http://{ip}:8080/health/ready", timeout=5)
    assert resp.status_code == 200 and resp.headers["X-App-Version"] == "v7"
    # The second pod runs (its process answers) but its readiness probe fails: never Ready.
    other = wait_until(lambda: statuses(p := cluster.pod("vcci-b")) and container_status(p)["state"].get("running")
                       and p, timeout=30, what="vcci-b running")
    other_ip = other["status"]["podIP"]
    assert other_ip != ip

    def answers() -> int | None:
        try:
            return requests.get(f"http://{other_ip}:8080/health/ready", timeout=5).status_code
        except requests.RequestException:
            return None

    assert wait_until(answers, timeout=15, what="vcci-b answering") == 503
    time.sleep(2.0)  # a few 1 s probe periods
    other = cluster.pod("vcci-b")
    assert container_status(other)["state"].get("running")
    assert container_status(other)["ready"] is False
    assert not is_ready(other)


def test_killed_process_is_restarted_and_leaves_endpoints_while_unready(cluster):
    cluster.create("pods", pod_manifest("vcci-k", "vcci", "v1", labels={"app": "vcci"}))
    cluster.create("services", service_manifest("vcci", {"app": "vcci"}))
    cluster.wait_ready("vcci-k")
    ip = cluster.pod("vcci-k")["status"]["podIP"]
    wait_until(lambda: cluster.ready_addresses("vcci") == [ip], what="endpoint listed")
    os.kill(cluster.pid("vcci-k"), signal.SIGKILL)
    seen: dict = {}

    def backing_off_and_dropped() -> bool:
        cs = container_status(cluster.pod("vcci-k"))
        if (cs["state"].get("waiting") or {}).get("reason") == "CrashLoopBackOff":
            seen.setdefault("waiting", cs)
        seen["dropped"] = seen.get("dropped") or cluster.ready_addresses("vcci") == []
        return "waiting" in seen and seen["dropped"]

    wait_until(backing_off_and_dropped, timeout=5, interval=0.05, what="CrashLoopBackOff and endpoint dropped")
    assert seen["waiting"]["lastState"]["terminated"]["exitCode"] == 137
    cluster.wait_ready("vcci-k")
    cs = container_status(cluster.pod("vcci-k"))
    assert cs["restartCount"] == 1 and cs["state"].get("running")
    wait_until(lambda: cluster.ready_addresses("vcci") == [ip], what="endpoint back")


def test_crash_looping_container_backs_off_longer_each_time(cluster):
    created = cluster.create("pods", pod_manifest("crashy", "vcci", "v1", env={"FAULT_CRASH_AFTER_S": "0.2"},
                                                  readiness=False))
    restarts_at: dict[int, float] = {}
    backoffs: dict[int, float] = {}
    downs: list[float] = []  # how long the process stayed down after each crash, seen by the runtime itself
    up_before, down_since, next_read = False, None, 0.0
    deadline = time.monotonic() + 40
    while (len(backoffs) < 3 or len(downs) < 2) and time.monotonic() < deadline:
        now = time.monotonic()
        up = cluster.pid(created) is not None
        if up != up_before:
            if not up:
                down_since = now
            elif down_since is not None:
                downs.append(now - down_since)
            up_before = up
        if now >= next_read:  # the API's view, a few times a second
            next_read = now + 0.1
            pod = cluster.pod("crashy")
            if statuses(pod):
                cs = container_status(pod)
                restarts_at.setdefault(cs["restartCount"], now)
                waiting = cs["state"].get("waiting") or {}
                if waiting.get("reason") == "CrashLoopBackOff":
                    backoffs[cs["restartCount"]] = float(waiting["message"].split()[1].rstrip("s"))
        time.sleep(0.02)
    assert {1, 2, 3} <= set(restarts_at), restarts_at
    # The backoff starts at 1 s and doubles per crash (kube: 10 s doubling up to 5 min) ...
    assert [backoffs.get(n) for n in (1, 2, 3)] == [BACKOFF_BASE, 2 * BACKOFF_BASE, 4 * BACKOFF_BASE], backoffs
    # ... and the container really stays down that long before it runs (and crashes) again (less one
    # 20 ms poll: the moment it went down is seen up to one poll late).
    for n in (1, 2):
        assert downs[n - 1] >= backoffs[n] - 0.05, (downs, backoffs)
    assert container_status(cluster.pod("crashy"))["lastState"]["terminated"]["exitCode"] == 1


def test_failing_liveness_probe_restarts_the_container(cluster):
    pod = pod_manifest("sick", "vcci", "v1", readiness=False, liveness=True)
    pod["spec"]["containers"][0]["livenessProbe"]["httpGet"]["path"] = "/no-such-path"
    cluster.create("pods", pod)
    wait_until(lambda: statuses(p := cluster.pod("sick")) and container_status(p)["restartCount"] >= 1,
               timeout=30, what="restart")
    expected = {("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 404"),
                ("Killing", "Container app failed liveness probe, will be restarted")}
    wait_until(lambda: expected <= set(cluster.events("sick")), timeout=10, what="Unhealthy and Killing events")
    assert "liveness probe failed" in cluster.runtime.runtime_log(cluster.pod("sick"))


# -- probe timing ---------------------------------------------------------------------------------------


def with_readiness(pod: dict, probe: dict) -> dict:
    pod["spec"]["containers"][0]["readinessProbe"] = probe
    return pod


def test_first_readiness_probe_waits_initial_delay_seconds(cluster):
    with ProbeTarget(cluster.network.gateway) as target:
        created = cluster.create("pods", with_readiness(pod_manifest("late", "vcci", "v1", readiness=False),
                                                        target.probe(initialDelaySeconds=2, periodSeconds=1)))
        # The container's start as seen from outside: no earlier than the runtime's own start time.
        wait_until(lambda: cluster.pid(created), timeout=30, interval=0.01, what="process")
        started = time.monotonic()
        ready_seen_before_probe = False
        while target.first_hit() is None and time.monotonic() < started + 5:
            ready_seen_before_probe |= is_ready(cluster.pod("late"))
            time.sleep(0.05)
        first = target.first_hit()
        cluster.wait_ready("late", timeout=5)
    assert first is not None, "no probe within 5 s"
    delay = first - started
    print(f"first probe {delay:.2f} s after the container started (initialDelaySeconds 2)")
    assert 1.95 <= delay <= 3.0
    assert not ready_seen_before_probe  # a container with a readiness probe is not ready before it passes


def test_readiness_drops_only_after_failure_threshold_consecutive_failures_and_endpoints_follow(cluster):
    with ProbeTarget(cluster.network.gateway) as target:
        # period 1 s (the API's least): a status change shows in the API (the node agent writes status
        # every 0.5 s at the latest) before the next probe.
        probe = target.probe(periodSeconds=1, failureThreshold=3, successThreshold=2)
        cluster.create("pods", with_readiness(pod_manifest("flaky", "vcci", "v1", labels={"app": "flaky"},
                                                           readiness=False), probe))
        cluster.create("services", service_manifest("flaky", {"app": "flaky"}))
        cluster.wait_ready("flaky", timeout=30)
        ip = cluster.pod("flaky")["status"]["podIP"]
        wait_until(lambda: cluster.endpoint_ips("flaky") == ([ip], []), timeout=10, what="endpoint listed")

        # Two failures, then a success: below the threshold, so the pod never leaves the endpoints.
        answered = target.count()
        target.fail_next = 2
        dropped = False
        deadline = time.monotonic() + 8
        while target.count() < answered + 3 and time.monotonic() < deadline:
            dropped |= not is_ready(cluster.pod("flaky")) or cluster.endpoint_ips("flaky")[0] != [ip]
            time.sleep(0.05)
        time.sleep(1.0)  # the last answer (a success) reaches the API
        dropped |= not is_ready(cluster.pod("flaky"))
        assert target.count() >= answered + 3, "the probes stopped"
        assert not dropped, "2 failed probes (failureThreshold 3) took the pod out of service"

        # Failing for good: unready at the third consecutive failure, not before, not much later.
        failures_before = target.count(503)
        target.failing = True
        wait_until(lambda: not is_ready(cluster.pod("flaky")), timeout=10, interval=0.02, what="pod unready")
        failures_to_unready = target.count(503) - failures_before
        wait_until(lambda: cluster.endpoint_ips("flaky") == ([], [ip]), timeout=5, what="endpoint not ready")

        # Healthy again: back after successThreshold (2) successes in a row.
        successes_before = target.count(200)
        target.failing = False
        wait_until(lambda: is_ready(cluster.pod("flaky")), timeout=10, interval=0.02, what="pod ready again")
        successes_to_ready = target.count(200) - successes_before
        wait_until(lambda: cluster.endpoint_ips("flaky") == ([ip], []), timeout=5, what="endpoint back")
    print(f"unready after {failures_to_unready} failed probes, ready after {successes_to_ready} good ones")
    assert failures_to_unready in (3, 4)  # 4 only if the status write lost a race with the next probe
    assert successes_to_ready in (2, 3)
    assert container_status(cluster.pod("flaky"))["restartCount"] == 0  # readiness never restarts


# -- command, args and $(VAR) ---------------------------------------------------------------------------


def job(name: str, command: list[str], args: list[str], env: dict[str, str]) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "run", "image": "rehearsal/vcci:v1", "command": command, "args": args,
                 "env": [{"name": k, "value": v} for k, v in env.items()]}]}}}}


def finished_job(cluster, name: str) -> tuple[dict, str]:
    """Wait for the Job controller to call the Job finished; its final state and its pod's log."""
    def done():
        j = cluster.get("jobs.batch", name)
        conds = {c["type"] for c in (j.get("status") or {}).get("conditions") or [] if c["status"] == "True"}
        return (conds & {"Complete", "Failed"}) and j
    finished = wait_until(done, timeout=60, interval=0.2, what=f"Job {name} finished")
    (pod,) = cluster.list("pods", labelSelector=f"job-name={name}")
    return finished, cluster.runtime.logs(pod)


def test_job_args_follow_command_with_var_references_expanded_and_dollar_dollar_escaped(cluster):
    env = {"GREETING": "hello", "GREETING_TO": "$(GREETING)-world", "BEFORE": "$(LATER)", "LATER": "late"}
    args = ["plain=$(GREETING)", "escaped=$$(GREETING)", "composed=$(GREETING_TO)", "unknown=$(NOT_SET)",
            "dollar=$$$(GREETING)", "order=$(BEFORE)"]
    cluster.create("jobs.batch", job("echo", ["echo", "argv:"], args, env))
    done, log = finished_job(cluster, "echo")
    assert done["status"].get("succeeded") == 1
    # As the kubelet: a defined variable is replaced, $$ is a literal $, an unknown reference stays as written,
    # and an env value sees only the variables defined above it.
    assert log.strip() == ("argv: plain=hello escaped=$(GREETING) composed=hello-world unknown=$(NOT_SET) "
                           "dollar=$hello order=$(LATER)")


def test_job_status_follows_the_exit_code_of_a_shell_command_built_from_args(cluster):
    # $$ reaches the shell as one $, so the shell expands $CODE_TEXT itself; $(CODE) is expanded before.
    cluster.create("jobs.batch", job("exit", ["sh", "-c"], ["echo shell saw $$CODE_TEXT; exit $(CODE)"],
                                     {"CODE": "3", "CODE_TEXT": "three"}))
    done, log = finished_job(cluster, "exit")
    assert "Failed" in {c["type"] for c in done["status"]["conditions"] if c["status"] == "True"}
    assert done["status"].get("failed") == 1 and not done["status"].get("succeeded")
    assert log.strip() == "shell saw three"


def test_two_replicas_behind_nginx_lose_no_request_when_one_process_dies(cluster, tmp_path):
    for name in ("web-1", "web-2"):
        cluster.create("pods", pod_manifest(name, "vcci", "v1", labels={"app": "web"}))
    cluster.create("services", service_manifest("web", {"app": "web"}))
    host = f"web.{cluster.name}.rehearsal.test"
    cluster.create(HTTPROUTES, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                                "metadata": {"name": "web"},
                                "spec": {"hostnames": [host],
                                         "rules": [{"backendRefs": [{"name": "web", "port": 80}]}]}})
    cluster.wait_ready("web-1", "web-2")
    wait_until(lambda: len(cluster.ready_addresses("web")) == 2, what="two endpoints")
    wait_until(lambda: cluster.in_mirror(HTTPROUTES, "web"), timeout=10, what="the HTTPRoute in the watched cache")
    with TrafficPlane(tmp_path / "nginx", cluster.store) as tp:
        tp.sync()
        load = LoadGenerator(tp.url, [host], rps=60, duration=60, path="/health/live").start()
        try:
            time.sleep(1.0)
            os.kill(cluster.pid("web-1"), signal.SIGKILL)
            wait_until(lambda: len(cluster.ready_addresses("web")) == 1, timeout=5, what="endpoint dropped")
            cluster.wait_ready("web-1")
            wait_until(lambda: len(cluster.ready_addresses("web")) == 2, what="endpoint back")
            time.sleep(1.0)
        finally:
            summary = load.stop()
    print(f"replica killed under load: {summary['requests']} requests, {summary['failed']} failed "
          f"{summary['first_errors']}")
    assert summary["requests"] > 100
    assert summary["failed"] == 0
    assert container_status(cluster.pod("web-1"))["restartCount"] == 1


@pytest.mark.parametrize(("code", "phase", "reason"), [(0, "Succeeded", "Completed"), (3, "Failed", "Error")])
def test_job_pod_exit_code_decides_its_phase(cluster, code, phase, reason):
    cluster.create("pods", pod_manifest("job-pod", "vcci", "v1", readiness=False, restart_policy="Never",
                                        command=["python", "-c", f"print('migrating'); raise SystemExit({code})"]))
    pod = wait_until(lambda: (p := cluster.pod("job-pod")).get("status", {}).get("phase") in ("Succeeded", "Failed")
                     and p, timeout=30, what="job pod finished")
    assert pod["status"]["phase"] == phase
    terminated = container_status(pod)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (code, reason)
    assert container_status(pod)["restartCount"] == 0
    assert "migrating" in cluster.runtime.logs(pod)


def test_on_failure_job_pod_is_retried_in_place(cluster):
    cluster.create("pods", pod_manifest("retry", "vcci", "v1", readiness=False, restart_policy="OnFailure",
                                        command=["python", "-c", "raise SystemExit(1)"]))
    wait_until(lambda: statuses(p := cluster.pod("retry")) and container_status(p)["restartCount"] >= 2,
               timeout=30, what="retries")
    assert cluster.pod("retry")["status"]["phase"] == "Running"


def test_deletion_sends_sigterm_then_sigkill_after_the_grace_period(cluster):
    cluster.create("pods", pod_manifest("stubborn", "vcci", "v1", readiness=False,
                                        command=["python", "-c", IGNORE_SIGTERM]))
    cluster.create("pods", pod_manifest("polite", "vcci", "v1"))
    cluster.wait_ready("stubborn", "polite")
    wait_until(lambda: "ignoring SIGTERM" in cluster.runtime.logs(cluster.pod("stubborn")), what="handler installed")
    stubborn_pid = cluster.pid("stubborn")
    polite_pid = cluster.pid("polite")
    started = time.monotonic()
    cluster.delete_pod("stubborn", grace=2)
    cluster.delete_pod("polite", grace=30)
    wait_until(lambda: not alive(polite_pid), timeout=10, interval=0.02, what="polite pod exits on SIGTERM")
    polite_took = time.monotonic() - started
    wait_until(lambda: not alive(stubborn_pid), timeout=10, interval=0.02, what="stubborn pod killed")
    stubborn_took = time.monotonic() - started
    assert polite_took < 5  # the demo app drains and exits well before its 30 s grace
    assert 2 <= stubborn_took < 5  # SIGKILL only once the 2 s grace period is over
    wait_until(lambda: not cluster.list("pods"), timeout=10, what="pod objects deleted")


def test_unknown_image_leaves_the_pod_pending_in_image_pull_backoff(cluster):
    pod = pod_manifest("ghost", "vcci", "v1", readiness=False)
    pod["spec"]["containers"][0]["image"] = "docker.io/library/nginx:1.27"
    cluster.create("pods", pod)
    first = wait_until(lambda: statuses(p := cluster.pod("ghost")) and p, timeout=30, what="status")
    assert first["status"]["phase"] == "Pending"
    assert container_status(first)["state"]["waiting"]["reason"] in ("ErrImagePull", "ImagePullBackOff")
    wait_until(lambda: container_status(cluster.pod("ghost"))["state"]["waiting"]["reason"] == "ImagePullBackOff",
               what="ImagePullBackOff")
    assert cluster.pod("ghost")["status"]["phase"] == "Pending"


def test_image_map_runs_a_production_image_as_a_rehearsal_app(cluster):
    # The module's cluster maps ghcr.io/greenlang/cbam onto rehearsal/cbam, keeping the tag.
    pod = pod_manifest("mapped", "cbam", "x")
    pod["spec"]["containers"][0]["image"] = "ghcr.io/greenlang/cbam:2.1.0"
    cluster.create("pods", pod)
    cluster.wait_ready("mapped")
    ip = cluster.pod("mapped")["status"]["podIP"]
    assert requests.get(f"http://{ip}:8080/health/live", timeout=5).headers["X-App-Version"] == "2.1.0"


def test_shutdown_leaves_no_process_behind(tmp_path):
    runtime = ProcessRuntime(tmp_path / "logs", backoff_base=0.2)
    pods = []
    for i, cmd in enumerate((None, ["python", "-c", IGNORE_SIGTERM],
                             ["sh", "-c", f"{sys.executable} -c 'import time; time.sleep(120)' & sleep 120"])):
        pod = pod_manifest(f"p{i}", "vcci", "v1", readiness=False, command=cmd)
        pod["metadata"]["uid"] = f"uid-{i}"
        runtime.sync(pod)
        pods.append(pod)
    time.sleep(0.5)
    pids = [runtime.pid(p) for p in pods]
    assert all(pids)
    groups = {pid: os.getpgid(pid) for pid in pids}
    runtime.shutdown()
    leftovers = []
    for pgid in groups.values():
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getpgid(int(entry)) == pgid and alive(int(entry)):
                        leftovers.append(int(entry))
                except (ProcessLookupError, PermissionError):
                    pass
    assert leftovers == []


def test_container_env_comes_from_secrets_and_configmaps(cluster):
    cluster.create("secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                               "data": {"dsn": base64.b64encode(b"host=127.0.0.1 dbname=vcci").decode()}})
    cluster.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
                                  "data": {"MODE": "rehearsal"}})
    pod = pod_manifest("env-pod", "vcci", "v1", readiness=False, restart_policy="Never",
                       command=["python", "-c", "import os; print('dsn=' + os.environ['DATABASE_DSN'], "
                                "'mode=' + os.environ['MODE'])"])
    pod["spec"]["containers"][0]["env"] = [{"name": "DATABASE_DSN",
                                            "valueFrom": {"secretKeyRef": {"name": "db", "key": "dsn"}}}]
    pod["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "cfg"}}]
    cluster.create("pods", pod)
    done = wait_until(lambda: (p := cluster.pod("env-pod")).get("status", {}).get("phase") in ("Succeeded", "Failed")
                      and p, timeout=30, what="pod finished")
    assert done["status"]["phase"] == "Succeeded"
    assert "dsn=host=127.0.0.1 dbname=vcci mode=rehearsal" in cluster.runtime.logs(done)


def test_missing_secret_keeps_the_container_waiting_in_create_container_config_error(cluster):
    pod = pod_manifest("no-secret", "vcci", "v1", readiness=False)
    pod["spec"]["containers"][0]["env"] = [{"name": "DATABASE_DSN",
                                            "valueFrom": {"secretKeyRef": {"name": "absent", "key": "dsn"}}}]
    cluster.create("pods", pod)
    waiting = wait_until(lambda: statuses(p := cluster.pod("no-secret"))
                         and container_status(p)["state"].get("waiting"), timeout=30, what="status")
    assert waiting["reason"] == "CreateContainerConfigError"
    assert 'secret "absent" not found' in waiting["message"]
    assert cluster.pid("no-secret") is None


def test_kill_leftovers_stops_containers_a_dead_runtime_left_running(tmp_path):
    runtime = ProcessRuntime(tmp_path / "logs", backoff_base=30)
    pod = pod_manifest("orphan", "vcci", "v1", readiness=False)
    pod["metadata"]["uid"] = "uid-orphan"
    try:
        runtime.sync(pod)
        pid = wait_until(lambda: runtime.pid(pod), what="container started")
        assert alive(pid)
        # As `down` would after the stack process died: only the pid files on disk are left to go by.
        assert ProcessRuntime.kill_leftovers(tmp_path / "logs") == 1
        wait_until(lambda: not alive(pid), timeout=5, what="leftover killed")
        assert not list((tmp_path / "logs").glob("*/*.pid"))
    finally:
        runtime.shutdown()
