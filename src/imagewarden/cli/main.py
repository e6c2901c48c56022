"""The ``imagewarden`` command: wiring only, no business rules."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from imagewarden import __version__
from imagewarden.cli import agent_cmd, db_cmd, licences_cmd, rules, scan_cmd, worker_cmd
from imagewarden.cli.settings import Settings, resolve_db, resolve_key_file
from imagewarden.inventory.errors import InventoryError

if TYPE_CHECKING:
    from imagewarden.server import Runtime

app = typer.Typer(
    help="imagewarden: container-image security inventory (TCSS API compatible)",
    no_args_is_help=True,
)
keys_app = typer.Typer(
    help="API keys (SecretId/SecretKey pairs), one account each", no_args_is_help=True
)
db_app = typer.Typer(help="database schema and vulnerability data", no_args_is_help=True)
images_app = typer.Typer(help="image inventory maintenance", no_args_is_help=True)
demo_app = typer.Typer(help="the demo inventory", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(images_app, name="images")
app.add_typer(demo_app, name="demo")
app.add_typer(rules.app, name="rules")
app.add_typer(licences_cmd.app, name="licences")

console = Console()
err_console = Console(stderr=True)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="sqlite:///PATH (default ./imagewarden.db) or postgresql://...; env IMAGEWARDEN_DB",
    ),
]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file", help="server key file encrypting API keys; env IMAGEWARDEN_KEY_FILE"
    ),
]
AccountOpt = Annotated[str, typer.Option("--account", help="account name")]


def _runtime(db: str | None, key_file: Path | None) -> Runtime:
    # the server stack (SQLAlchemy, the API) is imported on first use, so that commands
    # which never touch the database (`scan`, `version`) start quickly
    from imagewarden.server import open_runtime

    url = resolve_db(db)
    return open_runtime(url, resolve_key_file(key_file, url))


def _fail(exc: Exception) -> None:
    err_console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(2)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8080,
    db: DbOpt = None,
    key_file: KeyFileOpt = None,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    rate_limits: Annotated[
        bool,
        typer.Option(
            "--rate-limits/--no-rate-limits", help="per-account action rate limits (20/s, as TCSS)"
        ),
    ] = True,
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
    scan_workers: Annotated[
        int, typer.Option("--scan-workers", help="scan worker threads per server process (0: none)")
    ] = 1,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="per-layer analysis cache for scans")
    ] = None,
    rules_dir: Annotated[
        Path | None,
        typer.Option(
            "--rules-dir",
            help="operator YARA rules (`imagewarden rules add`); env IMAGEWARDEN_RULES_DIR",
        ),
    ] = None,
    clamd: Annotated[
        str | None,
        typer.Option("--clamd", help="ClamAV daemon: unix:///PATH or tcp://HOST:PORT (optional)"),
    ] = None,
    queue: worker_cmd.QueueUrlOpt = None,
    queue_name: worker_cmd.QueueNameOpt = worker_cmd.DEFAULT_QUEUE_NAME,
    pull_registry: Annotated[
        list[str] | None,
        typer.Option(
            "--pull-registry",
            help="registry HOST[:PORT] the server may pull reported images from (by their "
            "repo digest) when no source was recorded; repeatable; default none",
        ),
    ] = None,
) -> None:
    """Serve the TCSS-compatible API on http://HOST:PORT/ (and run scan tasks)."""
    import uvicorn

    from imagewarden.cli import serve as serve_mod

    url = resolve_db(db)
    settings = Settings(
        url, resolve_key_file(key_file, url), host, port, workers, rate_limits, log_level
    )
    _runtime(settings.db_url, settings.key_file)  # migrate once, create the server key if missing
    os.environ[serve_mod.ENV_DB] = settings.db_url
    os.environ[serve_mod.ENV_KEY] = str(settings.key_file.resolve())
    os.environ[serve_mod.ENV_RATE] = "1" if settings.rate_limits else "0"
    os.environ[serve_mod.ENV_SCAN_WORKERS] = str(max(0, scan_workers))
    worker_cmd.export_queue(queue, queue_name)  # with a queue, `imagewarden worker`s scan
    if cache_dir is not None:
        os.environ[serve_mod.ENV_CACHE] = str(cache_dir.resolve())
    if rules_dir is not None:
        os.environ["IMAGEWARDEN_RULES_DIR"] = str(rules_dir.resolve())
    if clamd:
        os.environ[serve_mod.ENV_CLAMD] = clamd
    if pull_registry:
        os.environ[serve_mod.ENV_PULL] = ",".join(pull_registry)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    uvicorn.run(
        "imagewarden.cli.serve:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
    )


