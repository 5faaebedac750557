"""ITI-18 Registry Stored Query over SOAP 1.2: AdhocQueryRequest in, AdhocQueryResponse out.

Every failure the query reports (unknown query, missing or repeated parameter, too many
results, several patients in a LeafClass answer) and every malformed request body becomes an
AdhocQueryResponse with status Failure and the IHE errorCode (ITI TF-2a §3.18.4.1.3), not a
SOAP fault.

Only callers with a bearer token get here (``partage.soap.BearerAction``). The answer holds
only what the caller may see (``registry.queries.consent_filter``): each withheld
DocumentEntry adds a ``PartageConsentWithheld`` Warning, and when the consent service cannot
answer the query fails (XDSRegistryError) rather than answer unfiltered. Each request is
audited once (110112 Query, ITI-18) with its patient and outcome.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from ihe.atna import EventOutcomeIndicator
from ihe.ebrim import (
    AdhocQueryRequest,
    AdhocQueryResponse,
    RegistryError,
    ResponseStatus,
    Slot,
)
from ihe.errors import RemoteProtocolError
from ihe.namespaces import RIM, q
from partage.auth import Principal
from partage.consent import ConsentUnavailable
from partage.soap import AuthenticatedHandler, SoapReply, SoapRequest
from registry import audit, queries
from registry.api.deps import RegistryContext
from registry.queries.answer import Answer
from registry.queries.consent_filter import Screened
from registry.queries.hits import Hit

log = logging.getLogger(__name__)

#: what the caller is told when the consent service cannot answer (fail closed)
CONSENT_UNAVAILABLE = "consent service unavailable"


def make_handler(ctx: RegistryContext) -> AuthenticatedHandler:
    def handle(request: SoapRequest, principal: Principal) -> SoapReply:
        body = request.envelope.body
        screened = Screened([], [])

        def screen(session: Session, found: list[Hit]) -> list[Hit]:
            nonlocal screened
            screened = ctx.consent.screen(session, principal, found)
            return screened.hits

        parameters: list[Slot] = []
        try:
            query = AdhocQueryRequest.from_element(body)
            parameters = query.parameters
            log.info("stored query", extra={"query": query.query_id, "subject": principal.subject,
                                            "roles": sorted(principal.roles)})
            with ctx.db.session() as session:
                found = queries.run_answer(session, query, ctx.settings.max_query_results,
                                           screen)
        except RemoteProtocolError as exc:
            outcome, errors = EventOutcomeIndicator.MINOR_FAILURE, [
                RegistryError(exc.code, str(exc), exc.location)]
        except ConsentUnavailable as exc:
            log.error("consent service unavailable: query refused", extra={"reason": str(exc)})
            outcome, errors = EventOutcomeIndicator.SERIOUS_FAILURE, [
                RegistryError("XDSRegistryError", CONSENT_UNAVAILABLE)]
        else:
            outcome, errors = EventOutcomeIndicator.SUCCESS, []
        patient = audit.query_patient(parameters, (h.patient_id for h in screened.hits))
        audit.record_query(ctx.audit, principal, body, patient, outcome)
        if errors:
            response = AdhocQueryResponse(status=ResponseStatus.FAILURE, errors=errors)
            return SoapReply(response.to_element())
        return reply(found, screened.warnings())

    return handle


def reply(found: Answer, warnings: list[RegistryError] | None = None) -> SoapReply:
    """The AdhocQueryResponse of a successful query, with ``warnings``. LeafClass objects are
    spliced from their stored XML into the ``rim:RegistryObjectList`` (the bytes
    ``to_element`` of the objects would give); ObjectRef answers, and objects whose stored XML
    is not canonical, are built as elements."""
    warnings = warnings or []
    body = AdhocQueryResponse(errors=warnings).to_element()
    holder = body.find(q(RIM, "RegistryObjectList"))
    content = None if holder is None else found.leaf_xml(holder.prefix or "")
    if holder is None or not holder.prefix or content is None:
        return SoapReply(AdhocQueryResponse(objects=found.objects(), errors=warnings)
                         .to_element())
    return SoapReply(body, splice=(holder, content))
