"""A pod runtime that runs each container as a real local process.

Pods whose image is ``rehearsal/<app>:<version>`` run ``python -m rehearsal.apps.demo_app`` (or the
container's own ``command``/``args``) with APP_NAME/APP_VERSION/LISTEN_HOST/PORT set, bound to the pod's
address (the node agent runs the command in the pod's network namespace). What the kubelet does
with containers is copied where a user would notice it (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/):

- probes are real: ``httpGet`` (2xx/3xx is success), ``tcpSocket`` and ``exec``, honouring
  initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold and failureThreshold
  (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#Probe);
  a startupProbe holds the other two back until it succeeds;
- a failed liveness/startup probe kills the container, which then restarts per restartPolicy;
- restarts back off exponentially (kube: 10 s doubling to 5 min; here ``backoff_base``/``backoff_cap``),
  shown as waiting reason CrashLoopBackOff, with lastState carrying the previous exit code;
- deletion sends SIGTERM, then SIGKILL once the grace period is over;
- an image this runtime cannot run leaves the pod Pending in ErrImagePull/ImagePullBackOff.

One supervisor thread polls processes and schedules probes; the probes themselves run on a small
bounded thread pool, so the number of threads does not grow with the number of pods.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from rehearsal.kube.pod_status import (
    HOST_IP,
    AddressAllocator,
    ContainerObservation,
    build_status,
    kubelet_event,
    now_rfc3339,
    status_changed,
)

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_RE = re.compile(r"^rehearsal/(?P<app>[a-z0-9][a-z0-9._-]*)(?::(?P<version>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?$")
DEFAULT_ENTRYPOINT = ["python", "-m", "rehearsal.apps.demo_app"]
DEFAULT_PORT = 8080
DEFAULT_GRACE_SECONDS = 30  # PodSpec.terminationGracePeriodSeconds default
LOG_READ_LIMIT = 1 << 20  # logs() returns at most the last MiB of each container's log
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


def parse_image(image: str, image_map: dict[str, str] | None = None) -> tuple[str, str] | None:
    """(app, version) for an image this runtime can run, or None (the pull would fail).

    ``image_map`` maps other image references onto rehearsal images, either exactly
    (``"ghcr.io/acme/vcci:2.0" -> "rehearsal/vcci:2.0"``) or by repository, keeping the tag
    (``"ghcr.io/acme/vcci" -> "rehearsal/vcci"``), so production manifests run unchanged.
    """
    image_map = image_map or {}
    mapped = image_map.get(image)
    if mapped is None:
        repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
        if repo in image_map:
            mapped = image_map[repo] + (f":{tag}" if tag and ":" not in image_map[repo] else "")
    m = IMAGE_RE.match(mapped or image)
    if not m:
        return None
    return m.group("app"), m.group("version") or "latest"


class ContainerConfigError(Exception):
    """The container's environment references something that does not exist."""


@dataclass
class ProbeState:
    spec: dict
    kind: str  # liveness | readiness | startup
    next_at: float = 0.0
    successes: int = 0
    failures: int = 0
    result: bool | None = None  # None: not decided yet
    in_flight: bool = False


@dataclass
class Container:
    name: str
    image: str
    spec: dict
    app: tuple[str, str] | None
    log_path: Path
    proc: subprocess.Popen | None = None
    state: str = "waiting"
    reason: str = "ContainerCreating"
    message: str = ""
    started_at: str | None = None
    started_mono: float = 0.0
    finished_at: str | None = None
    exit_code: int | None = None
    restart_count: int = 0
    last_state: dict = field(default_factory=dict)
    backoff_until: float = 0.0
    backoff_delay: float = 0.0
    kill_deadline: float | None = None
    pull_failed_at: float = 0.0
    probes: dict[str, ProbeState] = field(default_factory=dict)
    generation: int = 0  # bumps on every (re)start, so a late probe result for an old run is dropped
    last_event: str = ""  # the last warning reported, so a waiting container does not repeat it every step

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class PodProcs:
    uid: str
    namespace: str
    name: str
    ip: str
    own_ip: bool  # allocated here (else the kubelet gave it and owns it)
    restart_policy: str
    containers: list[Container]
    start_time: str
    log_dir: Path
    ref: dict = field(default_factory=dict)  # apiVersion/kind/metadata: what Events are about
    host_ip: str = HOST_IP
    node_name: str = "rehearsal-node"
    stopping: bool = False
    stop_deadline: float = 0.0
    stopped: bool = False


