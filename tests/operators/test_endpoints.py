"""Which address a process dials: the local socket on its own host, tcp elsewhere."""

from __future__ import annotations

import pytest

from bourse.config import LOCAL_HOST_ENV, Endpoint, run_on_host


def test_a_process_reaches_its_own_hosts_processes_locally_and_the_others_by_tcp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(LOCAL_HOST_ENV, "")  # so that the variable is restored afterwards
    here = Endpoint(host="match-a", address="127.0.0.2", port=7001)
    there = Endpoint(host="engines", address="127.0.0.4", port=7001)
    assert here.connect == "tcp://127.0.0.2:7001", "a process that names no host uses tcp"

    run_on_host("match-a")
    assert here.connect == "ipc://@bourse-127.0.0.2:7001"
    assert there.connect == "tcp://127.0.0.4:7001"
    assert here.binds == ("tcp://127.0.0.2:7001", "ipc://@bourse-127.0.0.2:7001")
    assert here.local != there.local, "one host's local names never meet another's"
