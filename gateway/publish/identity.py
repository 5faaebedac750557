"""Local → regional patient ID, through the registry's cross-reference (PIX query role, REST:
``GET {identity_url}/xref?authority=&local_id=`` answers ``{patient_id}`` or 404), asked with the
gateway's own bearer token."""

from __future__ import annotations

import httpx


class IdentityUnavailable(Exception):
    """The cross-reference could not be asked (unreachable, or an answer other than 200/404)."""


def regional_patient_id(
    client: httpx.Client, identity_url: str, authority: str, local_id: str,
    token: str | None = None,
) -> str | None:
    """The regional ID (CX) of ``local_id`` in ``authority``; ``None`` when the region has no
    mapping for it yet (the study is then held back, DESIGN.md "Identifiers")."""
    try:
        answer = client.get(
            f"{identity_url.rstrip('/')}/xref",
            params={"authority": authority, "local_id": local_id},
            headers={"Authorization": f"Bearer {token}"} if token else None,
        )
    except httpx.HTTPError as exc:
        raise IdentityUnavailable(f"{identity_url}: {exc}") from None
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        raise IdentityUnavailable(f"{identity_url}/xref answered HTTP {answer.status_code}")
    try:
        patient_id = answer.json()["patient_id"]
    except (ValueError, KeyError, TypeError):
        raise IdentityUnavailable(f"{identity_url}/xref: unreadable answer") from None
    if not isinstance(patient_id, str) or not patient_id:
        raise IdentityUnavailable(f"{identity_url}/xref: no patient_id in the answer")
    return patient_id
