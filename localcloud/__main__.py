"""python -m localcloud [--port N] [--rollout-seconds S] [--seed N] [--snapshot-dir DIR]

Prints one line, "localcloud ready at http://127.0.0.1:<port>", when it accepts calls;
stops cleanly on SIGINT and SIGTERM; exits 2 with a message when the port is taken.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import HOST, LocalCloud, PortInUseError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud",
        description="A local AWS cloud for Stageflow: moto's server on 127.0.0.1 plus ECS deployments, "
        "load-balancer targets, health URLs and faults. See docs/localcloud.md.",
    )
    parser.add_argument("--host", default=HOST, help="address to listen on; only 127.0.0.1 is allowed")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 (the default) picks a free one")
    parser.add_argument(
        "--rollout-seconds",
        type=float,
        default=3.0,
        help="how long an ECS deployment takes to reach a steady state (default 3)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for weighted routing (default 0)")
    parser.add_argument(
        "--snapshot-dir",
        help="the folder snapshots are exported to and imported from (/_localcloud/snapshots/<name>/export, import)",
    )
    parser.add_argument("--port-file", help="also write the port number to this file when ready")
    args = parser.parse_args(argv)
    if args.host != HOST:
        parser.error(f"--host must be {HOST}: the local cloud listens on loopback only")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be from 0 to 65535, got {args.port}")
    if args.rollout_seconds < 0:
        parser.error(f"--rollout-seconds must be >= 0, got {args.rollout_seconds}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cloud = LocalCloud(
        port=args.port, rollout_seconds=args.rollout_seconds, seed=args.seed, snapshot_dir=args.snapshot_dir
    )
    try:
        url = cloud.start()
    except PortInUseError as exc:
        print(f"localcloud: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if args.port_file:
        with open(args.port_file, "w", encoding="utf-8") as handle:
            handle.write(f"{cloud.port}\n")
    print(f"localcloud ready at {url}", flush=True)
    stop.wait()
    cloud.stop()
    print("localcloud stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
