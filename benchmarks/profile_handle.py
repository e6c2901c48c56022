"""Where a DescribeAssetImageList request spends its time inside the server process.

    python benchmarks/profile_handle.py --meta /tmp/iw-bench/bench-sqlite-100000.json [-n 2000]

Builds the same app ``imagewarden serve`` builds (``server.build_app``) on a seeded
database (meta file written by ``seed.py``) and calls its request pipeline (``ApiApp.handle``:
signature check, decoding, handler, store, envelope) in a loop under pyinstrument
(dev-only), without uvicorn and the event loop; prints the per-request mean and the
profile tree.  Requests are signed before the profiled loop.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from imagewarden.api.app import _Raw
from imagewarden.api.signing import tc3_sign_request
from imagewarden.server import build_app, open_runtime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--meta", type=Path, required=True)
    p.add_argument("-n", type=int, default=2000)
    p.add_argument("--body", default='{"Limit":10}')
    p.add_argument("--no-profile", action="store_true", help="time the loop only (no profiler)")
    a = p.parse_args(argv)
    info = json.loads(a.meta.read_text())
    rt = open_runtime(info["db_url"], Path(info["key_file"]), migrate=False)
    app = build_app(rt, rate_limits=False)
    body = a.body.encode()
    raws = []
    for _ in range(a.n):
        h = tc3_sign_request(
            secret_id=info["secret_id"],
            secret_key=info["secret_key"],
            action="DescribeAssetImageList",
            version="2020-11-01",
            host="127.0.0.1:8080",
            body=body,
        )
        raws.append(_Raw("POST", {k.lower(): v for k, v in h.items()}, "", body))
    app.handle(raws[0], "warm")
    for raw in raws[1:50]:  # warm the caches the server keeps warm under load
        app.handle(raw, "warm")
    prof = None
    if not a.no_profile:
        from pyinstrument import Profiler

        prof = Profiler(interval=0.0005)
        prof.start()
    t = time.perf_counter()
    for i, raw in enumerate(raws):
        out = app.handle(raw, f"r{i}")
        if b'"Error"' in out:
            print(out[:300], file=sys.stderr)
            return 1
    dt = time.perf_counter() - t
    print(f"{a.n} requests: {dt / a.n * 1000:.2f} ms each in the pipeline ({a.n / dt:,.0f}/s)")
    if prof is not None:
        prof.stop()
        print(prof.output_text(unicode=False, color=False)[:9000])
    rt.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
