"""``partage gateway publish`` and ``partage gateway status``: the site's backlog published from
the command line, beside (or without) a running gateway.

The backlog is a sweep over the given StudyDate range. It is resumable because publishing is
idempotent: after an interruption, a re-run skips what is published (same instance-set hash),
asks the registry about what was in flight, and goes on with the rest.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import TextIO

from tqdm import tqdm

from gateway.api.deps import open_pacs
from gateway.api.routes.status import site_status
from gateway.core.config import GatewaySettings
from gateway.models import ALEMBIC_DIR
from gateway.publisher import Publisher
from gateway.sweep import Progress, Sweeper
from partage.audit import AuditTrail
from partage.db import Database, migrate


@contextmanager
def open_site(settings: GatewaySettings) -> Iterator[tuple[Database, Sweeper]]:
    db = Database(settings.resolved_database_url())
    migrate(db.engine, ALEMBIC_DIR)
    # the backlog only queries: no C-STORE SCP is needed, whatever the site retrieves with
    pacs = open_pacs(settings.model_copy(update={"retrieve_method": "c-get"}))
    tokens = settings.token_source()
    # the gateway's own queue: what is not delivered before the end goes with its next start
    trail = AuditTrail.from_settings(settings, "partage-gateway",
                                     tokens.token if tokens is not None else None).start()
    publisher = Publisher(settings, db, pacs, trail)
    try:
        yield db, Sweeper(settings, db, pacs, publisher)
    finally:
        publisher.close()
        trail.stop()
        if tokens is not None:
            tokens.close()
        pacs.close()
        db.engine.dispose()


def publish(settings: GatewaySettings, since: date, until: date | None = None, *,
            out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Publish every study of [since, until] with a progress bar on ``err``; print the
    outcome counts on ``out``. Exit status 1 when the PACS could not be swept."""
    until = until or date.today()
    with open_site(settings) as (_, sweeper):
        bar: tqdm[str] | None = None

        def progress(total: int) -> Progress:
            nonlocal bar
            bar = created = tqdm(total=total, unit="study", file=err, desc="publishing")
            return lambda _uid: created.update(1)

        try:
            report = sweeper.sweep(since, until, progress=progress)
        finally:
            if bar is not None:
                bar.close()
    summary = ", ".join(f"{n} {state}" for state, n in sorted(report.outcomes.items()))
    print(f"{report.studies_seen} studies in the PACS for {since:%Y-%m-%d}..{until:%Y-%m-%d}: "
          f"{summary or 'nothing to do'}", file=out)
    if report.error:
        print(f"stopped: {report.error}", file=err)
        return 1
    return 0


def status(settings: GatewaySettings, *, out: TextIO = sys.stdout) -> int:
    """Print the site's status (the ``/status.json`` document)."""
    db = Database(settings.resolved_database_url())
    try:
        migrate(db.engine, ALEMBIC_DIR)
        with db.session() as session:
            document = site_status(session, settings).model_dump(mode="json")
    finally:
        db.engine.dispose()
    print(json.dumps(document, indent=2), file=out)
    return 0
