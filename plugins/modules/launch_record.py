#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, GreenLang platform engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: launch_record
short_description: Write one run record (a step, a rollback, a decision, an artifact, or the run itself)
version_added: 0.1.0
description:
  - Appends one JSON object as a line to C(<run_dir>/<stream>.jsonl), or merges an object into C(<run_dir>/run.json)
    with O(stream=run). These files are the run's record that reports and notifications read.
  - Each stream has required fields and allowed values (see O(record)); a record that breaks them is refused, naming
    the field, and nothing is written.
  - Times (C(started), C(ended), C(stable_at), C(decided_at)) may be given as epoch seconds or ISO 8601; they are
    written as ISO 8601 UTC with a trailing C(Z).
  - No secret goes into a record. Values of keys that look like secrets (password, token, secret, dsn, api_key,
    webhook, credential, private_key), at any depth, are written as C(********) and listed in RV(masked).
  - Idempotent. With O(key), a record equal to the last one written with that key is not written again; a
    different one is appended and readers take the last line per key. Without O(key) a record equal to the
    stream's last line is not written again. C(run.json) is only rewritten when the merge changes it.
  - Supports check mode (nothing is written, C(changed) says whether it would be) and diff mode.
  - Writers are serialised with an exclusive lock on C(<run_dir>/.lock), so parallel hosts can share a run dir.
  - Runs on the controller (an action plugin), whatever the host's connection, because the run directory is
    the controller's, where the report, the notifications and the next run read it.
author:
  - GreenLang platform engineering (@greenlang)
options:
  run_dir:
    description:
      - The run's directory, normally C({{ launch_state_dir }}/runs/{{ launch_run_id }}). Created (with parents)
        when missing, on the controller.
    type: path
    required: true
  stream:
    description:
      - C(steps) {app, index, verb, args, status (ok, failed, skipped or undone), started, ended, weight, checks,
        reason}.
      - C(rollbacks) {app, reason, type (traffic, rollout_undo or db_restore), started, stable_at,
        time_to_stable_s}.
      - C(decisions) {gate, app, criteria, verdict (GO or NO-GO), decided_by, decided_at, reason}.
      - C(artifacts) {kind (backup or migration), app, file, size, sha256, verified, schema_before, schema_after}.
      - C(run) merges into C(run.json) {run_id, environment, started, ended, user, collection_version,
        apps {<app> {release, previous, strategy, result}}}; nested dicts merge, other values replace.
    type: str
    required: true
    choices: [steps, rollbacks, decisions, artifacts, run]
  record:
    description:
      - The record. Required fields per stream are C(app), C(index), C(verb), C(status) (steps); C(app),
        C(reason), C(type) (rollbacks); C(gate), C(app), C(verdict) (decisions); C(kind), C(app) (artifacts).
      - Further fields are written as given.
    type: dict
    required: true
  key:
    description:
      - Identity of the record within its stream, written as its C(key) field, for example C(cbam:4:set_weight).
        Ignored for O(stream=run).
    type: str
  dir_mode:
    description:
      - Mode of the run directory when the module creates it.
    type: raw
    default: "0750"
  file_mode:
    description:
      - Mode of a stream file when the module creates it.
    type: raw
    default: "0640"
seealso:
  - module: greenlang.launch.metric_gate
notes:
  - The field lists are the collection's run-record contract; C(docs/modules/launch_record.md) describes who writes
    and who reads each stream.
"""

EXAMPLES = r"""
- name: Record that step 4 of cbam (set_weight 10) completed
  greenlang.launch.launch_record:
    run_dir: "{{ launch_state_dir }}/runs/{{ launch_run_id }}"
    stream: steps
    key: "cbam:4:set_weight"
    record:
      app: cbam
      index: 4
      verb: set_weight
      args: 10
      status: ok
      started: "{{ step_started }}"
      ended: "{{ now(utc=true).timestamp() }}"
      weight: 10

- name: Record a rollback and how long it took to be stable again
  greenlang.launch.launch_record:
    run_dir: "{{ launch_run_dir }}"
    stream: rollbacks
    record:
      app: cbam
      reason: "error_rate 0.3 > max 0.05 for 5 consecutive evaluations"
      type: traffic
      started: 2026-06-07T10:14:03Z
      stable_at: 2026-06-07T10:14:04.412Z
      time_to_stable_s: 1.41

- name: Mark the run started
  greenlang.launch.launch_record:
    run_dir: "{{ launch_run_dir }}"
    stream: run
    record:
      run_id: "{{ launch_run_id }}"
      environment: "{{ launch_environment }}"
      started: "{{ now(utc=true).isoformat() }}"
      apps:
        cbam: {release: v2, previous: v1, strategy: canary, result: running}
"""

RETURN = r"""
file:
  description: The file written (or that would be written).
  returned: always
  type: str
  sample: /var/lib/greenlang-launch/runs/20260607T100000Z/steps.jsonl
record:
  description: The record as written (for O(stream=run), the whole C(run.json) after the merge).
  returned: always
  type: dict
  sample: {app: cbam, index: 4, verb: set_weight, status: ok, weight: 10, key: "cbam:4:set_weight",
           started: "2026-06-07T10:12:00Z", ended: "2026-06-07T10:12:01.250Z"}
masked:
  description: Paths of fields whose values were replaced by C(********) because their key looks like a secret.
  returned: always
  type: list
  elements: str
  sample: [args.password]
"""
