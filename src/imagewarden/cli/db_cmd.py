"""``imagewarden db import`` and ``imagewarden db status``: wiring only."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from imagewarden.cli.settings import resolve_db

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["register"]

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="sqlite:///PATH (default ./imagewarden.db) or postgresql://...; env IMAGEWARDEN_DB",
    ),
]


def _engine(db: str | None) -> Engine:
    from imagewarden.store.engine import make_engine
    from imagewarden.store.migrate import upgrade

    engine = make_engine(resolve_db(db))
    upgrade(engine, "heads")  # every branch: other features add revisions too
    return engine


def register(db_app: typer.Typer) -> None:
    """Add ``import`` and ``status`` to the ``db`` sub-app."""
    console = Console()
    err = Console(stderr=True)

    @db_app.command("import")
    def db_import(
        paths: Annotated[
            list[Path],
            typer.Argument(help="OSV JSON files, directories (recursive) or all.zip exports"),
        ],
        db: DbOpt = None,
        batch_size: Annotated[int, typer.Option(help="records per transaction")] = 1000,
    ) -> None:
        """Import OSV advisories; re-importing is idempotent, newer records replace older ones."""
        from imagewarden.store.advisories import SqlAdvisoryWriter
        from imagewarden.vulndb import VulnDbError, import_paths

        writer = SqlAdvisoryWriter(_engine(db))
        try:
            report = import_paths(paths, writer, batch_size=batch_size)
        except VulnDbError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        c = report.counts
        rate = report.records / report.seconds if report.seconds > 0 else float(report.records)
        console.print(
            f"read {report.records} record(s) in {report.seconds:.2f}s ({rate:.0f}/s): "
            f"{c.inserted} new, {c.updated} updated, {c.unchanged} unchanged, "
            f"{c.older} older than stored, {report.withdrawn} withdrawn, {report.invalid} invalid"
        )
        for e in report.errors:
            err.print(f"[yellow]invalid:[/yellow] {e}")
        if report.invalid:
            raise typer.Exit(1)

    @db_app.command("status")
    def db_status(db: DbOpt = None) -> None:
        """Advisory counts per ecosystem and the last import."""
        from imagewarden.store.advisories import SqlAdvisoryWriter

        st = SqlAdvisoryWriter(_engine(db)).status()
        table = Table("Ecosystem", "Advisories", "Matched")
        for e in st.ecosystems:
            table.add_row(e.ecosystem, str(e.advisories), "yes" if e.supported else "no (stored)")
        console.print(table)
        console.print(f"advisories: {st.advisories} ({st.withdrawn} withdrawn)")
        last = st.last_import
        if last is None:
            console.print("last import: never")
        else:
            c = last.counts
            console.print(
                f"last import: {last.finished_at.strftime('%Y-%m-%dT%H:%M:%SZ')} "
                f"from {', '.join(last.sources)}: {last.records} record(s), {c.inserted} new, "
                f"{c.updated} updated, {c.unchanged} unchanged, {last.invalid} invalid"
            )
