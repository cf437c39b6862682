#!/usr/bin/env python3
"""Fake Dropbox HTTP API server for integration tests and benchmarks.

Speaks the Dropbox wire format (api, content and oauth2 routes on one port)
over TLS with a test CA. Tests control it through files in a state directory
(config.json in; log.jsonl, uploaded.json, port out). See README.md for the
exact CLI, config keys, log fields and fault kinds. Standard library only.
"""

import argparse
import base64
import hashlib
import http.server
import io
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid
from datetime import datetime, timezone

CHUNK = 1 << 20                  # streaming chunk for bodies
BLOCK = 4 << 20                  # Dropbox content-hash block size
DEFAULT_UPLOAD_LIMIT = 150 << 20  # max payload of one upload request
MAX_SMALL_BODY = 16 << 20        # RPC / oauth bodies are read into memory
HANDSHAKE_TIMEOUT = 10
IDLE_TIMEOUT = 120

VOID_ROUTES = {"users/get_current_account"}   # RPC routes whose argument is Void (body null)
CONTENT_ROUTES = {"files/download", "files/upload", "files/upload_session/start",
                  "files/upload_session/append_v2", "files/upload_session/finish"}
BODY_FAULTS = ("drop_after", "truncate", "corrupt_byte", "throttle", "stall")
RESPONSE_FAULTS = ("status", "html", "auth_other")
UPLOAD_ROUTES = ("files/upload", "files/upload_session/start",
                 "files/upload_session/append_v2", "files/upload_session/finish")
CORS_HACK = "text/plain;charset=dropbox-cors-hack"  # normalized (no spaces)

READ_PATH_PATTERN = r"(/(.|[\r\n])*|id:.*)|(rev:[0-9a-f]{9,})|(ns:[0-9]+(/.*)?)"
WRITE_PATH_PATTERN = r"(/(.|[\r\n])*)|(ns:[0-9]+(/.*)?)|(id:.*)"
REV_RE = re.compile(r"[0-9a-f]{9,}\Z")
HASH_RE = re.compile(r"[0-9a-fA-F]{64}\Z")
PKCE_RE = re.compile(r"[A-Za-z0-9._~-]{43,128}\Z")   # RFC 7636 verifier / challenge
DEFAULT_SCOPES = "account_info.read files.content.read files.content.write files.metadata.read"
ACCOUNT = {"account_id": "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc",
           "name": {"given_name": "Franz", "surname": "Ferdinand", "familiar_name": "Franz",
                    "display_name": "Franz Ferdinand (Personal)", "abbreviated_name": "FF"},
           "email": "franz@example.com", "email_verified": True, "disabled": False,
           "locale": "en", "referral_link": "https://db.tt/ZITNuhtI", "is_paired": False,
           "account_type": {".tag": "basic"},
           "root_info": {".tag": "user", "root_namespace_id": "3235641", "home_namespace_id": "3235641"},
           "country": "US"}

HTML_ERROR_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Dropbox - Error</title></head>"
                   b"<body><h1>Error (5xx)</h1><p>Something went wrong. Don't worry, your "
                   b"files are still safe and the Dropboxers have been notified.</p>"
                   b"</body></html>\n")


# ---------------------------------------------------------------- hashing

class ContentHasher:
    """Incremental Dropbox content hash: SHA-256 over the concatenated
    SHA-256 digests of 4 MiB blocks (an empty input has no blocks)."""

    def __init__(self):
        self._outer = hashlib.sha256()
        self._block = hashlib.sha256()
        self._block_len = 0

    def update(self, data):
        mv = memoryview(data)
        while len(mv):
            if self._block_len == BLOCK:
                self._outer.update(self._block.digest())
                self._block, self._block_len = hashlib.sha256(), 0
            n = min(BLOCK - self._block_len, len(mv))
            self._block.update(mv[:n])
            self._block_len += n
            mv = mv[n:]

    def copy(self):
        c = ContentHasher()
        c._outer, c._block, c._block_len = self._outer.copy(), self._block.copy(), self._block_len
        return c

    def hexdigest(self):
        outer = self._outer.copy()
        if self._block_len:
            outer.update(self._block.digest())
        return outer.hexdigest()


def hash_file(path):
    h = ContentHasher()
    with open(path, "rb") as f:
        while True:
            data = f.read(BLOCK)
            if not data:
                return h.hexdigest()
            h.update(data)


class HashCache:
    """content_hash per (path, inode, size, mtime); each file is hashed once
    even when several threads ask at the same time."""

    def __init__(self):
        self._lock = threading.Lock()
        self._done = {}
        self._busy = {}

    @staticmethod
    def _key(path, st):
        return (path, st.st_ino, st.st_size, st.st_mtime_ns)

    def put(self, path, st, digest):
        with self._lock:
            self._done[self._key(path, st)] = digest

    def get(self, path, st):
        key = self._key(path, st)
        with self._lock:
            if key in self._done:
                return self._done[key]
            busy = self._busy.setdefault(key, threading.Lock())
        with busy:
            with self._lock:
                if key in self._done:
                    return self._done[key]
            digest = hash_file(path)
            with self._lock:
                self._done[key] = digest
                self._busy.pop(key, None)
            return digest


# ---------------------------------------------------------------- helpers

def iso8601(epoch):
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_id(path_lower):
    return "id:" + hashlib.sha1(path_lower.encode()).hexdigest()[:22]


def make_rev(path_lower, index, content_hash):
    return hashlib.sha1(f"{path_lower}\n{index}\n{content_hash}".encode()).hexdigest()[:16]


def atomic_write(path, data):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix="." + os.path.basename(path))
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def norm_ctype(value):
    return "".join((value or "").split()).lower()


def error_json(summary_tags, error):
    """Dropbox route error body: error_summary is the tag chain plus '/..'."""
    return {"error_summary": "/".join(summary_tags) + "/..", "error": error}


# files.stone WriteError values the commit can end in: (summary tags, the union value).
WRITE_ERRORS = {"conflict": (["conflict", "file"], {".tag": "conflict", "conflict": {".tag": "file"}}),
                "insufficient_space": (["insufficient_space"], {".tag": "insufficient_space"})}
NOT_FOUND = error_json(["path", "not_found"], {".tag": "path", "path": {".tag": "not_found"}})


def parse_range(header, size):
    """Returns (start, end_inclusive), None (ignore header: serve 200) or
    'unsatisfiable'. Supports bytes=a-, bytes=a-b and bytes=-n."""
    if not header:
        return None
    spec = header.strip()
    if not spec.lower().startswith("bytes=") or "," in spec:
        return None
    a, sep, b = spec[6:].strip().partition("-")
    a, b = a.strip(), b.strip()
    if not sep or (a and not a.isdigit()) or (b and not b.isdigit()) or not (a or b):
        return None
    if not a:  # suffix range: the last n bytes
        n = int(b)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return (max(0, size - n), size - 1)
    start = int(a)
    if b and int(b) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return (start, min(int(b), size - 1) if b else size - 1)


class BadPath(ValueError):
    pass


# ---------------------------------------------------------------- state

