"""JSON shapes of the identity REST API, kept apart from the tables they are stored in."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from registry.identity.cx import is_oid
from registry.models import Patient, PatientIdentifier, Site

#: a date, possibly partial: ISO 8601 ``YYYY[-MM[-DD]]`` or HL7 DT ``YYYY[MM[DD]]``; answers
#: use the ISO form
PARTIAL_DATE = r"^(\d{4}(-\d{2}(-\d{2})?)?|\d{6}|\d{8})$"
Sex = Literal["M", "F", "O", "U", "A", "N"]


def to_hl7_date(value: str | None) -> str | None:
    return value.replace("-", "") if value else None


def from_hl7_date(value: str | None) -> str | None:
    if not value or not re.fullmatch(r"\d{4}(\d{2}(\d{2})?)?", value):
        return value or None
    return "-".join(p for p in (value[:4], value[4:6], value[6:8]) if p)


class Identifier(BaseModel):
    """A site's local patient ID and the OID of the authority that assigned it."""

    authority: str = Field(max_length=64, examples=["1.2.250.1.999.2.1"])
    local_id: str = Field(min_length=1, max_length=128, examples=["PAT-00042"])

    @field_validator("authority")
    @classmethod
    def _oid(cls, value: str) -> str:
        if not is_oid(value):
            raise ValueError("authority must be an ISO OID")
        return value

    @classmethod
    def of(cls, row: PatientIdentifier) -> Identifier:
        return cls(authority=row.authority, local_id=row.local_id)


class PatientIn(BaseModel):
    family_name: str | None = Field(default=None, max_length=128)
    given_name: str | None = Field(default=None, max_length=128)
    birth_date: str | None = Field(default=None, pattern=PARTIAL_DATE, examples=["1980-12-05"])
    sex: Sex | None = None
    #: local IDs to link; links not listed are kept (sites feed them too)
    identifiers: list[Identifier] = Field(default_factory=list, max_length=64)


class PatientOut(BaseModel):
    patient_id: str = Field(examples=["2801205123456^^^&1.2.250.1.213.1.4.10&ISO"])
    family_name: str | None
    given_name: str | None
    birth_date: str | None
    sex: str | None
    active: bool
    merged_into: str | None
    updated_at: datetime
    identifiers: list[Identifier]

    @classmethod
    def of(cls, patient: Patient, identifiers: list[PatientIdentifier]) -> PatientOut:
        return cls(
            patient_id=patient.patient_id,
            family_name=patient.family_name,
            given_name=patient.given_name,
            birth_date=from_hl7_date(patient.birth_date),
            sex=patient.sex,
            active=patient.active,
            merged_into=patient.merged_into,
            updated_at=patient.updated_at,
            identifiers=[Identifier.of(i) for i in identifiers],
        )


class CrossReference(BaseModel):
    authority: str
    local_id: str
    patient_id: str


class MergeIn(BaseModel):
    surviving: str = Field(max_length=256)
    subsumed: str = Field(max_length=256)


class MergeOut(BaseModel):
    surviving: str
    subsumed: str
    identifiers_moved: int
    objects_updated: int


class SiteIn(BaseModel):
    name: str = Field(min_length=1, max_length=256)
    repository_unique_id: str = Field(max_length=64, examples=["1.2.250.1.999.2.1.1"])
    rad69_url: str | None = Field(default=None, max_length=512, pattern=r"^https?://")
    wado_rs_url: str | None = Field(default=None, max_length=512, pattern=r"^https?://")
    client_id: str | None = Field(default=None, max_length=128)
    active: bool = True

    @field_validator("repository_unique_id")
    @classmethod
    def _oid(cls, value: str) -> str:
        if not is_oid(value):
            raise ValueError("repository_unique_id must be an ISO OID")
        return value


class SiteOut(BaseModel):
    oid: str
    name: str
    repository_unique_id: str
    rad69_url: str | None
    wado_rs_url: str | None
    client_id: str | None
    active: bool

    @classmethod
    def of(cls, site: Site) -> SiteOut:
        return cls(
            oid=site.oid,
            name=site.name,
            repository_unique_id=site.repository_unique_id,
            rad69_url=site.rad69_url,
            wado_rs_url=site.wado_rs_url,
            client_id=site.client_id,
            active=site.active,
        )
