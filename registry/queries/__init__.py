"""ITI-18 Registry Stored Query: every stored query of XDS.b as SQL on indexed columns.

``run(session, request, max_results)`` answers an ``AdhocQueryRequest`` with the objects of
the response, or raises ``RemoteProtocolError`` with the ITI-18 error code; ``run_answer``
answers with an ``Answer`` whose LeafClass objects can be written from their stored XML.
"""

from registry.queries.catalog import QUERIES, QUERY_IDS, StoredQuery, run, run_answer

__all__ = ["QUERIES", "QUERY_IDS", "StoredQuery", "run", "run_answer"]