class ProcessRuntime:
    """The node agent's runtime: runs each pod's containers as local processes and reports their status."""

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        python: str = sys.executable,
        image_map: dict[str, str] | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        backoff_reset: float = 60.0,
        probe_workers: int = 4,
        tick: float = 0.1,
        address_pool: AddressAllocator | None = None,
        store=None,
        command_prefix=None,
    ):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.python = python
        self.image_map = dict(image_map or {})
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.backoff_reset = backoff_reset  # kubelet forgets the backoff after a container ran this long
        self.tick = tick
        self.addresses = address_pool or AddressAllocator()
        self._pods: dict[str, PodProcs] = {}
        self._lock = threading.RLock()
        self._probe_pool = ThreadPoolExecutor(max_workers=probe_workers, thread_name_prefix="probe")
        self._closed = threading.Event()
        self.store = store  # for env from Secrets/ConfigMaps, and Events (the node agent's API client)
        # pod uid -> argv prefix that runs a command in the pod's network namespace (the node agent's netns)
        self.command_prefix = command_prefix or (lambda _uid: [])
        self._events: list[tuple[dict, str, str, str]] = []  # written to the store outside our lock
        self._supervisor = threading.Thread(target=self._supervise, name="process-runtime", daemon=True)
        self._supervisor.start()

    def bind_store(self, store) -> None:
        """The API object store, read for ``valueFrom`` secretKeyRef/configMapKeyRef and ``envFrom``."""
        self.store = store

    # -- what the node agent calls ---------------------------------------------------------------------------

    def sync(self, pod: dict) -> dict | None:
        if self._closed.is_set():
            return None
        uid = pod["metadata"]["uid"]
        with self._lock:
            pp = self._pods.get(uid)
            if pp is None:
                pp = self._admit(pod)
                self._pods[uid] = pp
            if not pp.stopping:
                self._step(pp)
            status = self._status(pod, pp)
        self._flush_events()
        return status if status_changed(pod.get("status"), status) else None

    def terminate(self, pod: dict) -> bool:
        uid = pod["metadata"]["uid"]
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
        with self._lock:
            pp = self._pods.get(uid)
            if pp is None:
                return True
            if not pp.stopping:
                pp.stopping = True
                pp.stop_deadline = time.monotonic() + max(0, int(grace))
                for c in pp.containers:
                    if c.running:  # (the kubelet records the Killing event for a deletion)
                        self._signal(c, signal.SIGTERM if grace > 0 else signal.SIGKILL)
            done = self._reap_stopping(pp)
        self._flush_events()
        return done

    def logs(self, pod: dict) -> str:
        with self._lock:
            pp = self._pods.get(pod["metadata"].get("uid", ""))
            paths = [c.log_path for c in pp.containers] if pp else []
        if not paths:
            paths = sorted(self._pod_log_dir(pod).glob("*.log"))
        out = []
        for p in paths:
            with contextlib.suppress(OSError), open(p, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - LOG_READ_LIMIT))
                out.append(f.read().decode("utf-8", "replace"))
        return "".join(out)

    def shutdown(self) -> None:
        self._closed.set()
        self._supervisor.join(timeout=5)
        with self._lock:
            pods = list(self._pods.values())
            for pp in pods:
                pp.stopping = True
                for c in pp.containers:
                    if c.running:
                        self._signal(c, signal.SIGTERM)
        deadline = time.monotonic() + 3
        for pp in pods:
            for c in pp.containers:
                if c.proc is None:
                    continue
                try:
                    c.proc.wait(timeout=max(0.05, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self._signal(c, signal.SIGKILL)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        c.proc.wait(timeout=2)
                # The container's children (its process group) go too, even if the leader already exited.
                self._signal(c, signal.SIGKILL)
                _forget_pid(c)
        with self._lock:
            for pp in pods:
                if pp.own_ip:
                    self.addresses.release(pp.ip)
            self._pods.clear()
        self._probe_pool.shutdown(wait=True, cancel_futures=True)

    # -- helpers for tests and tools ------------------------------------------------------------

    def pid(self, pod: dict, container: str | None = None) -> int | None:
        """The process id of a pod's (first or named) running container, or None."""
        with self._lock:
            pp = self._pods.get(pod["metadata"]["uid"])
            for c in pp.containers if pp else []:
                if (container is None or c.name == container) and c.running:
                    return c.proc.pid
        return None

    # -- admission -------------------------------------------------------------------------------

    def _pod_log_dir(self, pod: dict) -> Path:
        meta = pod["metadata"]
        return self.log_dir / f"{meta.get('namespace') or 'default'}_{meta['name']}_{meta['uid']}"

    def _admit(self, pod: dict) -> PodProcs:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        given_ip = (pod.get("status") or {}).get("podIP")
        ip = given_ip or self.addresses.allocate()
        pod_dir = self._pod_log_dir(pod)
        pod_dir.mkdir(parents=True, exist_ok=True)
        containers = []
        for cspec in spec.get("containers") or []:
            name = cspec.get("name", "")
            image = cspec.get("image", "")
            c = Container(name=name, image=image, spec=cspec, app=parse_image(image, self.image_map),
                          log_path=pod_dir / f"{name}.log")
            for kind in ("startup", "liveness", "readiness"):
                if cspec.get(f"{kind}Probe"):
                    c.probes[kind] = ProbeState(spec=cspec[f"{kind}Probe"], kind=kind)
            containers.append(c)
        return PodProcs(uid=meta["uid"], namespace=meta.get("namespace") or "default", name=meta["name"], ip=ip,
                        own_ip=not given_ip, restart_policy=spec.get("restartPolicy", "Always"),
                        containers=containers, start_time=(pod.get("status") or {}).get("startTime") or now_rfc3339(),
                        host_ip=(pod.get("status") or {}).get("hostIP") or HOST_IP,
                        node_name=spec.get("nodeName") or "rehearsal-node",
                        log_dir=pod_dir,
                        ref={"apiVersion": "v1", "kind": "Pod",
                             "metadata": {k: meta.get(k) for k in ("name", "namespace", "uid")}})

    # -- the container life cycle ------------------------------------------------------------------

    def _step(self, pp: PodProcs) -> None:
        """Advance every container of a live pod: notice exits, restart after backoff, start new ones."""
        now = time.monotonic()
        for c in pp.containers:
            if c.app is None:
                self._image_pull_failed(pp, c, now)
                continue
            if c.proc is not None and not c.running:
                self._on_exit(pp, c, now)
            if c.kill_deadline is not None and c.running and now >= c.kill_deadline:
                self._signal(c, signal.SIGKILL)
            if c.proc is None and c.state != "terminated" and now >= c.backoff_until:
                self._start(pp, c)

    def _image_pull_failed(self, pp: PodProcs, c: Container, now: float) -> None:
        # The kubelet reports ErrImagePull on a failed pull, then ImagePullBackOff while it waits to retry.
        if not c.pull_failed_at:
            c.pull_failed_at = now
        c.state = "waiting"
        if now - c.pull_failed_at < self.backoff_base:
            c.reason, c.message = "ErrImagePull", f'failed to pull image "{c.image}": not a rehearsal image'
        else:
            c.reason, c.message = "ImagePullBackOff", f'Back-off pulling image "{c.image}"'
        if c.last_event != c.reason:
            c.last_event = c.reason
            self._event(pp, "Failed" if c.reason == "ErrImagePull" else "BackOff",
                        f"Failed to pull image \"{c.image}\": not a rehearsal image (rehearsal/<app>:<version>)"
                        if c.reason == "ErrImagePull" else c.message, "Warning")

    def _on_exit(self, pp: PodProcs, c: Container, now: float) -> None:
        _forget_pid(c)
        code = c.proc.returncode
        if code < 0:  # killed by a signal: report as a shell would (128 + signal), as container runtimes do
            code = 128 - code
        c.proc = None
        c.finished_at = now_rfc3339()
        reason = "Completed" if code == 0 else "Error"
        terminated = {"terminated": {"exitCode": code, "reason": reason, "startedAt": c.started_at,
                                     "finishedAt": c.finished_at, "containerID": self._container_id(pp, c)}}
        self._append_log(c, f"container exited with code {code} ({reason})")
        c.kill_deadline = None
        for p in c.probes.values():
            p.result, p.successes, p.failures = None, 0, 0
        restart = pp.restart_policy == "Always" or (pp.restart_policy == "OnFailure" and code != 0)
        if not restart:
            c.state, c.exit_code, c.reason = "terminated", code, reason
            return
        ran_for = now - c.started_mono
        if ran_for >= self.backoff_reset:
            c.backoff_delay = 0.0
        c.backoff_delay = self.backoff_base if not c.backoff_delay else min(self.backoff_cap, c.backoff_delay * 2)
        c.backoff_until = now + c.backoff_delay
        c.restart_count += 1
        c.last_state = terminated
        c.state, c.reason, c.exit_code = "waiting", "CrashLoopBackOff", None
        c.message = (f"back-off {c.backoff_delay:g}s restarting failed container={c.name} "
                     f"pod={pp.name}_{pp.namespace}({pp.uid})")
        self._event(pp, "BackOff", f"Back-off restarting failed container {c.name} in pod "
                    f"{pp.name}_{pp.namespace}({pp.uid})", "Warning")

    def _start(self, pp: PodProcs, c: Container) -> None:
        try:
            env = self._environment(pp, c)
        except ContainerConfigError as exc:
            # The kubelet keeps such a container waiting (and retries) until the reference resolves.
            c.state, c.reason, c.message = "waiting", "CreateContainerConfigError", str(exc)
            c.backoff_until = time.monotonic() + self.backoff_base
            if c.last_event != c.message:
                c.last_event = c.message
                self._event(pp, "Failed", f"Error: {exc}", "Warning")
            return
        argv = self._argv(c, env)
        c.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._append_log(c, f"starting container {c.name} image {c.image}: {shlex.join(argv)}")
        with open(c.log_path, "ab") as out:
            try:
                c.proc = subprocess.Popen([*self.command_prefix(pp.uid), *argv], env=env, cwd=str(REPO_ROOT),
                                          stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                # A missing executable is what a runtime reports as StartError / exit 128.
                c.proc = None
                c.state, c.reason, c.message = "waiting", "CrashLoopBackOff", str(exc)
                c.restart_count += 1
                c.last_state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": str(exc),
                                               "startedAt": None, "finishedAt": now_rfc3339(), "containerID": ""}}
                c.backoff_delay = min(self.backoff_cap, max(self.backoff_base, c.backoff_delay * 2))
                c.backoff_until = time.monotonic() + c.backoff_delay
                return
        # A pid file per running container lets `kill_leftovers` clean up after a runtime that died uncleanly.
        with contextlib.suppress(OSError):
            c.log_path.with_suffix(".pid").write_text(str(c.proc.pid))
        c.generation += 1
        c.state, c.reason, c.message, c.last_event = "running", "", "", ""
        c.started_at, c.started_mono = now_rfc3339(), time.monotonic()
        c.exit_code = None
        for p in c.probes.values():
            p.next_at = c.started_mono + float(p.spec.get("initialDelaySeconds", 0) or 0)
            p.result, p.successes, p.failures, p.in_flight = None, 0, 0, False

    def _argv(self, c: Container, env: dict[str, str]) -> list[str]:
        command = list(c.spec.get("command") or DEFAULT_ENTRYPOINT)
        args = list(c.spec.get("args") or [])  # args without command go to the image's entrypoint
        argv = [_expand(str(a), env) for a in command + args]
        # "python" in a manifest means the rehearsal's interpreter, which has the project's packages.
        if argv and argv[0] in ("python", "python3", "python3.11"):
            argv[0] = self.python
        return argv

    def _environment(self, pp: PodProcs, c: Container) -> dict[str, str]:
        app, version = c.app or ("", "")
        ports = c.spec.get("ports") or []
        port = ports[0].get("containerPort", DEFAULT_PORT) if ports else DEFAULT_PORT
        # A container does not inherit the host's environment; only what a program needs to start.
        env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ") if k in os.environ}
        env.update({
            "HOME": str(pp.log_dir),
            "HOSTNAME": pp.name,
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
            "APP_NAME": app,
            "APP_VERSION": version,
            "LISTEN_HOST": pp.ip,
            "PORT": str(port),
            "POD_NAME": pp.name,
            "POD_NAMESPACE": pp.namespace,
            "POD_IP": pp.ip,
        })
        # envFrom first, then env (env wins on a clash), as the kubelet builds the environment.
        for src in c.spec.get("envFrom") or []:
            kind, ref = ("secrets", src["secretRef"]) if src.get("secretRef") else (
                "configmaps", src.get("configMapRef"))
            data = self._lookup(pp, kind, ref or {}, None)
            for key, value in (data or {}).items():
                env[(src.get("prefix") or "") + key] = value
        for item in c.spec.get("env") or []:
            name = item.get("name")
            if not name:
                continue
            if "value" in item:
                env[name] = _expand(str(item["value"]), env)
            elif item.get("valueFrom"):
                value = self._value_from(pp, item["valueFrom"])
                if value is not None:
                    env[name] = value
        return env

    def _value_from(self, pp: PodProcs, source: dict) -> str | None:
        field_ref = (source.get("fieldRef") or {}).get("fieldPath")
        if field_ref:
            return {"metadata.name": pp.name, "metadata.namespace": pp.namespace, "metadata.uid": pp.uid,
                    "status.podIP": pp.ip, "status.hostIP": pp.host_ip,
                    "spec.nodeName": pp.node_name}.get(field_ref)
        if source.get("secretKeyRef"):
            return self._lookup(pp, "secrets", source["secretKeyRef"], source["secretKeyRef"].get("key", ""))
        if source.get("configMapKeyRef"):
            return self._lookup(pp, "configmaps", source["configMapKeyRef"], source["configMapKeyRef"].get("key", ""))
        return None

    def _lookup(self, pp: PodProcs, kind: str, ref: dict, key: str | None):
        """One key (or, key None, all data) of a Secret/ConfigMap in the pod's namespace; None if optional.

        A missing non-optional object or key is a CreateContainerConfigError, as in the kubelet.
        """
        singular = "secret" if kind == "secrets" else "configmap"
        name = ref.get("name", "")
        if self.store is None:
            raise ContainerConfigError(f'{singular} "{name}" cannot be read: the runtime has no API store')
        try:
            obj = self.store.get(kind, pp.namespace, name)
        except Exception:
            if ref.get("optional"):
                return None
            raise ContainerConfigError(f'{singular} "{name}" not found') from None
        data = dict(obj.get("data") or {})
        if kind == "secrets":
            data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in data.items()}
            data.update(obj.get("stringData") or {})
        if key is None:
            return data
        if key not in data:
            if ref.get("optional"):
                return None
            raise ContainerConfigError(f"couldn't find key {key} in {singular.capitalize()} {pp.namespace}/{name}")
        return data[key]

    # -- probes ----------------------------------------------------------------------------------------

    def _schedule_probes(self, pp: PodProcs, c: Container, now: float) -> None:
        if not c.running or pp.stopping:
            return
        startup = c.probes.get("startup")
        for kind, p in c.probes.items():
            if kind != "startup" and startup is not None and startup.result is not True:
                continue  # liveness and readiness wait until the startup probe has succeeded
            if kind == "startup" and p.result is True:
                continue  # a startup probe runs only until it succeeds once
            if p.in_flight or now < p.next_at:
                continue
            p.in_flight = True
            p.next_at = now + float(p.spec.get("periodSeconds", 10) or 10)
            self._probe_pool.submit(self._run_probe, pp, c, p, c.generation)

    def _run_probe(self, pp: PodProcs, c: Container, p: ProbeState, generation: int) -> None:
        try:
            env = self._environment(pp, c) if "exec" in p.spec else None
            ok, detail = probe_once(p.spec, pp.ip, c.spec, env, prefix=self.command_prefix(pp.uid))
        except Exception as exc:  # a probe that cannot even be made counts as failed, as in the kubelet
            ok, detail = False, f"probe error: {exc}"
        with self._lock:
            p.in_flight = False
            if generation != c.generation or not c.running:
                return
            if ok:
                p.successes, p.failures = p.successes + 1, 0
            else:
                p.failures, p.successes = p.failures + 1, 0
            success_threshold = int(p.spec.get("successThreshold", 1) or 1)
            failure_threshold = int(p.spec.get("failureThreshold", 3) or 3)
            if ok and p.successes >= success_threshold:
                p.result = True
            elif not ok and p.failures >= failure_threshold:
                if p.result is not False:  # report the change, not every failed period
                    self._event(pp, "Unhealthy", f"{p.kind.capitalize()} probe failed: {detail}", "Warning")
                p.result = False
                if p.kind in ("liveness", "startup") and c.kill_deadline is None:
                    self._append_log(c, f"{p.kind} probe failed {p.failures} times; killing the container")
                    self._event(pp, "Killing", f"Container {c.name} failed {p.kind} probe, will be restarted")
                    self._kill_for_restart(pp, c, p.spec)
        self._flush_events()

    def _kill_for_restart(self, pp: PodProcs, c: Container, probe_spec: dict) -> None:
        grace = probe_spec.get("terminationGracePeriodSeconds")
        if grace is None:
            grace = min(DEFAULT_GRACE_SECONDS, 5)  # keep a rehearsal moving; production uses the pod's value
        c.kill_deadline = time.monotonic() + float(grace)
        self._signal(c, signal.SIGTERM)

    # -- stopping ----------------------------------------------------------------------------------------

    def _reap_stopping(self, pp: PodProcs) -> bool:
        now = time.monotonic()
        alive = False
        for c in pp.containers:
            if c.running:
                if now >= pp.stop_deadline:
                    self._signal(c, signal.SIGKILL)
                alive = alive or c.running
        if alive:
            return False
        for c in pp.containers:
            if c.proc is not None:
                self._signal(c, signal.SIGKILL)  # anything the container left in its process group
                _forget_pid(c)
                code = c.proc.returncode
                c.proc = None
                self._append_log(c, f"container stopped with code {128 - code if code < 0 else code}")
        if not pp.stopped:
            pp.stopped = True
            if pp.own_ip:
                self.addresses.release(pp.ip)
            self._pods.pop(pp.uid, None)
        return True

    @staticmethod
    def _signal(c: Container, sig: int) -> None:
        if c.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(c.proc.pid, sig)

    @staticmethod
    def kill_leftovers(log_dir: str | os.PathLike) -> int:
        """SIGKILL the process group of every container a previous runtime left running; how many there were.

        For ``down`` after the stack died without ``shutdown()``: containers run in their own sessions, so
        they outlive their parent. Each pid file is checked against /proc so an unrelated process that
        reused the pid is not touched.
        """
        killed = 0
        for pid_file in Path(log_dir).glob("*/*.pid"):
            try:
                pid = int(pid_file.read_text().strip())
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                environ = Path(f"/proc/{pid}/environ").read_bytes()
            except (OSError, ValueError):
                cmdline = environ = b""
                pid = 0
            # Ours if it still carries the environment this runtime gave it.
            if pid and cmdline and f"POD_NAME={pid_file.parent.name.split('_')[1]}".encode() in environ:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                    killed += 1
            with contextlib.suppress(OSError):
                pid_file.unlink()
        return killed

    # -- the supervisor thread ------------------------------------------------------------------------------

    def _supervise(self) -> None:
        while not self._closed.wait(self.tick):
            try:
                with self._lock:
                    now = time.monotonic()
                    for pp in list(self._pods.values()):
                        if pp.stopping:
                            self._reap_stopping(pp)
                            continue
                        self._step(pp)
                        for c in pp.containers:
                            self._schedule_probes(pp, c, now)
            except Exception:  # keep supervising the other pods
                log.exception("process runtime supervisor")
            self._flush_events()

    # -- status ------------------------------------------------------------------------------------------------

    def _status(self, pod: dict, pp: PodProcs) -> dict:
        observations = []
        for c in pp.containers:
            o = ContainerObservation(name=c.name, image=c.image, restart_count=c.restart_count,
                                     last_state=c.last_state, container_id=self._container_id(pp, c),
                                     started_at=c.started_at, finished_at=c.finished_at)
            if c.state == "running" and c.running:
                o.state = "running"
                o.ready = self._ready(c)
            elif c.state == "terminated":
                o.state, o.exit_code, o.reason = "terminated", c.exit_code, c.reason
            else:
                o.state, o.reason = "waiting", c.reason or "ContainerCreating"
                if c.state == "running":  # exited since the last step; report it on the next one
                    o.state, o.reason = "running", ""
            observations.append(o)
        base = dict(pod)
        base["status"] = dict(pod.get("status") or {})
        base["status"].setdefault("startTime", pp.start_time)
        base["status"]["podIP"] = pp.ip
        base["status"].setdefault("hostIP", HOST_IP)
        status = build_status(base, observations)
        # build_status carries no waiting messages; the kubelet reports them (kubectl describe shows them).
        for cs, c in zip(status["containerStatuses"], pp.containers, strict=True):
            if "waiting" in cs["state"] and c.message:
                cs["state"]["waiting"]["message"] = c.message
            if c.spec.get("startupProbe") and cs["state"].get("running"):
                cs["started"] = c.probes["startup"].result is True
        return status

    @staticmethod
    def _ready(c: Container) -> bool:
        startup = c.probes.get("startup")
        if startup is not None and startup.result is not True:
            return False
        readiness = c.probes.get("readiness")
        return readiness is None or readiness.result is True

    @staticmethod
    def _container_id(pp: PodProcs, c: Container) -> str:
        return f"process://{pp.uid}/{c.name}/{c.generation}" if c.generation else ""

    @staticmethod
    def _append_log(c: Container, line: str) -> None:
        # The runtime's own notes go beside the container's log, not into it: `kubectl logs` shows only what
        # the container wrote.
        with contextlib.suppress(OSError), open(c.log_path.with_suffix(".runtime"), "a", encoding="utf-8") as f:
            f.write(f"{now_rfc3339()} {line}\n")

    def _event(self, pp: PodProcs, reason: str, message: str, type_: str = "Normal") -> None:
        """Queue a core/v1 Event about the pod, as the kubelet reports (seen in `kubectl describe pod`)."""
        if self.store is not None:
            self._events.append((pp.ref, reason, message, type_))

    def _flush_events(self) -> None:
        with self._lock:
            events, self._events = self._events, []
        if not events or self.store is None:
            return
        for ref, reason, message, type_ in events:
            try:
                self.store.create("events", kubelet_event(ref, reason, message, type_))
            except Exception:  # events are best effort, as in the kubelet
                log.debug("could not record event %s", reason, exc_info=True)

    def runtime_log(self, pod: dict) -> str:
        """What the runtime itself noted about the pod's containers (starts, exits, kills)."""
        return "".join(p.read_text(errors="replace") for p in sorted(self._pod_log_dir(pod).glob("*.runtime")))


