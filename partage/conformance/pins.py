"""Error codes the harness requires where a NIST test plan asserts only ``Failure``.

ITI TF-3 Table 4.2.4.1-2 names the code for each of these cases; NIST leaves it open (or names
an older code in a readme). One row per (test, section, step), ``*`` matching any; the source
of every pin is given beside it (``reference/error-codes.md`` quotes the TF).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pin:
    test: str
    section: str
    step: str
    code: str
    source: str


PINS: tuple[Pin, ...] = (
    Pin("12004", "submit", "resubmit_doc_diff_hash", "XDSNonIdenticalHash",
        "12004 testplan ExpectedErrorMessage (the readme's XDSDuplicateUniqueIdInRegistry is older)"),
    Pin("11993", "apnd", "apnd_rplc", "XDSRegistryDeprecatedDocumentError",
        "ITI TF-3 4.2.4.1-2: APND/XFRM/RPLC targeting a Deprecated DocumentEntry"),
    Pin("11994", "xfrm", "xfrm_rplc", "XDSRegistryDeprecatedDocumentError",
        "ITI TF-3 4.2.4.1-2: APND/XFRM/RPLC targeting a Deprecated DocumentEntry"),
    Pin("11998", "rplc", "rplc", "XDSPatientIdDoesNotMatch",
        "ITI TF-3 4.2.4.1-2: RPLC linking documents of different patients"),
    Pin("11998a", "*", "*", "XDSRegistryMetadataError",
        "ITI TF-3 4.2.4.1-2: a required DocumentEntry attribute is missing"),
    Pin("12084", "submit", "submit", "XDSRegistryMetadataError",
        "ITI TF-3 4.2.4.1-2: DocumentEntry without repositoryUniqueId"),
    Pin("11983", "submit_no_doc", "*", "XDSMissingDocument",
        "11983 testplan ExpectedErrorMessage; ITI TF-3 4.2.4.1-2"),
    Pin("11983", "submit_no_metadata", "*", "XDSMissingDocumentMetadata",
        "11983 testplan ExpectedErrorMessage; ITI TF-3 4.2.4.1-2"),
    Pin("12368", "*", "*leafclass", "XDSResultNotSinglePatient",
        "12368 testplan ExpectedErrorCode; ITI TF-2a 3.18.4.1.3"),
    Pin("11897", "classcode_scheme_mismatch", "*", "XDSStoredQueryParamNumber",
        "ITI TF-2a 3.18.4.1.2.3.7: code and scheme counts differ"),
)


def _match(pattern: str, value: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return pattern == value


def pinned_codes(test: str, section: str, step: str) -> list[Pin]:
    """The pins that apply to one step (only to steps expected to fail: see evaluate)."""
    return [p for p in PINS
            if p.test == test and _match(p.section, section) and _match(p.step, step)]
