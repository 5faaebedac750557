"""Who sees which objects of an ITI-18 answer: the registry's consent enforcement (issue 5).

The stored query finds its hits as for anyone; ``ConsentFilter.screen`` then removes what the
caller may not see, before the size check and before any XML is read, so ObjectRef and
LeafClass answers, and every stored query, are screened alike:

* service roles (``service``, ``site-gateway``, ``repository``): nothing is removed;
* care roles (``radiologist``, ``physician``): the DocumentEntries the consent service's
  decision point denies (one batch call per patient; targets are the entry's studies from its
  referenceIdList, its uniqueId and its site, the sourceId of the SubmissionSet that brought it);
* ``patient``: only their own objects (the token's ``ins`` claim in the regional authority's CX),
  others' removed silently;
* anyone else (site-admin, region-admin, no role): every DocumentEntry, ``not-a-professional``.

Nothing else may lead to a withheld entry: an Association with a withheld end goes too (and one
pointing at such an Association), and so does a SubmissionSet or Folder all of whose
DocumentEntries are withheld. Each withheld entry of the answer gives the caller one Warning
``PartageConsentWithheld`` whose location is the reason code and codeContext its text, never
naming the entry. ``ConsentUnavailable`` propagates: the query then fails (fail closed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from ihe.ebrim import AssociationType, RegistryError
from ihe.ebrim.enum import REFERENCE_ID_STUDY_INSTANCE_UID, Severity
from partage.auth import Principal
from partage.consent import ConsentClient, ConsentTarget, ConsentUser
from partage.sources import REPOSITORY, SITE_GATEWAY
from registry.crud import ASSOCIATION, DOCUMENT, FOLDER, SUBMISSION_SET
from registry.models import ObjectCode, RegistryObjectRow as R
from registry.queries.hits import Hit, batches

#: roles whose answers are not screened: the region's own services
SERVICE_ROLES = frozenset({"service", SITE_GATEWAY, REPOSITORY})
#: roles that see what the patients' policies permit
CARE_ROLES = frozenset({"radiologist", "physician"})
PATIENT_ROLE = "patient"
#: the claim of a patient's token holding their bare INS
INS_CLAIM = "ins"
#: errorCode of the Warning each withheld DocumentEntry adds to the answer
WITHHELD = "PartageConsentWithheld"
NOT_A_PROFESSIONAL = ("not-a-professional",
                      "only care professionals (radiologist, physician) see patients' documents")

_STUDY_SUFFIX = f"^^^^{REFERENCE_ID_STUDY_INSTANCE_UID}"
_HAS_MEMBER = AssociationType.HAS_MEMBER.value
_PACKAGES = (SUBMISSION_SET, FOLDER)


@dataclass(frozen=True)
class Reason:
    code: str
    text: str

    def warning(self) -> RegistryError:
        return RegistryError(WITHHELD, self.text, self.code, Severity.WARNING)


@dataclass
class Screened:
    """The hits the caller may see, and one reason per withheld object of the answer (those
    removed silently, a patient's view of others, have none)."""

    hits: list[Hit]
    reasons: list[Reason]

    def warnings(self) -> list[RegistryError]:
        return [r.warning() for r in self.reasons]


@dataclass(frozen=True)
class _Entry:
    uuid: str
    patient_id: str
    unique_id: str
    site_oid: str
    studies: tuple[str, ...]


class ConsentFilter:
    """Screens answers with the decision point at ``client`` (``None``: consent is not
    enforced, only the role rules apply); ``authority`` is the regional patient IDs' OID."""

    def __init__(self, client: ConsentClient | None, authority: str) -> None:
        self.client = client
        self.authority = authority

    def screen(self, session: Session, principal: Principal, found: list[Hit]) -> Screened:
        roles = principal.roles
        if roles & SERVICE_ROLES or not found:
            return Screened(found, [])
        if roles & CARE_ROLES:
            return self._professional(session, principal, found)
        if PATIENT_ROLE in roles:
            return self._patient(session, principal, found)
        return self._withhold_all(session, found)

    # -- the three kinds of caller -------------------------------------------------------------
    def _patient(self, session: Session, principal: Principal, found: list[Hit]) -> Screened:
        ins = principal.claims.get(INS_CLAIM)
        own = f"{ins}^^^&{self.authority}&ISO" if isinstance(ins, str) and ins else None
        dropped = {h.uuid for h in found
                   if h.kind != ASSOCIATION and h.patient_id is not None and h.patient_id != own}
        dropped.update(u for u, (_, patient) in _outside_ends(session, found).items()
                       if patient is not None and patient != own)
        return Screened(_without(found, dropped), [])

    def _professional(self, session: Session, principal: Principal,
                      found: list[Hit]) -> Screened:
        if self.client is None:
            return Screened(found, [])
        members = _package_members(session, found)
        refused = self._decide(principal, _entries(session, _documents(session, found, members)))
        return _verdict(found, members, refused)

    def _withhold_all(self, session: Session, found: list[Hit]) -> Screened:
        members = _package_members(session, found)
        documents = _documents(session, found, members)
        return _verdict(found, members, dict.fromkeys(documents, Reason(*NOT_A_PROFESSIONAL)))

    def _decide(self, principal: Principal, entries: Iterable[_Entry]) -> dict[str, Reason]:
        """The withheld entries and why: one batch call per patient (cached by the client)."""
        assert self.client is not None
        user = ConsentUser.from_principal(principal)
        purpose = principal.purpose
        by_patient: dict[str, list[_Entry]] = defaultdict(list)
        for entry in entries:
            by_patient[entry.patient_id].append(entry)
        refused: dict[str, Reason] = {}
        for patient, listed in by_patient.items():
            targets = [(e, ConsentTarget(study, e.unique_id, e.site_oid))
                       for e in listed for study in (e.studies or ("",))]
            decisions = self.client.decide_many(patient, user, [t for _, t in targets],
                                                purpose_of_use=purpose)
            for (entry, _), decision in zip(targets, decisions, strict=True):
                if not decision.permit and entry.uuid not in refused:
                    refused[entry.uuid] = Reason(decision.reason_code, decision.reason_text)
        return refused


def _verdict(found: list[Hit], members: dict[str, list[str]],
             refused: dict[str, Reason]) -> Screened:
    """Remove the refused entries, the packages holding only refused entries and the
    associations that would lead to them; a reason per removed entry of the answer, and per
    removed package whose entries the answer does not hold."""
    in_answer = {h.uuid for h in found}
    dropped = set(refused)  # with the ends of answered associations outside the answer
    reasons = [refused[h.uuid] for h in found if h.uuid in refused]
    for package, documents in members.items():
        if documents and all(d in refused for d in documents):
            dropped.add(package)
            if not any(d in in_answer for d in documents):
                reasons.append(refused[documents[0]])
    return Screened(_without(found, dropped), reasons)


def _without(found: list[Hit], dropped: set[str]) -> list[Hit]:
    """``found`` less ``dropped`` and the associations with a dropped end, transitively (an
    association to a removed association goes too)."""
    dropped = set(dropped)
    while True:
        more = {h.uuid for h in found if h.kind == ASSOCIATION and h.uuid not in dropped
                and (h.source in dropped or h.target in dropped)}
        if not more:
            return [h for h in found if h.uuid not in dropped]
        dropped |= more


def _documents(session: Session, found: list[Hit], members: dict[str, list[str]]) -> set[str]:
    """Every DocumentEntry the answer holds or leads to (through its packages or
    associations): what must be decided."""
    documents = {h.uuid for h in found if h.kind == DOCUMENT}
    documents.update(m for listed in members.values() for m in listed)
    documents.update(_document_ends(session, found))
    return documents


def _package_members(session: Session, found: list[Hit]) -> dict[str, list[str]]:
    """SubmissionSet / Folder of the answer → the DocumentEntries it holds (HasMember)."""
    packages = [h.uuid for h in found if h.kind in _PACKAGES]
    members: dict[str, list[str]] = {p: [] for p in packages}
    if not packages:
        return members
    doc = aliased(R)
    for batch in batches(packages):
        rows = session.execute(
            select(R.source_uuid, R.target_uuid)
            .join(doc, doc.entry_uuid == R.target_uuid)
            .where(R.kind == ASSOCIATION, R.association_type == _HAS_MEMBER,
                   R.source_uuid.in_(batch), doc.kind == DOCUMENT)
            .order_by(R.id))
        for source, target in rows:
            members[source].append(target)
    return members


def _outside_ends(session: Session, found: list[Hit]) -> dict[str, tuple[str, str | None]]:
    """Objects at an end of an answered Association (or of an Association one of them points
    at) that the answer does not hold, as entryUUID → (kind, patient): GetAssociations answers
    associations alone, and they must not lead to what the caller may not see."""
    known = {h.uuid for h in found}
    ends = {e for h in found if h.kind == ASSOCIATION for e in (h.source, h.target)
            if e and e not in known}
    out: dict[str, tuple[str, str | None]] = {}
    for _level in range(2):
        inner: set[str] = set()
        for batch in batches(ends):
            for uuid, kind, patient, source, target in session.execute(
                    select(R.entry_uuid, R.kind, R.patient_id, R.source_uuid, R.target_uuid)
                    .where(R.entry_uuid.in_(batch))):
                if kind == ASSOCIATION:
                    inner.update(e for e in (source, target) if e and e not in known)
                else:
                    out[uuid] = (kind, patient)
        ends = inner - set(out)
    return out


def _document_ends(session: Session, found: list[Hit]) -> set[str]:
    """DocumentEntries the answered associations lead to, outside the answer."""
    return {u for u, (kind, _) in _outside_ends(session, found).items() if kind == DOCUMENT}


def _entries(session: Session, uuids: set[str]) -> list[_Entry]:
    """What the decision point is asked about each DocumentEntry: its patient, uniqueId,
    studies (referenceIdList) and site (sourceId of the first SubmissionSet holding it)."""
    if not uuids:
        return []
    rows: dict[str, tuple[int, str, str]] = {}
    for batch in batches(uuids):
        for id_, uuid, patient, unique in session.execute(
                select(R.id, R.entry_uuid, R.patient_id, R.unique_id)
                .where(R.entry_uuid.in_(batch), R.kind == DOCUMENT)):
            rows[uuid] = (id_, patient or "", unique or "")
    studies: dict[int, list[str]] = defaultdict(list)
    for batch in batches(r[0] for r in rows.values()):
        for object_id, code in session.execute(
                select(ObjectCode.object_id, ObjectCode.code)
                .where(ObjectCode.object_id.in_(batch),
                       ObjectCode.attribute == "referenceId")
                .order_by(ObjectCode.id)):
            if code.endswith(_STUDY_SUFFIX):
                studies[object_id].append(code[: -len(_STUDY_SUFFIX)])
    sites: dict[str, str] = {}
    package = aliased(R)
    for batch in batches(rows):
        for target, source_id in session.execute(
                select(R.target_uuid, package.source_id)
                .join(package, package.entry_uuid == R.source_uuid)
                .where(R.kind == ASSOCIATION, R.association_type == _HAS_MEMBER,
                       R.target_uuid.in_(batch), package.kind == SUBMISSION_SET)
                .order_by(R.id)):
            sites.setdefault(target, source_id or "")
    return [_Entry(uuid, patient, unique, sites.get(uuid, ""), tuple(studies[id_]))
            for uuid, (id_, patient, unique) in rows.items()]
