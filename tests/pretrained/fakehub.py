"""A Hub-shaped HTTP server on 127.0.0.1 for the download tests (no network needed).

It answers the two requests ``hf_hub_download`` makes for a file of a model repository:

* ``HEAD /{org}/{name}/resolve/{revision}/{filename}``: 200 with ``X-Repo-Commit`` (the commit
  the revision resolves to), ``ETag`` (the cache key of the blob) and ``Content-Length``; LFS
  files (``*.safetensors``) also carry ``X-Linked-Etag`` / ``X-Linked-Size`` as on the Hub.
  Errors are 404s with the ``X-Error-Code`` the client turns into typed errors
  (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``).
* ``GET`` of the same URL: the bytes, honouring ``Range: bytes=N-`` (206) for resumed downloads.

Faults can be injected per file name to imitate a broken server or connection.
:func:`serve` starts one and points ``huggingface_hub`` (and adain_nst) at it for one test;
:func:`model_files` and :func:`spec_for` give what a test publishes and registers.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
from huggingface_hub import constants as hf_constants

from adain_nst import AdaINModel
from adain_nst.pretrained.folder import MODEL_FILES
from adain_nst.pretrained.hub import WEIGHTS_DIR_ENV
from adain_nst.pretrained.registry import FileRecord, ModelSpec

# Fault kinds (per file name, on GET):
#   "corrupt": one byte flipped, same size and ETag (a bad mirror or disk)
#   "short":   only the first half, with a Content-Length that says so (a truncated body)
#   "drop":    the full Content-Length announced, half sent, connection closed (once)
FAULTS = ("corrupt", "short", "drop")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FakeHub:
    """Repositories held in memory: repo id -> commit -> {filename: bytes}, plus branch refs."""

    commits: dict[str, dict[str, dict[str, bytes]]] = field(default_factory=dict)
    refs: dict[str, dict[str, str]] = field(default_factory=dict)
    faults: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def add_commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main") -> str:
        """Store ``files`` as a new commit of ``repo_id`` and point ``branch`` at it; returns the 40-hex id."""
        h = hashlib.sha1(repo_id.encode())
        for name in sorted(files):
            h.update(name.encode() + b"\0" + files[name])
        h.update(str(len(self.commits.get(repo_id, {}))).encode())
        commit = h.hexdigest()
        self.commits.setdefault(repo_id, {})[commit] = dict(files)
        self.refs.setdefault(repo_id, {})[branch] = commit
        return commit

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def count(self, method: str, filename: str | None = None) -> int:
        """Requests made with ``method`` (for ``filename`` when given)."""
        return sum(1 for r in self.requests if r.method == method and (filename is None or r.path.endswith(filename)))


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    timeout = 10  # seconds a stuck client may hold a server thread

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _error(self, code: str, commit: str | None = None) -> None:
        self.send_response(404)
        self.send_header("X-Error-Code", code)
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _serve(self, body: bool) -> None:
        fake = self.fake
        fake.requests.append(Request(self.command, self.path, dict(self.headers)))
        parts = unquote(self.path.split("?", 1)[0]).lstrip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            self._error("RepoNotFound")
            return
        repo_id, revision, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        if repo_id not in fake.commits:
            self._error("RepoNotFound")
            return
        commit = fake.refs[repo_id].get(revision, revision)
        if commit not in fake.commits[repo_id]:
            self._error("RevisionNotFound")
            return
        files = fake.commits[repo_id][commit]
        if filename not in files:
            self._error("EntryNotFound", commit)
            return
        data = files[filename]
        etag = hashlib.sha256(data).hexdigest()
        fault = fake.faults.get(filename) if body else None
        start = 0
        rng = self.headers.get("Range")
        if body and rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[len("bytes=") : -1])
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", f'"{etag}"')
        if filename.endswith(".safetensors"):
            self.send_header("X-Linked-Etag", f'"{etag}"')
            self.send_header("X-Linked-Size", str(len(data)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        payload = data[start:]
        if fault == "corrupt":
            payload = bytes([payload[0] ^ 0xFF]) + payload[1:]
        elif fault == "short":
            payload = payload[: len(payload) // 2]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if not body:
            return
        if fault == "drop":
            del fake.faults[filename]  # the retry that resumes the download gets the rest
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)


def serve(monkeypatch: pytest.MonkeyPatch, cache: Path) -> FakeHub:
    """Start a :class:`FakeHub` and make huggingface_hub use it, with an empty cache at ``cache``.

    Everything is undone by ``monkeypatch`` at the end of the test; call :meth:`FakeHub.stop` then.
    """
    fake = FakeHub().start()
    # huggingface_hub reads HF_ENDPOINT / HF_HUB_CACHE once at import: set both the
    # variables (for anything imported later) and the constants it already derived.
    monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
    monkeypatch.setattr(hf_constants, "ENDPOINT", fake.endpoint)
    monkeypatch.setattr(
        hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", fake.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    # Bounded timeouts: a hung test fails in seconds, not minutes.
    monkeypatch.setattr(hf_constants, "HF_HUB_ETAG_TIMEOUT", 5)
    monkeypatch.setattr(hf_constants, "HF_HUB_DOWNLOAD_TIMEOUT", 5)
    monkeypatch.delenv(WEIGHTS_DIR_ENV, raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return fake


def model_files(model: AdaINModel, folder: Path) -> dict[str, bytes]:
    """The files of ``model.save_pretrained(folder)``, by name."""
    model.save_pretrained(folder)
    return {name: (folder / name).read_bytes() for name in MODEL_FILES}


def spec_for(model: AdaINModel, files: dict[str, bytes], revision: str | None, name: str, repo_id: str) -> ModelSpec:
    """A registry record of ``files`` as published at ``revision`` of ``repo_id``."""
    return ModelSpec(
        name=name,
        repo_id=repo_id,
        revision=revision,
        files=tuple(FileRecord(n, hashlib.sha256(b).hexdigest(), len(b)) for n, b in files.items()),
        encoder=model.encoder.config,
        decoder=model.decoder.config,
        license="MIT",
        citation="@misc{tiny}",
        source_url="https://example.invalid/tiny",
        num_params=sum(p.numel() for p in model.parameters()),
        content_size=64,
        style_size=64,
        description="test model",
    )
