"""Hardening tests reuse the e2e server (a real process per store kind) where sharing is safe."""

from tests.e2e.conftest import pg_e2e_database, server

__all__ = ["pg_e2e_database", "server"]
