"""A free loopback port for a server a test starts."""

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on once this returns (the probe that took
    it is closed): the server the test starts next binds it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
