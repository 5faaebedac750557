"""The ``partage`` command line: serve one service, start the local region, run the
conformance material against a service, publish a site's backlog, run a benchmark."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from datetime import date
from pathlib import Path

#: service name → app factory and settings class, as "module:attribute"
SERVICES = {
    "registry": ("registry.main:create_app", "registry.core.config:RegistrySettings"),
    "repository": ("repository.main:create_app", "repository.core.config:RepositorySettings"),
    "gateway": ("gateway.main:create_app", "gateway.core.config:GatewaySettings"),
    "portal": ("portal.main:create_app", "portal.core.config:PortalSettings"),
    "consent": ("consent.main:create_app", "consent.core.config:ConsentSettings"),
}

#: bearer token sent to the endpoints under test with ``--against`` (``--token``)
TOKEN_ENV = "PARTAGE_CONFORMANCE_TOKEN"

#: the NIST / IHE conformance material: ``PARTAGE_CONFORMANCE_DIR``, else ``shared/conformance``
#: beside the checkout
DEFAULT_MATERIAL = Path(os.environ.get(
    "PARTAGE_CONFORMANCE_DIR",
    Path(__file__).resolve().parent.parent.parent / "shared" / "conformance"))


def _load(ref: str):  # type: ignore[no-untyped-def]
    module, attr = ref.split(":")
    return getattr(importlib.import_module(module), attr)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from partage import logs

    factory, settings_cls = (_load(r) for r in SERVICES[args.service])
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings_cls(**overrides)
    logs.configure(settings.log_level, settings.log_json)
    uvicorn.run(factory(settings), host=settings.host, port=settings.port, log_config=None)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from partage import demo

    return demo.main(data_dir=args.data_dir, once=args.once)


def _conformance(args: argparse.Namespace) -> int:
    from partage.conformance import runner

    return runner.main(
        suite=args.suite, against=args.against, material=args.material, only=args.only,
        mllp=args.mllp, feed=args.feed, repository_uid=args.repository_uid or "",
        token=args.token or os.environ.get(TOKEN_ENV, ""), rad69_url=args.rad69_url or "",
        wado_url=args.wado_url or "",
    )


def _gateway(args: argparse.Namespace) -> int:
    from gateway.core.config import GatewaySettings
    from gateway.publish import backlog

    settings = GatewaySettings()
    if args.action == "status":
        return backlog.status(settings)
    try:
        return backlog.publish(settings, args.since, args.until)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to continue", file=sys.stderr)
        return 130


def _bench(args: argparse.Namespace) -> int:
    from bench import run

    return run.main(name=args.name, as_json=args.json, quick=args.quick, backend=args.backend)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="partage", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run one service (host and port from settings or flags)")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=_serve)

    demo = sub.add_parser("demo", help="start the local region on embedded defaults")
    demo.add_argument("--data-dir", type=Path, default=Path(".partage-demo"))
    demo.add_argument("--once", action="store_true", help="load the demo data, check it, exit")
    demo.set_defaults(func=_demo)

    conf = sub.add_parser("conformance", help="run the NIST / IHE conformance material")
    conf.add_argument("suite", choices=["registry", "stored-query", "repository", "all",
                                        "imaging"])
    conf.add_argument("--against", help="base URL of another vendor's endpoint (default: "
                      "start our own services)")
    conf.add_argument("--material", type=Path, default=DEFAULT_MATERIAL,
                      help="the conformance folder (default: ../shared/conformance)")
    conf.add_argument("--only", action="append", help="run only these NIST test ids")
    conf.add_argument("--mllp", help="host:port of the peer's HL7v2 ADT listener for the "
                      "patient feed (with --against)")
    conf.add_argument("--feed", help="base URL of the peer's REST identity feed (with --against)")
    conf.add_argument("--repository-uid", help="the peer repository's repositoryUniqueId "
                      "(with --against; NIST's $repuid$; imaging: the source's, default "
                      "1.3.6.1.4.1.21367.13.80.110)")
    conf.add_argument("--token", help=f"with --against: bearer token sent with every "
                      f"transaction (ITI-18 and ITI-43 need one; imaging: RAD-69 and WADO-URI), "
                      f"or ${TOKEN_ENV}")
    conf.add_argument("--rad69-url", help="imaging, with --against: the source's RAD-69 "
                      "endpoint (default: AGAINST/rad69)")
    conf.add_argument("--wado-url", help="imaging, with --against: the source's WADO-URI "
                      "endpoint (default: AGAINST/wado)")
    conf.set_defaults(func=_conformance)

    gateway = sub.add_parser("gateway", help="the site gateway's publishing (settings from "
                             "PARTAGE_GATEWAY_* variables)")
    actions = gateway.add_subparsers(dest="action", required=True)
    backlog = actions.add_parser("publish", help="publish the studies of a date range (a "
                                 "backlog), resumable")
    backlog.add_argument("--since", type=date.fromisoformat, required=True,
                         help="first StudyDate, YYYY-MM-DD")
    backlog.add_argument("--until", type=date.fromisoformat,
                         help="last StudyDate, YYYY-MM-DD (default: today)")
    actions.add_parser("status", help="print the site's publishing status as JSON")
    gateway.set_defaults(func=_gateway)

    bench = sub.add_parser("bench", help="run a benchmark and print its ratios")
    bench.add_argument("name", choices=["registry", "gateway", "portal"])
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--quick", action="store_true", help="registry: 100 k entries instead "
                       "of 1 M; gateway: a 400 MB large study and 200 backlog studies (≤ 5 min); "
                       "portal: 24 studies instead of 200")
    bench.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql",
                       help="registry database of the run (PostgreSQL: "
                       "PARTAGE_BENCH_POSTGRES_URL)")
    bench.set_defaults(func=_bench)

    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
