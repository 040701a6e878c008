"""What the coordinator's tests share: the type of the ``coordinator`` fixture, and a
campaign retried as a contender's loop retries it."""

from __future__ import annotations

from collections.abc import Callable

from transport.coordinator import Coordinator
from transport.etcd import EtcdUnavailable

MakeCoordinator = Callable[..., Coordinator]


def wins(coordinator: Coordinator, group: str, instance: str) -> bool:
    """One campaign: True when it won.  etcd not answering within the request timeout (a
    loaded machine) is a lost attempt, as for the actors, which campaign again."""
    try:
        return coordinator.campaign(group, instance, {}) is not None
    except EtcdUnavailable:
        return False
