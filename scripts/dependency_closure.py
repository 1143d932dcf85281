"""The dependency closure of some top-level requirements in the running interpreter's
environment: every installed distribution they pull in (markers and extras evaluated as pip
would), and the bytes of the files each one installed (its RECORD).

Usage: python dependency_closure.py REQUIREMENT... (e.g. `fastapi` `ray[serve]`)
Prints one JSON object: {"distributions": [{"name", "version", "bytes"}...], "bytes": N}.
Exits 1, naming it, when a requirement in the closure is not installed.

The harness runs it with each Python target's `python_requires` (harness/src/python.rs), so a
target's cost of ownership is its own closure in the shared venv, not the whole venv.
"""

import json
import os
import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def files_bytes(dist: metadata.Distribution) -> int:
    total = 0
    for f in dist.files or []:
        path = f.locate()
        try:
            if os.path.isfile(path) and not os.path.islink(path):
                total += os.path.getsize(path)
        except OSError:
            pass
    return total


def closure(requirements: list[str]) -> dict:
    seen: dict[str, metadata.Distribution] = {}
    # (requirement, extras it was asked with): extras pull in more of a distribution's deps.
    todo = [(Requirement(r), None) for r in requirements]
    done_extras: set[tuple[str, str]] = set()
    while todo:
        req, _ = todo.pop()
        name = canonicalize_name(req.name)
        try:
            dist = seen.get(name) or metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            sys.exit(f"dependency_closure: {req.name} is required but not installed")
        seen[name] = dist
        for extra in [""] + sorted(req.extras):
            if (name, extra) in done_extras:
                continue
            done_extras.add((name, extra))
            for dep in dist.requires or []:
                d = Requirement(dep)
                env = {"extra": extra}
                if d.marker is not None and not d.marker.evaluate(env):
                    continue
                if d.marker is None and extra:
                    continue  # an unconditional dependency is taken with the "" pass
                todo.append((d, None))
    dists = sorted(
        ({"name": d.metadata["Name"], "version": d.version, "bytes": files_bytes(d)} for d in seen.values()),
        key=lambda d: d["name"].lower(),
    )
    return {"distributions": dists, "bytes": sum(d["bytes"] for d in dists)}


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(json.dumps(closure(sys.argv[1:])))
