"""A minimal thread-safe Prometheus registry for the demo apps.

Written here rather than using prometheus_client to keep each pod process small and
quick to start (twelve of them run at once on a 2-core machine); only counters, gauges
and one histogram family are needed. Output follows the text exposition format 0.0.4.
"""

from __future__ import annotations

import bisect
import threading

# Fine enough around the gates (P95 < 0.5 s, P99 < 1 s, rollback at P95 > 2 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}" if pairs else ""


def _num(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if isinstance(value, float) and not value.is_integer() else str(int(value))


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._meta: dict[str, tuple[str, str]] = {}  # name -> (type, help)
        self._values: dict[str, dict[tuple, float]] = {}
        self._hist: dict[str, dict[tuple, list]] = {}  # labels -> [bucket counts..., sum, count]

    def describe(self, name: str, kind: str, help_text: str) -> None:
        self._meta[name] = (kind, help_text)
        (self._hist if kind == "histogram" else self._values).setdefault(name, {})

    def inc(self, name: str, labels: tuple = (), amount: float = 1.0) -> None:
        with self._lock:
            series = self._values[name]
            series[labels] = series.get(labels, 0.0) + amount

    def set(self, name: str, labels: tuple, value: float) -> None:
        with self._lock:
            self._values[name][labels] = value

    def observe(self, name: str, labels: tuple, value: float) -> None:
        index = bisect.bisect_left(LATENCY_BUCKETS, value)  # bucket i counts values <= LATENCY_BUCKETS[i]
        with self._lock:
            data = self._hist[name].get(labels)
            if data is None:
                data = self._hist[name][labels] = [0] * len(LATENCY_BUCKETS) + [0.0, 0]
            if index < len(LATENCY_BUCKETS):
                data[index] += 1
            data[-2] += value
            data[-1] += 1

    def get(self, name: str, labels: tuple = ()) -> float:
        with self._lock:
            return self._values[name].get(labels, 0.0)

    def render(self) -> str:
        out: list[str] = []
        with self._lock:
            for name, (kind, help_text) in self._meta.items():
                out.append(f"# HELP {name} {help_text}")
                out.append(f"# TYPE {name} {kind}")
                if kind != "histogram":
                    for labels, value in sorted(self._values[name].items()):
                        out.append(f"{name}{_labels(labels)} {_num(value)}")
                    continue
                for labels, data in sorted(self._hist[name].items()):
                    cumulative = 0
                    for bound, count in zip(LATENCY_BUCKETS, data, strict=False):
                        cumulative += count
                        out.append(f"{name}_bucket{_labels(labels + (('le', repr(float(bound))),))} {cumulative}")
                    out.append(f"{name}_bucket{_labels(labels + (('le', '+Inf'),))} {data[-1]}")
                    out.append(f"{name}_sum{_labels(labels)} {_num(data[-2])}")
                    out.append(f"{name}_count{_labels(labels)} {data[-1]}")
        return "\n".join(out) + "\n"
