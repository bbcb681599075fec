"""Job controller: run pods to completion, retry failures up to backoffLimit.

Behaviour of pkg/controller/job (https://kubernetes.io/docs/concepts/workloads/controllers/job/), simplified:
- up to ``parallelism`` pods run at once until ``completions`` pods succeeded (no completions: the
  first success completes the Job once no pod is active);
- restartPolicy Never: each failed pod counts one failure; OnFailure: container restarts count too;
- more failures than ``backoffLimit`` (default 6): FailureTarget + Failed (BackoffLimitExceeded);
  ``activeDeadlineSeconds`` exceeded: Failed (DeadlineExceeded); active pods are deleted either way;
- success: SuccessCriteriaMet + Complete (kube 1.31+ sets both; kubernetes.core waits on Complete);
- ``suspend`` deletes active pods; ``ttlSecondsAfterFinished`` deletes the finished Job.
Not modelled: the exponential retry delay (kube waits 10 s, 20 s, ...; here the next pod starts at
once so rehearsals stay fast), indexed completion mode, pod failure policy.
"""

from __future__ import annotations

import contextlib
import time

from rehearsal.kubeapi.controllers.manager import Controller
from rehearsal.kubeapi.controllers.util import (
    condition,
    delete_pod,
    keys_for_pod_owner,
    live_object,
    owned_by,
    owner_ref_to,
    parse_time,
    pod_active,
    pod_from_template,
    pod_ready,
    record_event,
    split_key,
)
from rehearsal.kubeapi.store import Event, NotFound, now_rfc3339


def _cond(type_: str, reason: str, message: str) -> dict:
    now = now_rfc3339()
    return {"type": type_, "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def finished(job: dict) -> str | None:
    """"Complete" or "Failed" once the Job has finished."""
    status = job.get("status") or {}
    for type_ in ("Complete", "Failed"):
        c = condition(status, type_)
        if c and c.get("status") == "True":
            return type_
    return None


class JobController(Controller):
    name = "job"
    resource = "jobs.batch"

    def keys_for(self, ev: Event):
        return keys_for_pod_owner(ev, self.resource, "Job")

    def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        job = live_object(self.store, self.resource, ns, name)
        if job is None:
            return None
        spec = job.get("spec") or {}
        pods = [p for p in self.store.list("pods", ns)[0] if owned_by(p, job)]
        active = [p for p in pods if pod_active(p)]
        done = finished(job)
        if done:
            for pod in active:
                delete_pod(self.store, pod)
            return self._ttl(job)
        old = job.get("status") or {}
        status = dict(old)
        now = time.time()

        if spec.get("suspend"):
            for pod in active:
                delete_pod(self.store, pod)
            status["active"] = 0
            return self._write(job, old, status)

        status.setdefault("startTime", now_rfc3339())
        succeeded = max(int(old.get("succeeded") or 0),
                        sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"))
        failed_pods = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
        restarts = sum(c.get("restartCount", 0) for p in pods if (p.get("spec") or {}).get("restartPolicy") ==
                       "OnFailure" for c in (p.get("status") or {}).get("containerStatuses") or [])
        failed = max(int(old.get("failed") or 0), failed_pods)
        backoff_limit = int(spec.get("backoffLimit", 6))
        completions = spec.get("completions", None if "parallelism" in spec else 1)
        parallelism = int(spec.get("parallelism", 1))
        deadline = spec.get("activeDeadlineSeconds")
        started = parse_time(status["startTime"]) or now

        failure = None
        if failed + restarts > backoff_limit:
            failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif deadline is not None and started + int(deadline) <= now:
            failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
        complete = (completions is not None and succeeded >= int(completions)) or (
            completions is None and succeeded > 0 and not active)

        conds = list(status.get("conditions") or [])
        if failure:
            for pod in active:
                delete_pod(self.store, pod)
            active = []
            conds += [_cond("FailureTarget", *failure), _cond("Failed", *failure)]
            record_event(self.store, job, failure[0], failure[1], component="job-controller", type_="Warning")
        elif complete:
            for pod in active:
                delete_pod(self.store, pod)
            active = []
            msg = "Reached expected number of succeeded pods"
            conds += [_cond("SuccessCriteriaMet", "CompletionsReached", msg),
                      _cond("Complete", "CompletionsReached", msg)]
            status["completionTime"] = now_rfc3339()
            record_event(self.store, job, "Completed", "Job completed", component="job-controller")
        else:
            want = parallelism if completions is None else min(parallelism, int(completions) - succeeded)
            template = spec.get("template") or {}
            uid = job["metadata"]["uid"]
            labels = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                      "controller-uid": uid, "job-name": name}
            for _ in range(max(0, want - len(active))):
                pod = pod_from_template(template, namespace=ns, generate_name=f"{name}-",
                                        owner_ref=owner_ref_to(job, "Job", "batch/v1"), extra_labels=labels)
                pod["spec"]["restartPolicy"] = (template.get("spec") or {}).get("restartPolicy", "Never")
                created = self.store.create("pods", pod)
                active.append(created)
                record_event(self.store, job, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
                             component="job-controller")
        status.update({"active": len(active), "succeeded": succeeded, "failed": failed,
                       "ready": sum(1 for p in active if pod_ready(p)), "conditions": conds,
                       "uncountedTerminatedPods": {}})
        status = {k: v for k, v in status.items() if v or k == "uncountedTerminatedPods"}
        self._write(job, old, status)
        if failure or complete:
            return self._ttl(self.store.get(self.resource, ns, name))
        return 0.5 if deadline is not None else None

    def _write(self, job: dict, old: dict, status: dict) -> None:
        if status != old:
            job["status"] = status
            self.store.update(self.resource, job, part="status")

    def _ttl(self, job: dict) -> float | None:
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return None
        status = job.get("status") or {}
        end = parse_time(status.get("completionTime")) or parse_time(
            (condition(status, "Failed") or {}).get("lastTransitionTime"))
        if end is None:
            return None
        left = end + int(ttl) - time.time()
        if left > 0:
            return left
        with contextlib.suppress(NotFound):
            self.store.delete(self.resource, job["metadata"].get("namespace"), job["metadata"]["name"],
                              uid=job["metadata"]["uid"])
        return None
