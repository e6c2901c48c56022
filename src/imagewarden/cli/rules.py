"""``imagewarden rules add|list|remove`` and ``imagewarden db import-hashes``: wiring only.

Operator YARA rules live in one rules directory per server (``--rules-dir``, env
``IMAGEWARDEN_RULES_DIR``, default ``<sqlite db file>.rules`` or ``./imagewarden-rules``),
one sub-directory per rule set added.  ``rules add DIR`` compiles DIR's rules together with
everything already installed before copying anything, so a broken rule never reaches the
scanners.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from imagewarden.cli.settings import resolve_db

__all__ = ["app", "register", "resolve_rules_dir"]

RULES_ENV = "IMAGEWARDEN_RULES_DIR"

app = typer.Typer(
    help="malware YARA rules: the shipped set and operator rule sets", no_args_is_help=True
)
console = Console()
err_console = Console(stderr=True)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="sqlite:///PATH (default ./imagewarden.db) or postgresql://...; env IMAGEWARDEN_DB",
    ),
]
RulesDirOpt = Annotated[
    Path | None,
    typer.Option("--rules-dir", help=f"operator rules directory of the server; env {RULES_ENV}"),
]


def resolve_rules_dir(flag: Path | None, db: str | None = None) -> Path:
    """Flag, else ``IMAGEWARDEN_RULES_DIR``, else ``<db file>.rules`` (SQLite) or
    ``./imagewarden-rules``."""
    if flag is not None:
        return flag
    env = os.environ.get(RULES_ENV)
    if env:
        return Path(env)
    from sqlalchemy.engine import make_url  # lazily: `imagewarden scan` starts without it

    url = make_url(resolve_db(db))
    if url.drivername.startswith("sqlite") and url.database and url.database != ":memory:":
        return Path(url.database + ".rules")
    return Path("imagewarden-rules")


def _fail(message: str) -> None:
    err_console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(2)


@app.command("add")
def rules_add(
    source: Annotated[Path, typer.Argument(help="directory of *.yar / *.yara files")],
    name: Annotated[
        str | None, typer.Option("--name", help="rule set name (default: the directory's name)")
    ] = None,
    rules_dir: RulesDirOpt = None,
    db: DbOpt = None,
) -> None:
    """Validate SOURCE's rules (they must compile with all installed rules) and install
    them as rule set NAME, replacing a set of that name."""
    from imagewarden.scan.malware.errors import RuleError
    from imagewarden.scan.malware.rules import RuleSet, builtin_sources, directory_sources

    root = resolve_rules_dir(rules_dir, db)
    set_name = name or source.resolve().name
    if not set_name or set_name.startswith(".") or "/" in set_name or set_name == "builtin":
        _fail(f"invalid rule set name {set_name!r}")
    try:
        new = directory_sources(source, prefix=f"{set_name}/")
        if not new:
            _fail(f"{source}: no *.yar or *.yara files")
        others = (
            tuple(s for s in directory_sources(root) if not s.namespace.startswith(f"{set_name}/"))
            if root.is_dir()
            else ()
        )
        rule_set = RuleSet((*builtin_sources(), *others, *new))
    except RuleError as exc:
        _fail(str(exc))
        return
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{set_name}.", dir=root))
    for s in new:
        target = staging / s.namespace.removeprefix(f"{set_name}/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(s.text, encoding="utf-8")
    dest = root / set_name
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)
    console.print(
        f"installed {len(new)} file(s) as rule set {set_name!r} in {root}; "
        f"{len(rule_set.rule_names())} rules in total, rules digest {rule_set.digest[:16]}"
    )


@app.command("list")
def rules_list(rules_dir: RulesDirOpt = None, db: DbOpt = None) -> None:
    """The shipped rules and every installed operator rule file (compiled to check them)."""
    import yara

    from imagewarden.scan.malware.errors import RuleError
    from imagewarden.scan.malware.rules import (
        EXTERNALS,
        builtin_sources,
        directory_sources,
        load_rules,
    )

    root = resolve_rules_dir(rules_dir, db)
    try:
        sources = (*builtin_sources(), *(directory_sources(root) if root.is_dir() else ()))
        total = load_rules([root] if root.is_dir() else [])
    except RuleError as exc:
        _fail(str(exc))
        return
    table = Table("Rule set", "File", "Rules")
    for s in sources:
        rules = yara.compile(source=s.text, externals=EXTERNALS, includes=False)
        ids = ", ".join(r.identifier for r in rules)
        set_name, _, file = s.namespace.partition("/")
        table.add_row(set_name, file, ids)
    console.print(table)
    console.print(
        f"rules directory: {root}\n{len(total.rule_names())} rules, digest {total.digest[:16]}"
    )


@app.command("remove")
def rules_remove(
    name: Annotated[str, typer.Argument(help="rule set name")],
    rules_dir: RulesDirOpt = None,
    db: DbOpt = None,
) -> None:
    """Remove an installed operator rule set."""
    root = resolve_rules_dir(rules_dir, db)
    dest = root / name
    if "/" in name or name.startswith(".") or not dest.is_dir():
        _fail(f"no rule set {name!r} in {root}")
    shutil.rmtree(dest)
    console.print(f"removed rule set {name!r}")


def register(db_app: typer.Typer) -> None:
    """Add ``import-hashes`` to the ``db`` sub-app."""

    @db_app.command("import-hashes")
    def db_import_hashes(
        path: Annotated[Path, typer.Argument(help="md5/sha1/sha256 list: text, CSV or .hdb")],
        db: DbOpt = None,
    ) -> None:
        """Add a hash list to the malware blocklist (idempotent; a changed name is updated).
        Exit 1 if some lines held no hash (they are listed)."""
        from imagewarden.cli.db_cmd import _engine
        from imagewarden.scan.malware.errors import HashListError
        from imagewarden.scan.malware.hashlist import read_hash_list
        from imagewarden.store.hashes import SqlHashStore

        try:
            parsed = read_hash_list(path)
        except HashListError as exc:
            _fail(str(exc))
            return
        engine = _engine(db)
        try:
            store = SqlHashStore(engine)
            c = store.import_entries(
                ((e.algo.value, e.digest, e.name or path.name, e.size) for e in parsed.entries),
                source=path.name,
            )
            total = store.counts()
        finally:
            engine.dispose()
        console.print(
            f"read {c.read} hash(es): {c.inserted} new, {c.updated} updated, "
            f"{c.unchanged} unchanged; {len(parsed.invalid)} invalid line(s); blocklist: "
            + ", ".join(f"{total.get(a, 0)} {a}" for a in ("md5", "sha1", "sha256"))
        )
        for line in parsed.invalid[:20]:
            err_console.print(f"[yellow]invalid:[/yellow] {line}")
        if len(parsed.invalid) > 20:
            err_console.print(f"[yellow]... and {len(parsed.invalid) - 20} more[/yellow]")
        if parsed.invalid:
            raise typer.Exit(1)
