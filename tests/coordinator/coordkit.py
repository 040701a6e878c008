"""What the coordinator's tests share: the type of the ``coordinator`` fixture."""

from __future__ import annotations

from collections.abc import Callable

from transport.coordinator import Coordinator

MakeCoordinator = Callable[..., Coordinator]
