"""Compare two ``list_api.py`` logs case by case (before/after, one store).

    python benchmarks/compare_logs.py results/BEFORE.log results/AFTER.log sqlite

Prints per case p50/p99 before and after, the floor p50, the server/floor ratio and the
speed-up, then a summary per group (filters, ImageName, sorts) at Offset 0 and deep.
"""

from __future__ import annotations

import re
import statistics
import sys

_HEAD = re.compile(r"== (\w+) ([\d,]+) images")
_ROW = re.compile(
    r"\s+(\S+)\s+off=(\d+)\s+total=(\d+)\s+n=(\d+)\s+p50=\s*([\d.]+) p99=\s*([\d.]+) ms"
    r"\s+floor p50=\s*([\d.]+) p99=\s*([\d.]+)\s+x([\d.]+)"
)


def parse(path: str, store: str) -> dict[tuple[str, bool], dict[str, float]]:
    out: dict[tuple[str, bool], dict[str, float]] = {}
    cur = None
    with open(path) as fh:
        for line in fh:
            if m := _HEAD.match(line):
                cur = m.group(1)
            elif (m := _ROW.match(line)) and cur == store:
                out[(m.group(1), int(m.group(2)) > 0)] = {
                    "off": int(m.group(2)),
                    "p50": float(m.group(5)),
                    "p99": float(m.group(6)),
                    "f50": float(m.group(7)),
                    "r": float(m.group(9)),
                }
    return out


def group(label: str) -> str:
    if label.startswith("By="):
        return "sorts"
    return "name" if label.startswith("ImageName") else "filters"


def main() -> int:
    before, after, store = sys.argv[1], sys.argv[2], sys.argv[3]
    b, o = parse(before, store), parse(after, store)
    print(
        f"{'case':34s} {'off':>6s} {'b p50':>7s} {'b p99':>7s} {'p50':>7s} {'p99':>7s}"
        f" {'floor':>7s} {'xfloor':>6s} {'speedup':>7s}"
    )
    for k, v in o.items():
        w = b.get(k)
        sp = f"{w['p50'] / v['p50']:.1f}" if w else "-"
        bp50 = f"{w['p50']:7.1f}" if w else "      -"
        bp99 = f"{w['p99']:7.1f}" if w else "      -"
        print(
            f"{k[0]:34s} {v['off']:6.0f} {bp50} {bp99} {v['p50']:7.1f} {v['p99']:7.1f}"
            f" {v['f50']:7.1f} {v['r']:6.2f} {sp:>7s}"
        )
    for g in ("filters", "name", "sorts"):
        for deep in (False, True):
            ks = [k for k in o if group(k[0]) == g and k[1] == deep]
            if not ks:
                continue
            base = [b[k]["p50"] for k in ks if k in b]
            print(
                f"SUMMARY {g:8s} deep={deep!s:5s} n={len(ks):3d}"
                f" p50 med={statistics.median(o[k]['p50'] for k in ks):6.1f}"
                f" max={max(o[k]['p50'] for k in ks):6.1f}"
                f" p99 max={max(o[k]['p99'] for k in ks):6.1f}"
                f" xfloor med={statistics.median(o[k]['r'] for k in ks):.2f}"
                f" max={max(o[k]['r'] for k in ks):.2f}"
                + (f" | before p50 med={statistics.median(base):6.1f}" if base else "")
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
