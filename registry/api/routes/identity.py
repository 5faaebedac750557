"""Patient identity feed and cross-reference (PIX manager role), REST side, and the site
directory; the HL7v2 side is ``start_mllp`` (``registry.identity.mllp``).

Reads need a bearer JWT of the region's issuer (``reader``: 401/503 problems as RFC 6750 says);
a patient's token may not read patient identities (403), professionals' and services' tokens
may. Writes need ``Authorization: Bearer <feed_token>``, checked in one place
(``require_feed_token``) so that client-credentials tokens can replace it (issue 5).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from partage.auth import Principal, Refusal, authenticate
from registry.api.deps import RegistryContext
from registry.identity import sites, store
from registry.identity.cx import Cx, CxError, is_oid, parse_key
from registry.identity.mllp import start_mllp
from registry.identity.problems import Problem, ProblemRoute, documented
from registry.identity.schemas import (
    PARTIAL_DATE,
    CrossReference,
    MergeIn,
    MergeOut,
    PatientIn,
    PatientOut,
    SiteIn,
    SiteOut,
    to_hl7_date,
)

__all__ = ["router", "start_mllp"]

router = APIRouter(prefix="/identity", tags=["identity"], route_class=ProblemRoute)


def context(request: Request) -> RegistryContext:
    ctx: RegistryContext = request.app.state.ctx
    return ctx


Ctx = Annotated[RegistryContext, Depends(context)]


def require_feed_token(ctx: Ctx, authorization: Annotated[str | None, Header()] = None) -> None:
    """The one write check of the identity API (issue 5 swaps in client credentials)."""
    scheme, _, token = (authorization or "").partition(" ")
    expected = ctx.settings.feed_token.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise Problem(
            401,
            "Unauthorized",
            "a valid bearer token is required to write to the identity feed",
            headers={"WWW-Authenticate": "Bearer"},
        )


Writer = Depends(require_feed_token)

#: roles that may read any patient's identity: professionals and the region's services
IDENTITY_READERS = frozenset({"radiologist", "physician", "site-admin", "region-admin", "service"})
PATIENT_ROLE = "patient"


def reader(ctx: Ctx, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """The caller of a read: a valid bearer JWT of the region's issuer, else a 401 problem
    with its ``WWW-Authenticate`` challenge (503 when the issuer's keys cannot be read)."""
    try:
        return authenticate(ctx.tokens, authorization)
    except Refusal as exc:
        title = "Unauthorized" if exc.status == 401 else "Service Unavailable"
        raise Problem(exc.status, title, exc.reason, headers=exc.headers) from None


Reader = Depends(reader)


def patient_reader(caller: Annotated[Principal, Reader]) -> Principal:
    """A caller who may read other patients' identities: a patient's own token may not."""
    if PATIENT_ROLE in caller.roles and not caller.roles & IDENTITY_READERS:
        raise Problem(403, "Forbidden", "a patient's token may not read or search patients")
    return caller


PatientReader = Depends(patient_reader)


def _key(patient_id: str) -> Cx:
    try:
        return parse_key(patient_id)
    except CxError as exc:
        raise Problem(422, "Invalid patient ID", str(exc)) from None


def _now() -> datetime:
    return datetime.now(UTC)


def _patient_out(session: Session, patient_id: str) -> PatientOut:
    patient = store.get_patient(session, patient_id)
    if patient is None:
        raise Problem(404, "Unknown patient", f"no patient {patient_id}")
    return PatientOut.of(patient, store.identifiers_of(session, patient_id))


@router.put(
    "/patients/{patient_id}",
    summary="Create or update a regional patient and link local identifiers",
    response_model=PatientOut,
    dependencies=[Writer],
    responses=documented(401, 409, 422),
)
def put_patient(ctx: Ctx, patient_id: str, body: PatientIn, response: Response) -> PatientOut:
    """``patient_id`` is the regional ID in strict CX form ``id^^^&oid&ISO`` (URL-encoded).
    Demographics are replaced; listed identifiers are linked (moved here if linked elsewhere),
    links not listed are kept. 201 when the patient is new."""
    key = _key(patient_id)
    for identifier in body.identifiers:
        if identifier.authority == key.authority:
            raise Problem(
                422,
                "Invalid identifier",
                f"{identifier.local_id} is in the patient key's own authority {key.authority}",
            )
    demographics = store.Demographics(
        family_name=body.family_name,
        given_name=body.given_name,
        birth_date=to_hl7_date(body.birth_date),
        sex=body.sex,
    )
    try:
        with ctx.db.session() as session:
            _, created = store.upsert_patient(
                session, patient_id=key.key, demographics=demographics, now=_now()
            )
            for identifier in body.identifiers:
                store.link_identifier(
                    session,
                    patient_id=key.key,
                    identifier=Cx(identifier.local_id, identifier.authority),
                )
            out = _patient_out(session, key.key)
    except store.InactivePatient as exc:
        raise Problem(409, "Merged patient", str(exc)) from None
    except CxError as exc:
        raise Problem(422, "Invalid identifier", str(exc)) from None
    except IntegrityError:
        raise Problem(409, "Conflict", "concurrent update of this patient, retry") from None
    response.status_code = 201 if created else 200
    return out


@router.get(
    "/patients",
    summary="Search patients by name prefix (case and accents ignored) and birth date",
    response_model=list[PatientOut],
    dependencies=[PatientReader],
    responses=documented(401, 403, 422, 503),
)
def search_patients(
    ctx: Ctx,
    family: Annotated[str | None, Query(max_length=128)] = None,
    given: Annotated[str | None, Query(max_length=128)] = None,
    birth_date: Annotated[str | None, Query(pattern=PARTIAL_DATE)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[PatientOut]:
    """Active patients only; at least one criterion is required."""
    if not (family or "").strip() and not (given or "").strip() and not birth_date:
        raise Problem(422, "Missing criterion", "give family, given or birth_date")
    with ctx.db.session() as session:
        found = store.search(
            session,
            family=family,
            given=given,
            birth_date=to_hl7_date(birth_date),
            limit=limit,
        )
        return [PatientOut.of(p, store.identifiers_of(session, p.patient_id)) for p in found]


@router.get(
    "/patients/{patient_id}",
    summary="Read a patient (merged ones too, with merged_into)",
    response_model=PatientOut,
    dependencies=[PatientReader],
    responses=documented(401, 403, 404, 422, 503),
)
def get_patient(ctx: Ctx, patient_id: str) -> PatientOut:
    key = _key(patient_id)
    with ctx.db.session() as session:
        return _patient_out(session, key.key)


@router.get(
    "/xref",
    summary="Resolve a local (or earlier regional) identifier to the current regional ID",
    response_model=CrossReference,
    dependencies=[PatientReader],
    responses=documented(401, 403, 404, 422, 503),
)
def cross_reference(
    ctx: Ctx,
    authority: Annotated[str, Query(max_length=64)],
    local_id: Annotated[str, Query(min_length=1, max_length=128)],
) -> CrossReference:
    try:
        identifier = Cx(local_id, authority)
    except CxError as exc:
        raise Problem(422, "Invalid identifier", str(exc)) from None
    with ctx.db.session() as session:
        patient_id = store.resolve(session, identifier)
    if patient_id is None:
        raise Problem(404, "Unknown identifier", f"{identifier.key} is linked to no patient")
    return CrossReference(authority=authority, local_id=local_id, patient_id=patient_id)


@router.post(
    "/merge",
    summary="Merge the subsumed patient into the surviving one (as ADT A40)",
    response_model=MergeOut,
    dependencies=[Writer],
    responses=documented(401, 404, 409, 422),
)
def merge(ctx: Ctx, body: MergeIn) -> MergeOut:
    """Moves local identifiers and re-files the subsumed patient's registry objects, patientId
    in their XML included, in one transaction."""
    surviving, subsumed = _key(body.surviving).key, _key(body.subsumed).key
    try:
        with ctx.db.session() as session:
            outcome = store.merge(session, surviving=surviving, subsumed=subsumed, now=_now())
    except store.UnknownPatient as exc:
        raise Problem(404, "Unknown patient", str(exc)) from None
    except store.IdentityError as exc:
        raise Problem(409, "Merge refused", str(exc)) from None
    return MergeOut(
        surviving=surviving,
        subsumed=subsumed,
        identifiers_moved=outcome.identifiers_moved,
        objects_updated=outcome.objects_updated,
    )


def _site_oid(oid: str) -> str:
    if not is_oid(oid):
        raise Problem(422, "Invalid site OID", f"{oid!r} is not an ISO OID")
    return oid


@router.get(
    "/sites",
    summary="List the site directory, or find the site of a repositoryUniqueId",
    response_model=list[SiteOut],
    dependencies=[Reader],
    responses=documented(401, 503),
)
def list_sites(
    ctx: Ctx, repository_unique_id: Annotated[str | None, Query(max_length=64)] = None
) -> list[SiteOut]:
    with ctx.db.session() as session:
        rows = sites.list_sites(session, repository_unique_id=repository_unique_id)
        return [SiteOut.of(s) for s in rows]


@router.get(
    "/sites/{oid}",
    summary="Read one site of the directory",
    response_model=SiteOut,
    dependencies=[Reader],
    responses=documented(401, 404, 422, 503),
)
def get_site(ctx: Ctx, oid: str) -> SiteOut:
    with ctx.db.session() as session:
        site = sites.get_site(session, _site_oid(oid))
        if site is None:
            raise Problem(404, "Unknown site", f"no site {oid}")
        return SiteOut.of(site)


@router.put(
    "/sites/{oid}",
    summary="Create or replace a site of the directory",
    response_model=SiteOut,
    dependencies=[Writer],
    responses=documented(401, 409, 422),
)
def put_site(ctx: Ctx, oid: str, body: SiteIn, response: Response) -> SiteOut:
    entry = sites.SiteEntry(**body.model_dump())
    try:
        with ctx.db.session() as session:
            site, created = sites.put_site(session, oid=_site_oid(oid), entry=entry)
            out = SiteOut.of(site)
    except sites.DuplicateRepository as exc:
        raise Problem(409, "Duplicate repositoryUniqueId", str(exc)) from None
    except IntegrityError:
        raise Problem(409, "Conflict", "concurrent update of this site, retry") from None
    response.status_code = 201 if created else 200
    return out
