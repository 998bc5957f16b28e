"""Shared fixtures: small valid desired-state repositories written to temp dirs."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import TOKEN_ENV, TOKEN_SECRET, GitRepo, config_yaml, seed_pve

CONFIG = """\
apiVersion: proxgit/v1
kind: Config
spec:
  clusters:
    lab:
      url: https://127.0.0.1:8006
      tokenId: proxgit@pve!ci
      tokenSecretFrom: {env: PROXGIT_LAB_TOKEN}
      allowWrites: true
  apply:
    enabled: true
    confirm: allow-edit-and-add-actions
  policy:
    roles:
      operators:
        members: [alice@example.com, bob@example.com]
        permissions: ["*"]
"""

WEB01 = """\
apiVersion: proxgit/v1
kind: VirtualMachine
metadata: {name: web-01, cluster: lab}
spec:
  vmid: 101
  node: pve1
  cores: 2
  memory: 2048
  tags: [web]
  disks:
    scsi0: {storage: local-lvm, size: 32G}
  networks:
    net0: {bridge: vmbr0, tag: 20}
"""

CT01 = """\
apiVersion: proxgit/v1
kind: Container
metadata: {name: dns-01, cluster: lab}
spec:
  vmid: 201
  node: pve1
  ostemplate: local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst
  rootfs: {storage: local-lvm, size: 8G}
  networks:
    net0: {bridge: vmbr0, ip: 10.0.0.53/24, gw: 10.0.0.1}
"""

BASE_FILES = {
    "proxgit.yaml": CONFIG,
    "clusters/lab/vms/web-01.yaml": WEB01,
    "clusters/lab/containers/dns-01.yaml": CT01,
}


def write_tree(root: Path, files: dict[str, str | None]) -> Path:
    """Write files (``None`` deletes) under ``root``; text is dedented."""
    for rel, text in files.items():
        target = root / rel
        if text is None:
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """A valid repository, with files added, replaced or (``None``) removed."""

    def make(files: dict[str, str | None] | None = None) -> Path:
        root = tmp_path / "repo"
        write_tree(root, {**BASE_FILES, **(files or {})})
        return root

    return make


@pytest.fixture
def pve(fakepve: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """fakepve seeded with nodes, templates and proxgit's API token (secret in the env)."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN_SECRET)
    yield seed_pve(fakepve)


@pytest.fixture
def repo(tmp_path: Path, pve: Any, fakepve_cafile: str) -> GitRepo:
    """A clone of a bare remote whose proxgit.yaml points at ``pve``."""
    git = GitRepo(tmp_path)
    git.commit({"proxgit.yaml": config_yaml(pve.url, fakepve_cafile)}, "Configure proxgit")
    return git


@pytest.fixture(autouse=True)
def _writes_match_pves_schema(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every write request a test sends to the in-process fakepve is checked against
    PVE's API schema (parameters, types, enums, ranges, property-string sub-keys)."""
    from tests.proxmox.pveapi import request_problems

    seen: list[tuple[str, str, Any]] = []
    pve = None
    if "pve" in request.fixturenames and "no_schema_check" not in request.keywords:
        pve = request.getfixturevalue("pve")
    if not isinstance(getattr(pve, "requests", None), list):
        pve = None  # fakepve in another process (tests/applying/pveproc.py): not recorded here
    if pve is not None:

        class Recording(list):  # type: ignore[type-arg]
            def clear(self) -> None:
                seen.extend(self)
                super().clear()

        pve.requests = Recording(pve.requests)
    yield
    if pve is None:
        return
    seen.extend(pve.requests)
    problems = [
        problem
        for method, path, body in seen
        if method in ("POST", "PUT") and "/access/" not in path
        for problem in request_problems(method, path, body)
    ]
    assert not problems, "write requests PVE's schema refuses:\n" + "\n".join(problems)
