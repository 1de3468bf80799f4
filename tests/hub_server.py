"""A small Hugging Face Hub-compatible HTTP server for tests (127.0.0.1 only, in memory).

It implements what ``huggingface_hub``'s real client calls to push and pull model repos,
read off the installed client (``hf_api.create_repo``, ``_commit_api._fetch_upload_modes`` /
``_send_commit``, ``lfs.post_lfs_batch_info`` / ``lfs_upload``, ``file_download.hf_hub_download``):

- ``POST /api/repos/create``                          create a repo (409 when it exists)
- ``POST /api/validate-yaml``                         model-card metadata check (real YAML parse)
- ``POST /api/models/{repo}/preupload/{rev}``         upload mode per file ("lfs" or "regular")
- ``POST /{repo}.git/info/lfs/objects/batch``          LFS batch API ("basic" transfer)
- ``PUT  /_lfs/{sha256}``                             LFS object upload (content checked)
- ``POST /api/models/{repo}/commit/{rev}``            NDJSON commit (file, lfsFile, deletedFile/Folder)
- ``GET  /api/models/{repo}[/revision/{rev}]``        model info (sha, siblings)
- ``GET  /api/models/{repo}/tree/{rev}[/{path}]``     file listing
- ``HEAD|GET /{repo}/resolve/{rev}/{path}``           download with ETag / X-Repo-Commit headers

Test-only: ``GET /_test/requests`` returns the recorded requests.

Errors carry ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``) like
the real Hub, so the client raises its own typed errors. Xet is not offered: clients must run
with ``HF_HUB_DISABLE_XET=1``. Every request is recorded in ``server.requests`` as
``(method, path)`` so tests can assert what the client asked for (e.g. never a pickle).

Example:
    >>> with HubServer() as hub:
    ...     env = hub.client_env(tmp_path / "hf")   # HF_ENDPOINT etc. for a subprocess
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

# Files stored through LFS, like the .gitattributes the real Hub writes into new repos.
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".pkl", ".ckpt", ".png", ".jpg", ".gif", ".npz")
GITATTRIBUTES = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES)


def git_sha1(data: bytes) -> str:
    """The git blob id of ``data`` (``git hash-object``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Commit:
    oid: str
    files: dict  # path -> (content bytes, is_lfs)
    parent: str | None
    message: str


@dataclass
class Repo:
    repo_id: str
    private: bool = False
    commits: dict = field(default_factory=dict)  # oid -> Commit
    branches: dict = field(default_factory=dict)  # name -> oid
    tags: dict = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        revision = unquote(revision)
        oid = self.branches.get(revision) or self.tags.get(revision)
        if oid is None and len(revision) == 40:
            oid = revision
        return self.commits.get(oid) if oid else None


class HubState:
    """Repositories and LFS objects, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.repos: dict[str, Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []

    def create_repo(self, repo_id: str, private: bool = False) -> Repo:
        repo = Repo(repo_id, private=private)
        self.repos[repo_id] = repo
        self.commit(repo, "main", {".gitattributes": (GITATTRIBUTES.encode(), False)}, [], "initial commit")
        return repo

    def commit(self, repo: Repo, branch: str, added: dict, deleted: list, message: str) -> Commit:
        parent = repo.branches.get(branch)
        files = dict(repo.commits[parent].files) if parent else {}
        for path in deleted:
            prefix = path.rstrip("/") + "/"
            for key in [k for k in files if k == path or k.startswith(prefix)]:
                del files[key]
        files.update(added)
        digest = hashlib.sha1(f"{parent}|{message}|{time.time_ns()}".encode())
        for path in sorted(files):
            digest.update(path.encode() + files[path][0])
        commit = Commit(digest.hexdigest(), files, parent, message)
        repo.commits[commit.oid] = commit
        repo.branches[branch] = commit.oid
        return commit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    # ---- plumbing -------------------------------------------------------------------------
    def log_message(self, format, *args):  # quiet: tests read server.requests instead
        pass

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False):
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
        for key, value in headers.items():
            self.send_header(key, str(value))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, data, headers: dict | None = None):
        self._send(status, json.dumps(data).encode(), headers)

    def _error(self, status: int, code: str | None, message: str, head: bool = False, extra=None):
        headers = {"X-Error-Message": message, **(extra or {})}
        if code:
            headers["X-Error-Code"] = code
        body = json.dumps({"error": message}).encode()
        self._send(status, body, headers, head=head)

    @property
    def base(self) -> str:
        return self.server.url

    @property
    def state(self) -> HubState:
        return self.server.state

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path = unquote(split.path)
        query = parse_qs(split.query)
        if not path.startswith("/_test/"):
            with self.state.lock:
                self.state.requests.append((method, path))
        body = self._body() if method in ("POST", "PUT") else b""
        try:
            self._route(method, path, query, body)
        except Exception as err:  # a server bug must show up in the test, not hang the client
            self._error(500, None, f"test hub server error: {type(err).__name__}: {err}", head=method == "HEAD")

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    # ---- routes ---------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict, body: bytes) -> None:
        parts = [p for p in path.split("/") if p]
        if method == "GET" and path == "/_test/requests":  # test-only: what clients asked for
            with self.state.lock:
                return self._json(200, [list(r) for r in self.state.requests])
        if method == "POST" and path == "/api/repos/create":
            return self._create_repo(json.loads(body or b"{}"))
        if method == "POST" and path == "/api/validate-yaml":
            return self._validate_yaml(json.loads(body or b"{}"))
        if method == "PUT" and len(parts) == 2 and parts[0] == "_lfs":
            return self._lfs_put(parts[1], body)
        if method == "POST" and path.endswith(".git/info/lfs/objects/batch"):
            return self._lfs_batch(path[1 : -len(".git/info/lfs/objects/batch")], json.loads(body))
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo_id = "/".join(parts[2:4])
            rest = parts[4:]
            if method == "POST" and len(rest) == 2 and rest[0] == "preupload":
                return self._preupload(repo_id, rest[1], json.loads(body))
            if method == "POST" and len(rest) == 2 and rest[0] == "commit":
                return self._commit(repo_id, rest[1], body)
            if method == "GET" and not rest:
                return self._model_info(repo_id, "main")
            if method == "GET" and len(rest) == 2 and rest[0] == "revision":
                return self._model_info(repo_id, rest[1])
            if method == "GET" and len(rest) >= 2 and rest[0] == "tree":
                return self._tree(repo_id, rest[1], "/".join(rest[2:]), query)
        if method in ("GET", "HEAD") and len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(method, "/".join(parts[:2]), parts[3], "/".join(parts[4:]))
        self._error(404, None, f"no route for {method} {path}", head=method == "HEAD")

    def _repo_or_404(self, repo_id: str, head: bool = False) -> Repo | None:
        repo = self.state.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found", head=head)
        return repo

    def _commit_or_404(self, repo: Repo, revision: str, head: bool = False) -> Commit | None:
        commit = repo.resolve(revision)
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {unquote(revision)}", head=head)
        return commit

    def _create_repo(self, payload: dict) -> None:
        name, org = payload.get("name"), payload.get("organization")
        if payload.get("type") not in (None, "model"):
            return self._error(400, None, "this test server only hosts model repos")
        repo_id = f"{org}/{name}" if org else f"user/{name}"
        with self.state.lock:
            if repo_id in self.state.repos:
                return self._json(409, {"error": "You already created this model repo", "url": f"{self.base}/{repo_id}"})
            self.state.create_repo(repo_id, private=payload.get("visibility") == "private")
        self._json(200, {"url": f"{self.base}/{repo_id}", "name": repo_id, "id": repo_id})

    def _validate_yaml(self, payload: dict) -> None:
        import yaml  # a huggingface_hub dependency

        content = payload.get("content", "")
        errors = []
        if content.startswith("---"):
            end = content.find("\n---", 3)
            if end < 0:
                errors.append({"message": "metadata block is not closed by ---"})
            else:
                try:
                    meta = yaml.safe_load(content[3:end])
                    if meta is not None and not isinstance(meta, dict):
                        errors.append({"message": "metadata must be a YAML mapping"})
                except yaml.YAMLError as err:
                    errors.append({"message": f"invalid YAML: {err}"})
        if errors:
            return self._json(400, {"errors": errors, "warnings": []})
        self._json(200, {"errors": [], "warnings": []})

    def _preupload(self, repo_id: str, revision: str, payload: dict) -> None:
        repo = self._repo_or_404(repo_id)
        if repo is None:
            return
        commit = self._commit_or_404(repo, revision)
        if commit is None:
            return
        files = []
        for item in payload["files"]:
            sample = base64.b64decode(item.get("sample", ""))
            lfs = item["path"].endswith(LFS_SUFFIXES) or b"\0" in sample or item["size"] > 10_000_000
            old = commit.files.get(item["path"])
            oid = None
            if old is not None:
                oid = hashlib.sha256(old[0]).hexdigest() if old[1] else git_sha1(old[0])
            files.append({"path": item["path"], "uploadMode": "lfs" if lfs else "regular",
                          "shouldIgnore": False, "oid": oid})
        self._json(200, {"files": files, "commitOid": commit.oid})

    def _lfs_batch(self, repo_id: str, payload: dict) -> None:
        if self._repo_or_404(repo_id) is None:
            return
        objects = []
        for obj in payload.get("objects", []):
            entry = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.state.lfs:
                entry["actions"] = {"upload": {"href": f"{self.base}/_lfs/{obj['oid']}"}}
            objects.append(entry)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   {"Content-Type": "application/vnd.git-lfs+json"})

    def _lfs_put(self, oid: str, body: bytes) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            return self._error(400, None, "uploaded content does not match its sha256")
        with self.state.lock:
            self.state.lfs[oid] = body
        self._send(200)

    def _commit(self, repo_id: str, revision: str, body: bytes) -> None:
        repo = self._repo_or_404(repo_id)
        if repo is None:
            return
        branch = unquote(revision)
        if branch not in repo.branches:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {branch} (commits go to branches)")
        added, deleted, message = {}, [], ""
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                message = value.get("summary", "")
                parent = value.get("parentCommit")
                if parent and not repo.branches[branch].startswith(parent):
                    return self._error(412, None, "parent commit is not the head of the branch")
            elif key == "file":
                added[value["path"]] = (base64.b64decode(value["content"]), False)
            elif key == "lfsFile":
                data = self.state.lfs.get(value["oid"])
                if data is None:
                    return self._error(400, None, f"LFS object {value['oid']} was never uploaded")
                added[value["path"]] = (data, True)
            elif key in ("deletedFile", "deletedFolder"):
                deleted.append(value["path"])
            else:
                return self._error(400, None, f"unknown commit operation {key!r}")
        with self.state.lock:
            commit = self.state.commit(repo, branch, added, deleted, message)
        self._json(200, {"commitUrl": f"{self.base}/{repo_id}/commit/{commit.oid}",
                         "commitOid": commit.oid, "pullRequestUrl": None})

    def _model_info(self, repo_id: str, revision: str) -> None:
        repo = self._repo_or_404(repo_id)
        if repo is None:
            return
        commit = self._commit_or_404(repo, revision)
        if commit is None:
            return
        siblings = []
        for path, (data, lfs) in sorted(commit.files.items()):
            sib = {"rfilename": path, "size": len(data), "blobId": git_sha1(data)}
            if lfs:
                sib["lfs"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "pointerSize": 134}
            siblings.append(sib)
        self._json(200, {"id": repo_id, "modelId": repo_id, "sha": commit.oid, "private": repo.private,
                         "siblings": siblings, "tags": [], "library_name": "ganlift",
                         "lastModified": "2024-01-01T00:00:00.000Z"})

    def _tree(self, repo_id: str, revision: str, prefix: str, query: dict) -> None:
        repo = self._repo_or_404(repo_id)
        if repo is None:
            return
        commit = self._commit_or_404(repo, revision)
        if commit is None:
            return
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        entries, folders = [], set()
        base = prefix.rstrip("/") + "/" if prefix else ""
        for path, (data, lfs) in sorted(commit.files.items()):
            if not path.startswith(base):
                continue
            rel = path[len(base):]
            if "/" in rel and not recursive:
                folders.add(base + rel.split("/")[0])
                continue
            entry = {"type": "file", "path": path, "size": len(data), "oid": git_sha1(data)}
            if lfs:
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            entries.append(entry)
        entries += [{"type": "directory", "path": f, "oid": "0" * 40, "size": 0} for f in sorted(folders)]
        self._json(200, entries)

    def _resolve(self, method: str, repo_id: str, revision: str, filename: str) -> None:
        head = method == "HEAD"
        repo = self._repo_or_404(repo_id, head=head)
        if repo is None:
            return
        commit = self._commit_or_404(repo, revision, head=head)
        if commit is None:
            return
        if filename not in commit.files:
            return self._error(404, "EntryNotFound", f"{filename} does not exist on {unquote(revision)}",
                               head=head, extra={"X-Repo-Commit": commit.oid})
        data, lfs = commit.files[filename]
        headers = {"Content-Type": "application/octet-stream", "X-Repo-Commit": commit.oid,
                   "Accept-Ranges": "bytes"}
        if lfs:
            sha = hashlib.sha256(data).hexdigest()
            headers.update({"ETag": f'"{sha}"', "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": len(data)})
        else:
            headers["ETag"] = f'"{git_sha1(data)}"'
        status = 200
        byte_range = self.headers.get("Range")
        if byte_range and byte_range.startswith("bytes=") and not head:
            start = int(byte_range[6:].split("-")[0] or 0)
            data, status = data[start:], 206
        self._send(status, data, headers, head=head)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: HubState):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class HubServer:
    """Start/stop the test Hub in a background thread.

    Attributes:
        url: the endpoint (``http://127.0.0.1:PORT``), to use as ``HF_ENDPOINT``.
        state: the in-memory repositories (``state.repos``), for direct inspection or setup.
    """

    def __init__(self) -> None:
        self.state = HubState()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return self._server.url

    @property
    def requests(self) -> list[tuple[str, str]]:
        with self.state.lock:
            return list(self.state.requests)

    def start(self) -> "HubServer":
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def add_files(self, repo_id: str, files: dict[str, bytes], branch: str = "main",
                  message: str = "test setup") -> str:
        """Commit ``files`` (path -> bytes) directly (no HTTP); creates the repo. Returns the commit id."""
        with self.state.lock:
            repo = self.state.repos.get(repo_id) or self.state.create_repo(repo_id)
            added = {p: (d, p.endswith(LFS_SUFFIXES)) for p, d in files.items()}
            if branch not in repo.branches:
                repo.branches[branch] = repo.branches["main"]
            return self.state.commit(repo, branch, added, [], message).oid

    def client_env(self, hf_home: str | os.PathLike) -> dict[str, str]:
        """Environment for a process whose ``huggingface_hub`` should talk to this server.

        Must be in place before ``huggingface_hub`` is imported (it reads them at import).
        """
        env = dict(os.environ)
        for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
                    "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
            env.pop(key, None)
        env.update({
            "HF_ENDPOINT": self.url,
            "HF_HOME": str(Path(hf_home)),
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_DISABLE_UPDATE_CHECK": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        })
        return env


# ---------------------------------------------------------------------------------------------
# Running tests against the server in a subprocess
# ---------------------------------------------------------------------------------------------
# huggingface_hub reads HF_ENDPOINT / HF_HUB_OFFLINE when it is imported, and tests/conftest.py
# makes the test process offline; so the tests that talk to the server run in one child pytest
# process per test file, started with the server's environment. The outer test of the same
# name reports the inner result.

import subprocess  # noqa: E402
import sys  # noqa: E402
import xml.etree.ElementTree as ET  # noqa: E402

import pytest  # noqa: E402

INNER = os.environ.get("GANLIFT_HUB_INNER") == "1"


def remote(fn):
    """Mark a test that runs in the child process talking to the test Hub.

    In the child the test runs as written (use the ``hub`` fixture there); in the parent it
    becomes a test that reports the child's result for it. All selected remote tests of a
    pytest session share one child process (one torch import, one server).
    """
    if INNER:
        return fn
    node = f"{sys.modules[fn.__module__].__file__}::{fn.__name__}"

    def outer(hub_session):
        hub_session.check(node)

    outer.__name__, outer.__doc__, outer.__module__ = fn.__name__, fn.__doc__, fn.__module__
    outer.ganlift_remote = node
    return outer


class HubSession:
    """One child pytest run of the selected remote tests against a fresh HubServer."""

    def __init__(self, nodes: list[str], workdir: Path) -> None:
        self.nodes = nodes
        self.workdir = workdir
        self.results: dict[str, tuple[str, str]] = {}
        self.output = ""

    def run(self, timeout: float = 600) -> "HubSession":
        if not self.nodes:
            return self
        xml_path = self.workdir / "junit.xml"
        with HubServer() as server:
            env = server.client_env(self.workdir / "hf")
            # conftest.py only *defaults* HF_HUB_OFFLINE to 1: an explicit 0 keeps the child online.
            env.update({"HF_HUB_OFFLINE": "0", "GANLIFT_HUB_INNER": "1",
                        "GANLIFT_HUB_WORKDIR": str(self.workdir),
                        # one torch thread: the machine is shared and tiny models gain nothing
                        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   f"--junitxml={xml_path}", *self.nodes]
            proc = subprocess.run(cmd, env=env, cwd=str(Path(__file__).resolve().parents[1]),
                                  capture_output=True, text=True, timeout=timeout)
        self.output = (proc.stdout + proc.stderr)[-20000:]
        if xml_path.is_file():
            for case in ET.parse(xml_path).getroot().iter("testcase"):
                status, detail = "passed", ""
                for child in case:
                    if child.tag in ("failure", "error", "skipped"):
                        status = child.tag
                        detail = (child.get("message") or "") + "\n" + (child.text or "")
                module = (case.get("classname") or "").split(".")[-1]
                self.results[f"{module}::{case.get('name')}"] = (status, detail)
        return self

    def check(self, node: str) -> None:
        """Pass, fail or skip like the child's test ``node`` (``path::name``) did."""
        key = f"{Path(node.split('::')[0]).stem}::{node.split('::')[1]}"
        if key not in self.results:
            pytest.fail(f"{key} did not run in the Hub subprocess; its output:\n{self.output}")
        status, detail = self.results[key]
        if status == "skipped":
            pytest.skip(detail.strip().splitlines()[0] if detail.strip() else "skipped in subprocess")
        if status != "passed":
            pytest.fail(f"{key} {status} in the Hub subprocess:\n{detail}", pytrace=False)


def needs_remote(*tests):
    """Mark a parent-side test that uses what the given ``@remote`` tests leave in the workdir."""

    def mark(fn):
        fn.ganlift_needs = [t.ganlift_remote for t in tests if hasattr(t, "ganlift_remote")]
        return fn

    return mark


_SESSION: list[HubSession] = []  # one child run per pytest session, shared by all test modules


@pytest.fixture
def hub_session(request, tmp_path_factory):
    """The child run of the session's selected remote tests (started once, on first use)."""
    if INNER:
        pytest.skip("already inside the Hub subprocess")
    if not _SESSION:
        nodes = set()
        for item in request.session.items:
            fn = getattr(item, "function", None)
            nodes.update([getattr(fn, "ganlift_remote", None), *getattr(fn, "ganlift_needs", [])])
        nodes.discard(None)
        _SESSION.append(HubSession(sorted(nodes), tmp_path_factory.mktemp("hub")).run())
    return _SESSION[0]


@pytest.fixture
def hub():
    """Inside the child: the server URL, a shared work folder and the server's request log."""
    if not INNER:
        pytest.skip("runs only inside the Hub subprocess")
    import json as _json
    import urllib.request

    url = os.environ["HF_ENDPOINT"]

    class _Hub:
        endpoint = url
        workdir = Path(os.environ["GANLIFT_HUB_WORKDIR"])

        @staticmethod
        def requests() -> list[tuple[str, str]]:
            with urllib.request.urlopen(f"{url}/_test/requests") as r:
                return [tuple(x) for x in _json.loads(r.read())]

    return _Hub()


# ---------------------------------------------------------------------------------------------
# Small models for the Hub tests
# ---------------------------------------------------------------------------------------------


def tiny_teacher(seed: int = 0, resolution: int = 8):
    """A tiny random StyleGAN2 teacher (registered as "stylegan2-random")."""
    from ganlift.teachers.stylegan2 import random_stylegan2

    return random_stylegan2(resolution=resolution, w_dim=16, n_mlp=1, seed=seed, w_mean_samples=256)


def small_lifter(teacher, seed: int = 0):
    """The real Lifter at a test size (16x16 lifting, narrow networks)."""
    import torch

    import ganlift
    from ganlift.recipe import load_recipe

    recipe = load_recipe("synthetic", overrides={
        "lifter.resolution": 16, "lifter.mlp_width": 32, "lifter.mlp_layers": 2,
        "lifter.decoder_width": 16, "lifter.decoder_min_width": 8, "teacher.prior_samples": 256,
    })
    torch.manual_seed(seed)
    return ganlift.Lifter(teacher, recipe)