@keys_app.command("create")
def keys_create(
    account: AccountOpt = "default",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    db: DbOpt = None,
    key_file: KeyFileOpt = None,
) -> None:
    """Create a key for ACCOUNT (created if new). The SecretKey is shown only now."""
    try:
        secret_id, secret_key, account_id = _runtime(db, key_file).service.create_key(account)
    except InventoryError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "SecretId": secret_id,
                    "SecretKey": secret_key,
                    "Account": account,
                    "AccountId": account_id,
                }
            )
        )
    else:
        console.print(f"Account:   {account}\nSecretId:  {secret_id}\nSecretKey: {secret_key}")


@keys_app.command("list")
def keys_list(db: DbOpt = None, key_file: KeyFileOpt = None) -> None:
    """List keys (never their secrets): a table on a terminal, tab-separated lines otherwise."""
    keys = _runtime(db, key_file).service.list_keys()
    if not console.is_terminal:
        for k in keys:
            typer.echo(
                f"{k.secret_id}\t{k.account}\t{'enabled' if k.enabled else 'disabled'}\t{k.created_at.isoformat()}Z"
            )
        return
    table = Table("SecretId", "Account", "Enabled", "Created (UTC)")
    for k in keys:
        table.add_row(
            k.secret_id, k.account, "yes" if k.enabled else "no", k.created_at.isoformat()
        )
    console.print(table)


@keys_app.command("disable")
def keys_disable(secret_id: str, db: DbOpt = None, key_file: KeyFileOpt = None) -> None:
    """Disable a key: requests signed with it fail with AuthFailure.SecretIdNotFound."""
    try:
        _runtime(db, key_file).service.disable_key(secret_id)
    except InventoryError as exc:
        _fail(exc)
    console.print(f"disabled {secret_id}")


@keys_app.command("rotate-server-key")
def keys_rotate_server_key(db: DbOpt = None, key_file: KeyFileOpt = None) -> None:
    """Re-encrypt every API key with a new server key and delete the old one (see SECURITY.md)."""
    from imagewarden.inventory.keys import KeyRotationError, rotate_server_key
    from imagewarden.store.engine import make_sessionmaker

    url = resolve_db(db)
    path = resolve_key_file(key_file, url)
    if not path.exists():
        _fail(FileNotFoundError(f"server key file {path} does not exist"))
    rt = _runtime(url, path)
    try:
        n = rotate_server_key(make_sessionmaker(rt.engine), path)
    except KeyRotationError as exc:
        _fail(exc)
        return
    finally:
        rt.engine.dispose()
    console.print(
        f"re-encrypted {n} API key(s) with a new server key in {path}; the old key is gone "
        "(running servers pick the new key up by themselves)"
    )


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = None, key_file: KeyFileOpt = None) -> None:
    """Create or migrate the schema (Alembic) to the latest revision."""
    _runtime(db, key_file)
    console.print("schema is up to date")


@db_app.command("rematch")
def db_rematch(
    db: DbOpt = None,
    key_file: KeyFileOpt = None,
    vulndb: Annotated[
        str | None, typer.Option("--vulndb", help="database holding the advisories (default: --db)")
    ] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="only this account (default: all)")
    ] = None,
) -> None:
    """Match every finished scan's stored components against the current advisories again
    (after `db import`), without reading any image: new findings, counts and ScanTime."""
    from imagewarden.inventory.service import utcnow
    from imagewarden.jobs.rematch import rematch
    from imagewarden.scan.detect.vulns import VulnerabilityDetector
    from imagewarden.vulndb import open_store
    from imagewarden.vulndb.cache import MemoIndex

    rt = _runtime(db, key_file)
    index, _ = open_store(vulndb or rt.db_url)
    acct = None if account is None else rt.service.account_id(account)
    out = rematch(
        rt.service,
        VulnerabilityDetector(MemoIndex(index, known=index.keys())),
        utcnow,
        account_id=acct,
    )
    rate = out.images / out.seconds if out.seconds else 0.0
    console.print(
        f"re-matched {out.images} image(s) in {out.seconds:.2f} s ({rate:.0f} images/s); "
        f"findings changed on {out.changed}"
    )


