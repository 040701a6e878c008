"""The trading screen: the UI's built files (``ui/dist``) at ``/``.

Invariants: ``/`` answers the build's ``index.html`` and ``/assets/...`` its files,
read from disk on each request so a rebuild shows without a restart; while there is no
build, ``/`` answers a small page saying so and linking the API document.  Nothing here
shadows ``/api`` or ``/schema``.
"""

from __future__ import annotations

from pathlib import Path

from litestar import MediaType, Response, Router, get
from litestar.static_files import create_static_files_router

UI_DIST = Path(__file__).resolve().parents[2] / "ui" / "dist"

NOT_BUILT = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bourse</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto">
<h1>Bourse</h1>
<p>The trading screen is not built: run <code>npm run build</code> in <code>ui/</code>.</p>
<p>The REST API is up: see its <a href="/schema">OpenAPI document</a>.</p>
</body></html>
"""


def ui_router(dist: Path = UI_DIST) -> Router:
    @get("/", include_in_schema=False, media_type=MediaType.HTML, sync_to_thread=False)
    def index() -> Response[bytes]:
        try:
            page = (dist / "index.html").read_bytes()
        except OSError:
            page = NOT_BUILT
        return Response(page, media_type=MediaType.HTML, headers={"cache-control": "no-cache"})

    assets = create_static_files_router(
        path="/assets", directories=[dist / "assets"], include_in_schema=False, name="ui-assets"
    )
    return Router(path="/", route_handlers=[index, assets], include_in_schema=False)
