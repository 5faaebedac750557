"""``partage bench NAME``: run one benchmark, print a table (or one JSON object)."""

from __future__ import annotations

import json
import sys


def main(name: str, as_json: bool, quick: bool, backend: str = "postgresql") -> int:
    """Run benchmark ``name``; the exit status is 0 once it has measured, whatever the figures
    (they are reported against their targets, and in JSON as ``targets_met``)."""
    if name == "registry":
        from bench import registry

        result = registry.run(registry.Config.for_run(backend, quick))
        print(json.dumps(result) if as_json else registry.table(result))
        return 0
    if name == "gateway":
        from bench import gateway

        result = gateway.run(gateway.Config.for_run(quick))
        print(json.dumps(result) if as_json else gateway.table(result))
        return 0
    if name == "portal":
        from bench import portal

        result = portal.run(portal.Config.for_run(quick))
        print(json.dumps(result) if as_json else portal.table(result))
        return 0
    print(f"unknown benchmark {name!r}", file=sys.stderr)
    return 2
