"""API shapes of the consent service (separate from the tables): a policy as written and as
read, and the decision API's requests and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from consent.policy import Base, Policy

#: DICOM UID (PS3.5 §9.1) and XDS uniqueId (an OID, optionally ``^extension``)
Uid = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)*$", max_length=64)]
UniqueId = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)*(\^[!-~]{1,16})?$",
                                            max_length=128)]
Oid = Annotated[str, StringConstraints(pattern=r"^[0-2](\.(0|[1-9][0-9]*))+$", max_length=64)]
#: RPPS number: 11 digits
Rpps = Annotated[str, StringConstraints(pattern=r"^[0-9]{11}$")]
Text = Annotated[str, StringConstraints(max_length=256)]
#: bounds of every list in a policy or a batch
MAX_ITEMS = 1000
MAX_TARGETS = 5000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyIn(_Strict):
    """A whole policy; writing it makes a new version (nothing is patched in place)."""

    base: Base = Base.DEFAULT
    #: ``null`` follows the region's default
    emergency_access: bool | None = None
    hidden_studies: list[Uid] = Field(default_factory=list, max_length=MAX_ITEMS)
    hidden_documents: list[UniqueId] = Field(default_factory=list, max_length=MAX_ITEMS)
    blocked_sites: list[Oid] = Field(default_factory=list, max_length=MAX_ITEMS)
    blocked_professionals: list[Rpps] = Field(default_factory=list, max_length=MAX_ITEMS)
    allowed_professionals: list[Rpps] = Field(default_factory=list, max_length=MAX_ITEMS)


class Effective(BaseModel):
    """What the policy means once the region's defaults fill its gaps."""

    region_default: str
    sharing: bool
    emergency_access: bool


class PolicyOut(BaseModel):
    patient: str
    #: 0: the patient has never chosen (region defaults)
    version: int
    base: Base
    emergency_access: bool | None
    hidden_studies: list[str]
    hidden_documents: list[str]
    blocked_sites: list[str]
    blocked_professionals: list[str]
    allowed_professionals: list[str]
    author: str
    author_role: str
    created_at: datetime | None
    effective: Effective
    #: what this version changed from the one before (in a history)
    changes: list[str] = []

    @classmethod
    def of(cls, policy: Policy, effective: Effective, changes: list[str] | None = None
           ) -> PolicyOut:
        return cls(
            patient=policy.patient, version=policy.version, base=policy.base,
            emergency_access=policy.emergency_access,
            hidden_studies=sorted(policy.hidden_studies),
            hidden_documents=sorted(policy.hidden_documents),
            blocked_sites=sorted(policy.blocked_sites),
            blocked_professionals=sorted(policy.blocked_professionals),
            allowed_professionals=sorted(policy.allowed_professionals),
            author=policy.author, author_role=policy.author_role,
            created_at=policy.created_at, effective=effective, changes=changes or [],
        )


class PolicyHistory(BaseModel):
    patient: str
    #: oldest first
    versions: list[PolicyOut]


class UserIn(_Strict):
    sub: Text
    rpps: Text = ""
    roles: list[Text] = Field(default_factory=list, max_length=64)
    organisation_oid: Text = ""


class TargetIn(_Strict):
    study_instance_uid: Text = ""
    document_unique_id: Text = ""
    site_oid: Text = ""


class DecisionRequest(TargetIn):
    #: a regional INS or its CX ``ins^^^&1.2.250.1.213.1.4.10&ISO``
    patient: Text
    user: UserIn
    #: HL7 v3 PurposeOfUse: TREAT, ETREAT (emergency) …
    purpose_of_use: Text = "TREAT"
    emergency_reason: Annotated[str, StringConstraints(max_length=2000)] = ""


class BatchRequest(_Strict):
    """Many studies or documents of one patient for one user, e.g. a FindDocuments answer."""

    patient: Text
    user: UserIn
    targets: list[TargetIn] = Field(max_length=MAX_TARGETS)
    purpose_of_use: Text = "TREAT"
    emergency_reason: Annotated[str, StringConstraints(max_length=2000)] = ""


class Reason(BaseModel):
    code: str
    text: str


class DecisionOut(BaseModel):
    permit: bool
    reason: Reason
    policy_version: int
    #: how long the answer may be acted on (0: a denial an emergency grant could lift)
    max_age_s: float
    #: whether an emergency grant permits (or would permit) this target
    emergency_possible: bool
    #: an emergency permit's written reason (the grant's or the request's), else empty
    emergency_reason: str = ""


class TargetDecision(DecisionOut):
    target: TargetIn


class BatchOut(BaseModel):
    patient: str
    policy_version: int
    #: one per target, in the request's order
    decisions: list[TargetDecision]


class EmergencyIn(_Strict):
    """A professional breaking the glass: the written reason (blank: refused by the PDP)."""

    reason: Annotated[str, StringConstraints(max_length=1000)]


class EmergencyGrantOut(BaseModel):
    id: int
    patient: str
    sub: str
    name: str
    rpps: str
    organisation: str
    reason: str
    started_at: datetime
    expires_at: datetime


class Notification(BaseModel):
    """An emergency access to the patient's images, as the patient is told of it."""

    id: int
    kind: str = "emergency-access"
    time: datetime
    name: str
    rpps: str
    organisation: str
    reason: str
    expires_at: datetime
    read: bool


class Notifications(BaseModel):
    patient: str
    unread: int
    #: newest first
    notifications: list[Notification]


class MarkRead(_Strict):
    #: the notifications to mark read; none given: all of them
    ids: list[int] | None = Field(default=None, max_length=MAX_ITEMS)


class Marked(BaseModel):
    marked: int
    unread: int


class Accessor(BaseModel):
    sub: str
    name: str
    rpps: str
    organisation: str


class Access(BaseModel):
    """One permitted access to the patient's images, from the audit trail."""

    id: int
    time: datetime
    user: Accessor
    #: Study Instance UIDs
    studies: list[str]
    #: the site that served it (its OID, else the audit source)
    site: str
    purpose: str
    emergency: bool
    emergency_reason: str
    #: the audit event: DICOM EventID and the transaction (EventTypeCode)
    event: str
    transaction: str


class AccessLog(BaseModel):
    patient: str
    #: newest first
    accesses: list[Access]
