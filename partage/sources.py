"""Who may write to the region (DESIGN.md, "Security model"; issue 5, "Service identity").

ITI-41, ITI-42 and ITI-57 are accepted only with a bearer token (``partage.soap.BearerAction``)
whose caller has a writer's role:

* ``site-gateway``: a site's gateway, with its client-credentials token. It publishes for its
  own site only: the token's ``site`` claim (or ``organisation_oid``) must be the SubmissionSet's
  ``sourceId``, and every organisation OID (XON.10) an author institution of a DocumentEntry
  names must be that site. An institution given by name only (XON.10 empty, as in the NIST test
  data) claims no organisation and is left as it is: the sourceId binds the entry to the site.
* ``repository``: the Document Repository forwarding ITI-42 with its own token, after it made
  the checks above on the ITI-41 it received; the registry trusts its metadata as it stands.

Anything else (no writer role, another site's gateway) is refused with the profile's own error,
an ``XDSRegistryError`` / ``XDSRepositoryError`` RegistryError naming the reason, before
anything is stored. The identity feed is not a writer of documents: it keeps its feed token.
"""

from __future__ import annotations

from collections.abc import Iterable

from ihe.ebrim import ExtrinsicObject, RegistryError, RegistryPackage, SubmitObjectsRequest
from ihe.ebrim.enum import Scheme
from partage.auth import Principal

#: role of a site gateway's service account: publishes its own site's studies
SITE_GATEWAY = "site-gateway"
#: role of the Document Repository's service account: forwards ITI-42 it has checked
REPOSITORY = "repository"
#: claims naming the caller's site, first found wins (Keycloak: a hard-coded ``site`` claim on
#: the gateway's client; the development IdP: ``site`` and ``organisation_oid``)
SITE_CLAIMS = ("site", "organisation_oid")


def site_of(principal: Principal) -> str:
    """The OID of the site the caller speaks for, or ``""``."""
    for claim in SITE_CLAIMS:
        value = principal.claims.get(claim)
        if isinstance(value, str) and value:
            return value
    return ""


def xon_oid(xon: str) -> str:
    """XON.10, the organisation identifier (ITI TF-3 §4.2.3.1.7: an OID), or ``""``."""
    components = xon.split("^")
    return components[9].strip() if len(components) > 9 else ""


def refusal(principal: Principal, submission: SubmitObjectsRequest, code: str,
            trusted: Iterable[str] = ()) -> RegistryError | None:
    """Why ``principal`` may not submit ``submission`` (a RegistryError with ``code``), or
    ``None`` when it may. Callers with a role of ``trusted`` are not checked further."""
    if principal.roles & set(trusted):
        return None
    if SITE_GATEWAY not in principal.roles:
        return RegistryError(code, f"submitting requires the {SITE_GATEWAY} role; the caller "
                                   f"{principal.subject!r} has {sorted(principal.roles)}")
    site = site_of(principal)
    if not site:
        return RegistryError(code, f"the token of {principal.subject!r} names no site "
                                   f"({' or '.join(SITE_CLAIMS)} claim)")
    sets = [(package.id, package.external_id(Scheme.SS_SOURCE_ID))
            for package in submission.objects if isinstance(package, RegistryPackage)
            and package.external_id(Scheme.SS_SOURCE_ID) is not None]
    if not sets:
        return RegistryError(code, "the SubmissionSet has no sourceId")
    for package_id, source in sets:
        if source != site:
            return RegistryError(code, f"sourceId {source!r} is not the site of the caller "
                                       f"({site})", package_id)
    for entry in submission.objects:
        if not isinstance(entry, ExtrinsicObject):
            continue
        if others := foreign_institutions(entry, site):
            return RegistryError(code, f"DocumentEntry {entry.id}: author institution "
                                       f"{', '.join(others)} is not the site of the caller "
                                       f"({site})", entry.id)
    return None


def foreign_institutions(entry: ExtrinsicObject, site: str) -> list[str]:
    """The organisation OIDs (XON.10) the entry's author institutions name other than
    ``site``, sorted; institutions given by name only name none."""
    return sorted({oid for author in entry.classified(Scheme.DE_AUTHOR)
                   for xon in author.slot_values("authorInstitution")
                   if (oid := xon_oid(xon)) and oid != site})
