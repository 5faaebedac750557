"""ITI-18 Registry Stored Query over SOAP 1.2: AdhocQueryRequest in, AdhocQueryResponse out.

Every failure the query reports (unknown query, missing or repeated parameter, too many
results, several patients in a LeafClass answer) and every malformed request body becomes an
AdhocQueryResponse with status Failure and the IHE errorCode (ITI TF-2a §3.18.4.1.3), not a
SOAP fault.

Only callers with a bearer token get here (``partage.soap.BearerAction``); the handler receives
the caller, whom the consent filter of the answer will need, and logs who asked what.
"""

from __future__ import annotations

import logging

from ihe.ebrim import AdhocQueryRequest, AdhocQueryResponse, RegistryError, ResponseStatus
from ihe.errors import RemoteProtocolError
from ihe.namespaces import RIM, q
from partage.auth import Principal
from partage.soap import AuthenticatedHandler, SoapReply, SoapRequest
from registry import queries
from registry.api.deps import RegistryContext
from registry.queries.answer import Answer

log = logging.getLogger(__name__)


def make_handler(ctx: RegistryContext) -> AuthenticatedHandler:
    def handle(request: SoapRequest, principal: Principal) -> SoapReply:
        try:
            query = AdhocQueryRequest.from_element(request.envelope.body)
            log.info("stored query", extra={"query": query.query_id, "subject": principal.subject,
                                            "roles": sorted(principal.roles)})
            with ctx.db.session() as session:
                found = queries.run_answer(session, query, ctx.settings.max_query_results)
        except RemoteProtocolError as exc:
            response = AdhocQueryResponse(
                status=ResponseStatus.FAILURE,
                errors=[RegistryError(exc.code, str(exc), exc.location)],
            )
            return SoapReply(response.to_element())
        return reply(found)

    return handle


def reply(found: Answer) -> SoapReply:
    """The AdhocQueryResponse of a successful query. LeafClass objects are spliced from their
    stored XML into the ``rim:RegistryObjectList`` (the bytes ``to_element`` of the objects
    would give); ObjectRef answers, and objects whose stored XML is not canonical, are built
    as elements."""
    body = AdhocQueryResponse().to_element()
    holder = body.find(q(RIM, "RegistryObjectList"))
    content = None if holder is None else found.leaf_xml(holder.prefix or "")
    if holder is None or not holder.prefix or content is None:
        return SoapReply(AdhocQueryResponse(objects=found.objects()).to_element())
    return SoapReply(body, splice=(holder, content))
