"""ITI-42 Register Document Set-b: SubmitObjectsRequest in, RegistryResponse out."""

from __future__ import annotations

from collections.abc import Callable

from ihe.ebrim import RegistryError, RegistryResponse, SubmitObjectsRequest
from ihe.errors import RemoteProtocolError
from partage.soap import SoapReply, SoapRequest
from registry.api.deps import RegistryContext
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


def make_handler(ctx: RegistryContext) -> Callable[[SoapRequest], SoapReply]:
    def handle(request: SoapRequest) -> SoapReply:
        parsed = parse(request)
        if isinstance(parsed, RegistryResponse):
            return SoapReply(body=parsed.to_element())
        errors = register(ctx.db, parsed, policy_of(ctx), in_place=True)  # parsed for this call
        return SoapReply(body=RegistryResponse.from_errors(errors).to_element())

    return handle
