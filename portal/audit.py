"""The portal's own ATNA audit messages (ITI-20), each recorded by this service only, so nothing
is counted twice: a user's sign-in (success or failure) here, exports and downloads in
``portal.imaging.exports``. The registry audits the queries, the gateways the retrieves.

They go through the portal's ``partage.audit.AuditTrail`` (started in ``create_app``'s
lifespan; posted to the consent service's audit record repository with the portal's own
service token): recording never blocks the user and never loses a message."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Request

from ihe import atna
from ihe.atna import ActiveParticipant, AuditSource, EventOutcomeIndicator
from partage.audit import AuditTrail, requestor
from partage.auth import Principal
from partage.web.auth import SignInListener

SOURCE_ID = "partage-portal"
SOURCE = AuditSource(SOURCE_ID)
#: the UserID of a sign-in that failed before the user was known
UNKNOWN_USER = "unknown"


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def sign_in_auditor(trail: AuditTrail) -> SignInListener:
    """The ``on_sign_in`` of ``partage.web.auth.router``: 110114 User Authentication / Login,
    success with the user, failure (minor: the user may try again) without one."""

    def record(request: Request, principal: Principal | None, failure: str) -> None:
        address = client_address(request)
        if principal is not None:
            user = requestor(principal, address)
            outcome = EventOutcomeIndicator.SUCCESS
        else:
            user = ActiveParticipant(UNKNOWN_USER, True, network_access_point=address)
            outcome = EventOutcomeIndicator.MINOR_FAILURE
        trail.record(atna.user_authentication(when=datetime.now(UTC), user=user,
                                              source=SOURCE, outcome=outcome))

    return record
