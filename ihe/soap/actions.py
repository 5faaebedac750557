"""WS-Addressing actions, as the IHE WSDLs in ``schemas/wsdl`` define them."""

from enum import StrEnum


class Action(StrEnum):
    REGISTER = "urn:ihe:iti:2007:RegisterDocumentSet-b"
    REGISTER_RESPONSE = "urn:ihe:iti:2007:RegisterDocumentSet-bResponse"
    STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
    STORED_QUERY_RESPONSE = "urn:ihe:iti:2007:RegistryStoredQueryResponse"
    PROVIDE_AND_REGISTER = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
    PROVIDE_AND_REGISTER_RESPONSE = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
    RETRIEVE = "urn:ihe:iti:2007:RetrieveDocumentSet"
    RETRIEVE_RESPONSE = "urn:ihe:iti:2007:RetrieveDocumentSetResponse"
    UPDATE = "urn:ihe:iti:2010:UpdateDocumentSet"
    UPDATE_RESPONSE = "urn:ihe:iti:2010:UpdateDocumentSetResponse"
    RETRIEVE_IMAGING = "urn:ihe:rad:2009:RetrieveImagingDocumentSet"
    SOAP_FAULT = "http://www.w3.org/2005/08/addressing/soap/fault"


#: The response action of each request action.
RESPONSE_OF = {
    Action.REGISTER: Action.REGISTER_RESPONSE,
    Action.STORED_QUERY: Action.STORED_QUERY_RESPONSE,
    Action.PROVIDE_AND_REGISTER: Action.PROVIDE_AND_REGISTER_RESPONSE,
    Action.RETRIEVE: Action.RETRIEVE_RESPONSE,
    Action.UPDATE: Action.UPDATE_RESPONSE,
    Action.RETRIEVE_IMAGING: Action.RETRIEVE_RESPONSE,
}
