"""SOAP 1.2 envelopes with WS-Addressing, and SOAP faults."""

from ihe.soap.actions import Action
from ihe.soap.messages import Envelope, Fault

__all__ = ["Action", "Envelope", "Fault"]
