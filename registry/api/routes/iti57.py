"""ITI-57 Update Document Set, availabilityStatus changes (ITI TF-2b §3.57.4.1.3.3.1.3): a
source deprecates (or re-approves) a DocumentEntry or Folder it registered."""

from __future__ import annotations

from collections.abc import Callable

from ihe.ebrim import RegistryResponse
from partage.soap import SoapReply, SoapRequest
from registry.api.deps import RegistryContext
from registry.api.routes.iti42 import parse, policy_of
from registry.submission import update_status


def make_handler(ctx: RegistryContext) -> Callable[[SoapRequest], SoapReply]:
    def handle(request: SoapRequest) -> SoapReply:
        parsed = parse(request)
        if isinstance(parsed, RegistryResponse):
            return SoapReply(body=parsed.to_element())
        errors = update_status(ctx.db, parsed, policy_of(ctx))
        return SoapReply(body=RegistryResponse.from_errors(errors).to_element())

    return handle
