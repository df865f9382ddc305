"""The measurement behind the PostgreSQL store's driver (store_postgres.py's docstring): asyncpg against psycopg 3
with its pool, on the statements the store makes. Not part of the suite: needs both drivers (`pip install
asyncpg`) and a server; `python -m bench.pg_drivers postgresql://USER@HOST/DB`. It makes tables bt and be.
"""
# ruff: noqa
import asyncio, time, sys
import asyncpg, psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
DSN=sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/postgres"
N=3000
async def setup():
    c=await asyncpg.connect(DSN)
    await c.execute("DROP TABLE IF EXISTS bt; CREATE TABLE bt (id text primary key, title text, status text, n int, a text, b text, c text, d text, e text, f int, g int)")
    await c.executemany("INSERT INTO bt VALUES ($1,$2,'queued',0,'aaaa','bbbb','cccc','dddd','eeee',1,2)", [(f"id{i}", f"title {i}") for i in range(1000)])
    await c.execute("DROP TABLE IF EXISTS be; CREATE TABLE be (id bigserial primary key, task_id text, payload text)")
    await c.close()
async def apg():
    pool=await asyncpg.create_pool(DSN, min_size=1, max_size=1)
    t=time.perf_counter()
    for i in range(N):
        async with pool.acquire() as c:
            async with c.transaction():
                r=await c.fetchrow("UPDATE bt SET n=n+1 WHERE id=$1 AND status = ANY($2::text[]) RETURNING *", f"id{i%1000}", ["queued","running"])
                await c.execute("INSERT INTO be (task_id, payload) VALUES ($1, $2)", r["id"], "x"*200)
    w=(time.perf_counter()-t)/N
    t=time.perf_counter()
    for i in range(N//3):
        async with pool.acquire() as c:
            rows=await c.fetch("SELECT * FROM bt ORDER BY id LIMIT 100")
            [dict(r) for r in rows]
    r_=(time.perf_counter()-t)/(N//3)
    await pool.close(); return w, r_
async def pg3():
    pool=AsyncConnectionPool(DSN, min_size=1, max_size=1, kwargs={"row_factory": dict_row, "autocommit": True}, open=False)
    await pool.open()
    t=time.perf_counter()
    for i in range(N):
        async with pool.connection() as c:
            async with c.transaction():
                cur=await c.execute("UPDATE bt SET n=n+1 WHERE id=%s AND status = ANY(%s) RETURNING *", (f"id{i%1000}", ["queued","running"]))
                r=await cur.fetchone()
                await c.execute("INSERT INTO be (task_id, payload) VALUES (%s, %s)", (r["id"], "x"*200))
    w=(time.perf_counter()-t)/N
    t=time.perf_counter()
    for i in range(N//3):
        async with pool.connection() as c:
            cur=await c.execute("SELECT * FROM bt ORDER BY id LIMIT 100")
            await cur.fetchall()
    r_=(time.perf_counter()-t)/(N//3)
    await pool.close(); return w, r_
async def main():
    await setup()
    for name,f in (("asyncpg",apg),("psycopg",pg3),("asyncpg",apg),("psycopg",pg3)):
        w,r=await f()
        print(f"{name}: write tx {w*1e6:.0f} us, page of 100 rows {r*1e6:.0f} us")
import uvloop; uvloop.run(main())
