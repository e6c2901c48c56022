"""What moving the host counters off ``images`` would save on PostgreSQL (issue 7, ingestion).

    .venv/bin/python benchmarks/counter_table.py postgresql://.../DB [REPS]

On a ``seed.py`` database: one first report's counter UPDATE (200 images: the 20 most held
plus 180 random ones, the shape of ``store/hosts.py``'s ``UPDATE ... FROM (VALUES ...)``) on
``images`` (every index of it: a counter is a sort column, so the update is never HOT)
against the same UPDATE on ``ctr_exp``, a narrow copy of the three counters with just their
three sort indexes (created once in the database, left there). Each UPDATE is rolled back;
the two alternate. An experiment, not a schema: nothing in imagewarden reads ``ctr_exp``.
"""

import random
import statistics
import sys
import time

import psycopg

url = sys.argv[1]
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 30
conn = psycopg.connect(url, autocommit=False)
cur = conn.cursor()
cur.execute("select count(*) from pg_indexes where tablename='images'")
print("indexes on images:", cur.fetchone()[0])
cur.execute("select to_regclass('ctr_exp')")
if cur.fetchone()[0] is None:
    t = time.perf_counter()
    cur.execute(
        "create table ctr_exp as select id as image_pk, account_id, image_id, host_cnt, super_node_cnt, container_cnt from images"
    )
    cur.execute("alter table ctr_exp add primary key (image_pk)")
    for c in ("host_cnt", "super_node_cnt", "container_cnt"):
        cur.execute(f"create index on ctr_exp (account_id, {c}, image_id)")
    cur.execute("analyze ctr_exp")
    conn.commit()
    print(f"built ctr_exp in {time.perf_counter() - t:.1f}s")
cur.execute("select min(id), max(id) from images")
lo, hi = cur.fetchone()
cur.execute("select id from images order by host_cnt desc limit 20")
base = [r[0] for r in cur.fetchall()]
rng = random.Random(5)
res = {"images": [], "ctr_exp": []}
for r in range(reps):
    ids = base + [rng.randint(lo, hi) for _ in range(180)]
    vals = ",".join(f"({i},1,0,{1 if k % 10 == 0 else 0})" for k, i in enumerate(ids))
    for table, key in (
        (("images", "id"), ("ctr_exp", "image_pk"))
        if r % 2
        else (("ctr_exp", "image_pk"), ("images", "id"))
    ):
        t = time.perf_counter()
        cur.execute(
            f"update {table} t set host_cnt = t.host_cnt + d.dh, super_node_cnt = t.super_node_cnt + d.ds, container_cnt = t.container_cnt + d.dc from (values {vals}) as d(pk, dh, ds, dc) where t.{key} = d.pk"
        )
        res[table].append(time.perf_counter() - t)
        conn.rollback()
for k, v in res.items():
    print(
        f"{k:8s} median {statistics.median(v) * 1000:7.1f} ms  p90 {sorted(v)[int(len(v) * 0.9)] * 1000:7.1f} ms  (n={len(v)})"
    )
print(
    "ratio images/ctr_exp (medians):",
    round(statistics.median(res["images"]) / statistics.median(res["ctr_exp"]), 1),
)
