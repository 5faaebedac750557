"""Checks of a submission against what the registry already holds, and the changes it makes
(ITI TF-2b §3.42.4.1.3, ITI TF-3 §4.2.2 for the document relationships, ITI TF-2b §3.57 for
availabilityStatus updates). Checking builds a ``Plan``; only ``apply`` writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from ihe.ebrim import Association, ExtrinsicObject, RegistryPackage, Scheme
from ihe.ebrim.enum import (
    DOCUMENT_RELATIONSHIPS,
    REPLACEMENTS,
    AssociationType,
    ObjectType,
    Status,
)
from registry import crud
from registry.models import RegistryObjectRow
from registry.submission.model import METADATA_ERROR, UUID_PREFIX, Problems, Submission

UNKNOWN_PATIENT = "XDSUnknownPatientId"
PATIENT_MISMATCH = "XDSPatientIdDoesNotMatch"
DUPLICATE_IN_REGISTRY = "XDSDuplicateUniqueIdInRegistry"
DUPLICATE_IN_MESSAGE = "XDSRegistryDuplicateUniqueIdInMessage"
DEPRECATED_TARGET = "XDSRegistryDeprecatedDocumentError"
UPDATE_ERROR = "XDSMetadataUpdateError"
VERSION_ERROR = "XDSMetadataVersionError"
OPERATION_ERROR = "XDSMetadataUpdateOperationError"

#: Associations a replacement's original passes on when it is deprecated (NIST 12022, CP-117)
DEPENDENT_RELATIONSHIPS = (AssociationType.APND, AssociationType.XFRM)
#: availabilityStatus values a source may set with ITI-57 (ITI TF-2b §3.57.4.1.3.3.1.3)
SETTABLE_STATUSES = frozenset({Status.APPROVED, Status.DEPRECATED})

Stored = crud.StoredObject


@dataclass
class Plan:
    """What an accepted submission changes: new objects, status changes of existing rows,
    Folders whose lastUpdateTime moves."""

    new_objects: list[Stored] = field(default_factory=list)
    status_changes: dict[str, str] = field(default_factory=dict)
    touched_folders: set[str] = field(default_factory=set)


def _patient(obj: Stored) -> str | None:
    if isinstance(obj, ExtrinsicObject):
        return obj.patient_id
    if isinstance(obj, RegistryPackage):
        scheme = Scheme.SS_PATIENT_ID if obj.is_submission_set else Scheme.FOL_PATIENT_ID
        return obj.external_id(scheme)
    return None


def _unique_id(obj: Stored) -> str | None:
    if isinstance(obj, ExtrinsicObject):
        return obj.unique_id
    if isinstance(obj, RegistryPackage):
        scheme = Scheme.SS_UNIQUE_ID if obj.is_submission_set else Scheme.FOL_UNIQUE_ID
        return obj.external_id(scheme)
    return None


class _Resolver:
    """Finds what an association end names: an object of this submission or a registry row."""

    def __init__(self, local: dict[str, Stored], rows: dict[str, crud.Known]) -> None:
        self.local = local
        self.rows = rows

    def existing(self, uuids: set[str]) -> list[str]:
        """Those of ``uuids`` already in the registry, sorted."""
        return sorted(u for u in uuids if u in self.rows)

    def kind(self, ref: str) -> str | None:
        if ref in self.local:
            return crud.kind_of(self.local[ref])
        row = self.rows.get(ref)
        return row.kind if row else None

    def patient(self, ref: str) -> str | None:
        if ref in self.local:
            return _patient(self.local[ref])
        row = self.rows.get(ref)
        return row.patient_id if row else None


UniqueIds = dict[str, dict[str, Stored]]


def _unique_ids(submission: Submission) -> UniqueIds:
    """kind → uniqueId → the object of this submission using it (DocumentEntries,
    SubmissionSet, Folders)."""
    return {
        crud.DOCUMENT: {d.unique_id: d for d in submission.documents if d.unique_id},
        **{kind: {u: p for p in packages if (u := _unique_id(p))}
           for kind, packages in ((crud.SUBMISSION_SET, [submission.submission_set]),
                                  (crud.FOLDER, submission.folders))},
    }


def _look_up(session: Session, submission: Submission, unique_ids: dict[str, Iterable[str]]
             ) -> tuple[_Resolver, crud.Existing]:
    """Everything the checks need of the registry, read in one statement: the association
    ends outside the submission, the source's preassigned entryUUIDs (already registered: a
    duplicate), ``unique_ids`` and the SubmissionSet's patient."""
    local = submission.by_id()
    ends = {end for a in submission.associations for end in (a.source_object, a.target_object)}
    found = crud.existing(session, uuids=(ends - set(local)) | submission.preassigned,
                          unique_ids=unique_ids, patient_id=_patient(submission.submission_set))
    return _Resolver(local, found.objects), found