class State:
    """Everything the server knows; the state directory is its interface."""

    def __init__(self, state_dir):
        self.dir = os.path.abspath(state_dir)
        self.uploads_dir = os.path.join(self.dir, "uploads")
        os.makedirs(self.uploads_dir, exist_ok=True)
        self.lock = threading.RLock()
        self.log_lock = threading.Lock()
        self.hashes = HashCache()
        self.config = {}
        self._config_sig = None
        self.fault_left = []
        self.fault_skip = []
        self.issued = {}          # access token issued by a refresh -> expiry epoch
        self.uses = {}            # token -> number of requests it authorized
        self.expired = set()      # tokens expired at run time
        self.generated = 0
        self.codes = {}           # authorization code -> grant (see authorize_page)
        self.granted = {}         # refresh token issued by a code exchange -> {"app_key", "pkce"}
        self.code_count = 0
        self.uploaded = {}        # path_lower -> {"display": str, "revs": [rec]}
        self.sessions = {}        # upload session id -> Session
        self.transport_calls = 0  # upload-route calls, for data_transport_limit
        self.view = threading.local()  # .root: the namespace this thread's request sees paths in
        self._load_uploaded()

    # -- config
    def refresh_config(self):
        """Re-read config.json if it changed (cheap stat per request)."""
        path = os.path.join(self.dir, "config.json")
        try:
            st = os.stat(path)
            sig = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            sig = None
        with self.lock:
            if sig == self._config_sig:
                return
            cfg = {}
            if sig is not None:
                try:
                    with open(path, "rb") as f:
                        st = os.fstat(f.fileno())
                        sig = (st.st_ino, st.st_size, st.st_mtime_ns)
                        cfg = json.load(f)
                except (OSError, ValueError) as e:
                    print(f"fake_dropbox: ignoring unreadable config.json: {e}", file=sys.stderr)
                    return
            self.config, self._config_sig = cfg, sig
            self.fault_left = [int(f.get("times", 1)) for f in cfg.get("faults", [])]
            self.fault_skip = [int(f.get("skip", 0)) for f in cfg.get("faults", [])]
        # Warm the hash cache so the first request on a big file is fast.
        threading.Thread(target=self._prehash, daemon=True).start()

    def _prehash(self):
        for pl in self.all_paths():
            for rec in self.history(pl)[1]:
                try:
                    self.hashes.get(rec["local"], os.stat(rec["local"]))
                except OSError:
                    pass

    def cfg(self, key, default=None):
        with self.lock:
            return self.config.get(key, default)

    # -- files
    def _abs(self, local):
        return local if os.path.isabs(local) else os.path.join(self.dir, local)

    def _load_uploaded(self):
        try:
            with open(os.path.join(self.dir, "uploaded.json")) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return
        for pl, locals_ in data.items():
            self.uploaded[pl] = {"display": pl, "revs": [{"local": p} for p in locals_]}

    def _save_uploaded(self):
        data = {pl: [r["local"] for r in u["revs"]] for pl, u in self.uploaded.items()}
        atomic_write(os.path.join(self.dir, "uploaded.json"),
                     json.dumps(data, indent=1).encode())

    def all_paths(self):
        with self.lock:
            return {p.lower() for p in self.config.get("files", {})} | set(self.uploaded)

    def history(self, path_lower):
        """(path_display, [rev records oldest first]): config revisions, then uploads."""
        with self.lock:
            display, recs = None, []
            for p, locals_ in self.config.get("files", {}).items():
                if p.lower() == path_lower:
                    display = p
                    if isinstance(locals_, str):
                        locals_ = [locals_]
                    recs += [{"local": self._abs(l)} for l in locals_]
            up = self.uploaded.get(path_lower)
            if up:
                display = display or up["display"]
                recs += up["revs"]
            return display, recs

    def file_meta(self, display, index, rec):
        """FileMetadata of one revision (stat + cached content hash)."""
        local = rec["local"]
        st = os.stat(local)
        ch = self.hashes.get(local, st)
        pl = display.lower()
        mtime = iso8601(st.st_mtime)
        shown = self.shown(display)
        return {".tag": "file", "name": display.rsplit("/", 1)[-1], "path_lower": shown.lower(),
                "path_display": shown, "id": file_id(pl),
                "client_modified": rec.get("client_modified") or mtime,
                "server_modified": mtime, "rev": make_rev(pl, index, ch),
                "size": st.st_size, "is_downloadable": True, "content_hash": ch}

    def shown(self, key):
        """A file's path_display as the request sees it: relative to the namespace of its
        Dropbox-API-Path-Root (common.stone PathRoot: "Paths are relative to ..."). A file in
        another namespace is keyed ns:<id>/path and shown as the path inside it; one in the home
        namespace is shown under home_path when the request's root is the team space's root."""
        if key.startswith("ns:"):
            return key[key.index("/"):]
        info = self.root_info()
        if info[".tag"] == "team" and getattr(self.view, "root", None) == info["root_namespace_id"]:
            return info["home_path"] + key
        return key

    def rev_gone(self, index, count):
        """Whether revision `index` of a history of `count` is gone: config `history_kept` = N
        keeps only each file's newest N revisions, as Dropbox keeps only the revisions of its
        version-history window (30 days on Basic/Plus). A gone revision is an unknown rev."""
        kept = self.cfg("history_kept")
        return kept is not None and index < count - int(kept)

    def resolve(self, path, rev=None):
        """ReadPath -> (metadata, local file) or None; BadPath if malformed.
        `rev` is the deprecated DownloadArg.rev field."""
        if (path.startswith("/") and len(path) > 1) or re.match(r"ns:[0-9]+/.", path, re.S):
            display, recs = self.history(path.lower())
            for i in reversed(range(len(recs))):
                m = self.file_meta(display, i, recs[i])
                if rev is None or (m["rev"] == rev and not self.rev_gone(i, len(recs))):
                    return m, recs[i]["local"]
            return None
        if path.startswith("rev:") and REV_RE.match(path[4:]):
            for pl in self.all_paths():
                display, recs = self.history(pl)
                for i, rec in enumerate(recs):
                    m = self.file_meta(display, i, rec)
                    if m["rev"] == path[4:] and not self.rev_gone(i, len(recs)):
                        return m, rec["local"]
            return None
        if path.startswith("id:"):
            for pl in self.all_paths():
                if file_id(pl) == path:
                    return self.resolve(pl, rev)
            return None
        if re.match(r"ns:[0-9]+/?\Z", path):
            return None  # a namespace's root is a folder, never a file
        raise BadPath(path)

    # -- namespaces (common.stone PathRoot, RootInfo; files.stone ReadPath ns:<id>/path)
    def root_info(self):
        """users/get_current_account's root_info: the account's own (user) root, or with
        config `team` a team space whose root namespace holds the member's home folder."""
        home = ACCOUNT["root_info"]["home_namespace_id"]
        team = self.cfg("team")
        if not team:
            return {".tag": "user", "root_namespace_id": home, "home_namespace_id": home}
        return {".tag": "team", "root_namespace_id": str(team["root_namespace_id"]),
                "home_namespace_id": home, "home_path": team.get("home_path", "/Franz Ferdinand")}

    def accessible(self, ns):
        info = self.root_info()
        return ns in (info["root_namespace_id"], info["home_namespace_id"]) or \
            ns in [str(n) for n in self.cfg("namespaces", [])]

    def canonical(self, ns, rest):
        """The key of path `rest` ('/...') in namespace ns: files in the home namespace keep
        their plain '/path' key; the team root mounts the home namespace at home_path."""
        info = self.root_info()
        if info[".tag"] == "team" and ns == info["root_namespace_id"]:
            hp = info["home_path"].lower()
            if rest.lower().startswith(hp + "/"):
                ns, rest = info["home_namespace_id"], rest[len(hp):]
        if ns == info["home_namespace_id"]:
            return rest
        return f"ns:{ns}{rest}"

    # -- tokens
    def check_token(self, tok):
        """'ok' (and count the use), 'expired' or 'invalid'."""
        with self.lock:
            cfg = self.config
            if tok in self.expired or tok in cfg.get("expired_tokens", []):
                return "expired"
            if tok in self.issued:
                if time.time() >= self.issued[tok]:
                    return "expired"
            elif tok not in cfg.get("access_tokens", []):
                return "invalid"
            limit = cfg.get("expire_after_requests", {}).get(tok)
            used = self.uses.get(tok, 0)
            if limit is not None and used >= limit:
                self.expired.add(tok)
                return "expired"
            self.uses[tok] = used + 1
            return "ok"

    def expire(self, tok):
        with self.lock:
            self.expired.add(tok)

    def issue_access_token(self):
        """The next access token (issue_tokens, then sl.fake-N) and its expires_in. Lock held."""
        cfg = self.config
        token = next((t for t in cfg.get("issue_tokens", []) if t not in self.issued), None)
        if token is None:
            self.generated += 1
            token = f"sl.fake-{self.generated}"
        expires_in = int(cfg.get("token_expires_in", 14400))
        self.issued[token] = time.time() + expires_in
        return token, expires_in

    # -- the authorization-code grant (the code flow without a redirect)
    def authorize_page(self, query):
        """GET /oauth2/authorize: what the user's browser would show after
        "Allow". Returns (status, text): the code, or the error the page shows."""
        def one(name):
            v = query.get(name)
            return v[-1] if v else None
        with self.lock:
            cfg = self.config
            client_id = one("client_id")
            apps = cfg.get("apps", {})
            if not client_id or client_id not in apps:
                return 400, f"Invalid client_id: {client_id!r}"
            response_type = one("response_type")
            if response_type != "code":
                return 400, f"response_type must be code (got {response_type!r}): the fake models only the code flow"
            if one("redirect_uri") is not None:
                return 400, "redirect_uri is not registered for this app (the fake registers none: use the flow without a redirect)"
            access_type = one("token_access_type")
            if access_type not in (None, "online", "offline", "legacy"):
                return 400, f"token_access_type must be online, offline or legacy (got {access_type!r})"
            challenge, method = one("code_challenge"), one("code_challenge_method")
            if challenge is not None:
                method = method or "plain"
                if method not in ("S256", "plain"):
                    return 400, f"code_challenge_method must be S256 or plain (got {method!r})"
                if not PKCE_RE.match(challenge):
                    return 400, "code_challenge must be 43-128 characters of [A-Za-z0-9-._~]"
            elif method is not None:
                return 400, "code_challenge_method given without code_challenge"
            self.code_count += 1
            code = cfg.get("issue_codes", [])[self.code_count - 1:self.code_count]
            code = code[0] if code else "fake-code-" + uuid.uuid4().hex[:24] + f"-{self.code_count}"
            self.codes[code] = {"client_id": client_id, "offline": access_type == "offline",
                                "challenge": challenge, "method": method,
                                "expires": time.time() + float(cfg.get("code_expires_in", 600))}
            return 200, code

    def exchange_code(self, form, client_id, secret):
        """POST /oauth2/token grant_type=authorization_code -> (status, json body)."""
        def err(code, desc):
            return 400, {"error": code, "error_description": desc}
        code, verifier = form.get("code"), form.get("code_verifier")
        if not code:
            return err("invalid_request", "No code provided")
        with self.lock:
            cfg = self.config
            apps = cfg.get("apps", {})
            if not client_id:
                return err("invalid_request", "No client_id provided")
            if client_id not in apps:
                return err("invalid_client", "Invalid client_id or client_secret")
            if secret is not None and (apps.get(client_id) is None or secret != apps[client_id]):
                return err("invalid_client", "Invalid client_id or client_secret")
            grant = self.codes.get(code)
            if grant is None or time.time() >= grant["expires"] or grant["client_id"] != client_id:
                return err("invalid_grant", "code doesn't exist or has expired")
            if grant["challenge"] is not None:
                if not verifier:
                    return err("invalid_request", "No code_verifier provided")
                want = verifier
                if grant["method"] == "S256":
                    want = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                if not PKCE_RE.match(verifier) or want != grant["challenge"]:
                    return err("invalid_grant", "invalid code verifier")
            elif secret is None:
                return err("invalid_request", "No auth function available for given request")
            del self.codes[code]      # single use
            token, expires_in = self.issue_access_token()
            apps_scopes = cfg.get("app_scopes", {})
            body = {"access_token": token, "token_type": "bearer", "expires_in": expires_in,
                    "scope": apps_scopes.get(client_id, DEFAULT_SCOPES),
                    "uid": "12345", "account_id": ACCOUNT["account_id"]}
            if grant["offline"]:
                pool = [t for t in cfg.get("issue_refresh_tokens", []) if t not in self.granted]
                refresh = pool[0] if pool else "fake-refresh-" + uuid.uuid4().hex
                self.granted[refresh] = {"app_key": client_id, "pkce": grant["challenge"] is not None}
                body["refresh_token"] = refresh
            return 200, body

    def refresh(self, grant_type, refresh_token, client_id, secret):
        """POST /oauth2/token -> (status, json body)."""
        def err(code, desc):
            return 400, {"error": code, "error_description": desc}
        if not grant_type:
            return err("invalid_request", "No grant_type provided")
        if grant_type != "refresh_token":
            return err("unsupported_grant_type", f"unsupported grant_type: {grant_type}")
        with self.lock:
            cfg = self.config
            info = cfg.get("refresh_tokens", {}).get(refresh_token or "") or self.granted.get(refresh_token or "")
            if info is None:
                return err("invalid_grant", "refresh token is invalid or revoked")
            app_key = info.get("app_key")
            apps = cfg.get("apps", {})
            if client_id != app_key:
                return err("invalid_client", "Invalid client_id or client_secret")
            if secret is not None:
                if apps.get(app_key) is None or secret != apps.get(app_key):
                    return err("invalid_client", "Invalid client_id or client_secret")
            elif not info.get("pkce"):
                return err("invalid_request", "No auth function available for given request")
            token, expires_in = self.issue_access_token()
            return 200, {"access_token": token, "token_type": "bearer", "expires_in": expires_in}

    # -- faults
    def take_fault(self, route, kinds, path_ids, request_range=None):
        """First fault of one of `kinds` matching route (and path, and Range
        header) that has uses left; consumes one use. path_ids: callable ->
        set of names; request_range: the request's Range header or None."""
        # path_ids() may hash files: call it outside the lock, and only if needed.
        with self.lock:
            need_ids = any("path" in f and f.get("kind") in kinds
                           for f in self.config.get("faults", []))
        ids = path_ids() if need_ids else set()
        with self.lock:
            for i, f in enumerate(self.config.get("faults", [])):
                if f.get("kind") not in kinds or i >= len(self.fault_left) or self.fault_left[i] == 0:
                    continue
                if f.get("route", "*") not in ("*", route):
                    continue
                if "path" in f and str(f["path"]).lower() not in ids:
                    continue
                if "range" in f and f["range"] != request_range:
                    continue
                if self.fault_skip[i] > 0:    # this matching request is let through
                    self.fault_skip[i] -= 1
                    continue
                if self.fault_left[i] > 0:
                    self.fault_left[i] -= 1
                return f
        return None

    # -- uploads
    def commit(self, commit, write_mode, local, digest):
        """Commit the bytes in file `local` (content hash `digest`) according
        to CommitInfo and its parsed WriteMode (tag, rev). Returns (metadata,
        None) on success (local consumed) or (None, 'conflict' or 'insufficient_space':
        config space_quota) with local untouched."""
        path = commit["path"]
        mode, want_rev = write_mode
        pl = path.lower()
        with self.lock:
            display, recs = self.history(pl)
            if recs:
                cur = self.file_meta(display, len(recs) - 1, recs[-1])
                stale = mode == "update" and want_rev != cur["rev"]
                # files.stone CommitInfo.strict_conflict: "This also forces a conflict even when
                # the target path refers to a file with identical contents." Only the modes that
                # detect conflicts (add, update) have one to force; overwrite never conflicts.
                strict = commit.get("strict_conflict") and mode != "overwrite"
                if strict and (stale or cur["content_hash"] == digest):
                    return None, "conflict"
                if cur["content_hash"] == digest:     # identical content: no-op
                    os.unlink(local)
                    return cur, None
                if mode == "add" or stale:
                    return None, "conflict"
            elif mode == "update" and commit.get("strict_conflict"):
                return None, "conflict"
            else:
                display = path
            quota = self.config.get("space_quota")
            if quota is not None:   # the account's space: the current revisions (history is free)
                size = os.path.getsize(local)
                used = sum(os.path.getsize(self.history(p)[1][-1]["local"]) for p in self.all_paths()
                           if self.history(p)[1])
                if recs:
                    used -= os.path.getsize(recs[-1]["local"])
                if used + size > int(quota):
                    return None, "insufficient_space"
            index = len(recs)
            dest = os.path.join(self.uploads_dir, make_rev(pl, index, digest))
            os.replace(local, dest)
            self.hashes.put(dest, os.stat(dest), digest)
            rec = {"local": dest}
            if isinstance(commit.get("client_modified"), str):
                rec["client_modified"] = commit["client_modified"]
            self.uploaded.setdefault(pl, {"display": display, "revs": []})["revs"].append(rec)
            self._save_uploaded()
            return self.file_meta(display, index, rec), None

    def new_session(self):
        sid = uuid.uuid4().hex
        s = Session(sid, os.path.join(self.uploads_dir, f"session-{sid}.part"))
        with self.lock:
            self.sessions[sid] = s
        return s

    def log(self, rec):
        line = json.dumps(rec) + "\n"
        with self.log_lock:
            with open(os.path.join(self.dir, "log.jsonl"), "a") as f:
                f.write(line)


