"""The gateway's one access decision: may this caller see the pixels of this study?

Every serving route (RAD-69, WADO-RS, WADO-URI) calls ``authorize`` after the token is validated
and before any byte of the study leaves the gateway (DESIGN.md, "Security model": the gateway
refuses pixels). Today the rule is the role: a professional may read, a patient or a token
without a role may not. The consent service's policy decision point (later issue) plugs in
HERE, and only here: ``authorize`` will ask it about (principal, study, purpose of use) and
refuse what the patient refused, so no route has to change.
"""

from __future__ import annotations

from dataclasses import dataclass

from partage.auth import Principal

#: Roles that give access to images for care (DESIGN.md, "Security model").
PROFESSIONAL_ROLES = frozenset({"radiologist", "physician", "site-admin", "region-admin"})


@dataclass(frozen=True)
class Decision:
    permit: bool
    reason: str


def authorize(principal: Principal, study_instance_uid: str, purpose: str = "") -> Decision:
    """Decide whether ``principal`` may retrieve study ``study_instance_uid`` for ``purpose``
    (a purpose-of-use code such as TREAT; defaults to the token's)."""
    roles = principal.roles & PROFESSIONAL_ROLES
    if not roles:
        held = ", ".join(sorted(principal.roles)) or "none"
        return Decision(False, f"{principal.subject} holds no professional role (roles: {held})")
    purpose = purpose or principal.purpose_of_use or "unspecified"
    return Decision(True, f"{principal.subject} as {', '.join(sorted(roles))} for {purpose}")
