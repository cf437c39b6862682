"""Minimal pure-ASGI example app for the entrypoint image.

It reads the SQLite database that `entrypoint` restored (RAILWAY_DB_PATH) and answers:
  GET /         the database path, each table with its row count, and the rows of `items`
                (if such a table exists, at most 100)
  GET /healthz  200 {"status": "ok", ...} when the database opens and has a schema,
                503 otherwise (so a deploy without a restored database is not marked healthy)
Standard library only (sqlite3, json); the database is opened read-only.
"""

import json
import os
import pathlib
import sqlite3

DEFAULT_DB_PATH = "/app/data/database/production.db"
MAX_ROWS = 100


def db_path():
    return os.environ.get("RAILWAY_DB_PATH") or DEFAULT_DB_PATH


def connect(path):
    # mode=ro: the app only reads; a missing file is an error instead of a new empty database.
    uri = pathlib.Path(path).absolute().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=5)


def jsonable(value):
    if isinstance(value, bytes):
        return {"bytes": len(value)}
    return value


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def read_database(path):
    with connect(path) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        tables = {name: conn.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchone()[0] for name in names}
        items = None
        if "items" in tables:
            cursor = conn.execute(f"SELECT * FROM items LIMIT {MAX_ROWS}")
            columns = [col[0] for col in cursor.description]
            items = [{c: jsonable(v) for c, v in zip(columns, row)} for row in cursor]
    conn.close()
    return {"database": path, "tables": tables, "items": items}


def health(path):
    with connect(path) as conn:
        count = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    conn.close()
    return {"status": "ok", "database": path, "schema_objects": count}


def handle(method, route):
    if route not in ("/", "/healthz"):
        return 404, {"error": "not found", "path": route}
    if method not in ("GET", "HEAD"):
        return 405, {"error": "method not allowed"}
    path = db_path()
    try:
        if route == "/healthz":
            return 200, health(path)
        return 200, read_database(path)
    except sqlite3.Error as exc:
        return 503, {"status": "unavailable", "database": path, "error": str(exc)}


async def lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    status, payload = handle(scope["method"], scope["path"])
    body = json.dumps(payload, indent=2, sort_keys=True).encode() + b"\n"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