def _forget_pid(c: Container) -> None:
    with contextlib.suppress(OSError):
        c.log_path.with_suffix(".pid").unlink()


# -- probes (module level: pure enough to test on their own) -------------------------------------------------


def _resolve_port(port, container_spec: dict) -> int:
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container_spec.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"probe port {port!r} is not a port of the container")


def probe_once(probe: dict, pod_ip: str, container_spec: dict,
               env: dict[str, str] | None = None, prefix: list[str] | None = None) -> tuple[bool, str]:
    """Run one probe attempt as the kubelet would: (success, what failed); ``prefix`` runs an exec probe
    in the pod's network namespace."""
    timeout = float(probe.get("timeoutSeconds", 1) or 1)
    if "httpGet" in probe:
        hg = probe["httpGet"]
        host = hg.get("host") or pod_ip
        port = _resolve_port(hg.get("port", DEFAULT_PORT), container_spec)
        scheme = (hg.get("scheme") or "HTTP").lower()
        path = hg.get("path") or "/"
        if not path.startswith("/"):
            path = "/" + path
        url = f"{scheme}://{host}:{port}{path}"
        req = urllib.request.Request(url, method="GET")
        req.add_header("User-Agent", "kube-probe/1.32")
        for h in hg.get("httpHeaders") or []:
            req.add_header(h["name"], h.get("value", ""))
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=timeout) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError) as exc:
            return False, f'Get "{url}": {getattr(exc, "reason", exc)}'
        # 2xx and 3xx are success; a redirect is not followed (as in the kubelet).
        return 200 <= status < 400, f"HTTP probe failed with statuscode: {status}"
    if "tcpSocket" in probe:
        ts = probe["tcpSocket"]
        address = (ts.get("host") or pod_ip, _resolve_port(ts["port"], container_spec))
        try:
            with socket.create_connection(address, timeout=timeout):
                return True, ""
        except OSError as exc:
            return False, f"dial tcp {address[0]}:{address[1]}: {exc}"
    if "exec" in probe:
        command = list(probe["exec"].get("command") or [])
        if command and command[0] in ("python", "python3"):
            command[0] = sys.executable
        try:
            code = subprocess.run([*(prefix or []), *command], env=env, cwd=str(REPO_ROOT), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout,
                                  check=False).returncode
        except subprocess.TimeoutExpired:
            return False, f"command timed out after {timeout:g}s"
        except OSError as exc:
            return False, str(exc)
        return code == 0, f"command exited with {code}"
    return True, ""  # a probe with no handler never fails (the API would reject it anyway)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # the kubelet treats a 3xx as success without following it
        return None


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes $(VAR) expansion in command, args and env values; $$ escapes a dollar sign."""
    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _VAR_REF.sub(sub, text)
