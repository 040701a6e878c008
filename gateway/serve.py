"""``bourse run gateway``: uvicorn (uvloop, httptools) serving the gateway app.

Invariants: listens on the config's gateway address and port with ``gateway.workers``
processes; with more than one, each worker builds the app itself from ``$BOURSE_CONFIG``
(an import-string factory), so no socket or context crosses a fork.  Every connection
is a :class:`~gateway.http_protocol.BoundedHttpProtocol` with the config's limits, and
a worker never holds more connections than its file descriptors allow (the soft limit
is raised to the hard one; ``gateway.max_connections`` is lowered, with a warning, when
even that is short).  Logs stay the process's JSON lines at warning level; there is no
access log.
"""

from __future__ import annotations

import functools
import os

import uvicorn

from bourse.config import Config
from bourse.fdlimit import connections_allowed
from gateway.actors import gateway_security
from gateway.app import CONFIG_ENV, asgi_app
from gateway.http_protocol import BoundedHttpProtocol, ConnectionLimits


def serve(config: Config) -> int:
    gateway_security(config)  # a missing or unreadable key stops the start, naming the file
    endpoint = config.gateway
    gateway = config.raw.gateway
    allowed = connections_allowed(gateway.max_connections, "gateway.max_connections")
    limits = ConnectionLimits.of(config, allowed)
    options: dict[str, object] = {
        "host": endpoint.address,
        "port": endpoint.port,
        "loop": "uvloop",
        "http": functools.partial(BoundedHttpProtocol, limits=limits),
        "ws": "none",
        "lifespan": "on",
        "log_level": "warning",
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "proxy_headers": False,
        "timeout_keep_alive": gateway.keepalive_timeout_ms / 1000,
    }
    workers = gateway.workers
    if workers > 1:
        os.environ[CONFIG_ENV] = str(config.path.resolve())
        uvicorn.run("gateway.app:app_from_env", factory=True, workers=workers, **options)  # type: ignore[arg-type]
    else:
        uvicorn.run(asgi_app(config), **options)  # type: ignore[arg-type]
    return 0
