"""Self-test for fake_dropbox.py: starts the server over TLS (test CA from
make_certs.sh) and exercises every route and fault with http.client.

Run from this directory:  python3 -m unittest test_fake_dropbox   (or pytest)
"""

import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fake_dropbox  # noqa: E402  (for the content-hash vectors)

TOKEN = "tok-good"
AUTH = {"Authorization": "Bearer " + TOKEN}
EMPTY_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def dropbox_hash(data):
    blocks = b"".join(hashlib.sha256(data[i:i + (4 << 20)]).digest()
                      for i in range(0, len(data), 4 << 20))
    return hashlib.sha256(blocks).hexdigest()


class RunsTheFake:
    """Starts fake_dropbox.py over TLS (a test CA from make_certs.sh) in a temporary directory for a
    test class, and stops it (the server must exit 0 on SIGTERM)."""

    @classmethod
    def make_dirs(cls, prefix, quiet=False):
        cls.tmp = tempfile.mkdtemp(prefix=prefix)
        cls.certs = os.path.join(cls.tmp, "certs")
        output = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL} if quiet else {}
        subprocess.run(["sh", os.path.join(HERE, "make_certs.sh"), cls.certs], check=True, **output)
        cls.state = os.path.join(cls.tmp, "state")
        os.makedirs(cls.state)

    @classmethod
    def start(cls, *extra):
        cls.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "fake_dropbox.py"), "--state", cls.state,
             "--cert", os.path.join(cls.certs, "server.pem"), "--key", os.path.join(cls.certs, "server.key"),
             *extra],
            stdout=subprocess.PIPE, text=True)
        line = cls.proc.stdout.readline()
        with open(os.path.join(cls.state, "port")) as f:
            cls.port = int(f.read())
        assert line.strip() == f"listening on 127.0.0.1:{cls.port}", line
        cls.ctx = ssl.create_default_context(cafile=os.path.join(cls.certs, "ca.pem"))

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        try:
            rc = cls.proc.wait(10)
        finally:
            cls.proc.stdout.close()
            shutil.rmtree(cls.tmp, ignore_errors=True)
        assert rc == 0, rc


