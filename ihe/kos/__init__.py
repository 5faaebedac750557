"""XDS-I.b imaging manifests: the DICOM KOS (``Manifest``) and its XDS metadata (RAD-68).

Pure: the caller passes every UID, time and site setting; nothing here reads a clock, makes a
UID or touches the network.
"""

from ihe.kos.content import Device, Instance, Reference, RetrieveLocation, Series, Study
from ihe.kos.enum import (
    BODY_PART_REGIONS,
    FORMAT_CODE,
    KOS_SOP_CLASS_UID,
    MANIFEST_TITLE,
    MIME_TYPE,
    CodingScheme,
    ReferenceIdType,
)
from ihe.kos.messages import Manifest, differences
from ihe.kos.metadata import (
    ACQUISITION_MODALITIES,
    INSTANCE_COUNT_SLOT,
    SiteProfile,
    event_codes,
    manifest_submission,
    metadata_differences,
    reference_ids,
    service_start_time,
)

#: SOP Classes this package builds and reads.
SOP_CLASS_UIDS = {KOS_SOP_CLASS_UID}

__all__ = [
    "ACQUISITION_MODALITIES",
    "BODY_PART_REGIONS",
    "INSTANCE_COUNT_SLOT",
    "FORMAT_CODE",
    "KOS_SOP_CLASS_UID",
    "MANIFEST_TITLE",
    "MIME_TYPE",
    "SOP_CLASS_UIDS",
    "CodingScheme",
    "Device",
    "Instance",
    "Manifest",
    "Reference",
    "ReferenceIdType",
    "RetrieveLocation",
    "Series",
    "SiteProfile",
    "Study",
    "differences",
    "event_codes",
    "manifest_submission",
    "metadata_differences",
    "reference_ids",
    "service_start_time",
]
