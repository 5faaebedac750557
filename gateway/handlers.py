"""Event handlers of the gateway's DICOM side, pynetdicom style: plain ``handle_x(event, *deps)``
functions bound as ``(evt.EVT_X, handle_x, [deps])`` (see ``gateway.ae``). Intervention handlers
return a status; any exception becomes a failure status, never a crash or a false success."""

from __future__ import annotations

import logging
from io import BytesIO

from pydicom import dcmread
from pynetdicom import evt

from gateway.forwarding import Spool
from gateway.pacs.dimse import MoveRouter, check_uid

LOGGER = logging.getLogger(__name__)

#: C-STORE statuses (PS3.4 B.2.3; 0xA7xx and 0xC211 are pynetdicom's "out of resources" and
#: "unable to process" failures)
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000
UNABLE_TO_PROCESS = 0xC211


def handle_echo(event: evt.Event) -> int:
    """EVT_C_ECHO (PS3.4 A.4): the gateway is up."""
    return SUCCESS


def handle_store(event: evt.Event, router: MoveRouter, spool: Spool) -> int:
    """EVT_C_STORE (PS3.4 B.2.2). A sub-operation of one of our C-MOVEs (PS3.7 9.1.1.1, Move
    Originator AE Title and Message ID) goes to the retrieve waiting for it, blocking while its
    consumer is slow; any other instance was forwarded by the PACS and is spooled.

    Statuses: 0x0000 stored; 0xA700 a move of ours nobody waits for any more; 0xC000 the dataset
    lacks its UIDs; 0xC211 anything else went wrong."""
    try:
        request = event.request
        originator = request.MoveOriginatorApplicationEntityTitle
        msg_id = request.MoveOriginatorMessageID
        queue = router.queue_for(originator, msg_id)
        if queue is not None:
            return SUCCESS if queue.put(event.encoded_dataset(include_meta=True)) else (
                OUT_OF_RESOURCES)
        if msg_id is not None and router.is_ours(originator):
            LOGGER.warning("C-STORE for C-MOVE %s, which is no longer waited for", msg_id)
            return OUT_OF_RESOURCES
        data = event.encoded_dataset(include_meta=True)
        header = dcmread(BytesIO(data), stop_before_pixels=True,
                         specific_tags=["StudyInstanceUID", "SOPInstanceUID"])
        study_uid = str(header.get("StudyInstanceUID", ""))
        sop_uid = str(request.AffectedSOPInstanceUID or "")
        try:
            check_uid(study_uid)
            check_uid(sop_uid)
        except ValueError:
            LOGGER.warning("C-STORE without valid Study/SOP Instance UIDs refused")
            return CANNOT_UNDERSTAND
        spool.store(study_uid, sop_uid, data)
        return SUCCESS
    except Exception:
        LOGGER.exception("C-STORE failed")
        return UNABLE_TO_PROCESS
