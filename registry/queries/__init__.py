"""ITI-18 Registry Stored Query: every stored query of XDS.b as SQL on indexed columns.

``run(session, request, max_results)`` answers an ``AdhocQueryRequest`` with the objects of
the response, or raises ``RemoteProtocolError`` with the ITI-18 error code.
"""

from registry.queries.catalog import QUERIES, QUERY_IDS, StoredQuery, run

__all__ = ["QUERIES", "QUERY_IDS", "StoredQuery", "run"]
