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

    @classmethod
    def of(cls, policy: Policy, effective: Effective) -> PolicyOut:
        return cls(
            patient=policy.patient, version=policy.version, base=policy.base,
            emergency_access=policy.emergency_access,
            hidden_studies=sorted(policy.hidden_studies),
            hidden_documents=sorted(policy.hidden_documents),
            blocked_sites=sorted(policy.blocked_sites),
            blocked_professionals=sorted(policy.blocked_professionals),
            allowed_professionals=sorted(policy.allowed_professionals),
            author=policy.author, author_role=policy.author_role,
            created_at=policy.created_at, effective=effective,
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


class TargetDecision(DecisionOut):
    target: TargetIn


class BatchOut(BaseModel):
    patient: str
    policy_version: int
    #: one per target, in the request's order
    decisions: list[TargetDecision]