def _check_identity(
    submission: Submission, resolver: _Resolver, found: crud.Existing, unique_ids: UniqueIds,
    problems: Problems,
) -> None:
    """Known patient, one patient per submission, uniqueIds and entryUUIDs not reused."""
    ss = submission.submission_set
    patient = _patient(ss)
    if patient and not found.patient_active:
        problems.error(UNKNOWN_PATIENT, f"patient {patient} is not known to the registry", ss.id)
    for obj in [*submission.documents, *submission.folders]:
        other = _patient(obj)
        if patient and other and other != patient:
            problems.error(
                PATIENT_MISMATCH,
                f"{obj.id} has patient {other}, the SubmissionSet {patient}",
                obj.id,
            )
    for uuid in resolver.existing(submission.preassigned):
        problems.error(DUPLICATE_IN_REGISTRY, f"entryUUID {uuid} is already in the registry", uuid)

    seen: dict[str, str] = {}
    for obj in [ss, *submission.documents, *submission.folders]:
        uid = _unique_id(obj)
        if not uid:
            continue
        if uid in seen:
            problems.error(
                DUPLICATE_IN_MESSAGE, f"uniqueId {uid} is used by {seen[uid]} and {obj.id}", obj.id
            )
        seen[uid] = obj.id
    by_uid = unique_ids[crud.DOCUMENT]
    registered = found.unique_ids
    reported: set[str] = set()
    for row in registered[crud.DOCUMENT]:
        doc = by_uid[row.unique_id or ""]
        if doc.id in reported:
            continue
        hash_ = (doc.slot_value("hash") or "").lower()
        size = (doc.slot_value("size") or "").strip()
        if (row.hash or "") != hash_:
            problems.error(
                "XDSNonIdenticalHash",
                f"uniqueId {row.unique_id} is registered with another hash",
                doc.id,
            )
            reported.add(doc.id)
        elif size and row.size is not None and str(row.size) != size:
            problems.error(
                "XDSNonIdenticalSize",
                f"uniqueId {row.unique_id} is registered with another size",
                doc.id,
            )
            reported.add(doc.id)
    for kind in (crud.SUBMISSION_SET, crud.FOLDER):
        for row in registered[kind]:
            problems.error(
                DUPLICATE_IN_REGISTRY,
                f"uniqueId {row.unique_id} is already in the registry",
                unique_ids[kind][row.unique_id or ""].id,
            )


def _check_has_member(
    assoc: Association, resolver: _Resolver, submission: Submission, plan: Plan,
    members: set[str], problems: Problems,
) -> None:
    ss = submission.submission_set
    source, target = assoc.source_object, assoc.target_object
    source_kind, target_kind = resolver.kind(source), resolver.kind(target)
    if source == ss.id:
        if target_kind == crud.DOCUMENT and target in resolver.local:
            status = assoc.slot_value("SubmissionSetStatus")
            if status not in (None, "Original"):
                problems.error(
                    METADATA_ERROR,
                    f"{assoc.id}: a new DocumentEntry joins its SubmissionSet as Original",
                    assoc.id,
                )
        elif target_kind == crud.ASSOCIATION and target not in resolver.local:
            problems.error(
                METADATA_ERROR, f"{assoc.id}: the SubmissionSet can only hold new associations",
                assoc.id,
            )
        members.add(target)
        return
    if source_kind != crud.FOLDER:
        problems.error(
            METADATA_ERROR,
            f"{assoc.id}: HasMember must start at the SubmissionSet or a Folder",
            assoc.id,
        )
        return
    if target_kind != crud.DOCUMENT:
        problems.error(METADATA_ERROR, f"{assoc.id}: a Folder holds DocumentEntries only", assoc.id)
        return
    folder_patient, doc_patient = resolver.patient(source), resolver.patient(target)
    if folder_patient != doc_patient:
        problems.error(
            PATIENT_MISMATCH,
            f"{assoc.id}: Folder patient {folder_patient} and DocumentEntry patient "
            f"{doc_patient} differ",
            assoc.id,
        )
    if source not in resolver.local:
        plan.touched_folders.add(source)


