"""What the portal tells the viewer (the contract of ``portal/viewer/README.md``): a page's
``data-config`` and the patient's study list the viewer fetches for its picker."""

from __future__ import annotations

from urllib.parse import quote

from partage.regional_studies import StudyEntry


def viewer_study(study: StudyEntry) -> dict[str, object]:
    """One study as the viewer lists it; its series come from ``seriesUrl``."""
    return {
        "id": study.id, "site": study.site, "date": study.date,
        "modality": "/".join(study.modalities), "description": study.description,
        "seriesUrl": f"/api/studies/{study.id}/series",
    }


def studies_url(patient_id: str) -> str:
    """Where the viewer reads every study of the patient the user may see."""
    return f"/api/patients/{quote(patient_id, safe='')}/studies"


def viewer_config(patient_id: str, studies: list[StudyEntry], current: StudyEntry,
                  prior: StudyEntry | None, layout: int) -> dict[str, object]:
    """The page's configuration: the studies it already knows (at least the current one and its
    prior), the rest of the patient's studies at ``studiesUrl``, the current one and its prior,
    the layout."""
    return {
        "studies": [viewer_study(s) for s in studies],
        "studiesUrl": studies_url(patient_id),
        "current": current.id,
        "prior": prior.id if prior else None,
        "layout": layout,
    }
