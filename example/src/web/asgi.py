"""Minimal pure-ASGI example app for the entrypoint image.

It reads the SQLite database that `entrypoint` restored (RAILWAY_DB_PATH) and answers:
  GET /         the database path, each table with its row count, and the rows of `items`
                (if such a table exists, at most 100)
  GET /healthz  200 {"status": "ok", ...} when the database opens and has a schema,
                503 otherwise (so a deploy without a restored database is not marked healthy)
  POST /bookings  {"name": "..."}: inserts a row into `bookings` (created if missing) and answers
                201 {"id": ..., "name": ...}: the writes an emergency copy takes, which must survive
                the way back to the main server.
Standard library only (sqlite3, json). Reads open the database read-only; a booking is one
transaction in SQLite's default rollback-journal mode, as Python's sqlite3 does by default.
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


def add_booking(path, body):
    try:
        name = json.loads(body or b"{}").get("name")
    except (ValueError, AttributeError):
        name = None
    if not isinstance(name, str) or not name:
        return 400, {"error": 'expected a JSON body {"name": "..."}'}
    # No mode=ro here, but no creation either: a missing database is an error, not a new empty file.
    uri = pathlib.Path(path).absolute().as_uri() + "?mode=rw"
    conn = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        with conn:
            conn.execute("CREATE TABLE IF NOT EXISTS bookings (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
            cursor = conn.execute("INSERT INTO bookings (name) VALUES (?)", (name,))
        return 201, {"id": cursor.lastrowid, "name": name}
    finally:
        conn.close()


def handle(method, route, body=b""):
    if route == "/bookings":
        if method != "POST":
            return 405, {"error": "method not allowed"}
        try:
            return add_booking(db_path(), body)
        except sqlite3.Error as exc:
            return 503, {"status": "unavailable", "database": db_path(), "error": str(exc)}
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
    body = b""
    if scope["method"] == "POST":
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > 1 << 16:
                break
            if not message.get("more_body"):
                break
    status, payload = handle(scope["method"], scope["path"], body)
    out = json.dumps(payload, indent=2, sort_keys=True).encode() + b"\n"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(out)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else out})
