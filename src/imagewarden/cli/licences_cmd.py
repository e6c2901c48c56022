"""``imagewarden licences``: the operator's side of image licences (wiring only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from imagewarden.inventory.errors import InventoryError

app = typer.Typer(
    help="image licences: how many images of an account are scanned", no_args_is_help=True
)
console = Console()
err_console = Console(stderr=True)

AccountOpt = Annotated[str, typer.Option("--account", help="account name")]
DbOpt = Annotated[str | None, typer.Option("--db", help="sqlite:///PATH or postgresql://...")]
KeyFileOpt = Annotated[Path | None, typer.Option("--key-file", help="server key file")]


def _service(db: str | None, key_file: Path | None):  # type: ignore[no-untyped-def]
    from imagewarden.cli.main import _runtime
    from imagewarden.inventory.licences import LicenceService
    from imagewarden.inventory.service import utcnow
    from imagewarden.store.engine import make_sessionmaker

    rt = _runtime(db, key_file)
    return rt, LicenceService(make_sessionmaker(rt.engine), utcnow)


@app.command("set")
def licences_set(
    count: Annotated[int, typer.Option("--count", help="licences (images that may be scanned)")],
    account: AccountOpt = "default",
    db: DbOpt = None,
    key_file: KeyFileOpt = None,
) -> None:
    """Set an account's licence quota; lowering it revokes the newest licences first."""
    rt, lic = _service(db, key_file)
    try:
        revoked = lic.set_total(rt.service.account_id(account), count)
    except InventoryError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    msg = f"account {account}: {count} licence(s)"
    console.print(msg + (f", {revoked} revoked" if revoked else ""))


@app.command("show")
def licences_show(
    account: AccountOpt = "default", db: DbOpt = None, key_file: KeyFileOpt = None
) -> None:
    """Print the quota and how many licences are in use."""
    rt, lic = _service(db, key_file)
    i = lic.info(rt.service.account_id(account))
    console.print(
        f"account {account}: {i.used} of {i.total} licence(s) used, {i.unauthorised} image(s) unauthorised"
    )


@app.command("revoke")
def licences_revoke(
    images: list[str],
    account: AccountOpt = "default",
    db: DbOpt = None,
    key_file: KeyFileOpt = None,
) -> None:
    """Take the licence of images (by ID); they are no longer scanned."""
    rt, lic = _service(db, key_file)
    try:
        n = lic.revoke(rt.service.account_id(account), images)
    except InventoryError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"revoked {n} licence(s)")
