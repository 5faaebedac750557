"""The local PACS behind one interface; DIMSE and DICOMweb adapters chosen per site."""

from gateway.pacs.base import (
    InstanceInfo,
    Pacs,
    PacsError,
    PacsUnavailable,
    SeriesInfo,
    StudyInfo,
)

__all__ = ["InstanceInfo", "Pacs", "PacsError", "PacsUnavailable", "SeriesInfo", "StudyInfo"]
