"""Starts the Ray Serve target: a local Ray cluster, then `serve run serve.yaml`.

`serve run` has no `--port` and starts Ray with its defaults, which do not suit a benchmark
(docs/methodology.md, "Server settings for the Python targets"): a dashboard and its agents,
an object store of 30% of RAM, usage statistics, and a temp dir shared by every Ray on the
machine under /tmp/ray. So this launcher
1. writes the config: `serve.yaml` with the port, the replica count and
   max_ongoing_requests filled in, into the scratch dir the harness made for this start;
2. calls `ray.init` with what has no config-file form: CPUs = workers, no dashboard, a
   bounded object store, a temp dir of its own (under the scratch dir), logs at warning;
3. runs Ray's own `serve run <config>` command in this process (it reuses the initialised
   Ray, as its code says), which blocks.
SIGTERM and SIGINT become `serve run`'s KeyboardInterrupt path: `serve.shutdown()`, then
`ray.shutdown()` at exit stops the cluster's processes; the harness waits for every
process of the tree.
"""

import argparse
import logging
import os
import signal
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
# AF_UNIX socket paths are limited to 107 bytes; Ray puts its sockets at
# <temp>/session_<date>_<time>_<us>_<pid>/sockets/plasma_store (about 62 bytes after <temp>).
SOCKET_ROOM = 107 - 64


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, required=True, help="replicas, and Ray's num_cpus")
    p.add_argument("--scratch", required=True, help="a directory for this start (config, Ray's temp dir)")
    p.add_argument("--max-ongoing-requests", type=int, required=True)
    p.add_argument("--object-store-bytes", type=int, default=256 * 1024 * 1024)
    p.add_argument("--log-level", default="warning")
    return p.parse_args()


def write_config(args: argparse.Namespace) -> str:
    with open(os.path.join(HERE, "serve.yaml")) as f:
        config = yaml.safe_load(f)
    config["http_options"]["port"] = args.port
    (app,) = config["applications"]
    (deployment,) = app["deployments"]
    deployment["num_replicas"] = args.workers
    deployment["max_ongoing_requests"] = args.max_ongoing_requests
    path = os.path.join(args.scratch, "serve.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return path


def temp_dir(scratch: str) -> str:
    """Ray's temp dir, inside the scratch dir (which the harness removes once every process
    of the tree has gone). Its AF_UNIX sockets must fit in 107 bytes."""
    ray_dir = os.path.join(scratch, "ray")
    if len(ray_dir.encode()) > SOCKET_ROOM:
        sys.exit(f"serve_main.py: --scratch {scratch} is too long for Ray's socket paths (at most {SOCKET_ROOM - 4} bytes)")
    os.makedirs(ray_dir, exist_ok=True)
    return ray_dir


def interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> None:
    args = parse_args()
    os.makedirs(args.scratch, exist_ok=True)
    config = write_config(args)
    level = getattr(logging, args.log_level.upper())

    import ray
    from ray.serve.scripts import cli

    ray.init(
        num_cpus=args.workers,
        include_dashboard=False,
        object_store_memory=args.object_store_bytes,
        _temp_dir=temp_dir(args.scratch),
        namespace="serve",
        logging_level=level,
        configure_logging=True,
    )
    # After ray.init, which installs its own SIGTERM handler (sys.exit, no Serve shutdown).
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    # `serve run` (click): standalone_mode=False returns instead of calling sys.exit.
    cli.main(["run", "--app-dir", HERE, config], prog_name="serve", standalone_mode=False)


if __name__ == "__main__":
    main()
    sys.exit(0)
