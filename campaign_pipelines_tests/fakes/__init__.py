"""Strict loopback fakes of the outside services: real HTTP servers on 127.0.0.1 that refuse
what the real service would refuse and keep what it would keep."""
