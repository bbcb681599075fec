"""python -m rehearsal up | down | status | load ... : the local rehearsal stack."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rehearsal import stack


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "load":
        from rehearsal.load import main_load

        return main_load(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m rehearsal", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "serve"],
                        help="up: start (idempotent); down: stop, leaving no process; status: what runs where; "
                             "load: traffic generator (see `python -m rehearsal load --help`)")
    parser.add_argument("--state-dir", type=Path, default=stack.DEFAULT_STATE_DIR)
    parser.add_argument("--no-apps", action="store_true", help="up: do not deploy the v1 app manifests")
    args = parser.parse_args(argv)
    config = stack.StackConfig(state_dir=args.state_dir.resolve(), deploy_manifests=not args.no_apps)
    if args.command == "up":
        return stack.up(config)
    if args.command == "down":
        return stack.down(config)
    if args.command == "status":
        return stack.status(config)
    return stack.serve(config)


if __name__ == "__main__":
    sys.exit(main())