def _images_account(rt: Runtime, account: str) -> int:
    return rt.service.account_id(account)


@images_app.command("trust")
def images_trust(
    images: list[str],
    account: AccountOpt = "default",
    db: DbOpt = None,
    key_file: KeyFileOpt = None,
) -> None:
    """Mark images (by ID or repo:tag) as trusted (IsTrustImage)."""
    rt = _runtime(db, key_file)
    try:
        n = rt.service.set_trust(_images_account(rt, account), images, True)
    except InventoryError as exc:
        _fail(exc)
        return
    console.print(f"trusted {n} image(s)")


@images_app.command("untrust")
def images_untrust(
    images: list[str],
    account: AccountOpt = "default",
    db: DbOpt = None,
    key_file: KeyFileOpt = None,
) -> None:
    """Remove images from the trust list."""
    rt = _runtime(db, key_file)
    try:
        n = rt.service.set_trust(_images_account(rt, account), images, False)
    except InventoryError as exc:
        _fail(exc)
        return
    console.print(f"untrusted {n} image(s)")


def _register_sources(
    rt: Runtime, account_id: int, sources: list[str]
) -> tuple[list[tuple[str, str]], int]:
    """Read each source's manifest and config and add the image to the inventory with its
    source recorded; returns the (source, image ID) pairs and how many sources failed."""
    from imagewarden.inventory.models import ImageReport, parse_time
    from imagewarden.scan.errors import ScanError
    from imagewarden.scan.source import open_source

    out: list[tuple[str, str]] = []
    failed = 0
    for ref in sources:
        try:
            src = open_source(ref)
            try:
                manifest, config = src.manifest(), src.config()
                size = sum(layer.size for layer in src.layers())
            finally:
                src.close()
            created = parse_time(config.created, "created") if config.created else None
        except (ScanError, InventoryError) as exc:
            err_console.print(f"[red]{ref}: {exc}[/red]")
            failed += 1
            continue
        report = ImageReport(
            image_id=config.digest,
            repo_tags=manifest.repo_tags,
            repo_digests=manifest.repo_digests,
            size=size,
            create_time=created,
            architecture=config.architecture,
        )
        rt.service.register_image(account_id, report, ref)
        out.append((ref, config.digest))
    return out, failed


@images_app.command("add")
def images_add(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="oci:DIR, oci-archive:FILE, docker-archive:FILE or registry:HOST/REPO:TAG"
        ),
    ],
    account: AccountOpt = "default",
    db: DbOpt = None,
    key_file: KeyFileOpt = None,
) -> None:
    """Add images to ACCOUNT's inventory with their source, without scanning them now
    (CreateAssetImageScanTask scans them later). Exit 1 if a source cannot be read."""
    rt = _runtime(db, key_file)
    added, failed = _register_sources(rt, rt.service.account_id(account), sources)
    for ref, image_id in added:
        console.print(f"added {image_id} from {ref}")
    if failed:
        raise typer.Exit(1)


