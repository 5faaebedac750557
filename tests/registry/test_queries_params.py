"""Decoding of stored-query slot values (ITI TF-2a §3.18.4.1.2.3.5)."""

from __future__ import annotations

import pytest

from ihe.ebrim import Slot
from ihe.errors import RemoteProtocolError
from registry.queries.params import Code, Parameters, parse_code, split_values


def test_quoted_list_and_doubled_quotes() -> None:
    assert split_values("('a', 'O''Brien','c,d')", "$p") == ["a", "O'Brien", "c,d"]


def test_unquoted_numbers_and_single_values() -> None:
    assert split_values("20040101", "$p") == ["20040101"]
    assert split_values("'pid^^^&1.2&ISO'", "$p") == ["pid^^^&1.2&ISO"]


def test_list_split_across_value_elements_is_one_list() -> None:
    """CP-ITI-295, NIST 11901 ``uuid_multiple_slot_values``."""
    params = Parameters([Slot("$uuid", ["('urn:uuid:1',", "'urn:uuid:2')", "('urn:uuid:3')"])])
    assert params.strings("$uuid") == ["urn:uuid:1", "urn:uuid:2", "urn:uuid:3"]


def test_unterminated_quote_is_a_registry_error() -> None:
    with pytest.raises(RemoteProtocolError) as err:
        split_values("('abc)", "$p")
    assert err.value.code == "XDSRegistryError"


def test_ce_codes() -> None:
    assert parse_code("R^^2.16.840.1.113883.5.25", "$p") == Code("R", "2.16.840.1.113883.5.25")


@pytest.mark.parametrize("value", ["Dialysis", "a^^", "^^1.2.3", "a^1.2"])
def test_codes_without_scheme_are_param_number_errors(value: str) -> None:
    """NIST 11897 ``old_scheme`` and ``classcode_scheme_mismatch``."""
    with pytest.raises(RemoteProtocolError) as err:
        parse_code(value, "$XDSDocumentEntryClassCode")
    assert err.value.code == "XDSStoredQueryParamNumber"


def test_single_valued_parameter_with_several_values() -> None:
    params = Parameters([Slot("$XDSDocumentEntryPatientId", ["('a','b')"])])
    with pytest.raises(RemoteProtocolError) as err:
        params.string("$XDSDocumentEntryPatientId")
    assert err.value.code == "XDSStoredQueryParamNumber"
    assert err.value.location == "$XDSDocumentEntryPatientId"


def test_missing_required_parameter() -> None:
    with pytest.raises(RemoteProtocolError) as err:
        Parameters([]).strings("$XDSDocumentEntryStatus", required=True)
    assert err.value.code == "XDSStoredQueryMissingParam"


def test_repeated_slots_are_and_groups_only_for_and_or_parameters() -> None:
    params = Parameters(
        [
            Slot("$XDSDocumentEntryEventCodeList", ["('a^^s1','b^^s1')"]),
            Slot("$XDSDocumentEntryEventCodeList", ["('c^^s2')"]),
            Slot("$XDSDocumentEntryClassCode", ["('a^^s')"]),
            Slot("$XDSDocumentEntryClassCode", ["('b^^s')"]),
        ]
    )
    assert params.code_groups("$XDSDocumentEntryEventCodeList") == [
        [Code("a", "s1"), Code("b", "s1")],
        [Code("c", "s2")],
    ]
    with pytest.raises(RemoteProtocolError) as err:
        params.code_groups("$XDSDocumentEntryClassCode")
    assert err.value.code == "XDSStoredQueryParamNumber"


def test_times_are_padded_and_checked() -> None:
    params = Parameters([Slot("$From", ["2004"]), Slot("$Bad", ["'yesterday'"])])
    assert params.time("$From") == "20040101000000"
    with pytest.raises(RemoteProtocolError):
        params.time("$Bad")


def test_one_of_alternatives() -> None:
    both = Parameters([Slot("$A", ["('x')"]), Slot("$B", ["('y')"])])
    with pytest.raises(RemoteProtocolError) as err:
        both.one_of("$A", "$B")
    assert err.value.code == "XDSStoredQueryParamNumber"
    with pytest.raises(RemoteProtocolError) as err:
        Parameters([]).one_of("$A", "$B")
    assert err.value.code == "XDSStoredQueryMissingParam"
    assert Parameters([Slot("$B", ["('y','z')"])]).one_of("$A", "$B") == ("$B", ["y", "z"])
    with pytest.raises(RemoteProtocolError):
        Parameters([Slot("$B", ["('y','z')"])]).single_of("$A", "$B")