class FakeDropboxTest(RunsTheFake, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.make_dirs("fake-dropbox-test-")
        cls.start()
        # Revision files.
        cls.rev1 = cls.local("rev1.db", b"first revision")
        cls.big = os.urandom((4 << 20) + 12345)
        cls.rev2 = cls.local("rev2.db", cls.big)

    @classmethod
    def local(cls, name, data):
        path = os.path.join(cls.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    # ------------------------------------------------------------ helpers
    def setUp(self):
        self.configure()
        self.open_conns = []
        # The server (and its log) is shared by all tests: log_entries reads only the requests
        # that arrived during this test.
        self.started = time.time()

    def tearDown(self):
        for c in self.open_conns:
            c.close()

    def configure(self, **extra):
        cfg = {"files": {"/Data/Database.db": [self.rev1, self.rev2]},
               "access_tokens": [TOKEN], "expired_tokens": ["tok-old"],
               "apps": {"app-key": "app-secret", "pkce-key": None},
               "refresh_tokens": {"rt-good": {"app_key": "app-key"},
                                  "rt-pkce": {"app_key": "pkce-key", "pkce": True}}}
        cfg.update(extra)
        tmp = os.path.join(self.state, "config.json.tmp")
        with open(tmp, "w") as f:
            json.dump(cfg, f)
        os.replace(tmp, os.path.join(self.state, "config.json"))

    def conn(self):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=10)

    def request(self, route, body=b"", headers=None, conn=None, read=True):
        c = conn or self.conn()
        if conn is None:
            self.open_conns.append(c)
        c.request("POST", route if route.startswith("/") else "/2/" + route, body=body,
                  headers=headers or {})
        r = c.getresponse()
        data = r.read() if read else None
        return r, data

    def rpc(self, route, arg, token=TOKEN, conn=None):
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + token
        r, data = self.request(route, json.dumps(arg).encode(), h, conn)
        return r, (json.loads(data) if r.getheader("Content-Type") == "application/json" else data)

    def download(self, arg, extra=None, conn=None, read=True):
        h = dict(AUTH, **{"Dropbox-API-Arg": json.dumps(arg)})
        h.update(extra or {})
        return self.request("files/download", b"", h, conn, read)

    def upload(self, route, arg, data, token=TOKEN, ctype="application/octet-stream"):
        h = {"Authorization": "Bearer " + token, "Dropbox-API-Arg": json.dumps(arg),
             "Content-Type": ctype}
        r, body = self.request(route, data, h)
        is_json = r.getheader("Content-Type") == "application/json"
        return r, (json.loads(body) if is_json else body)

    def metadata(self, path="/data/database.db"):
        r, m = self.rpc("files/get_metadata", {"path": path})
        self.assertEqual(r.status, 200, m)
        return m

    def log_entries(self, route=None, n=1):
        """The last n log lines (for route) of requests made by this test, waiting
        briefly: the server logs right after sending the response."""
        deadline = time.time() + 5
        while True:
            try:
                with open(os.path.join(self.state, "log.jsonl")) as f:
                    lines = [json.loads(l) for l in f]
            except FileNotFoundError:
                lines = []
            lines = [l for l in lines if (route is None or l["route"] == route)
                     and l.get("t_start", l["t"]) >= self.started]
            if len(lines) >= n or time.time() > deadline:
                return lines[-n:]
            time.sleep(0.02)

    def last_log(self, route):
        # Make sure the entry for the request just made is there.
        time.sleep(0.05)
        return self.log_entries(route)[-1]

    # ------------------------------------------------------------ tests
    def test_content_hash_vectors(self):
        vectors = {0: EMPTY_HASH,
                   1: "1cd6ef71e6e0ff46ad2609d403dc3fee244417089aa4461245a4e4fe23a55e42",
                   4194304: "d4d63bac5b866c71620185392a8a6218ac1092454a2d16f820363b69852befa3"}
        for n, want in vectors.items():
            h = fake_dropbox.ContentHasher()
            h.update(b"A" * n)
            self.assertEqual(h.hexdigest(), want, n)
        h = fake_dropbox.ContentHasher()
        for i in range(0, len(self.big), 1000003):
            h.update(self.big[i:i + 1000003])
        self.assertEqual(h.hexdigest(), dropbox_hash(self.big))

    def rpc_root(self, route, arg, root):
        h = {"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN}
        if root is not None:
            h["Dropbox-API-Path-Root"] = json.dumps(root)
        r, data = self.request(route, json.dumps(arg).encode(), h)
        return r, (json.loads(data) if r.getheader("Content-Type") == "application/json" else data)

    def test_namespaces_and_path_root(self):
        team = {"root_namespace_id": "7001", "home_path": "/Franz Ferdinand"}
        self.configure(team=team, namespaces=["7002"],
                       files={"ns:7001/Shared/team.db": self.rev1, "/mine.db": self.rev2})
        r, acct = self.rpc("users/get_current_account", None)
        self.assertEqual(acct["root_info"], {".tag": "team", "root_namespace_id": "7001",
                                             "home_namespace_id": "3235641",
                                             "home_path": "/Franz Ferdinand"})
        # Without the header, paths are in the home namespace; ns: paths name a namespace.
        r, err = self.rpc("files/get_metadata", {"path": "/Shared/team.db"})
        self.assertEqual(r.status, 409)
        m = self.metadata("ns:7001/Shared/team.db")
        self.assertEqual((m["path_display"], m["size"]), ("/Shared/team.db", len(b"first revision")))
        # Root mode: the team space; the home namespace is mounted at home_path.
        root = {".tag": "root", "root": "7001"}
        r, m2 = self.rpc_root("files/get_metadata", {"path": "/shared/TEAM.db"}, root)
        self.assertEqual((r.status, m2["rev"]), (200, m["rev"]))
        r, m3 = self.rpc_root("files/get_metadata", {"path": "/Franz Ferdinand/mine.db"}, root)
        self.assertEqual((r.status, m3["rev"]), (200, self.metadata("/mine.db")["rev"]))
        # Paths in answers are relative to the path root too (common.stone PathRoot): from the
        # team root, the home file is under home_path; from the home namespace, it is not.
        self.assertEqual((m3["path_display"], m3["path_lower"]),
                         ("/Franz Ferdinand/mine.db", "/franz ferdinand/mine.db"))
        r, m3b = self.rpc_root("files/get_metadata", {"path": "rev:" + m3["rev"]}, root)
        self.assertEqual(m3b["path_display"], "/Franz Ferdinand/mine.db")
        r, revs = self.rpc_root("files/list_revisions", {"path": "/Franz Ferdinand/mine.db"}, root)
        self.assertEqual([e["path_display"] for e in revs["entries"]], ["/Franz Ferdinand/mine.db"])
        self.assertEqual(self.metadata("/mine.db")["path_display"], "/mine.db")
        r, m3c = self.rpc_root("files/get_metadata", {"path": "/mine.db"}, {".tag": "home"})
        self.assertEqual(m3c["path_display"], "/mine.db")
        # namespace_id mode, and an upload into it.
        r, m4 = self.rpc_root("files/get_metadata", {"path": "/Shared/team.db"},
                              {".tag": "namespace_id", "namespace_id": "7001"})
        self.assertEqual(m4["rev"], m["rev"])
        r, up = self.upload("files/upload", {"path": "ns:7002/up.db", "mode": "add"}, b"in 7002")
        self.assertEqual((r.status, up["path_display"]), (200, "/up.db"))
        self.assertEqual(self.metadata("ns:7002/up.db")["rev"], up["rev"])
        r, err = self.rpc("files/get_metadata", {"path": "/up.db"})
        self.assertEqual(r.status, 409)   # not in the home namespace
        # PathRootError (422): a root that is not the account's, a namespace without access.
        r, err = self.rpc_root("files/get_metadata", {"path": "/x.db"}, {".tag": "root", "root": "3235641"})
        self.assertEqual((r.status, err["error_summary"]), (422, "invalid_root/.."))
        self.assertEqual(err["error"]["invalid_root"]["root_namespace_id"], "7001")
        r, err = self.rpc_root("files/get_metadata", {"path": "/x.db"},
                               {".tag": "namespace_id", "namespace_id": "999"})
        self.assertEqual((r.status, err["error"][".tag"]), (422, "no_permission"))
        r, err = self.rpc("files/get_metadata", {"path": "ns:999/x.db"})
        self.assertEqual(r.status, 409)
        r, _ = self.rpc_root("files/get_metadata", {"path": "/x.db"}, "not a union")
        self.assertEqual(r.status, 400)
        self.assertEqual(self.last_log("files/get_metadata")["path_root"], '"not a union"')
        # Leaving the team: the old root is now invalid, with the new root info.
        self.configure(files={"/mine.db": self.rev2})
        r, err = self.rpc_root("files/get_metadata", {"path": "/mine.db"}, root)
        self.assertEqual((r.status, err["error"]["invalid_root"][".tag"]), (422, "user"))

    def test_space_quota_and_data_transport_limit(self):
        # files.stone WriteError.insufficient_space: the account's space is the current revisions.
        # The server is shared: count what earlier tests uploaded (their current revisions) too.
        try:
            with open(os.path.join(self.state, "uploaded.json")) as f:
                uploads = json.load(f)
        except FileNotFoundError:
            uploads = {}
        uploads.setdefault("/data/database.db", [self.rev2])
        used = sum(os.path.getsize(revs[-1]) for revs in uploads.values())
        self.configure(space_quota=used + 10)
        p = "/Quota/q-%d.db" % time.time_ns()
        r, err = self.upload("files/upload", {"path": p, "mode": "add"}, b"x" * 11)
        self.assertEqual((r.status, err["error_summary"]), (409, "path/insufficient_space/.."))
        self.assertEqual(err["error"]["reason"], {".tag": "insufficient_space"})
        r, m = self.upload("files/upload", {"path": p, "mode": "add"}, b"x" * 10)
        self.assertEqual(r.status, 200, m)
        # Replacing a file counts only the new size; the old revision is history.
        r, m = self.upload("files/upload", {"path": p, "mode": "overwrite"}, b"y" * 10)
        self.assertEqual(r.status, 200, m)
        r, s = self.upload("files/upload_session/start", {"close": False}, b"z" * 11)
        r, err = self.upload("files/upload_session/finish",
                             {"cursor": {"session_id": s["session_id"], "offset": 11},
                              "commit": {"path": p + "2", "mode": "add"}}, b"")
        self.assertEqual((r.status, err["error"]), (409, {".tag": "path", "path": {".tag": "insufficient_space"}}))
        # The team's monthly data transport calls: every upload-route call counts.
        self.configure(data_transport_limit=1)
        r, s = self.upload("files/upload_session/start", {"close": False}, b"a")
        self.assertEqual(r.status, 200)
        r, err = self.upload("files/upload", {"path": p + "3"}, b"b")
        self.assertEqual((r.status, err["error_summary"]), (403, "invalid_account_type/feature/."))
        self.assertIn("data transport", err["user_message"]["text"])
        self.assertEqual(self.rpc("files/get_metadata", {"path": p})[0].status, 200)   # not an upload

    def test_list_revisions(self):
        p = "/Revs/list-%d.db" % time.time_ns()
        revs = []
        for data in (b"r1", b"r22", b"r333"):
            r, m = self.upload("files/upload", {"path": p, "mode": "overwrite"}, data)
            revs.append(m)
        r, res = self.rpc("files/list_revisions", {"path": p})
        self.assertEqual(r.status, 200, res)
        self.assertEqual((res["is_deleted"], res["has_more"]), (False, False))
        self.assertEqual([e["rev"] for e in res["entries"]], [m["rev"] for m in reversed(revs)])
        self.assertEqual([e["size"] for e in res["entries"]], [4, 3, 2])
        self.assertEqual(res["entries"][0]["content_hash"], dropbox_hash(b"r333"))
        self.assertIn("server_modified", res["entries"][0])
        r, res = self.rpc("files/list_revisions", {"path": p, "limit": 2})
        self.assertEqual((len(res["entries"]), res["has_more"]), (2, True))
        r, res = self.rpc("files/list_revisions", {"path": p, "limit": 2, "before_rev": res["entries"][-1]["rev"]})
        self.assertEqual(([e["rev"] for e in res["entries"]], res["has_more"]), ([revs[0]["rev"]], False))
        r, res = self.rpc("files/list_revisions", {"path": revs[0]["id"], "mode": {".tag": "id"}})
        self.assertEqual(len(res["entries"]), 3)
        r, err = self.rpc("files/list_revisions", {"path": p, "limit": 101})
        self.assertEqual(r.status, 400)
        r, err = self.rpc("files/list_revisions", {"path": p, "before_rev": "0123456789abcdef"})
        self.assertEqual((r.status, err["error"][".tag"]), (409, "invalid_before_rev"))
        r, err = self.rpc("files/list_revisions", {"path": "/Revs/missing.db"})
        self.assertEqual((r.status, err["error_summary"]), (409, "path/not_found/.."))

    def test_get_metadata(self):
        m = self.metadata("/DATA/database.DB")
        self.assertEqual(m[".tag"], "file")
        self.assertEqual(m["name"], "Database.db")
        self.assertEqual(m["path_display"], "/Data/Database.db")
        self.assertEqual(m["path_lower"], "/data/database.db")
        self.assertEqual(m["size"], len(self.big))
        self.assertEqual(m["content_hash"], dropbox_hash(self.big))
        self.assertTrue(m["is_downloadable"])
        self.assertRegex(m["rev"], r"^[0-9a-f]{9,}$")
        self.assertRegex(m["server_modified"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(self.metadata("rev:" + m["rev"]), m)
        self.assertEqual(self.metadata(m["id"]), m)
        # The rev is stable and differs between revisions.
        self.assertEqual(self.metadata()["rev"], m["rev"])
        r, body = self.rpc("files/get_metadata", {"path": "/missing"})
        self.assertEqual(r.status, 409)
        self.assertTrue(body["error_summary"].startswith("path/not_found/"))
        self.assertEqual(body["error"], {".tag": "path", "path": {".tag": "not_found"}})
        r, body = self.rpc("files/get_metadata", {"path": "rev:0123456789abcdef"})
        self.assertEqual(r.status, 409)
        r, body = self.rpc("files/get_metadata", {"path": "no-slash"})
        self.assertEqual(r.status, 400)
        self.assertIn(b'Error in call to API function "files/get_metadata"', body)
        r, body = self.request("files/get_metadata", b'{"path": "/x"}',
                               dict(AUTH, **{"Content-Type": "application/x-www-form-urlencoded"}))
        self.assertEqual(r.status, 400)
        self.assertIn(b"Content-Type", body)

    def test_auth(self):
        r, body = self.rpc("files/get_metadata", {"path": "/data/database.db"}, token="tok-old")
        self.assertEqual((r.status, body["error"][".tag"]), (401, "expired_access_token"))
        self.assertTrue(body["error_summary"].startswith("expired_access_token/"))
        r, body = self.rpc("files/get_metadata", {"path": "/data/database.db"}, token="nope")
        self.assertEqual((r.status, body["error"][".tag"]), (401, "invalid_access_token"))
        r, body = self.rpc("files/get_metadata", {"path": "/data/database.db"}, token=None)
        self.assertEqual(r.status, 400)
        # Run-time expiry survives config rewrites, so use a token of its own.
        self.configure(access_tokens=["tok-count"], expire_after_requests={"tok-count": 2})
        statuses = [self.rpc("files/get_metadata", {"path": "/data/database.db"}, "tok-count")[0].status
                    for _ in range(3)]
        self.assertEqual(statuses, [200, 200, 401])
        self.assertEqual(self.last_log("files/get_metadata")["auth"], "tok-count")

    def test_content_auth_quirk(self):
        self.configure(content_auth_quirk=True)
        h = {"Authorization": "Bearer tok-old", "Dropbox-API-Arg": '{"path": "/data/database.db"}'}
        r, body = self.request("files/download", b"", h)
        body = json.loads(body)
        self.assertEqual((r.status, body["error"]), (401, {".tag": "other"}))
        self.assertIn("expired_access_token", body["user_message"]["text"])

    def test_oauth(self):
        def token(**form):
            body = "&".join(f"{k}={v}" for k, v in form.items()).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            if "basic" in form:
                import base64
                headers["Authorization"] = "Basic " + base64.b64encode(form.pop("basic").encode()).decode()
                body = "&".join(f"{k}={v}" for k, v in form.items()).encode()
            r, data = self.request("/oauth2/token", body, headers)
            return r.status, json.loads(data)
        self.configure(issue_tokens=["tok-new-1", "tok-new-2"], token_expires_in=600)
        self.assertEqual(token(grant_type="refresh_token", refresh_token="bad", client_id="app-key",
                               client_secret="app-secret")[1]["error"], "invalid_grant")
        self.assertEqual(token(grant_type="refresh_token", refresh_token="rt-good", client_id="other",
                               client_secret="app-secret")[1]["error"], "invalid_client")
        self.assertEqual(token(grant_type="refresh_token", refresh_token="rt-good", client_id="app-key",
                               client_secret="wrong")[1]["error"], "invalid_client")
        status, body = token(grant_type="refresh_token", refresh_token="rt-good", client_id="app-key")
        self.assertEqual((status, body["error"]), (400, "invalid_request"))
        self.assertIn("No auth function", body["error_description"])
        status, body = token(grant_type="refresh_token", refresh_token="rt-good", client_id="app-key",
                             client_secret="app-secret")
        self.assertEqual((status, body), (200, {"access_token": "tok-new-1", "token_type": "bearer",
                                                "expires_in": 600}))
        status, body = token(grant_type="refresh_token", refresh_token="rt-good", basic="app-key:app-secret")
        self.assertEqual(body["access_token"], "tok-new-2")
        status, body = token(grant_type="refresh_token", refresh_token="rt-pkce", client_id="pkce-key")
        self.assertEqual(status, 200)
        self.assertTrue(body["access_token"].startswith("sl.fake-"))
        for tok in ("tok-new-1", body["access_token"]):
            self.assertEqual(self.rpc("files/get_metadata", {"path": "/data/database.db"}, tok)[0].status, 200)
        log = self.last_log("oauth2/token")
        self.assertEqual(log["arg"]["refresh_token"], "rt-pkce")

    # -- the authorization-code grant (entrypoint --authorize)
    def authorize_page(self, **query):
        c = self.conn()
        self.open_conns.append(c)
        import urllib.parse
        c.request("GET", "/oauth2/authorize?" + urllib.parse.urlencode(query))
        r = c.getresponse()
        return r.status, r.read().decode().strip()

    def form_token(self, form, basic=None):
        import base64
        import urllib.parse
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if basic:
            headers["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
        r, data = self.request("/oauth2/token", urllib.parse.urlencode(form).encode(), headers)
        return r.status, json.loads(data)

    def test_authorize_page_validates_like_dropbox(self):
        ok = dict(client_id="app-key", response_type="code", token_access_type="offline")
        self.assertEqual(self.authorize_page(**ok)[0], 200)
        for bad in (dict(ok, client_id="nope"), dict(ok, response_type="token"),
                    dict(ok, token_access_type="forever"), dict(ok, redirect_uri="https://x/cb"),
                    dict(ok, code_challenge="short", code_challenge_method="S256"),
                    dict(ok, code_challenge="a" * 43, code_challenge_method="S512"),
                    dict(ok, code_challenge_method="S256")):
            status, text = self.authorize_page(**bad)
            self.assertEqual(status, 400, (bad, text))
        # A challenge without a method means plain (RFC 7636).
        status, _ = self.authorize_page(**dict(ok, code_challenge="a" * 43))
        self.assertEqual(status, 200)

    def test_code_grant_with_secret(self):
        self.configure(issue_tokens=["tok-code-1"], issue_refresh_tokens=["rt-code-1"])
        status, code = self.authorize_page(client_id="app-key", response_type="code",
                                           token_access_type="offline")
        self.assertEqual(status, 200)
        base = dict(grant_type="authorization_code", code=code, client_id="app-key")
        # No secret and no PKCE: refused, the code stays usable.
        status, body = self.form_token(base)
        self.assertEqual((status, body["error"]), (400, "invalid_request"))
        status, body = self.form_token(dict(base, client_secret="wrong"))
        self.assertEqual((status, body["error"]), (400, "invalid_client"))
        status, body = self.form_token(dict(base, client_id="other", client_secret="app-secret"))
        self.assertEqual((status, body["error"]), (400, "invalid_client"))
        status, body = self.form_token(dict(base, client_secret="app-secret"))
        self.assertEqual(status, 200, body)
        self.assertEqual((body["access_token"], body["refresh_token"], body["token_type"]),
                         ("tok-code-1", "rt-code-1", "bearer"))
        self.assertIn("files.content.read", body["scope"].split())
        # Single use.
        status, body = self.form_token(dict(base, client_secret="app-secret"))
        self.assertEqual((status, body), (400, {"error": "invalid_grant",
                                                "error_description": "code doesn't exist or has expired"}))
        # The access token works; the refresh token refreshes (with the secret, also via Basic).
        r, acct = self.request("users/get_current_account", b"null",
                               {"Authorization": "Bearer tok-code-1", "Content-Type": "application/json"})
        self.assertEqual(r.status, 200)
        self.assertTrue(json.loads(acct)["account_id"].startswith("dbid:"))
        status, body = self.form_token(dict(grant_type="refresh_token", refresh_token="rt-code-1"),
                                       basic="app-key:app-secret")
        self.assertEqual(status, 200, body)
        status, body = self.form_token(dict(grant_type="refresh_token", refresh_token="rt-code-1",
                                            client_id="app-key"))
        self.assertEqual((status, body["error"]), (400, "invalid_request"))
        # HTTP Basic for the exchange too.
        _, code = self.authorize_page(client_id="app-key", response_type="code", token_access_type="offline")
        status, body = self.form_token(dict(grant_type="authorization_code", code=code),
                                       basic="app-key:app-secret")
        self.assertEqual(status, 200, body)

    def test_code_grant_with_pkce(self):
        import base64
        verifier = "v" * 20 + "-._~" + "A1" * 20
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        status, code = self.authorize_page(client_id="pkce-key", response_type="code",
                                           token_access_type="offline", code_challenge=challenge,
                                           code_challenge_method="S256")
        self.assertEqual(status, 200)
        base = dict(grant_type="authorization_code", code=code, client_id="pkce-key")
        status, body = self.form_token(base)
        self.assertEqual((status, body["error"]), (400, "invalid_request"))
        status, body = self.form_token(dict(base, code_verifier="w" * 43))
        self.assertEqual((status, body["error"]), (400, "invalid_grant"))
        # A secret for an app without one is a client error.
        status, body = self.form_token(dict(base, code_verifier=verifier, client_secret="x"))
        self.assertEqual((status, body["error"]), (400, "invalid_client"))
        status, body = self.form_token(dict(base, code_verifier=verifier))
        self.assertEqual(status, 200, body)
        refresh = body["refresh_token"]
        # Used.
        self.assertEqual(self.form_token(dict(base, code_verifier=verifier))[1]["error"], "invalid_grant")
        # A PKCE refresh token refreshes without a secret.
        status, body = self.form_token(dict(grant_type="refresh_token", refresh_token=refresh,
                                            client_id="pkce-key"))
        self.assertEqual(status, 200, body)
        # PKCE works for an app that has a secret too, without sending it.
        _, code = self.authorize_page(client_id="app-key", response_type="code", token_access_type="offline",
                                      code_challenge=challenge, code_challenge_method="S256")
        status, body = self.form_token(dict(grant_type="authorization_code", code=code, client_id="app-key",
                                            code_verifier=verifier))
        self.assertEqual(status, 200, body)

    def test_code_grant_expiry_and_offline(self):
        self.configure(code_expires_in=0)
        _, code = self.authorize_page(client_id="app-key", response_type="code", token_access_type="offline")
        status, body = self.form_token(dict(grant_type="authorization_code", code=code, client_id="app-key",
                                            client_secret="app-secret"))
        self.assertEqual((status, body["error"]), (400, "invalid_grant"))
        self.configure()
        # Without token_access_type=offline there is no refresh token.
        _, code = self.authorize_page(client_id="app-key", response_type="code")
        status, body = self.form_token(dict(grant_type="authorization_code", code=code, client_id="app-key",
                                            client_secret="app-secret"))
        self.assertEqual(status, 200, body)
        self.assertNotIn("refresh_token", body)
        # A code is bound to the app it was issued to.
        _, code = self.authorize_page(client_id="app-key", response_type="code", token_access_type="offline")
        status, body = self.form_token(dict(grant_type="authorization_code", code=code, client_id="pkce-key",
                                            code_verifier="v" * 43))
        self.assertEqual((status, body["error"]), (400, "invalid_grant"))

    def test_get_current_account(self):
        h = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}
        r, body = self.request("users/get_current_account", b"null", h)
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(body)["email"], "franz@example.com")
        r, body = self.request("users/get_current_account", b"{}", h)
        self.assertEqual(r.status, 400)
        self.assertIn(b"expected null", body)
        r, body = self.request("users/get_current_account", b"null",
                               {"Authorization": "Bearer nope", "Content-Type": "application/json"})
        self.assertEqual(r.status, 401)
        r, body = self.request("users/get_current_account", b"null", {"Authorization": "Bearer " + TOKEN})
        self.assertEqual(r.status, 400)

    def test_download_and_ranges(self):
        m = self.metadata()
        c = self.conn()   # all on one keep-alive connection
        r, data = self.download({"path": "/data/database.db"}, conn=c)
        self.assertEqual((r.status, data), (200, self.big))
        self.assertEqual(r.getheader("Content-Type"), "application/octet-stream")
        self.assertEqual(json.loads(r.getheader("Dropbox-API-Result")), m)
        r, data = self.download({"path": "rev:" + m["rev"]}, {"Range": "bytes=100-"}, conn=c)
        self.assertEqual((r.status, data), (206, self.big[100:]))
        self.assertEqual(r.getheader("Content-Range"), f"bytes 100-{len(self.big) - 1}/{len(self.big)}")
        r, data = self.download({"path": "rev:" + m["rev"]}, {"Range": "bytes=10-19"}, conn=c)
        self.assertEqual((r.status, data), (206, self.big[10:20]))
        r, data = self.download({"path": "rev:" + m["rev"]}, {"Range": "bytes=-7"}, conn=c)
        self.assertEqual((r.status, data), (206, self.big[-7:]))
        r, data = self.download({"path": "/data/database.db"}, {"Range": f"bytes={len(self.big)}-"}, conn=c)
        self.assertEqual(r.status, 416)
        log = self.last_log("files/download")
        self.assertEqual((log["status"], log["range"]), (416, f"bytes={len(self.big)}-"))
        r, _ = self.download({"path": "/nope"}, conn=c)
        self.assertEqual(r.status, 409)
        # The official SDK sends no Content-Type; a form one is rejected.
        r, body = self.download({"path": "/data/database.db"},
                                {"Content-Type": "application/x-www-form-urlencoded"}, conn=c)
        self.assertEqual(r.status, 400)
        self.assertIn(b'Bad HTTP "Content-Type" header', body)
        # Raw non-ASCII in the header is rejected; \\u escapes are fine.
        c.putrequest("POST", "/2/files/download")
        c.putheader("Authorization", "Bearer " + TOKEN)
        c.putheader("Dropbox-API-Arg", '{"path": "/dätä"}'.encode("utf-8"))
        c.putheader("Content-Length", "0")
        c.endheaders()
        r = c.getresponse()
        body = r.read()
        self.assertEqual(r.status, 400)
        self.assertIn(b"header", body)
        r, _ = self.download({"path": "/dätä"}, conn=c)   # json.dumps escapes as \u00e4
        self.assertEqual(r.status, 409)
        c.close()

    def test_old_revision(self):
        # rev1 is revision 0 either way, so its rev is the same in both configs.
        self.configure(files={"/Data/Database.db": [self.rev1]})
        m1 = self.metadata()
        self.configure()
        self.assertNotEqual(m1["rev"], self.metadata()["rev"])
        r, data = self.download({"path": "rev:" + m1["rev"]})
        self.assertEqual((r.status, data), (200, b"first revision"))
        self.assertEqual(json.loads(r.getheader("Dropbox-API-Result"))["rev"], m1["rev"])

    def test_history_kept(self):
        # Only the newest revision is kept: the older one is an unknown rev everywhere.
        r, body = self.rpc("files/list_revisions", {"path": "/data/database.db"})
        current, old = body["entries"]
        self.assertEqual(self.download({"path": "rev:" + old["rev"]})[0].status, 200)
        self.configure(history_kept=1)
        self.assertEqual(self.metadata(), current)
        for arg in ({"path": "rev:" + old["rev"]}, {"path": "/data/database.db", "rev": old["rev"]}):
            r, body = self.download(arg)
            self.assertEqual(r.status, 409)
            self.assertTrue(json.loads(body)["error_summary"].startswith("path/not_found/"))
        r, body = self.rpc("files/get_metadata", {"path": "rev:" + old["rev"]})
        self.assertEqual(r.status, 409)
        self.assertEqual(self.download({"path": "rev:" + current["rev"]})[0].status, 200)
        r, body = self.rpc("files/list_revisions", {"path": "/data/database.db"})
        self.assertEqual([e["rev"] for e in body["entries"]], [current["rev"]])

    def test_unknown_routes(self):
        r, _ = self.rpc("files/list_folder", {"path": ""})
        self.assertEqual(r.status, 400)
        r, _ = self.request("/nothing", b"")
        self.assertEqual(r.status, 400)

    def test_fault_status_and_times(self):
        body = json.dumps({"error_summary": "too_many_requests/..",
                           "error": {"reason": {".tag": "too_many_requests"}, "retry_after": 1}})
        self.configure(faults=[{"route": "files/get_metadata", "kind": "status", "status": 429,
                                "body": body, "headers": {"Retry-After": "1"}, "times": 2}])
        c = self.conn()
        for _ in range(2):
            r, b = self.rpc("files/get_metadata", {"path": "/data/database.db"}, conn=c)
            self.assertEqual((r.status, r.getheader("Retry-After")), (429, "1"))
            self.assertEqual(b["error"]["retry_after"], 1)
        self.assertEqual(self.rpc("files/get_metadata", {"path": "/data/database.db"}, conn=c)[0].status, 200)
        self.assertEqual(self.log_entries("files/get_metadata", 3)[0]["fault"], "status")
        # Rewriting config resets the counters; path matching also matches by rev.
        rev = self.metadata()["rev"]
        self.configure(faults=[{"route": "*", "kind": "status", "status": 503, "path": "/DATA/database.db",
                                "times": -1}])
        self.assertEqual(self.download({"path": "/other"})[0].status, 409)
        for _ in range(3):
            self.assertEqual(self.download({"path": "rev:" + rev}, conn=c)[0].status, 503)
        c.close()

    def test_fault_drop_after(self):
        self.configure(faults=[{"route": "files/download", "kind": "drop_after", "bytes": 1000}])
        r, _ = self.download({"path": "/data/database.db"}, read=False)
        self.assertEqual(int(r.getheader("Content-Length")), len(self.big))
        with self.assertRaises((http.client.IncompleteRead, ConnectionError, ssl.SSLError)):
            r.read()
        log = self.last_log("files/download")
        self.assertEqual((log["fault"], log["bytes_sent"]), ("drop_after", 1000))
        r, data = self.download({"path": "/data/database.db"})
        self.assertEqual(data, self.big)

    def test_fault_truncate_corrupt_html(self):
        # Response-replacing faults (html) are checked before body faults,
        # whatever their order in the list.
        self.configure(faults=[{"route": "files/download", "kind": "truncate", "bytes": 10},
                               {"route": "files/download", "kind": "corrupt_byte", "offset": 5},
                               {"route": "files/download", "kind": "html"}])
        r, data = self.download({"path": "/data/database.db"})
        self.assertEqual((r.status, r.getheader("Content-Type")), (200, "text/html"))
        self.assertIsNone(r.getheader("Dropbox-API-Result"))
        self.assertIn(b"<html>", data)
        r, data = self.download({"path": "/data/database.db"})
        self.assertEqual((r.status, data), (200, self.big[:10]))
        r, data = self.download({"path": "/data/database.db"}, {"Range": "bytes=3-9"})
        self.assertEqual(data, self.big[3:5] + bytes([self.big[5] ^ 0xFF]) + self.big[6:10])
        self.assertEqual(self.last_log("files/download")["fault"], "corrupt_byte")

    def test_fault_throttle_stall_delay(self):
        self.configure(files={"/small": [self.rev1]},
                       faults=[{"route": "files/download", "kind": "throttle", "bytes_per_second": 50},
                               {"route": "files/download", "kind": "stall", "bytes": 3, "seconds": 0.5},
                               {"route": "files/get_metadata", "kind": "delay", "seconds": 0.3}])
        t0 = time.time()
        r, data = self.download({"path": "/small"})
        self.assertEqual(data, b"first revision")
        self.assertGreater(time.time() - t0, 0.2)   # 14 bytes at 50 B/s
        t0 = time.time()
        r, _ = self.download({"path": "/small"}, read=False)
        self.assertEqual(r.read(3), b"fir")
        with self.assertRaises((http.client.IncompleteRead, ConnectionError, ssl.SSLError)):
            r.read()
        self.assertGreater(time.time() - t0, 0.4)
        t0 = time.time()
        self.assertEqual(self.rpc("files/get_metadata", {"path": "/small"})[0].status, 200)
        self.assertGreater(time.time() - t0, 0.25)
        self.assertEqual(self.last_log("files/get_metadata")["fault"], "delay")

    def test_fault_auth_other_and_expire_token(self):
        self.configure(faults=[{"route": "files/download", "kind": "auth_other"},
                               {"route": "files/get_metadata", "kind": "expire_token"}])
        r, data = self.download({"path": "/data/database.db"})
        body = json.loads(data)
        self.assertEqual((r.status, body["error"][".tag"]), (401, "other"))
        self.assertIn("expired_access_token", body["user_message"]["text"])
        self.configure(access_tokens=["tok-x"],
                       faults=[{"route": "files/get_metadata", "kind": "expire_token"}])
        self.assertEqual(self.rpc("files/get_metadata", {"path": "/data/database.db"}, "tok-x")[0].status, 200)
        r, body = self.rpc("files/get_metadata", {"path": "/data/database.db"}, "tok-x")
        self.assertEqual((r.status, body["error"][".tag"]), (401, "expired_access_token"))

    def test_upload(self):
        p = "/Backup/up-%d.db" % time.time_ns()
        r, m = self.upload("files/upload", {"path": p, "mode": "add"}, b"v1")
        self.assertEqual((r.status, m["size"], m["content_hash"]), (200, 2, dropbox_hash(b"v1")))
        self.assertEqual(m["path_display"], p)
        # Identical content: no-op, same rev.
        r, m2 = self.upload("files/upload", {"path": p, "mode": "add"}, b"v1")
        self.assertEqual((r.status, m2["rev"]), (200, m["rev"]))
        # add with different content: conflict.
        r, err = self.upload("files/upload", {"path": p, "mode": "add"}, b"v2")
        self.assertEqual(r.status, 409)
        self.assertTrue(err["error_summary"].startswith("path/conflict/file"))
        self.assertEqual(err["error"]["reason"]["conflict"][".tag"], "file")
        # update with a stale rev: conflict; with the current rev: ok.
        r, err = self.upload("files/upload", {"path": p, "mode": {".tag": "update", "update": "0123456789"}}, b"v2")
        self.assertEqual(r.status, 409)
        r, m3 = self.upload("files/upload", {"path": p, "mode": {".tag": "update", "update": m["rev"]},
                                             "content_hash": dropbox_hash(b"v2")}, b"v2")
        self.assertEqual(r.status, 200)
        self.assertNotEqual(m3["rev"], m["rev"])
        r, m4 = self.upload("files/upload", {"path": p, "mode": "overwrite"}, b"v3")
        self.assertEqual(r.status, 200)
        r, data = self.download({"path": p})
        self.assertEqual(data, b"v3")
        with open(os.path.join(self.state, "uploaded.json")) as f:
            files = json.load(f)[p.lower()]
        contents = []
        for x in files:
            with open(x, "rb") as f:
                contents.append(f.read())
        self.assertEqual(contents, [b"v1", b"v2", b"v3"])
        self.assertEqual(self.metadata("rev:" + m["rev"])["size"], 2)   # history kept
        # Errors.
        r, err = self.upload("files/upload", {"path": p, "mode": "overwrite",
                                              "content_hash": dropbox_hash(b"zz")}, b"v4")
        self.assertEqual((r.status, err["error"][".tag"]), (409, "content_hash_mismatch"))
        r, _ = self.upload("files/upload", {"path": p}, b"v4", ctype="application/json")
        self.assertEqual(r.status, 400)
        self.configure(upload_limit=10)
        r, err = self.upload("files/upload", {"path": p, "mode": "overwrite"}, b"x" * 11)
        self.assertEqual((r.status, err["error"][".tag"]), (413, "payload_too_large"))
        log = self.last_log("files/upload")
        self.assertEqual((log["bytes_received"], log["arg"]), (11, {"path": p, "mode": "overwrite"}))

    def test_upload_session(self):
        p = "/Backup/session-%d.db" % time.time_ns()
        data = os.urandom((4 << 20) + 3000)
        r, s = self.upload("files/upload_session/start", {"close": False}, data[:1000])
        self.assertEqual(r.status, 200)
        sid = s["session_id"]
        r, body = self.upload("files/upload_session/append_v2",
                              {"cursor": {"session_id": sid, "offset": 1000}, "close": False,
                               "content_hash": dropbox_hash(data[1000:(4 << 20)])}, data[1000:(4 << 20)])
        self.assertEqual((r.status, body), (200, None))
        # Wrong offset -> incorrect_offset with the real one.
        r, err = self.upload("files/upload_session/append_v2",
                             {"cursor": {"session_id": sid, "offset": 5}, "close": False}, b"junk")
        self.assertEqual((r.status, err["error"]), (409, {".tag": "incorrect_offset", "correct_offset": 4 << 20}))
        # Forced incorrect_offset: the data is discarded.
        self.configure(faults=[{"route": "files/upload_session/append_v2", "kind": "incorrect_offset"}])
        r, err = self.upload("files/upload_session/append_v2",
                             {"cursor": {"session_id": sid, "offset": 4 << 20}}, data[4 << 20:(4 << 20) + 1000])
        self.assertEqual((r.status, err["error"]["correct_offset"]), (409, 4 << 20))
        r, body = self.upload("files/upload_session/append_v2",
                              {"cursor": {"session_id": sid, "offset": 4 << 20}, "close": False},
                              data[4 << 20:(4 << 20) + 1000])
        self.assertEqual(r.status, 200)
        # Bad per-call hash: rejected, nothing appended.
        r, err = self.upload("files/upload_session/append_v2",
                             {"cursor": {"session_id": sid, "offset": (4 << 20) + 1000},
                              "content_hash": EMPTY_HASH}, b"zz")
        self.assertEqual((r.status, err["error"][".tag"]), (409, "content_hash_mismatch"))
        # finish with a wrong offset -> lookup_failed/incorrect_offset.
        commit = {"path": p, "mode": "add", "autorename": False, "mute": False, "strict_conflict": False}
        r, err = self.upload("files/upload_session/finish",
                             {"cursor": {"session_id": sid, "offset": 1}, "commit": commit}, b"")
        self.assertEqual(r.status, 409)
        self.assertEqual(err["error"], {".tag": "lookup_failed", "lookup_failed": {
            ".tag": "incorrect_offset", "correct_offset": (4 << 20) + 1000}})
        self.assertTrue(err["error_summary"].startswith("lookup_failed/incorrect_offset/"))
        r, m = self.upload("files/upload_session/finish",
                           {"cursor": {"session_id": sid, "offset": (4 << 20) + 1000}, "commit": commit},
                           data[(4 << 20) + 1000:])
        self.assertEqual(r.status, 200, m)
        self.assertEqual((m["size"], m["content_hash"]), (len(data), dropbox_hash(data)))
        self.assertEqual(self.download({"path": p})[1], data)
        # The session is gone.
        r, err = self.upload("files/upload_session/append_v2",
                             {"cursor": {"session_id": sid, "offset": len(data)}}, b"")
        self.assertEqual((r.status, err["error"][".tag"]), (409, "not_found"))
        # finish conflict (add over different content).
        r, s = self.upload("files/upload_session/start", {"close": True}, b"other")
        r, err = self.upload("files/upload_session/finish",
                             {"cursor": {"session_id": s["session_id"], "offset": 5}, "commit": commit}, b"")
        self.assertEqual(r.status, 409)
        self.assertTrue(err["error_summary"].startswith("path/conflict/file"))
        self.assertEqual(err["error"]["path"][".tag"], "conflict")

    def test_upload_retry_with_strict_conflict_is_a_conflict(self):
        p = "/Backup/strict-%d.db" % time.time_ns()
        r, m = self.upload("files/upload", {"path": p, "mode": "add"}, b"v1")
        self.assertEqual(r.status, 200)
        mode = {".tag": "update", "update": m["rev"]}
        r, m2 = self.upload("files/upload", {"path": p, "mode": mode, "strict_conflict": True}, b"v2")
        self.assertEqual(r.status, 200)
        # The same request again (its answer was lost): the rev moved on, so a conflict...
        r, err = self.upload("files/upload", {"path": p, "mode": mode, "strict_conflict": True}, b"v2")
        self.assertEqual(r.status, 409)
        self.assertTrue(err["error_summary"].startswith("path/conflict/file"), err)
        # ...but without strict_conflict identical content is still a no-op.
        r, m3 = self.upload("files/upload", {"path": p, "mode": mode}, b"v2")
        self.assertEqual((r.status, m3["rev"]), (200, m2["rev"]))

    def test_strict_conflict_forces_a_conflict_on_identical_content(self):
        # files.stone CommitInfo.strict_conflict: "This also forces a conflict even when the
        # target path refers to a file with identical contents."
        p = "/Backup/strict-same-%d.db" % time.time_ns()
        r, m = self.upload("files/upload", {"path": p, "mode": "add", "strict_conflict": True}, b"v1")
        self.assertEqual(r.status, 200)
        for mode in ("add", {".tag": "update", "update": m["rev"]}):
            r, err = self.upload("files/upload", {"path": p, "mode": mode, "strict_conflict": True}, b"v1")
            self.assertEqual(r.status, 409, mode)
            self.assertTrue(err["error_summary"].startswith("path/conflict/file"), err)
        # overwrite never conflicts: identical content stays a no-op.
        r, m2 = self.upload("files/upload", {"path": p, "mode": "overwrite", "strict_conflict": True}, b"v1")
        self.assertEqual((r.status, m2["rev"]), (200, m["rev"]))
        # A session finish follows the same rule.
        r, s = self.upload("files/upload_session/start", {"close": False}, b"v1")
        commit = {"path": p, "mode": "add", "strict_conflict": True}
        r, err = self.upload("files/upload_session/finish",
                             {"cursor": {"session_id": s["session_id"], "offset": 2}, "commit": commit}, b"")
        self.assertEqual(r.status, 409)
        self.assertTrue(err["error_summary"].startswith("path/conflict/file"), err)
        # update with the current rev and other content is written as usual.
        r, m3 = self.upload("files/upload", {"path": p, "mode": {".tag": "update", "update": m["rev"]},
                                             "strict_conflict": True}, b"v2")
        self.assertEqual(r.status, 200)
        self.assertNotEqual(m3["rev"], m["rev"])

    def upload_raises(self, route, arg, data):
        with self.assertRaises((http.client.RemoteDisconnected, http.client.IncompleteRead,
                                ConnectionError, ssl.SSLError)):
            self.upload(route, arg, data)

    def test_fault_reset_after_store(self):
        p = "/Backup/reset-%d.db" % time.time_ns()
        self.configure(faults=[{"route": "files/upload", "kind": "reset_after_store"}])
        self.upload_raises("files/upload", {"path": p, "mode": "add"}, b"stored")
        log = self.last_log("files/upload")
        self.assertEqual((log["fault"], log["status"], log["bytes_received"]), ("reset_after_store", None, 6))
        # The data was committed although the answer was lost.
        self.assertEqual(self.metadata(p)["content_hash"], dropbox_hash(b"stored"))
        # Session: the append is stored, the answer lost; the retry learns the offset.
        self.configure(faults=[{"route": "files/upload_session/append_v2", "kind": "reset_after_store"},
                               {"route": "files/upload_session/finish", "kind": "reset_after_store"}])
        r, s = self.upload("files/upload_session/start", {"close": False}, b"abc")
        sid = s["session_id"]
        cursor = {"session_id": sid, "offset": 3}
        self.upload_raises("files/upload_session/append_v2", {"cursor": cursor}, b"def")
        r, err = self.upload("files/upload_session/append_v2", {"cursor": cursor}, b"def")
        self.assertEqual((r.status, err["error"]), (409, {".tag": "incorrect_offset", "correct_offset": 6}))
        q = p + ".session"
        commit = {"path": q, "mode": "add"}
        self.upload_raises("files/upload_session/finish", {"cursor": {"session_id": sid, "offset": 6}, "commit": commit}, b"g")
        self.assertEqual(self.metadata(q)["content_hash"], dropbox_hash(b"abcdefg"))
        # Only successes lose their answer: an error is answered normally.
        self.configure(faults=[{"route": "files/upload", "kind": "reset_after_store"}])
        r, err = self.upload("files/upload", {"path": p, "mode": "add"}, b"different")
        self.assertEqual(r.status, 409)
        self.assertIsNone(self.last_log("files/upload")["fault"])

    def test_fault_reset_during_body_and_skip(self):
        p = "/Backup/body-%d.db" % time.time_ns()
        self.configure(faults=[{"route": "files/upload", "kind": "reset_during_body", "bytes": 4}])
        self.upload_raises("files/upload", {"path": p, "mode": "add"}, b"x" * 100000)
        log = self.last_log("files/upload")
        self.assertEqual((log["fault"], log["status"]), ("reset_during_body", None))
        self.assertLessEqual(log["bytes_received"], 100000)
        r, m = self.rpc("files/get_metadata", {"path": p})
        self.assertEqual(r.status, 409)   # nothing stored
        # skip: the first matching request passes, the second gets the fault.
        self.configure(faults=[{"route": "files/upload_session/finish", "kind": "status", "status": 503, "skip": 1}])
        r, s = self.upload("files/upload_session/start", {"close": False}, b"")
        r, _ = self.upload("files/upload_session/finish", {"cursor": {"session_id": "0" * 32, "offset": 0},
                                                          "commit": {"path": p}}, b"")
        self.assertEqual(r.status, 409)   # not found: let through
        r, _ = self.upload("files/upload_session/finish", {"cursor": {"session_id": s["session_id"], "offset": 0},
                                                          "commit": {"path": p}}, b"")
        self.assertEqual(r.status, 503)
        r, m = self.upload("files/upload_session/finish", {"cursor": {"session_id": s["session_id"], "offset": 0},
                                                          "commit": {"path": p}}, b"")
        self.assertEqual(r.status, 200, m)

    def test_log_format(self):
        self.download({"path": "/data/database.db"}, {"Range": "bytes=0-9", "User-Agent": "ua-test"})
        log = self.last_log("files/download")
        self.assertEqual(set(log), {"t", "t_start", "conn", "conn_t", "host", "method", "route", "status",
                                    "auth", "arg", "range", "content_type", "bytes_sent", "bytes_received",
                                    "fault", "user_agent", "path_root"})
        self.assertLessEqual(log["conn_t"], log["t_start"])
        self.assertLessEqual(log["t_start"], log["t"])
        self.assertEqual(log["host"], f"127.0.0.1:{self.port}")
        self.assertEqual((log["method"], log["status"], log["auth"], log["arg"], log["range"],
                          log["bytes_sent"], log["fault"], log["user_agent"]),
                         ("POST", 206, TOKEN, {"path": "/data/database.db"}, "bytes=0-9", 10, None, "ua-test"))

    def test_log_connection_ids(self):
        # Requests on one kept-alive connection share its id and accept time; a
        # new connection gets the next id, accepted later.
        c = self.conn()
        self.rpc("files/get_metadata", {"path": "/data/database.db"}, conn=c)
        self.download({"path": "/data/database.db"}, {"Range": "bytes=0-0"}, conn=c)
        c.close()
        self.metadata()
        a, b, other = self.log_entries(None, 3)
        self.assertEqual((a["route"], b["route"], other["route"]),
                         ("files/get_metadata", "files/download", "files/get_metadata"))
        self.assertIsInstance(a["conn"], int)
        self.assertEqual((a["conn"], a["conn_t"]), (b["conn"], b["conn_t"]))
        self.assertGreater(other["conn"], a["conn"])
        self.assertGreaterEqual(other["conn_t"], a["conn_t"])
        self.assertLessEqual(a["t"], b["t_start"])

    def test_fault_range_match(self):
        # A fault with "range" applies only to requests with exactly that Range header.
        self.configure(faults=[{"route": "files/download", "kind": "status", "status": 500,
                                "range": "bytes=0-0", "times": -1}])
        self.assertEqual(self.download({"path": "/data/database.db"})[0].status, 200)
        self.assertEqual(self.download({"path": "/data/database.db"}, {"Range": "bytes=5-"})[0].status, 206)
        self.assertEqual(self.download({"path": "/data/database.db"}, {"Range": "bytes=0-0"})[0].status, 500)
        self.assertEqual(self.last_log("files/download")["fault"], "status")

    def test_handshake_does_not_block_others(self):
        # A client that connects but never sends a TLS ClientHello must not
        # stall other clients.
        s = socket.create_connection(("127.0.0.1", self.port))
        try:
            t0 = time.time()
            self.assertEqual(self.metadata()["size"], len(self.big))
            self.assertLess(time.time() - t0, 2)
        finally:
            s.close()


class ShapedLinkTest(RunsTheFake, unittest.TestCase):
    """--rtt-ms and --bandwidth-mbit (wan_link.py): every flight pays the round trip, handshakes
    included, and the bytes of each direction go through a token bucket."""
    RTT = 0.4                    # long against this machine's noise: the counts below are round trips
    MBIT = 16                    # 2 MB/s
    SIZE = 3 << 20

    @classmethod
    def setUpClass(cls):
        cls.make_dirs("fake-dropbox-shaped-", quiet=True)
        cls.data = os.urandom(cls.SIZE)
        blob = os.path.join(cls.tmp, "blob.db")
        with open(blob, "wb") as f:
            f.write(cls.data)
        with open(os.path.join(cls.state, "config.json"), "w") as f:
            json.dump({"files": {"/blob.db": [blob]}, "access_tokens": [TOKEN]}, f)
        cls.start("--rtt-ms", str(cls.RTT * 1000), "--bandwidth-mbit", str(cls.MBIT), "--also-host", "127.0.0.2")

    def round_trips(self, seconds):
        return seconds / self.RTT

    def test_handshakes_and_requests_pay_the_round_trip(self):
        t0 = time.monotonic()
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        c.connect()      # TCP (one round trip, charged on the first flight) and TLS
        t1 = time.monotonic()
        self.assertEqual(c.sock.version(), "TLSv1.3")   # one round trip of handshake
        rtts = []
        for _ in range(2):   # requests on the open connection: one round trip each
            rtts.append(self.metadata_round_trips(c))
        c.close()
        connect = self.round_trips(t1 - t0)
        self.assertTrue(2 <= connect < 3, connect)
        for n in rtts:
            self.assertTrue(1 <= n < 2, rtts)

    def test_also_host_is_a_second_origin_on_the_same_link(self):
        t0 = time.monotonic()
        raw = socket.create_connection(("127.0.0.2", self.port), timeout=30)
        s = self.ctx.wrap_socket(raw, server_hostname="localhost")   # the certificate names localhost
        try:
            connect = self.round_trips(time.monotonic() - t0)
            self.assertTrue(2 <= connect < 3, connect)
            body = json.dumps({"path": "/blob.db"}).encode()
            s.sendall(b"POST /2/files/get_metadata HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
                      + TOKEN.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            answer = b""
            while True:
                data = s.recv(65536)
                if not data:
                    break
                answer += data
        finally:
            s.close()
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 "), answer[:100])
        self.assertIn(b'"size": %d' % self.SIZE, answer)

    def metadata_round_trips(self, c):
        s = time.monotonic()
        c.request("POST", "/2/files/get_metadata", body=json.dumps({"path": "/blob.db"}),
                  headers=dict(AUTH, **{"Content-Type": "application/json"}))
        r = c.getresponse()
        self.assertEqual(json.loads(r.read())["size"], self.SIZE)
        return self.round_trips(time.monotonic() - s)

    def test_connections_share_the_link_chunk_by_chunk(self):
        """A small answer beside a download, and after a download that was cut off, waits for at
        most a chunk of the other's bytes, not for its whole backlog."""
        meta = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        meta.connect()
        self.addCleanup(meta.close)
        for cut in (False, True):
            dl = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
            dl.connect()
            dl.request("POST", "/2/files/download", headers=dict(AUTH, **{
                "Dropbox-API-Arg": json.dumps({"path": "/blob.db"})}))
            r = dl.getresponse()
            self.assertEqual(r.status, 200)
            r.read(256 << 10)                 # the transfer is under way
            if cut:
                dl.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                dl.close()                    # a reset: the rest of the body is never read
                n = self.metadata_round_trips(meta)
            else:
                reader = threading.Thread(target=r.read)
                reader.start()
                n = self.metadata_round_trips(meta)
                reader.join()
                dl.close()
            self.assertTrue(1 <= n < 2, ("cut" if cut else "beside", n))

    def transfer_time(self, download):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=60)
        c.connect()
        t0 = time.monotonic()
        if download:
            c.request("POST", "/2/files/download", headers=dict(AUTH, **{
                "Dropbox-API-Arg": json.dumps({"path": "/blob.db"})}))
        else:
            c.request("POST", "/2/files/upload", body=self.data, headers=dict(AUTH, **{
                "Dropbox-API-Arg": json.dumps({"path": "/up.db", "mode": "overwrite"}),
                "Content-Type": "application/octet-stream"}))
        r = c.getresponse()
        body = r.read()
        elapsed = time.monotonic() - t0
        c.close()
        self.assertEqual(r.status, 200, body[:200])
        if download:
            self.assertEqual(body, self.data)
        else:
            self.assertEqual(json.loads(body)["size"], self.SIZE)
        return elapsed

    def test_bandwidth_holds_in_both_directions(self):
        rate = self.MBIT * 1e6 / 8
        burst = 64 << 10             # wan_link.py's default bucket depth
        floor = (self.SIZE - burst) / rate + self.RTT
        for download in (True, False):
            elapsed = self.transfer_time(download)
            # At least the bytes at the rate plus the request's round trip; at most a generous
            # bound above it (a cap that does not hold, or a delay per chunk, fails one side).
            self.assertGreaterEqual(elapsed, floor, ("download" if download else "upload", elapsed))
            self.assertLess(elapsed, floor * 1.5 + 1, ("download" if download else "upload", elapsed))


if __name__ == "__main__":
    unittest.main()