def _check_relationship(
    session: Session, assoc: Association, resolver: _Resolver, plan: Plan,
    new_id: Callable[[], str], problems: Problems,
) -> None:
    """RPLC, APND, XFRM, XFRM_RPLC, signs: a new DocumentEntry about an existing one of the
    same patient that is not Deprecated (ITI TF-3 §4.2.2.2)."""
    source, target = assoc.source_object, assoc.target_object
    if source not in resolver.local or resolver.kind(source) != crud.DOCUMENT:
        problems.error(
            METADATA_ERROR, f"{assoc.id}: the source must be a DocumentEntry of this submission",
            assoc.id,
        )
        return
    row = resolver.rows.get(target)
    if row is None or row.kind != crud.DOCUMENT:
        problems.error(
            METADATA_ERROR, f"{assoc.id}: target {target} is not a DocumentEntry in the registry",
            assoc.id,
        )
        return
    if row.status != Status.APPROVED or row.entry_uuid in plan.status_changes:
        problems.error(DEPRECATED_TARGET, f"{assoc.id}: {target} is deprecated", assoc.id)
        return
    if resolver.patient(source) != row.patient_id:
        problems.error(
            PATIENT_MISMATCH,
            f"{assoc.id}: {source} and {target} belong to different patients",
            assoc.id,
        )
        return
    if assoc.association_type not in REPLACEMENTS:
        return
    plan.status_changes[target] = Status.DEPRECATED
    for dependent in crud.related_documents(session, target, DEPENDENT_RELATIONSHIPS):
        if dependent.status == Status.APPROVED:
            plan.status_changes[dependent.entry_uuid] = Status.DEPRECATED
    for folder in crud.folders_of(session, target):
        plan.new_objects.append(
            Association(
                id=f"urn:uuid:{new_id()}",
                object_type=ObjectType.ASSOCIATION,
                association_type=AssociationType.HAS_MEMBER,
                source_object=folder.entry_uuid,
                target_object=source,
            )
        )
        plan.touched_folders.add(folder.entry_uuid)


def _check_status_update(
    session: Session, assoc: Association, resolver: _Resolver, submission: Submission,
    plan: Plan, problems: Problems,
) -> None:
    """An UpdateAvailabilityStatus association (ITI TF-2b §3.57.4.1.3.3.1.3)."""
    if assoc.source_object != submission.submission_set.id:
        problems.error(UPDATE_ERROR, f"{assoc.id}: the source must be the SubmissionSet", assoc.id)
        return
    row = resolver.rows.get(assoc.target_object)
    if row is None or row.kind not in (crud.DOCUMENT, crud.FOLDER):
        problems.error(
            UPDATE_ERROR,
            f"{assoc.id}: {assoc.target_object} is not a DocumentEntry or Folder in the registry",
            assoc.id,
        )
        return
    original, new = assoc.slot_values("OriginalStatus"), assoc.slot_values("NewStatus")
    if len(original) != 1 or len(new) != 1 or new[0] not in SETTABLE_STATUSES:
        problems.error(
            UPDATE_ERROR,
            f"{assoc.id}: one OriginalStatus and one NewStatus (Approved or Deprecated) needed",
            assoc.id,
        )
        return
    if original[0] != row.status:
        problems.error(
            UPDATE_ERROR,
            f"{assoc.id}: {row.entry_uuid} is {row.status}, not {original[0]}",
            assoc.id,
        )
    elif not crud.is_latest_version(session, row):
        problems.error(
            VERSION_ERROR, f"{assoc.id}: {row.entry_uuid} is not the latest version", assoc.id
        )
    elif row.patient_id != _patient(submission.submission_set):
        problems.error(
            PATIENT_MISMATCH, f"{assoc.id}: {row.entry_uuid} belongs to another patient", assoc.id
        )
    elif row.entry_uuid in plan.status_changes:
        problems.error(UPDATE_ERROR, f"{assoc.id}: {row.entry_uuid} is updated twice", assoc.id)
    else:
        plan.status_changes[row.entry_uuid] = new[0]


