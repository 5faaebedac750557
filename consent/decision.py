"""The policy decision point's logic: a pure function of (policy, region rules, request).

Rules, first match wins (so a refusal the patient asked for can never be overridden):

1. the user holds no care role                        → deny  ``not-a-professional``
2. the purpose of use is not care (TREAT, ETREAT)     → deny  ``purpose-not-allowed``
3. the study or document is hidden                    → deny  ``patient-hid-study``
4. the study's site, or the user's organisation, is a
   site the patient blocked                           → deny  ``patient-blocked-site``
5. the user's RPPS is blocked                         → deny  ``patient-blocked-professional``
6. emergency (ETREAT): without a written reason       → deny  ``emergency-reason-missing``
   where the patient (or region) forbids it           → deny  ``emergency-not-allowed``
   otherwise                                          → permit ``emergency-access``
7. the user's RPPS is allowed by name                 → permit ``patient-allowed-professional``
8. the base choice: block                             → deny  ``patient-opted-out``
   share                                              → permit ``patient-opted-in``
   region default opt-out                             → permit ``region-opt-out``
   region default opt-in                              → deny  ``patient-not-opted-in``
9. a care (TREAT) request denied by rule 8 while the user holds an active emergency grant for
   this patient is judged again as ETREAT with the grant's reason: permitted there
   (rule 6)                                           → permit ``emergency-access``
   otherwise (e.g. the patient has since forbidden emergency access) rule 8's denial stands.

An emergency permit carries its written reason (``emergency_reason``) for the audit. Each
decision also says whether an emergency grant would permit its target
(``emergency_possible``: rule 6 permits it and only rule 8 stands in the way, or a grant already
does) and how long it may be cached (``max_age_s``): ``MAX_AGE_S``; a grant's remaining time
when it rests on one; 0 for a denial a grant could lift, so a new grant is seen at once.

Texts never reveal what is hidden or blocked beyond "at the patient's request".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from consent.policy import Base, Policy, RegionDefault

#: roles of people caring for patients; admins and services are not, whatever they hold
CARE_ROLES = frozenset({"radiologist", "physician"})
#: HL7 v3 PurposeOfUse codes of care: treatment and emergency treatment
TREAT, ETREAT = "TREAT", "ETREAT"
#: denials of the patient's base choice: the only ones an emergency grant lifts
BASE_DENIALS = frozenset({"patient-opted-out", "patient-not-opted-in"})
#: how long a decision may be acted on, in seconds (the region's 5 s promise)
MAX_AGE_S = 5.0

#: reason code → text shown to the user (and kept in audit records)
REASONS: dict[str, str] = {
    "not-a-professional": "only professionals caring for the patient may see shared images",
    "purpose-not-allowed": "shared images may be seen for care only (TREAT or ETREAT)",
    "patient-hid-study": "hidden at the patient's request",
    "patient-blocked-site": "not shared with or from this site at the patient's request",
    "patient-blocked-professional": "not shared with you at the patient's request",
    "emergency-reason-missing": "an emergency access needs a written reason",
    "emergency-not-allowed": "the patient does not allow emergency access",
    "emergency-access": "emergency access, recorded and shown to the patient",
    "patient-allowed-professional": "shared with you by name by the patient",
    "patient-opted-out": "the patient does not share their images",
    "patient-opted-in": "shared by the patient",
    "region-opt-out": "shared: the patient has not objected",
    "patient-not-opted-in": "the patient has not agreed to share their images",
}


@dataclass(frozen=True)
class RegionRules:
    """What applies where the patient has not chosen."""

    default: RegionDefault = RegionDefault.OPT_OUT
    emergency_access: bool = True


@dataclass(frozen=True)
class User:
    """The person on whose behalf access is asked (claims of their token)."""

    sub: str
    rpps: str = ""
    roles: frozenset[str] = frozenset()
    organisation_oid: str = ""


@dataclass(frozen=True)
class Target:
    """What is asked for: a study and/or a document, and the site holding it."""

    study_instance_uid: str = ""
    document_unique_id: str = ""
    site_oid: str = ""


@dataclass(frozen=True)
class Grant:
    """The user's active emergency grant for this patient: its reason and remaining time."""

    reason: str
    remaining_s: float


