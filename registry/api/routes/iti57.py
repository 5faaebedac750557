"""ITI-57 Update Document Set, availabilityStatus changes (ITI TF-2b §3.57.4.1.3.3.1.3): a
source deprecates (or re-approves) a DocumentEntry or Folder it registered. Writers only, as
for ITI-42 (``iti42.writer_refusal``): a site gateway for its own site's sourceId, and only on
DocumentEntries of its own site (no author institution naming another organisation)."""

from __future__ import annotations

from sqlalchemy import select

from ihe.ebrim import (
    Association,
    ExtrinsicObject,
    RegistryError,
    RegistryResponse,
    SubmitObjectsRequest,
)
from partage import sources
from partage.auth import Principal
from partage.soap import AuthenticatedHandler, SoapReply, SoapRequest
from registry import crud
from registry.api.deps import RegistryContext
from registry.api.routes.iti42 import parse, policy_of, writer_refusal
from registry.models import RegistryObjectRow
from registry.submission import update_status


def foreign_targets(ctx: RegistryContext, caller: Principal, request: SubmitObjectsRequest
                    ) -> RegistryResponse | None:
    """The RegistryResponse refusing a site gateway's status change of another site's
    DocumentEntry, or ``None``. Only gateways are checked: the repository's token is trusted
    as for ITI-42."""
    if sources.SITE_GATEWAY not in caller.roles or sources.REPOSITORY in caller.roles:
        return None
    site = sources.site_of(caller)
    targets = {a.target_object for a in request.objects if isinstance(a, Association)}
    with ctx.db.session() as session:
        rows = session.scalars(select(RegistryObjectRow).where(
            RegistryObjectRow.entry_uuid.in_(targets), RegistryObjectRow.kind == crud.DOCUMENT))
        for row in rows:
            entry = crud.row_to_object(row)
            assert isinstance(entry, ExtrinsicObject)
            if others := sources.foreign_institutions(entry, site):
                return RegistryResponse.from_errors([RegistryError(
                    "XDSRegistryError", f"DocumentEntry {row.entry_uuid} is of "
                    f"{', '.join(others)}, not of the site of the caller ({site})",
                    row.entry_uuid)])
    return None


def make_handler(ctx: RegistryContext) -> AuthenticatedHandler:
    def handle(request: SoapRequest, caller: Principal) -> SoapReply:
        parsed = parse(request)
        if isinstance(parsed, RegistryResponse):
            return SoapReply(body=parsed.to_element())
        refused = writer_refusal(ctx, caller, parsed) or foreign_targets(ctx, caller, parsed)
        if refused is not None:
            return SoapReply(body=refused.to_element())
        errors = update_status(ctx.db, parsed, policy_of(ctx))
        return SoapReply(body=RegistryResponse.from_errors(errors).to_element())

    return handle
