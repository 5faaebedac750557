"""Property tests of the pure decision function over random policies × users × targets ×
purposes: each rule the patient can set holds whatever else the policy says, and the permit
bit equals an independent statement of the rules."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.decision import (
    CARE_ROLES,
    REASONS,
    Decision,
    RegionRules,
    Request,
    Target,
    User,
    decide,
    decide_many,
)
from consent.policy import Base, Policy, RegionDefault

CASES = 1500
STUDIES = [f"1.2.3.{i}" for i in range(4)]
DOCUMENTS = [f"1.2.4.{i}" for i in range(4)]
SITES = [f"1.2.250.1.999.1.{i}" for i in range(1, 5)]
RPPS = [f"1000000000{i}" for i in range(5)]
#: mostly people caring for patients, so the rules past the first are reached often
ROLE_SETS = [frozenset({"radiologist"}), frozenset({"physician"}),
             frozenset({"radiologist", "region-admin"}), frozenset({"physician", "patient"}),
             frozenset(), frozenset({"patient"}), frozenset({"service"}),
             frozenset({"region-admin", "site-admin"})]
PURPOSES = ["TREAT", "ETREAT", "HRESCH", "HPAYMT"]


def maybe(values: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(["", *values])


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    blocked = draw(st.frozensets(st.sampled_from(RPPS)))
    return Policy(
        patient="2801205123456^^^&1.2.250.1.213.1.4.10&ISO",
        version=draw(st.integers(0, 50)),
        base=draw(st.sampled_from(list(Base))),
        emergency_access=draw(st.sampled_from([None, True, False])),
        hidden_studies=draw(st.frozensets(st.sampled_from(STUDIES), max_size=2)),
        hidden_documents=draw(st.frozensets(st.sampled_from(DOCUMENTS), max_size=2)),
        blocked_sites=draw(st.frozensets(st.sampled_from(SITES), max_size=2)),
        blocked_professionals=blocked,
        allowed_professionals=draw(st.frozensets(st.sampled_from(RPPS))) - blocked,
    )


rules = st.builds(RegionRules, st.sampled_from(list(RegionDefault)), st.booleans())
users = st.builds(User, st.sampled_from(["u1", "u2"]), maybe(RPPS),
                  st.sampled_from(ROLE_SETS), maybe(SITES))
targets = st.builds(Target, maybe(STUDIES), maybe(DOCUMENTS), maybe(SITES))
requests = st.builds(Request, users, targets,
                     st.sampled_from(["TREAT", "ETREAT"]) | st.sampled_from(PURPOSES),
                     st.sampled_from(["", "  ", "unconscious after a fall"]))


def hidden(policy: Policy, target: Target) -> bool:
    return bool({target.study_instance_uid} & policy.hidden_studies
                or {target.document_unique_id} & policy.hidden_documents)


def site_blocked(policy: Policy, request: Request) -> bool:
    return bool({request.target.site_oid, request.user.organisation_oid} & policy.blocked_sites)


def expected_permit(policy: Policy, rules: RegionRules, request: Request) -> bool:
    """The rules stated as one formula, apart from the implementation's first-match chain."""
    user = request.user
    emergency = request.purpose_of_use == "ETREAT"
    emergency_ok = bool(request.emergency_reason.strip()) and (
        rules.emergency_access if policy.emergency_access is None else policy.emergency_access)
    shares = policy.base is Base.SHARE or (
        policy.base is Base.DEFAULT and rules.default is RegionDefault.OPT_OUT)
    return (bool(user.roles & CARE_ROLES)
            and request.purpose_of_use in ("TREAT", "ETREAT")
            and not hidden(policy, request.target)
            and not site_blocked(policy, request)
            and user.rpps not in policy.blocked_professionals
            and (emergency_ok if emergency
                 else user.rpps in policy.allowed_professionals or shares))


def test_decisions_follow_the_rules_over_many_cases() -> None:
    outcomes: Counter[str] = Counter()
    permits: Counter[bool] = Counter()

    @settings(max_examples=CASES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(policies(), rules, requests)
    def check(policy: Policy, rules: RegionRules, request: Request) -> None:
        decision = decide(policy, rules, request)
        outcomes[decision.code] += 1
        permits[decision.permit] += 1
        assert decision.code in REASONS and decision.policy_version == policy.version
        assert decision.permit == expected_permit(policy, rules, request), decision
        # blocking a site denies every request for (or from) that site
        if request.target.site_oid in policy.blocked_sites:
            assert not decision.permit
        # a hidden study is denied to everyone, in an emergency too, with the same reason
        if hidden(policy, request.target) and request.user.roles & CARE_ROLES and \
                request.purpose_of_use in ("TREAT", "ETREAT"):
            assert decision == Decision(False, "patient-hid-study", policy.version)
        # a blocked professional is never permitted
        if request.user.rpps and request.user.rpps in policy.blocked_professionals:
            assert not decision.permit
        # a professional allowed by name is permitted for care unless the study is hidden or
        # its site blocked
        if (request.user.rpps in policy.allowed_professionals and request.user.rpps
                and request.user.roles & CARE_ROLES and request.purpose_of_use == "TREAT"
                and not hidden(policy, request.target) and not site_blocked(policy, request)):
            assert decision.permit
        # an opt-in region denies a patient who never agreed, emergencies aside
        if (rules.default is RegionDefault.OPT_IN and policy.base is Base.DEFAULT
                and request.purpose_of_use != "ETREAT"
                and request.user.rpps not in policy.allowed_professionals):
            assert not decision.permit
        # a patient who blocked all sharing is seen only by name or in an allowed emergency
        if policy.base is Base.BLOCK and decision.permit:
            assert decision.code in ("patient-allowed-professional", "emergency-access")
        # without a care role nothing is ever permitted
        if not request.user.roles & CARE_ROLES:
            assert decision == Decision(False, "not-a-professional", policy.version)

    check()
    total = sum(outcomes.values())
    print(f"\n{total} generated decisions ({permits[True]} permits):",
          dict(sorted(outcomes.items())))
    assert total >= 1000
    assert min(permits[True], permits[False]) >= 100, "both outcomes are exercised"


@settings(max_examples=300, deadline=None, database=None)
@given(policies(), rules, users, st.lists(targets, max_size=8), st.sampled_from(PURPOSES))
def test_batch_equals_one_decision_per_target(policy: Policy, rules: RegionRules, user: User,
                                              many: list[Target], purpose: str) -> None:
    batch = decide_many(policy, rules, user, many, purpose, "reason")
    assert batch == [decide(policy, rules, Request(user, t, purpose, "reason")) for t in many]