class Session:
    """An upload session: data so far lives in `local`."""

    def __init__(self, sid, local):
        self.id, self.local = sid, local
        self.offset, self.closed = 0, False
        self.hasher = ContentHasher()
        self.lock = threading.Lock()
        open(local, "wb").close()


# ---------------------------------------------------------------- HTTP

class Reply(Exception):
    """Raised by route code to send a complete response and stop."""

    def __init__(self, status, body, ctype=None, headers=None, shape=True):
        super().__init__(status)
        self.status, self.body, self.ctype, self.headers = status, body, ctype, headers or {}
        self.shape = shape   # False: body faults must not apply (fault-made replies)


def json_reply(status, obj, headers=None):
    return Reply(status, obj, "application/json", headers)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-dropbox/1"
    timeout = IDLE_TIMEOUT
    # TCP_NODELAY, as production HTTP servers set it: the status line and headers go out in one
    # write and the body in another, and with Nagle's algorithm the second waits for the client's
    # delayed ACK (about 40 ms on Linux), a latency no Dropbox answer has.
    disable_nagle_algorithm = True

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    def send_response(self, code, message=None):
        self.status = code
        super().send_response(code, message)
        self.send_header("X-Dropbox-Request-Id", uuid.uuid4().hex)

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    # -- request body
    def iter_body(self):
        """Yields the request body (Content-Length or chunked) once."""
        if self.body_done:
            return
        self.body_done = True
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                yield from self._read_exact(size)
                self.rfile.readline(65537)
        else:
            yield from self._read_exact(int(self.headers.get("Content-Length") or 0))

    def _read_exact(self, left):
        while left > 0:
            data = self.rfile.read(min(CHUNK, left))
            if not data:
                raise ConnectionError("client closed the connection mid-body")
            left -= len(data)
            self.bytes_received += len(data)
            yield data

    def drain_body(self):
        for _ in self.iter_body():
            pass

    def read_small_body(self):
        parts, n = [], 0
        for data in self.iter_body():
            n += len(data)
            if n <= MAX_SMALL_BODY:
                parts.append(data)
        if n > MAX_SMALL_BODY:
            raise self.bad_request("request body too large")
        return b"".join(parts)

    def receive_into(self, f, hashers, limit):
        """Streams the body into file f, feeding hashers. Returns the byte
        count, or None if it exceeded `limit` (the rest is drained)."""
        n = 0
        for data in self.iter_body():
            n += len(data)
            if n > limit:
                continue
            f.write(data)
            for h in hashers:
                h.update(data)
        return None if n > limit else n

    # -- responses
    def bad_request(self, msg):
        return Reply(400, f'Error in call to API function "{self.route}": {msg}')

    def send_payload(self, status, headers, src, length, start=0, shape=True):
        """Writes status, headers and `length` bytes from src. 2xx bodies may
        be shaped by a body fault (drop_after, truncate, corrupt_byte,
        throttle, stall)."""
        f = None
        if shape and 200 <= status < 300 and length:
            f = self.server.state.take_fault(self.route, BODY_FAULTS, self.path_ids, self.headers.get("Range"))
        kind = f and f["kind"]
        send_len = claimed = length
        if kind == "truncate":
            send_len = claimed = min(length, int(f.get("bytes", 0)))
        elif kind in ("drop_after", "stall"):
            send_len = min(length, int(f.get("bytes", 0)))
        if f:
            self.faults.append(kind)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(claimed))
        self.end_headers()
        corrupt_at = int(f.get("offset", 0)) - start if kind == "corrupt_byte" else None
        bps = max(1, int(f.get("bytes_per_second", 65536))) if kind == "throttle" else None
        step = max(1, min(65536, bps // 20)) if bps else CHUNK
        sent, t0 = 0, time.monotonic()
        while sent < send_len:
            data = src.read(min(step, send_len - sent))
            if not data:  # file shrank under us: the length we promised is wrong
                self.abort_connection()
                return
            if corrupt_at is not None and sent <= corrupt_at < sent + len(data):
                data = bytearray(data)
                data[corrupt_at - sent] ^= 0xFF
            self.wfile.write(data)
            sent += len(data)
            self.bytes_sent += len(data)
            if bps:
                delay = t0 + sent / bps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        if kind == "stall":
            time.sleep(float(f.get("seconds", 30)))
            self.abort_connection()
        elif kind == "drop_after":
            self.abort_connection()

    def send_reply(self, r):
        body = r.body
        ctype = r.ctype
        if ctype == "application/json":
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
            ctype = ctype or "text/plain; charset=utf-8"
        headers = dict(r.headers)
        if ctype:
            headers["Content-Type"] = ctype
        self.send_payload(r.status, headers, io.BytesIO(body), len(body), shape=r.shape)

    def abort_connection(self):
        """Close the TCP connection abruptly (no TLS close_notify)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- dispatch
    def dispatch(self):
        st = self.server.state
        st.refresh_config()
        url = urllib.parse.urlsplit(self.path)
        self.started = time.time()
        self.route = url.path[3:] if url.path.startswith("/2/") else url.path.lstrip("/")
        self.query = urllib.parse.parse_qs(url.query)
        self.status = None
        self.bytes_sent = self.bytes_received = 0
        self.body_done = False
        self.faults = []
        self.token = None
        self.arg = None
        self._ids = None
        self.expire_after = None
        try:
            try:
                self.handle_route()
            except Reply as r:
                self.drain_body()
                if 200 <= r.status < 300 and self.route in UPLOAD_ROUTES and r.shape:
                    f = st.take_fault(self.route, ("reset_after_store",), self.path_ids, self.headers.get("Range"))
                    if f:   # the data is stored (and committed): the answer is lost
                        self.faults.append("reset_after_store")
                        self.abort_connection()
                        return
                self.send_reply(r)
        except (ConnectionError, TimeoutError, ssl.SSLError) as e:
            if self.server.verbose:
                print(f"fake_dropbox: connection error: {e!r}", file=sys.stderr)
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            if self.status is None:
                try:
                    self.send_reply(Reply(500, "fake_dropbox internal error:\n" + traceback.format_exc()))
                except OSError:
                    pass
        finally:
            if not self.body_done:   # unread body: the connection can't be reused
                self.close_connection = True
            if self.expire_after:
                st.expire(self.expire_after)
            conn, accepted = getattr(self.server.local, "conn", (None, None))
            st.log({"t": time.time(), "t_start": self.started, "conn": conn, "conn_t": accepted,
                    "host": self.headers.get("Host"), "method": self.command, "route": self.route,
                    "status": self.status, "auth": self.token, "arg": self.arg,
                    "range": self.headers.get("Range"),
                    "path_root": self.headers.get("Dropbox-API-Path-Root"),
                    "content_type": self.headers.get("Content-Type"),
                    "bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received,
                    "fault": ",".join(self.faults) or None,
                    "user_agent": self.headers.get("User-Agent")})

    def path_ids(self):
        """Names of the Dropbox file this request targets, for fault `path`
        matching: the given path/rev/id, the resolved path_lower and rev."""
        if self._ids is None:
            ids = set()
            arg = self.arg if isinstance(self.arg, dict) else {}
            p = arg.get("path")
            if not isinstance(p, str) and isinstance(arg.get("commit"), dict):
                p = arg["commit"].get("path")
            if isinstance(p, str):
                ids.add(p.lower())
                try:
                    r = self.server.state.resolve(p)
                except (BadPath, OSError):
                    r = None
                if r:
                    ids |= {r[0]["path_lower"], "rev:" + r[0]["rev"], r[0]["id"]}
            self._ids = ids
        return self._ids

    ROUTES = {
        "oauth2/token": ("oauth", "route_token"),
        "oauth2/authorize": ("page", "route_authorize"),
        "users/get_current_account": ("rpc", "route_current_account"),
        "files/get_metadata": ("rpc", "route_get_metadata"),
        "files/list_revisions": ("rpc", "route_list_revisions"),
        "files/download": ("download", "route_download"),
        "files/upload": ("upload", "route_upload"),
        "files/upload_session/start": ("upload", "route_session_start"),
        "files/upload_session/append_v2": ("upload", "route_session_append"),
        "files/upload_session/finish": ("upload", "route_session_finish"),
    }

    def handle_route(self):
        """Common request pipeline; ends by raising Reply or streaming a body."""
        st = self.server.state
        st.view.root = None   # set once the request's Dropbox-API-Path-Root is known (step 3)
        style, fn = self.ROUTES.get(self.route, (None, None))
        if style is None:
            raise Reply(400, f'Unknown API function: "{self.route}"')
        if style == "page":   # the authorize page: a GET in the user's browser
            self.read_small_body()
            self.arg = {k: v[-1] for k, v in self.query.items()}
            return getattr(self, fn)()
        if self.command == "GET" and style != "download":
            raise Reply(400, f'Error in call to API function "{self.route}": '
                             f'HTTP method GET not supported, use POST')

        # 1. The route argument (errors are reported after auth, like Dropbox).
        body, arg_error = None, None
        if style != "upload":
            body = self.read_small_body()
        if style == "oauth":
            form = dict(self.query)
            form.update(urllib.parse.parse_qs(body.decode("utf-8", "replace")))
            self.arg = {k: v[-1] for k, v in form.items()}
        elif style == "rpc":
            try:
                self.arg = json.loads(body.decode("utf-8") or "null")
            except ValueError:
                self.arg = body.decode("utf-8", "replace")
                arg_error = "request body: could not decode input as JSON"
        else:
            raw = self.headers.get("Dropbox-API-Arg")
            if raw is None and "arg" in self.query:
                raw = self.query["arg"][-1]   # URL parameter form (already UTF-8 decoded)
            elif raw is not None and any(ord(c) > 0x7F for c in raw):
                # Headers are parsed as latin-1: a raw UTF-8 byte shows up here.
                self.arg = raw
                arg_error = ('HTTP header "Dropbox-API-Arg": contains non-ASCII bytes; '
                             'non-ASCII characters must be escaped as \\uXXXX')
            if raw is None:
                arg_error = 'Must provide HTTP header "Dropbox-API-Arg" or URL parameter "arg".'
            elif arg_error is None:
                try:
                    self.arg = json.loads(raw)
                except ValueError:
                    self.arg = raw
                    arg_error = 'HTTP header "Dropbox-API-Arg": could not decode input as JSON'
        if arg_error is None and self.route in VOID_ROUTES:
            if self.arg is not None:
                arg_error = "request body: expected null, got value"
        elif arg_error is None and style != "oauth" and not isinstance(self.arg, dict):
            arg_error = "request body: expected a JSON object"

        # 2. Faults that replace the whole response.
        f = st.take_fault(self.route, ("delay",), self.path_ids, self.headers.get("Range"))
        if f:
            self.faults.append("delay")
            time.sleep(float(f.get("seconds", 1)))
        f = st.take_fault(self.route, RESPONSE_FAULTS, self.path_ids, self.headers.get("Range"))
        if f:
            self.faults.append(f["kind"])
            r = self.fault_reply(f)
            r.shape = False
            raise r

        if style == "upload":
            f = st.take_fault(self.route, ("reset_during_body",), self.path_ids, self.headers.get("Range"))
            if f:   # read part of the body, then the connection breaks: nothing is stored
                self.faults.append("reset_during_body")
                self.body_done = True
                want = int(self.headers.get("Content-Length") or 0)
                for _ in self._read_exact(min(want, int(f.get("bytes", 0)))):
                    pass
                self.abort_connection()
                raise ConnectionAbortedError("fault reset_during_body")

        if style == "oauth":
            return self.route_token()

        # 3. Auth, then the path root (a bad Dropbox-API-Path-Root fails every call).
        self.authorize()
        self.server.state.view.root = self.path_root_ns()
        self.count_data_transport()

        # 4. Content-Type and argument checks.
        ctype = norm_ctype(self.headers.get("Content-Type"))
        allowed = {"rpc": ["application/json", "application/json;charset=utf-8", CORS_HACK],
                   "download": ["", "application/octet-stream", CORS_HACK],
                   "upload": ["application/octet-stream", CORS_HACK]}[style]
        if ctype not in allowed:
            shown = {"": "", CORS_HACK: "text/plain; charset=dropbox-cors-hack",
                     "application/json;charset=utf-8": "application/json; charset=utf-8"}
            expect = ", ".join(f'"{shown.get(a, a)}"' for a in allowed if a)
            raise self.bad_request(f'Bad HTTP "Content-Type" header: '
                                   f'"{self.headers.get("Content-Type", "")}".  '
                                   f'Expecting one of {expect}.')
        if arg_error:
            raise self.bad_request(arg_error)

        getattr(self, fn)()

    def fault_reply(self, f):
        kind = f["kind"]
        if kind == "html":
            return Reply(200, HTML_ERROR_PAGE, "text/html")
        if kind == "auth_other":
            return json_reply(401, self.auth_other_body("expired_access_token"))
        body = f.get("body")
        status = int(f.get("status", 500))
        if body is None:
            return Reply(status, f"fake_dropbox fault: HTTP {status}\n", headers=f.get("headers"))
        try:
            return json_reply(status, json.loads(body), f.get("headers"))
        except ValueError:
            return Reply(status, body, headers=f.get("headers"))

    @staticmethod
    def auth_other_body(reason):
        """The content-endpoint 401 quirk: real reason JSON-encoded in user_message."""
        real = error_json([reason], {".tag": reason})
        return {"error": {".tag": "other"}, "error_summary": "other/...",
                "user_message": {"text": json.dumps(real), "locale": "en"}}

    def authorize(self):
        """Checks the bearer token or raises a Reply. Sets self.expire_after
        if an expire_token fault asks to expire it after this request."""
        st = self.server.state
        header = self.headers.get("Authorization")
        if header is None:
            raise self.bad_request('Must provide HTTP header "Authorization" or URL parameter "authorization".')
        scheme, _, tok = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not tok.strip():
            raise self.bad_request(f'Invalid authorization value in HTTP header "Authorization": '
                                   f'"{header}".  Expecting "Bearer <oauth2-access-token>".')
        self.token = tok = tok.strip()
        verdict = st.check_token(tok)
        if verdict != "ok":
            reason = "expired_access_token" if verdict == "expired" else "invalid_access_token"
            if self.route in CONTENT_ROUTES and st.cfg("content_auth_quirk"):
                self.faults.append("content_auth_quirk")
                raise json_reply(401, self.auth_other_body(reason))
            raise json_reply(401, error_json([reason], {".tag": reason}))
        f = st.take_fault(self.route, ("expire_token",), self.path_ids, self.headers.get("Range"))
        if f:
            self.faults.append("expire_token")
            self.expire_after = tok

    # -- routes
    def route_token(self):
        form = self.arg
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = self.headers.get("Authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                user, _, pw = base64.b64decode(auth[6:].strip()).decode().partition(":")
                client_id, secret = urllib.parse.unquote(user), urllib.parse.unquote(pw) or None
            except (ValueError, UnicodeDecodeError):
                raise json_reply(400, {"error": "invalid_client",
                                       "error_description": "Invalid client_id or client_secret"})
        if form.get("grant_type") == "authorization_code":
            status, obj = self.server.state.exchange_code(form, client_id, secret)
        else:
            status, obj = self.server.state.refresh(form.get("grant_type"), form.get("refresh_token"),
                                                    client_id, secret)
        raise json_reply(status, obj)

    def route_authorize(self):
        status, text = self.server.state.authorize_page(self.query)
        raise Reply(status, text + "\n")

    def route_current_account(self):
        raise json_reply(200, dict(ACCOUNT, root_info=self.server.state.root_info()))

    def count_data_transport(self):
        """config data_transport_limit: the team's monthly data transport calls (the upload
        routes count, files.stone); past it, 403 invalid_account_type/feature as
        dropbox.com/developers/reference/data-transport-limit shows."""
        st = self.server.state
        if self.route not in UPLOAD_ROUTES or st.cfg("data_transport_limit") is None:
            return
        with st.lock:
            st.transport_calls += 1
            over = st.transport_calls > int(st.config["data_transport_limit"])
        if over:
            raise json_reply(403, {
                "error_summary": "invalid_account_type/feature/.",
                "error": {".tag": "invalid_account_type", "invalid_account_type": {".tag": "feature"}},
                "user_message": {"locale": "en", "text": "Your team has used all of its data transport "
                                 "API calls for the month. Your monthly limit will reset on the 1st day "
                                 "of every month. If you'd like to move to a plan with unlimited API "
                                 "calls, please contact sales."}})

    def path_root_ns(self):
        """The namespace that '/...' paths are relative to, from Dropbox-API-Path-Root
        (home by default); raises 400 for a malformed header, 422 PathRootError otherwise."""
        st = self.server.state
        info = st.root_info()
        raw = self.headers.get("Dropbox-API-Path-Root")
        if raw is None:
            return info["home_namespace_id"]
        try:
            pr = json.loads(raw)
            tag = pr[".tag"]
        except (ValueError, TypeError, KeyError):
            raise self.bad_request(f'HTTP header "Dropbox-API-Path-Root": could not decode input as JSON')
        if tag == "home":
            return info["home_namespace_id"]
        ns = pr.get(tag) if tag in ("root", "namespace_id") else None
        if not isinstance(ns, str) or not ns.isdigit():
            raise self.bad_request(f'HTTP header "Dropbox-API-Path-Root": unknown or incomplete PathRoot {raw}')
        if tag == "root" and ns != info["root_namespace_id"]:
            raise json_reply(422, error_json(["invalid_root"], {".tag": "invalid_root", "invalid_root": info}))
        if tag == "namespace_id" and not st.accessible(ns):
            raise json_reply(422, error_json(["no_permission"], {".tag": "no_permission"}))
        return ns

    def canonical_path(self, p):
        """A request's path as the state's key: '/x' in the path root's namespace, ns:<id>/x in
        namespace id (409 not_found without access), other forms unchanged."""
        ns = self.path_root_ns()
        m = re.match(r"ns:([0-9]+)(/.*)\Z", p, re.S)
        if m:
            if not self.server.state.accessible(m.group(1)):
                raise json_reply(409, NOT_FOUND)
            ns, p = m.group(1), m.group(2)
        if p.startswith("/") and len(p) > 1:
            return self.server.state.canonical(ns, p)
        return p

    def get_path_arg(self, arg):
        p = arg.get("path")
        if not isinstance(p, str):
            raise self.bad_request("request body: missing required field 'path'")
        return p

    def lookup(self, p, rev=None):
        try:
            r = self.server.state.resolve(self.canonical_path(p), rev)
        except BadPath:
            raise self.bad_request(f"request body: path: '{p}' did not match pattern '{READ_PATH_PATTERN}'")
        except FileNotFoundError as e:
            raise Reply(500, f"fake_dropbox: a revision file in config.json is missing: {e}\n")
        if r is None:
            raise json_reply(409, NOT_FOUND)
        return r

    def route_get_metadata(self):
        meta, _ = self.lookup(self.get_path_arg(self.arg))
        raise json_reply(200, meta)

    def route_list_revisions(self):
        """files.stone list_revisions: ListRevisionsArg (path, mode path|id, limit 1..100 = 10,
        before_rev) -> ListRevisionsResult {is_deleted, entries: newest first, has_more}. The fake
        never deletes, so is_deleted is false; mode id lists the same history (no moves)."""
        arg = self.arg
        p = self.get_path_arg(arg)
        mode = arg.get("mode", "path")
        mode = mode.get(".tag") if isinstance(mode, dict) else mode
        limit = arg.get("limit", 10)
        if mode not in ("path", "id"):
            raise self.bad_request(f"request body: mode: unknown ListRevisionsMode {json.dumps(mode)}")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100:
            raise self.bad_request(f"request body: limit: {json.dumps(limit)} is not between 1 and 100")
        before = arg.get("before_rev")
        if before is not None and mode != "path":
            raise json_reply(409, error_json(["before_rev_not_supported"], {".tag": "before_rev_not_supported"}))
        try:
            key = self.canonical_path(p)
            r = self.server.state.resolve(key)
        except BadPath:
            raise self.bad_request(f"request body: path: '{p}' did not match pattern '{READ_PATH_PATTERN}'")
        if r is None:
            raise json_reply(409, NOT_FOUND)   # ListRevisionsError.path(LookupError.not_found)
        st = self.server.state
        display, recs = None, []
        for pl in st.all_paths():   # the history the resolved file (path, id: or rev:) belongs to
            d, rs = st.history(pl)
            if any(st.file_meta(d, i, rec)["rev"] == r[0]["rev"] for i, rec in enumerate(rs)):
                display, recs = d, rs
                break
        metas = [st.file_meta(display, i, rec) for i, rec in enumerate(recs)
                 if not st.rev_gone(i, len(recs))][::-1]
        if before is not None:
            revs = [m["rev"] for m in metas]
            if not isinstance(before, str) or before not in revs:
                raise json_reply(409, error_json(["invalid_before_rev"], {".tag": "invalid_before_rev"}))
            metas = metas[revs.index(before) + 1:]
        raise json_reply(200, {"is_deleted": False, "entries": metas[:limit], "has_more": len(metas) > limit})

    def route_download(self):
        # Any request body was read (and ignored) in handle_route.
        rev = self.arg.get("rev")
        meta, local = self.lookup(self.get_path_arg(self.arg),
                                  rev if isinstance(rev, str) else None)
        result = json.dumps(meta).replace("\x7f", "\\u007f")
        with open(local, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            rng = parse_range(self.headers.get("Range"), size)
            headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes",
                       "Dropbox-API-Result": result}
            if rng == "unsatisfiable":
                raise Reply(416, "Requested range not satisfiable\n",
                            headers={"Content-Range": f"bytes */{size}"})
            if rng is None:
                self.send_payload(200, headers, f, size)
            else:
                start, end = rng
                f.seek(start)
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
                self.send_payload(206, headers, f, end - start + 1, start)

    # uploads
    def upload_limit(self):
        return int(self.server.state.cfg("upload_limit", DEFAULT_UPLOAD_LIMIT))

    def check_call_hash(self, arg, hasher):
        want = arg.get("content_hash")
        if want is None:
            return True
        if not isinstance(want, str) or not HASH_RE.match(want):
            raise self.bad_request(f"request body: content_hash: '{want}' must be 64 hex characters")
        return want.lower() == hasher.hexdigest()

    def parse_commit(self, commit):
        """Validates CommitInfo; returns (commit, (mode tag, update rev))."""
        if not isinstance(commit, dict):
            raise self.bad_request("request body: missing required field 'commit'")
        p = commit.get("path")
        if not isinstance(p, str):
            raise self.bad_request("request body: missing required field 'path'")
        if not re.match(r"(/|ns:[0-9]+/)", p) or p.endswith("/") or "//" in p:
            raise self.bad_request(f"request body: path: '{p}' did not match pattern '{WRITE_PATH_PATTERN}'")
        commit = dict(commit, path=self.canonical_path(p))
        mode = commit.get("mode", "add")
        if isinstance(mode, dict):
            tag, rev = mode.get(".tag"), mode.get("update")
        else:
            tag, rev = mode, None
        if tag not in ("add", "overwrite", "update") or (tag == "update" and not isinstance(rev, str)):
            raise self.bad_request(f"request body: mode: unknown or incomplete WriteMode {json.dumps(mode)}")
        return commit, (tag, rev)

    def too_large(self):
        return json_reply(413, error_json(["payload_too_large"], {".tag": "payload_too_large"}))

    def route_upload(self):
        st = self.server.state
        commit, mode = self.parse_commit(self.arg)
        fd, tmp = tempfile.mkstemp(dir=st.uploads_dir, prefix="tmp-")
        try:
            hasher = ContentHasher()
            with os.fdopen(fd, "wb") as f:
                n = self.receive_into(f, [hasher], self.upload_limit())
            if n is None:
                raise self.too_large()
            if not self.check_call_hash(self.arg, hasher):
                raise json_reply(409, error_json(["content_hash_mismatch"], {".tag": "content_hash_mismatch"}))
            meta, err = st.commit(commit, mode, tmp, hasher.hexdigest())
            if err:
                # Like Dropbox, hand back an upload session holding the data so
                # the client could finish it elsewhere.
                s = st.new_session()
                os.replace(tmp, s.local)
                s.offset, s.hasher = n, hasher
                raise json_reply(409, error_json(
                    ["path"] + WRITE_ERRORS[err][0],
                    {".tag": "path", "reason": WRITE_ERRORS[err][1], "upload_session_id": s.id}))
            raise json_reply(200, meta)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def route_session_start(self):
        st = self.server.state
        s = st.new_session()
        ok = False
        try:
            with s.lock:
                self.append_to_session(s, self.arg, lambda e: e)
                s.closed = bool(self.arg.get("close"))
            ok = True
        finally:
            if not ok:
                with st.lock:
                    st.sessions.pop(s.id, None)
                os.unlink(s.local)
        raise json_reply(200, {"session_id": s.id})

    def session_for(self, arg, wrap):
        cursor = arg.get("cursor")
        if not isinstance(cursor, dict) or not isinstance(cursor.get("session_id"), str) \
                or not isinstance(cursor.get("offset"), int):
            raise self.bad_request("request body: cursor: missing or invalid session_id/offset")
        with self.server.state.lock:
            s = self.server.state.sessions.get(cursor["session_id"])
        if s is None:
            raise json_reply(409, wrap(error_json(["not_found"], {".tag": "not_found"})))
        return s, cursor["offset"]

    def check_offset(self, s, offset, wrap, closed_ok=False):
        st = self.server.state
        forced = st.take_fault(self.route, ("incorrect_offset",), self.path_ids, self.headers.get("Range"))
        if forced:
            self.faults.append("incorrect_offset")
        if forced or offset != s.offset:
            raise json_reply(409, wrap(error_json(
                ["incorrect_offset"], {".tag": "incorrect_offset", "correct_offset": s.offset})))
        if s.closed and not closed_ok:
            raise json_reply(409, wrap(error_json(["closed"], {".tag": "closed"})))

    def append_to_session(self, s, arg, wrap):
        """Appends this request's body to session s (s.lock held). All or
        nothing: on any error the session is left as it was."""
        old_offset, tentative, call = s.offset, s.hasher.copy(), ContentHasher()
        done = False
        try:
            with open(s.local, "r+b") as f:
                f.seek(old_offset)
                f.truncate()
                n = self.receive_into(f, [tentative, call], self.upload_limit())
            if n is None:
                raise self.too_large()
            if not self.check_call_hash(arg, call):
                raise json_reply(409, wrap(error_json(["content_hash_mismatch"],
                                                      {".tag": "content_hash_mismatch"})))
            s.offset, s.hasher = old_offset + n, tentative
            done = True
        finally:
            if not done:
                with open(s.local, "r+b") as f:
                    f.truncate(old_offset)
        return old_offset

    def route_session_append(self):
        s, offset = self.session_for(self.arg, lambda e: e)
        with s.lock:
            self.check_offset(s, offset, lambda e: e)
            self.append_to_session(s, self.arg, lambda e: e)
            if self.arg.get("close"):
                s.closed = True
        raise json_reply(200, None)

    def route_session_finish(self):
        st = self.server.state

        def lookup_failed(e):   # UploadSessionFinishError.lookup_failed(UploadSessionLookupError)
            return error_json(["lookup_failed"] + e["error_summary"][:-3].split("/"),
                              {".tag": "lookup_failed", "lookup_failed": e["error"]})

        commit, mode = self.parse_commit(self.arg.get("commit"))
        s, offset = self.session_for(self.arg, lookup_failed)
        with s.lock:
            self.check_offset(s, offset, lookup_failed, closed_ok=True)
            old_offset, old_hasher = s.offset, s.hasher.copy()
            self.append_to_session(s, self.arg, lambda e: e)
            meta, err = st.commit(commit, mode, s.local, s.hasher.hexdigest())
            if err:   # roll back this call's data so the finish can be retried
                with open(s.local, "r+b") as f:
                    f.truncate(old_offset)
                s.offset, s.hasher = old_offset, old_hasher
                raise json_reply(409, error_json(
                    ["path"] + WRITE_ERRORS[err][0], {".tag": "path", "path": WRITE_ERRORS[err][1]}))
            with st.lock:
                st.sessions.pop(s.id, None)
        raise json_reply(200, meta)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, addr, state, ssl_context, verbose):
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        self.state, self.ssl_context, self.verbose = state, ssl_context, verbose
        self.conn_lock = threading.Lock()
        self.conn_count = 0
        self.conn_info = {}              # id(socket) -> (connection id, accept time)
        self.local = threading.local()   # .conn of the connection this thread serves
        super().__init__(addr, Handler)

    def process_request(self, request, client_address):
        # Right after accept(), on the accepting thread: number the connection
        # (1, 2, ... in accept order) and note when it was accepted.
        with self.conn_lock:
            self.conn_count += 1
            self.conn_info[id(request)] = (self.conn_count, time.time())
        super().process_request(request, client_address)

    def finish_request(self, request, client_address):
        # Runs in the per-connection thread, so a slow TLS handshake only
        # blocks its own client.
        with self.conn_lock:
            self.local.conn = self.conn_info.pop(id(request), (None, None))
        if self.ssl_context is not None:
            request.settimeout(HANDSHAKE_TIMEOUT)
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
        try:
            self.RequestHandlerClass(request, client_address, self)
        finally:
            if self.ssl_context is not None:
                request.close()

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


def start_link(args, inner_port):
    """With --rtt-ms or --bandwidth-mbit: the public sockets (--host, and each --also-host on the
    same port) belong to wan_link.py (a child process), which relays to the server on inner_port
    through the shaped link. Returns (process, public port)."""
    listeners = []
    for host in [args.host] + args.also_host:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        port = listeners[0].getsockname()[1] if listeners else args.port
        listeners.append(socket.create_server((host, port), family=family, backlog=128))
    fds = [str(l.fileno()) for l in listeners]
    link = subprocess.Popen(
        [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "wan_link.py"),
         "--fd", ",".join(fds), "--to", f"127.0.0.1:{inner_port}",
         "--rtt-ms", str(args.rtt_ms), "--bandwidth-mbit", str(args.bandwidth_mbit)],
        pass_fds=[l.fileno() for l in listeners])
    port = listeners[0].getsockname()[1]
    for l in listeners:
        l.close()
    return link, port


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Dropbox HTTP API server (see README.md)")
    ap.add_argument("--state", required=True, help="state directory (config.json, log.jsonl, port, ...)")
    ap.add_argument("--cert", help="server certificate chain (PEM)")
    ap.add_argument("--key", help="server private key (PEM)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--plain-http", action="store_true", help="serve plain HTTP (no TLS)")
    ap.add_argument("--verbose", action="store_true", help="access log and errors on stderr")
    ap.add_argument("--rtt-ms", type=float, default=0.0,
                    help="shaped link: round-trip time of every flight, handshakes included (0 = off)")
    ap.add_argument("--bandwidth-mbit", type=float, default=0.0,
                    help="shaped link: token bucket in each direction, Mbit/s (0 = off)")
    ap.add_argument("--also-host", action="append", default=[],
                    help="shaped link only: also listen on this address, same port (a second origin)")
    args = ap.parse_args(argv)
    shaped = args.rtt_ms > 0 or args.bandwidth_mbit > 0
    if args.also_host and not shaped:
        ap.error("--also-host needs --rtt-ms or --bandwidth-mbit")

    ctx = None
    if not args.plain_http:
        if not (args.cert and args.key):
            ap.error("--cert and --key are required unless --plain-http")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)

    os.makedirs(args.state, exist_ok=True)
    state = State(args.state)
    state.refresh_config()
    link = None
    if shaped:
        server = Server(("127.0.0.1", 0), state, ctx, args.verbose)
        link, port = start_link(args, server.server_address[1])
    else:
        server = Server((args.host, args.port), state, ctx, args.verbose)
        port = server.server_address[1]

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()

    atomic_write(os.path.join(state.dir, "port"), f"{port}\n".encode())
    print(f"listening on {args.host}:{port}", flush=True)
    while not stop.wait(1):
        pass
    if link:
        link.terminate()
        link.wait()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
