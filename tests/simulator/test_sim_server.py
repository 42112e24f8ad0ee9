"""running_simulator: starts on an ephemeral port, answers, and frees the port on exit."""

from __future__ import annotations

import socket

import httpx
import pytest

from botops.simulator import Simulator
from botops.simulator.server import running_simulator


def test_starts_serves_and_stops(clock):
    sim = Simulator(clock=clock)
    with running_simulator(sim) as base_url:
        host, port = base_url.removeprefix("http://").split(":")
        assert host == "127.0.0.1"
        assert int(port) > 0
        with httpx.Client(base_url=base_url) as http:
            assert http.get("/_sim/state").json()["groups"] == []
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection((host, int(port)), timeout=1),
    ):
        pass


def test_two_simulators_side_by_side(clock):
    with (
        running_simulator(Simulator(clock=clock)) as one,
        running_simulator(Simulator(clock=clock)) as two,
    ):
        assert one != two
