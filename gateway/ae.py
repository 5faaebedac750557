"""The gateway's Application Entity as an association acceptor: a Storage SCP (PS3.4 Annex B)
for the instances the PACS forwards and the sub-operations of our C-MOVEs, and a Verification
SCP (PS3.4 Annex A). Handlers come from ``gateway.handlers``, bound as 3-tuples."""

from __future__ import annotations

from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from gateway.core.config import GatewaySettings
from gateway.forwarding import Spool
from gateway.handlers import handle_echo, handle_store
from gateway.pacs.dimse import RETRIEVE_TRANSFER_SYNTAXES, MoveRouter, set_nodelay


def build_ae(settings: GatewaySettings) -> AE:
    """Every storage SOP class pynetdicom knows, in the transfer syntaxes we retrieve in."""
    ae = AE(ae_title=settings.ae_title)
    ae.maximum_pdu_size = settings.max_pdu
    ae.add_supported_context(Verification)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, list(RETRIEVE_TRANSFER_SYNTAXES))
    return ae


def scp_handlers(router: MoveRouter, spool: Spool) -> list[tuple[object, ...]]:
    return [
        (evt.EVT_CONN_OPEN, set_nodelay),
        (evt.EVT_C_ECHO, handle_echo),
        (evt.EVT_C_STORE, handle_store, [router, spool]),
    ]


def start_scp(
    settings: GatewaySettings, router: MoveRouter, spool: Spool, host: str = "127.0.0.1"
) -> ThreadedAssociationServer:
    """Listen on ``settings.dicom_port`` in the background; stop with ``shutdown()``."""
    ae = build_ae(settings)
    server = ae.start_server(
        (host, settings.dicom_port), block=False,
        evt_handlers=scp_handlers(router, spool),  # type: ignore[arg-type]
    )
    assert server is not None
    return server