@images_app.command("scan")
def images_scan(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="oci:DIR, oci-archive:FILE, docker-archive:FILE or registry:HOST/REPO:TAG"
        ),
    ],
    account: AccountOpt = "default",
    db: DbOpt = None,
    key_file: KeyFileOpt = None,
    vulndb: Annotated[
        str | None,
        typer.Option("--vulndb", help="database holding the imported advisories (default: --db)"),
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="per-layer analysis cache")
    ] = None,
    clamd: Annotated[
        str | None,
        typer.Option("--clamd", help="ClamAV daemon: unix:///PATH or tcp://HOST:PORT (optional)"),
    ] = None,
) -> None:
    """Scan images and store the results in ACCOUNT's inventory (what DescribeAssetImageList shows).

    Each image is added to the inventory if no host reported it yet (HostCnt 0), with the
    source recorded so it can be scanned again. Exit 1 if any image could not be scanned.
    """
    from datetime import timedelta

    from imagewarden.cli.rules import resolve_rules_dir
    from imagewarden.inventory.service import utcnow
    from imagewarden.jobs.models import JobState, ScanRequest
    from imagewarden.jobs.scanning import make_scan_fn
    from imagewarden.jobs.worker import InventoryHooks, Worker
    from imagewarden.server import scanner_config

    rt = _runtime(db, key_file)
    svc = rt.service
    acct = svc.account_id(account)
    queue = rt.queue
    registered, failed = _register_sources(rt, acct, sources)
    worker_name = f"cli-{os.getpid()}"
    # created leased to this process: a server's workers on the same database leave them
    # alone, so this command's scanner settings (--vulndb, --clamd, ...) are the ones used
    claimed = queue.enqueue_claimed(
        [ScanRequest(acct, image_id, ref) for ref, image_id in registered],
        worker_name,
        timedelta(seconds=60),
    )
    jobs = {job.job_id: job.request.image_id for job in claimed}
    config = scanner_config(
        rt,
        cache_dir=cache_dir,
        rules_dir=resolve_rules_dir(None, db),
        clamd=clamd,
        vulndb_url=vulndb or rt.engine.url.render_as_string(hide_password=False),
    )
    scan_fn = make_scan_fn(config, utcnow)
    worker = Worker(
        queue,
        scan_fn,
        InventoryHooks(svc.mark_scanning, svc.restore_status, svc.record_scan),
        name=worker_name,
    )
    for job in claimed:
        worker.process(job)
    table = Table("Image", "Status", "OS", "Components", "Vulnerabilities (C/H/M/L)", "Error")
    from imagewarden.inventory.filters import build_image_query

    for job_id, image_id in jobs.items():
        state, error = queue.state(job_id)
        rows, _ = svc.list_images(
            acct,
            build_image_query(
                [("ImageID", [image_id], True)], by=None, order=None, limit=1, offset=0
            ),
        )
        r = rows[0]
        if state is not JobState.DONE:
            failed += 1
        table.add_row(
            f"{r.image_name}\n{image_id[:19]}",
            r.scan_status,
            r.os_name,
            str(r.component_cnt),
            f"{r.vul_cnt} ({r.critical_level_vul_cnt}/{r.high_level_vul_cnt}/{r.medium_level_vul_cnt}/{r.low_level_vul_cnt})",
            r.scan_error or r.scan_vul_error or error,
        )
    console.print(table)
    if failed:
        raise typer.Exit(1)


@images_app.command("prune")
def images_prune(
    account: Annotated[str | None, typer.Option("--account", help="only this account")] = None,
    db: DbOpt = None,
    key_file: KeyFileOpt = None,
) -> None:
    """Delete images that no host holds or runs any more (HostCnt 0)."""
    rt = _runtime(db, key_file)
    n = rt.service.prune_images(None if account is None else _images_account(rt, account))
    console.print(f"pruned {n} image(s)")


@demo_app.command("seed")
def demo_seed(
    db: DbOpt = None,
    key_file: KeyFileOpt = None,
    endpoint: Annotated[
        str, typer.Option(help="endpoint printed in the tccli example")
    ] = "http://127.0.0.1:8080",
) -> None:
    """Seed the labelled demo inventory (account 'demo') and print a key and a tccli command."""
    from imagewarden.demo import DEMO_ACCOUNT, seed_demo

    rt = _runtime(db, key_file)
    seed_demo(rt.service)
    demo_keys = [k for k in rt.service.list_keys() if k.account == DEMO_ACCOUNT and k.enabled]
    if demo_keys:
        cred = rt.service.credential(demo_keys[0].secret_id)
        assert cred is not None
        secret_id, secret_key = cred.secret_id, cred.secret_key
    else:
        secret_id, secret_key, _ = rt.service.create_key(DEMO_ACCOUNT)
    console.print(
        "[bold]Demo inventory[/bold] (account 'demo': 3 hosts demo-node-*, 8 images demo.imagewarden.local/*)\n"
        f"SecretId:  {secret_id}\nSecretKey: {secret_key}\n\nTry it:\n"
        f"  .venv/bin/tccli tcss DescribeAssetImageList --endpoint {endpoint} --region ap-guangzhou "
        f"--secretId {secret_id} --secretKey {secret_key} --Limit 5",
        soft_wrap=True,
    )


scan_cmd.register(app)
db_cmd.register(db_app)
rules.register(db_app)
agent_cmd.register(app)
worker_cmd.register(app)
