"""The portal's image path: a study's KOS manifest resolved (ITI-43) to its series and owning
gateway, the same-origin WADO-RS proxy, the DICOM zip download and the send to a local PACS.

``ImagingContext.open(settings)`` holds what these share (HTTP client, caches, jobs) for the
app's lifetime; the routes are in ``portal.api.routes.images``.
"""

from portal.imaging.context import ImagingContext, OpenStudy

__all__ = ["ImagingContext", "OpenStudy"]
