"""Deciding deletion requests under the trust model: what the history checks cost.

Builds a repository (signatures mode) with N deletion requests, each opened in
its own commit signed with proxgit's SSH key and approved in a commit signed by
an approver, plus ``--noise`` unrelated commits between them, and then decides
every request as ``proxgit deletions list`` does (opening signature, lifecycle,
rules at the opening commit, the approval's signature). No Proxmox is involved:
this is the Git side of ``deletions execute``. Last line:
``requests=<n> seconds=<s> ms_per_request=<x> git_calls_per_request=<y>``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "controller"))

from proxgit.deletions.approval import ProxgitKey, decide_request  # noqa: E402
from proxgit.git import public_key_of  # noqa: E402
from proxgit.loading import load_directory  # noqa: E402


def git(cwd: Path, *args: str, who: tuple[str, str], key: Path | None = None) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": who[0],
        "GIT_AUTHOR_EMAIL": who[1],
        "GIT_COMMITTER_NAME": who[0],
        "GIT_COMMITTER_EMAIL": who[1],
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    signing = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"] if key else []
    done = subprocess.run(
        ["git", *signing, *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def keypair(directory: Path, name: str) -> Path:
    key = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    return key


CONFIG = """\
apiVersion: proxgit/v1
kind: Config
spec:
  clusters:
    lab:
      url: https://127.0.0.1:8006
      tokenId: proxgit@pve!bench
      tokenSecretFrom: {{env: BENCH_TOKEN}}
  deletions:
    identity: signatures
  commitIdentity:
    signingKeyFrom: {{env: BENCH_SIGNING_KEY}}
  policy:
    people:
      alice: {{emails: [alice@example.com], keys: ['{alice}']}}
      bob: {{emails: [bob@example.com], keys: ['{bob}']}}
    roles:
      approvers: {{members: [bob], permissions: [approve_deletion]}}
"""

REQUEST = """\
apiVersion: proxgit/v1
kind: DeletionRequest
metadata: {{name: lab-{vmid}, cluster: lab}}
spec:
  requestId: {rid}
  guest: {{cluster: lab, node: pve1, vmid: {vmid}, kind: VirtualMachine, name: vm-{vmid}}}
  requester: {{handle: alice@example.com, person: alice, via: signature}}
  removedIn: {removed}
  declaredIn: {removed}
  requestedAt: '{now}'
  expiresAt: '{expires}'
  approve: {approve}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--noise", type=int, default=5, help="unrelated commits per request")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="proxgit-bench-deletions-"))
    keys = base / "keys"
    keys.mkdir()
    proxgit_key, alice, bob = (keypair(keys, n) for n in ("proxgit", "alice", "bob"))
    pub = {n: Path(f"{k}.pub").read_text().split()[:2] for n, k in (("alice", alice), ("bob", bob))}
    os.environ["BENCH_SIGNING_KEY"] = proxgit_key.read_text()
    repo = base / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main", who=("a", "a@x"))
    (repo / "proxgit.yaml").write_text(
        CONFIG.format(alice=" ".join(pub["alice"]), bob=" ".join(pub["bob"]))
    )
    A, B, P = ("Alice", "alice@example.com"), ("Bob", "bob@example.com"), ("proxgit", "p@x")
    git(repo, "add", "-A", who=A)
    git(repo, "commit", "-q", "-S", "-m", "config", who=A, key=alice)
    now = datetime.now(UTC).replace(microsecond=0)
    (repo / "deletions").mkdir()
    (repo / "noise").mkdir()
    for i in range(args.requests):
        vmid = 1000 + i
        removed = git(repo, "rev-parse", "HEAD", who=A)
        path = repo / "deletions" / f"lab-{vmid}.yaml"
        fields = {
            "vmid": vmid,
            "rid": secrets.token_hex(16),
            "removed": removed,
            "now": now.isoformat(),
            "expires": (now + timedelta(days=7)).isoformat(),
        }
        path.write_text(REQUEST.format(approve="false", **fields))
        git(repo, "add", "-A", who=P)
        git(repo, "commit", "-q", "-S", "-m", f"open {vmid}", who=P, key=proxgit_key)
        for j in range(args.noise):
            (repo / "noise" / f"{i}-{j}.txt").write_text("x\n")
            git(repo, "add", "-A", who=A)
            git(repo, "commit", "-q", "--no-gpg-sign", "-m", "noise", who=A)
        path.write_text(REQUEST.format(approve="true", **fields))
        git(repo, "add", "-A", who=B)
        git(repo, "commit", "-q", "-S", "-m", f"approve {vmid}", who=B, key=bob)

    state = load_directory(repo)
    key = ProxgitKey(public_key=public_key_of(proxgit_key.read_text()), held=True)
    calls = count_git_calls()
    started = time.perf_counter()
    approved = 0
    for name in sorted(state.deletion_requests):
        path, _request = state.deletion_requests[name]
        decision = decide_request(
            repo, path, config=state.config, proxgit_key=key, now=datetime.now(UTC)
        )
        approved += decision.state == "approved"
    seconds = time.perf_counter() - started
    n = len(state.deletion_requests)
    per_call = calls() / n
    assert approved == n, f"only {approved} of {n} approved"
    print(
        f"{n} requests decided (all approved) in {seconds:.2f} s over {per_call:.1f} git calls each"
    )
    print(
        f"requests={n} seconds={seconds:.2f} ms_per_request={seconds / n * 1000:.1f} "
        f"git_calls_per_request={per_call:.1f}"
    )


def count_git_calls() -> object:
    """Count the git processes proxgit starts from here on."""
    real = subprocess.run
    count = [0]

    def counting(cmd: object, *a: object, **kw: object) -> object:
        if isinstance(cmd, list) and cmd and cmd[0] == "git":
            count[0] += 1
        return real(cmd, *a, **kw)  # type: ignore[call-overload]

    subprocess.run = counting  # type: ignore[assignment]
    return lambda: count[0]


if __name__ == "__main__":
    main()
