"""The written description of what the OpenAPI document cannot say (``docs/api.md``):
order entry over WebSocket, API key scopes, paging through history.

Invariants: ``/docs/api`` answers the file as Markdown text, read from disk on each
request (the page the OpenAPI document links to); it is not part of that document.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Response, get

from gateway.errors import error_response

DOCS_PATH = "/docs/api"
API_NOTES = Path(__file__).resolve().parents[2] / "docs" / "api.md"


@get(DOCS_PATH, include_in_schema=False, sync_to_thread=False)
def api_notes() -> Response[bytes]:
    try:
        text = API_NOTES.read_bytes()
    except OSError:
        return error_response(404, "NOT_FOUND", "the API notes are not installed here")
    return Response(text, media_type="text/markdown; charset=utf-8")
