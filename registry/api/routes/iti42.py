"""ITI-42 Register Document Set-b: SubmitObjectsRequest in, RegistryResponse out.

Only writers get here (``partage.soap.BearerAction``; who a writer is: ``partage.sources``):
the repository forwarding ITI-41, or a site gateway registering for its own site. Submissions of
a site the directory lists as suspended are refused, whoever forwards them. Each submission
that names its patient is audited once (110107 Import, ITI-42) with its outcome.
"""

from __future__ import annotations

from ihe.atna import EventOutcomeIndicator
from ihe.ebrim import (
    RegistryError,
    RegistryPackage,
    RegistryResponse,
    ResponseStatus,
    SubmitObjectsRequest,
)
from ihe.ebrim.enum import Scheme
from ihe.errors import RemoteProtocolError
from partage import sources
from partage.auth import Principal
from partage.soap import AuthenticatedHandler, SoapReply, SoapRequest
from registry import audit
from registry.api.deps import RegistryContext
from registry.identity.sites import get_site
from registry.submission import Policy, register


def policy_of(ctx: RegistryContext) -> Policy:
    return Policy(codes=ctx.codes, store_extra_metadata=ctx.settings.store_extra_metadata)


def parse(request: SoapRequest) -> SubmitObjectsRequest | RegistryResponse:
    """The SubmitObjectsRequest of ``request``, or the RegistryResponse refusing it."""
    try:
        return SubmitObjectsRequest.from_element(request.envelope.body)
    except RemoteProtocolError as exc:
        code = exc.code if exc.code.startswith("XDS") else "XDSRegistryMetadataError"
        return RegistryResponse.from_errors(
            [RegistryError(code=code, context=str(exc), location=exc.location)]
        )


def writer_refusal(ctx: RegistryContext, caller: Principal, request: SubmitObjectsRequest
                   ) -> RegistryResponse | None:
    """The RegistryResponse refusing ``caller``'s submission (not a writer, another site's
    gateway, a suspended site), or ``None`` when it may go on."""
    error = sources.refusal(caller, request, "XDSRegistryError", trusted={sources.REPOSITORY})
    if error is None:
        with ctx.db.session() as session:
            for package in request.objects:
                source = (package.external_id(Scheme.SS_SOURCE_ID)
                          if isinstance(package, RegistryPackage) else None)
                site = get_site(session, source) if source else None
                if site is not None and not site.active:
                    error = RegistryError("XDSRegistryError",
                                          f"site {source} is suspended in the site directory",
                                          package.id)
                    break
    if error is None:
        return None
    return RegistryResponse.from_errors([error])


def make_handler(ctx: RegistryContext) -> AuthenticatedHandler:
    def handle(request: SoapRequest, caller: Principal) -> SoapReply:
        parsed = parse(request)
        if isinstance(parsed, RegistryResponse):
            return SoapReply(body=parsed.to_element())
        refused = writer_refusal(ctx, caller, parsed)
        if refused is not None:
            audit.record_import(ctx.audit, caller, parsed, EventOutcomeIndicator.MINOR_FAILURE)
            return SoapReply(body=refused.to_element())
        errors = register(ctx.db, parsed, policy_of(ctx), in_place=True)  # parsed for this call
        response = RegistryResponse.from_errors(errors)
        audit.record_import(ctx.audit, caller, parsed, EventOutcomeIndicator.SUCCESS
                            if response.status == ResponseStatus.SUCCESS
                            else EventOutcomeIndicator.MINOR_FAILURE)
        return SoapReply(body=response.to_element())

    return handle
