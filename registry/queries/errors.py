"""The ITI-18 error codes (ITI TF-3 Table 4.2.4.1-2) and a shorthand to raise them.

Errors are ``RemoteProtocolError``s: the route turns any of them into an AdhocQueryResponse
with status Failure and one RegistryError carrying the code and, as location, the parameter.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NoReturn

from ihe.errors import RemoteProtocolError


class QueryError(StrEnum):
    UNKNOWN_QUERY = "XDSUnknownStoredQuery"
    MISSING_PARAM = "XDSStoredQueryMissingParam"
    PARAM_NUMBER = "XDSStoredQueryParamNumber"
    NOT_SINGLE_PATIENT = "XDSResultNotSinglePatient"
    TOO_MANY_RESULTS = "XDSTooManyResults"
    REGISTRY_ERROR = "XDSRegistryError"


def fail(code: QueryError, message: str, parameter: str = "") -> NoReturn:
    raise RemoteProtocolError(message, code.value, parameter)
