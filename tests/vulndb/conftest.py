from tests.vulndb.fixtures import pg_vulndb, vuln_engine

__all__ = ["pg_vulndb", "vuln_engine"]