@dataclass(frozen=True)
class Request:
    user: User
    target: Target = Target()
    purpose_of_use: str = TREAT
    emergency_reason: str = ""
    grant: Grant | None = None


@dataclass(frozen=True)
class Decision:
    permit: bool
    code: str
    policy_version: int
    emergency_possible: bool = False
    max_age_s: float = MAX_AGE_S
    #: an emergency permit's written reason (the grant's, or the ETREAT request's): what the
    #: enforcement points put in their audit
    emergency_reason: str = ""

    @property
    def text(self) -> str:
        return REASONS[self.code]


def decide(policy: Policy, rules: RegionRules, request: Request) -> Decision:
    """Permit or deny ``request`` under ``policy`` (rules in the module docstring). Only a
    base-choice denial (rule 8, so a TREAT request) is judged again as an emergency (rule 9)."""
    permit, code = _judge(policy, rules, request)
    if permit or code not in BASE_DENIALS:
        reason = request.emergency_reason if code == "emergency-access" else ""
        return Decision(permit, code, policy.version, emergency_reason=reason.strip())
    grant = request.grant
    as_emergency = replace(request, purpose_of_use=ETREAT,
                           emergency_reason=grant.reason if grant else "-")
    if not _judge(policy, rules, as_emergency)[0]:
        return Decision(False, code, policy.version)
    if grant is None:
        return Decision(False, code, policy.version, emergency_possible=True, max_age_s=0.0)
    return Decision(True, "emergency-access", policy.version, emergency_possible=True,
                    max_age_s=min(MAX_AGE_S, max(0.0, grant.remaining_s)),
                    emergency_reason=grant.reason.strip())


def decide_many(policy: Policy, rules: RegionRules, user: User, targets: Iterable[Target],
                purpose_of_use: str = TREAT, emergency_reason: str = "",
                grant: Grant | None = None) -> list[Decision]:
    """One decision per target, in order, for one user (a query answer's filter)."""
    return [decide(policy, rules, Request(user, t, purpose_of_use, emergency_reason, grant))
            for t in targets]


def effective_sharing(policy: Policy, rules: RegionRules) -> bool:
    """Whether the base choice shares, the region's default filling a ``default`` choice."""
    if policy.base is Base.DEFAULT:
        return rules.default is RegionDefault.OPT_OUT
    return policy.base is Base.SHARE


def effective_emergency(policy: Policy, rules: RegionRules) -> bool:
    """Whether emergency access is allowed, the region's default filling an unset choice."""
    return rules.emergency_access if policy.emergency_access is None else policy.emergency_access


def _judge(policy: Policy, rules: RegionRules, request: Request) -> tuple[bool, str]:
    user, target = request.user, request.target
    if not user.roles & CARE_ROLES:
        return False, "not-a-professional"
    if request.purpose_of_use not in (TREAT, ETREAT):
        return False, "purpose-not-allowed"
    if (target.study_instance_uid and target.study_instance_uid in policy.hidden_studies) or (
            target.document_unique_id and target.document_unique_id in policy.hidden_documents):
        return False, "patient-hid-study"
    if policy.blocked_sites & ({target.site_oid, user.organisation_oid} - {""}):
        return False, "patient-blocked-site"
    if user.rpps and user.rpps in policy.blocked_professionals:
        return False, "patient-blocked-professional"
    if request.purpose_of_use == ETREAT:
        if not request.emergency_reason.strip():
            return False, "emergency-reason-missing"
        if effective_emergency(policy, rules):
            return True, "emergency-access"
        return False, "emergency-not-allowed"
    if user.rpps and user.rpps in policy.allowed_professionals:
        return True, "patient-allowed-professional"
    if policy.base is Base.BLOCK:
        return False, "patient-opted-out"
    if policy.base is Base.SHARE:
        return True, "patient-opted-in"
    if effective_sharing(policy, rules):
        return True, "region-opt-out"
    return False, "patient-not-opted-in"