def check_registration(
    session: Session, submission: Submission, new_id: Callable[[], str], problems: Problems
) -> Plan:
    """ITI-42: identity rules, then every association against the submission and registry."""
    unique_ids = _unique_ids(submission)
    resolver, found = _look_up(session, submission, unique_ids)
    _check_identity(submission, resolver, found, unique_ids, problems)
    plan = Plan(new_objects=list(submission.objects))
    members: set[str] = set()
    for assoc in submission.associations:
        kind = assoc.association_type
        ends = (assoc.source_object, assoc.target_object)
        unresolved = [end for end in ends if resolver.kind(end) is None]
        for end in unresolved:
            if end.startswith(UUID_PREFIX):  # symbolic ones were reported while resolving
                problems.error(METADATA_ERROR, f"{assoc.id}: unresolved reference {end}", assoc.id)
        if unresolved:
            continue
        if kind == AssociationType.HAS_MEMBER:
            _check_has_member(assoc, resolver, submission, plan, members, problems)
        elif kind in DOCUMENT_RELATIONSHIPS:
            _check_relationship(session, assoc, resolver, plan, new_id, problems)
        else:
            problems.error(
                METADATA_ERROR, f"{assoc.id}: association type {kind!r} is not accepted by ITI-42",
                assoc.id,
            )
    for obj in [*submission.documents, *submission.folders]:
        if obj.id not in members:
            problems.error(
                METADATA_ERROR, f"{obj.id} is not a member of the SubmissionSet", obj.id
            )
    return plan


def check_update(session: Session, submission: Submission, problems: Problems) -> Plan:
    """ITI-57 limited to availabilityStatus changes: a SubmissionSet and its
    UpdateAvailabilityStatus associations."""
    ss = submission.submission_set
    patient = _patient(ss)
    uid = _unique_id(ss)
    resolver, found = _look_up(session, submission, {crud.SUBMISSION_SET: [uid] if uid else []})
    if patient and not found.patient_active:
        problems.error(UNKNOWN_PATIENT, f"patient {patient} is not known to the registry", ss.id)
    for uuid in resolver.existing(submission.preassigned):
        problems.error(DUPLICATE_IN_REGISTRY, f"entryUUID {uuid} is already in the registry", uuid)
    if uid and found.unique_ids[crud.SUBMISSION_SET]:
        problems.error(DUPLICATE_IN_REGISTRY, f"uniqueId {uid} is already in the registry", ss.id)
    if submission.documents or submission.folders:
        problems.error(
            OPERATION_ERROR,
            "this registry supports availabilityStatus updates only, not new versions",
        )
    plan = Plan(new_objects=list(submission.objects))
    for assoc in submission.associations:
        if assoc.association_type != AssociationType.UPDATE_AVAILABILITY_STATUS:
            problems.error(
                OPERATION_ERROR,
                f"{assoc.id}: association type {assoc.association_type!r} is not supported",
                assoc.id,
            )
        else:
            _check_status_update(session, assoc, resolver, submission, plan, problems)
    if not submission.associations:
        problems.error(UPDATE_ERROR, "the submission updates nothing")
    return plan


def apply(session: Session, plan: Plan, now: str) -> None:
    """Write an accepted plan: new objects Approved, status changes, Folder lastUpdateTime."""
    for obj in plan.new_objects:
        if isinstance(obj, RegistryPackage) and obj.is_folder and not obj.is_submission_set:
            obj.set_slot(crud.LAST_UPDATE_TIME, [now])
    crud.add_objects(session, plan.new_objects, status=Status.APPROVED)
    rows: dict[str, RegistryObjectRow] = crud.rows_by_uuid(
        session, set(plan.status_changes) | plan.touched_folders
    )
    for uuid, status in plan.status_changes.items():
        crud.set_status(rows[uuid], status)
    for uuid in plan.touched_folders:
        crud.touch_folder(rows[uuid], now)
