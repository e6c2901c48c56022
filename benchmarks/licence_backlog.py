"""The first licence decision on a seeded inventory: the first listing after a bulk load.

    .venv/bin/python benchmarks/licence_backlog.py --db sqlite:////tmp/iw-1m/lic.db \
        --meta /tmp/iw-1m/lic-sqlite.json [--quota 1000]

The database comes from ``seed.py`` (every image undecided, flagged 0 as the store inserts
it).  Reported, in one run: the floor (one ``count(*)`` of the account's images, the least a
decision can read), then ``reconcile`` itself in the server's steps (what the first
DescribeAssetImageList does before its page; the server commits each step, so the longest
step is the longest the write lock is held), the rows it wrote, and a second ``reconcile``
(settled: one read).  The
decision is rolled back unless ``--keep``, so the run can be repeated on the same data.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

from sqlalchemy import event, func, select  # noqa: E402

from imagewarden.inventory.licences import RECONCILE_STEP  # noqa: E402
from imagewarden.store import licences  # noqa: E402
from imagewarden.store.engine import make_engine, make_sessionmaker  # noqa: E402
from imagewarden.store.tables import Image  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True)
    p.add_argument("--meta", type=Path, required=True, help="seed.py's --meta file")
    p.add_argument("--quota", type=int, default=1000, help="the account's licences")
    p.add_argument("--keep", action="store_true", help="commit the decision")
    p.add_argument(
        "--step", type=int, default=RECONCILE_STEP, help="images decided per step (0: all at once)"
    )
    args = p.parse_args(argv)
    account = int(json.loads(args.meta.read_text())["account_id"])
    engine = make_engine(args.db)
    written: list[int] = []

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE IMAGES"):
            written.append(cursor.rowcount)

    event.listen(engine, "after_cursor_execute", after)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC).replace(tzinfo=None)
    with sessions() as s:
        t0 = time.perf_counter()
        n = s.scalar(select(func.count()).where(Image.account_id == account))
        floor = time.perf_counter() - t0
    s = sessions()
    try:
        steps: list[float] = []
        done = False
        while not done:
            t0 = time.perf_counter()
            done = licences.reconcile(s, account, args.quota, now, args.step)
            steps.append(time.perf_counter() - t0)
        first = sum(steps)
        t0 = time.perf_counter()
        licences.reconcile(s, account, args.quota, now)
        second = time.perf_counter() - t0
        granted = s.scalar(
            select(func.count()).where(Image.account_id == account, Image.is_authorized == 1)
        )
        if args.keep:
            s.commit()
        else:
            s.rollback()
    finally:
        s.close()
    print(
        json.dumps(
            {
                "db": engine.dialect.name,
                "images": n,
                "quota": args.quota,
                "floor_count_s": round(floor, 3),
                "reconcile_first_s": round(first, 3),
                "steps": len(steps),
                "longest_step_s": round(max(steps), 3),
                "rows_written": sum(written),
                "update_statements": len(written),
                "reconcile_settled_s": round(second, 4),
                "authorised_after": granted,
                "ratio_to_floor": round(first / floor, 2) if floor else None,
            },
            indent=2,
        )
    )
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
