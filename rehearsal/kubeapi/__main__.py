"""Run one emulated cluster in the foreground until SIGTERM/SIGINT.

    python -m rehearsal.kubeapi --state-dir DIR [--port N] [--ready-delay S] [--runtime simulated|process]

Prints the API URL and the kubeconfig path once serving; stops cleanly (server, controllers, pods).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from rehearsal.kubeapi.cluster import Cluster
from rehearsal.kubeapi.runtime import SimulatedRuntime


def _runtime(args):
    if args.runtime == "process":
        from rehearsal.kubeapi.process_runtime import ProcessRuntime

        return ProcessRuntime(args.state_dir + "/pod-logs")
    return SimulatedRuntime(ready_delay=args.ready_delay, job_duration=args.job_duration)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.kubeapi", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", required=True, help="where the kubeconfig, CA and certificates go")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    parser.add_argument("--token", default=None, help="bearer token clients must send (default: random)")
    parser.add_argument("--runtime", choices=("simulated", "process"), default="simulated",
                        help="simulated: timing-only pods; process: containers run as local processes")
    parser.add_argument("--ready-delay", type=float, default=0.5,
                        help="simulated runtime: seconds from pod start to Ready (default 0.5)")
    parser.add_argument("--job-duration", type=float, default=0.5,
                        help="simulated runtime: seconds a run-to-completion pod runs (default 0.5)")
    parser.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    cluster = Cluster(args.state_dir, host=args.host, port=args.port, token=args.token, runtime=_runtime(args))
    cluster.start()
    try:
        print(f"API server: {cluster.url}", flush=True)
        print(f"KUBECONFIG={cluster.kubeconfig}", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
