"""ITI-18 Registry Stored Query over SOAP 1.2: AdhocQueryRequest in, AdhocQueryResponse out.

Every failure the query reports (unknown query, missing or repeated parameter, too many
results, several patients in a LeafClass answer) and every malformed request body becomes an
AdhocQueryResponse with status Failure and the IHE errorCode (ITI TF-2a §3.18.4.1.3), not a
SOAP fault.
"""

from __future__ import annotations

from collections.abc import Callable

from ihe.ebrim import AdhocQueryRequest, AdhocQueryResponse, RegistryError, ResponseStatus
from ihe.errors import RemoteProtocolError
from partage.soap import SoapReply, SoapRequest
from registry import queries
from registry.api.deps import RegistryContext


def make_handler(ctx: RegistryContext) -> Callable[[SoapRequest], SoapReply]:
    def handle(request: SoapRequest) -> SoapReply:
        try:
            query = AdhocQueryRequest.from_element(request.envelope.body)
            with ctx.db.session() as session:
                objects = queries.run(session, query, ctx.settings.max_query_results)
            response = AdhocQueryResponse(objects=objects)
        except RemoteProtocolError as exc:
            response = AdhocQueryResponse(
                status=ResponseStatus.FAILURE,
                errors=[RegistryError(exc.code, str(exc), exc.location)],
            )
        return SoapReply(response.to_element())

    return handle
