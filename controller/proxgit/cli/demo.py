"""``proxgit demo``: the story of a change, told on a temporary Git repository.

It copies ``example-repo/`` into a temporary Git repository with a bare
remote, starts an embedded fake Proxmox (fakepve, a demo-only dependency) for
each of its two clusters on loopback, brings the clusters to the state the
repository declares, and walks what a team sees: validation, a pull request
with two new VMs and a change, its plan as the PR comment shows it. The
repository is left behind for you to look around.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import click

from proxgit.cli._common import user_errors
from proxgit.cli.apply import apply
from proxgit.cli.deletions import deletions
from proxgit.cli.plan import plan
from proxgit.cli.reflect import drift, reflect
from proxgit.cli.validate import validate
from proxgit.errors import ConfigError
from proxgit.layout import CONFIG_FILE, DEFAULT_ALLOWED_SIGNERS, deletion_request_path, guest_path
from proxgit.loading import load_directory
from proxgit.starter import example_repository

NO_FAKEPVE = (
    "the demo needs fakepve, the embedded Proxmox it runs against (AGPL-3.0, so not "
    "installed with proxgit): pip install 'proxgit[demo]' (the same version as proxgit), "
    "or use the -demo image; in a source checkout, 'make demo'"
)
ALICE = ("Alice Admin", "alice@example.net")
ERIN = ("Erin Approver", "erin@example.net")
GRACE = ("Grace Admin", "root-team@example.net")
DEMO_TOKEN = "5f0c2d7e-demo-4c1b-9e3a-0d6b8f2a7c41"
# The commands the story runs, in-process: their own functions, not a subprocess.
COMMANDS: dict[str, click.Command] = {
    "validate": validate,
    "plan": plan,
    "apply": apply,
    "reflect": reflect,
    "deletions": deletions,
    "drift": drift,
}
TEMPLATES = {9000: "ubuntu-2404-cloud", 9001: "debian-12-cloud"}
CT_TEMPLATES = (
    "debian-12-standard_12.7-1_amd64.tar.zst",
    "alpine-3.20-default_20240908_amd64.tar.xz",
    "ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
)


def _git(cwd: Path, *args: str, author: tuple[str, str] = ALICE, key: Path | None = None) -> str:
    signing = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"] if key else []
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": author[0],
        "GIT_AUTHOR_EMAIL": author[1],
        "GIT_COMMITTER_NAME": author[0],
        "GIT_COMMITTER_EMAIL": author[1],
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(
        ["git", *signing, *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def _keypair(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@demo", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    return key


def _signatures_mode(work: Path, keys: dict[str, Path]) -> None:
    """The demo decides deletions by SSH signatures: people's keys in the allowed signers."""
    config = work / CONFIG_FILE
    text = config.read_text().replace("    identity: forge\n", "    identity: signatures\n")
    config.write_text(text)
    signers = work / DEFAULT_ALLOWED_SIGNERS
    lines = [signers.read_text().rstrip("\n")]
    for principal, key in keys.items():
        public = " ".join(Path(f"{key}.pub").read_text().split()[:2])
        lines.append(f'{principal} namespaces="git" {public}')
    signers.write_text("\n".join(lines) + "\n")


def step(title: str) -> None:
    click.secho(f"\n==> {title}", bold=True, fg="cyan")


class EmbeddedProxmox:
    """A fakepve served on 127.0.0.1 from a daemon thread with its own event loop."""

    def __init__(self, nodes: list[str], certdir: Path, *, ceph: bool = False) -> None:
        try:
            from fakepve import FakePve
            from fakepve.certs import make_cert
        except ImportError:
            raise ConfigError(NO_FAKEPVE) from None
        certdir.mkdir(parents=True, exist_ok=True)
        self.certfile, keyfile, _ = make_cert(str(certdir), hosts=("127.0.0.1",))
        self.pve: Any = FakePve(user="root@pam", password="secret", host="127.0.0.1", port=0)
        self.pve.time_scale = 0
        self.pve.apitokens["proxgit@pve!gitops"] = DEMO_TOKEN
        for node in nodes:
            self.pve.add_node(node)
        if ceph:
            self.pve.add_ceph_storage("ceph-vm")
        for name in CT_TEMPLATES:
            self.pve.store_file("local", name, 100 << 20, content="vztmpl")
        for vmid, name in TEMPLATES.items():
            self.pve.add_vm(
                vmid,
                name,
                node=nodes[0],
                template=True,
                config={
                    "template": 1,
                    "memory": 2048,
                    "cores": 2,
                    "scsi0": f"local-lvm:base-{vmid}-disk-0,size=8G",
                },
            )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.pve.start(self.certfile, keyfile), self.loop).result(
            30
        )

    @property
    def url(self) -> str:
        return str(self.pve.url)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.pve.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _point_config_at(work: Path, fakes: dict[str, EmbeddedProxmox]) -> None:
    config = work / CONFIG_FILE
    text = config.read_text()
    for cluster, fake in fakes.items():
        text = re.sub(rf"https://pve-{cluster}\.example\.net:8006", fake.url, text)
    text = text.replace("/etc/proxgit/ca/example-internal-ca.pem", fakes["prod"].certfile)
    text = re.sub(
        r"(\n      verifySsl: true\n)(?!      caFile)",
        rf"\n      verifySsl: true\n      caFile: {fakes['lab'].certfile}\n",
        text,
        count=1,
    )
    config.write_text(text)


def _bring_up(work: Path) -> None:
    """Create every declared guest, as if the repository had been applied before."""
    from proxgit.proxmox.client import ProxmoxClient
    from proxgit.proxmox.translate import lxc_create_params, qemu_config_params

    state = load_directory(work)
    clients = {
        name: ProxmoxClient(name, cluster, base_dir=work)
        for name, cluster in state.config.spec.clusters.items()
    }
    pools = {
        (c, g.document.spec.pool) for (c, _), g in state.guests.items() if g.document.spec.pool
    }
    for cluster, pool in sorted(pools):
        clients[cluster].post("pools", poolid=pool)  # an admin's one-time set-up
    for (cluster, vmid), guest in sorted(state.guests.items()):
        doc, api = guest.document, clients[cluster]
        node = doc.spec.node
        if doc.kind == "VirtualMachine":
            params = qemu_config_params(doc)  # type: ignore[arg-type]
            if doc.spec.pool:
                params["pool"] = doc.spec.pool
            upid = api.post(f"nodes/{node}/qemu", vmid=vmid, **params)
            kind = "qemu"
        else:
            upid = api.post(f"nodes/{node}/lxc", **lxc_create_params(doc))  # type: ignore[arg-type]
            kind = "lxc"
        api.wait_task(node, upid, timeout=30)
        if str(doc.spec.power) == "running":
            api.wait_task(node, api.post(f"nodes/{node}/{kind}/{vmid}/status/start"), timeout=30)


NEW_VM = """\
# yaml-language-server: $schema=../../../schemas/virtualmachine.schema.json
apiVersion: proxgit/v1
kind: VirtualMachine
metadata: {{name: {name}, cluster: lab, labels: {{team: web}}}}
spec:
  vmid: {vmid}
  node: pve2
  cores: 2
  memory: 2048
  tags: [web, demo]
  disks:
    scsi0: {{storage: local-lvm, size: 20G, ssd: true}}
  networks:
    net0: {{bridge: vmbr0, tag: 20}}
  cloudInit:
    user: ubuntu
    ipconfig0: ip=dhcp
"""


def run_demo(workdir: Path | None = None) -> Path:
    """Run the demo; returns the temporary working repository it leaves behind."""
    example = example_repository()
    if importlib.util.find_spec("fakepve") is None:
        raise ConfigError(NO_FAKEPVE)
    base = workdir or Path(tempfile.mkdtemp(prefix="proxgit-demo-"))
    remote, work = base / "remote.git", base / "work"

    step("Two embedded Proxmox clusters on loopback (fakepve)")
    fakes = {
        "lab": EmbeddedProxmox(["pve1", "pve2"], base / "pki-lab"),
        "prod": EmbeddedProxmox(["pve-a", "pve-b", "pve-c"], base / "pki-prod", ceph=True),
    }
    os.environ["PROXGIT_LAB_TOKEN_SECRET"] = DEMO_TOKEN
    os.environ["PROXGIT_PROD_TOKEN_SECRET"] = DEMO_TOKEN
    keys = {who: _keypair(base / "keys", who) for who in ("proxgit", "alice", "erin", "grace")}
    os.environ["PROXGIT_SIGNING_KEY"] = keys["proxgit"].read_text()
    for name, fake in fakes.items():
        click.echo(f"cluster {name}: {fake.url}")
    try:
        step("The desired-state repository, with a bare remote")
        _git(base, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
        shutil.copytree(example, work)
        _point_config_at(work, fakes)
        _signatures_mode(
            work,
            {
                "alice@example.net": keys["alice"],
                "erin@example.net": keys["erin"],
                "grace": keys["grace"],
            },
        )
        _git(work, "init", "--quiet", "--initial-branch=main")
        _git(work, "add", "-A")
        _git(work, "commit", "--quiet", "-m", "Desired state of lab and prod")
        _git(work, "remote", "add", "origin", str(remote))
        _git(work, "push", "--quiet", "origin", "main")
        click.echo(f"work tree: {work}\nremote:    {remote}")

        step("proxgit validate")
        _show(work, "validate")

        step("A typo is caught with its file, line and a fix")
        broken = work / guest_path("lab", "VirtualMachine", "typo")
        broken.write_text(
            "apiVersion: proxgit/v1\nkind: VirtualMachine\n"
            "metadata: {name: typo, cluster: lab}\nspec:\n  vmid: 4242\n"
            "  node: pve1\n  cors: 2\n"
        )
        _show(work, "validate")
        broken.unlink()

        step("The clusters as they run today (the repository was applied before)")
        _bring_up(work)
        _show(work, "plan", "--no-color")

        step("A pull request: two new VMs and more memory for web-01")
        _git(work, "checkout", "--quiet", "-b", "add-web-03-04")
        for name, vmid in (("web-03", 103), ("web-04", 104)):
            (work / guest_path("lab", "VirtualMachine", name)).write_text(
                NEW_VM.format(name=name, vmid=vmid)
            )
        web01 = work / guest_path("lab", "VirtualMachine", "web-01")
        web01.write_text(re.sub(r"\n  memory: \d+", "\n  memory: 4096", web01.read_text()))
        _git(work, "add", "-A")
        _git(work, "commit", "--quiet", "-m", "Add web-03 and web-04, give web-01 4 GiB")

        step("proxgit plan --base main --output markdown (the PR comment)")
        _show(
            work,
            "plan",
            "--base",
            "main",
            "--head",
            "HEAD",
            "--output",
            "markdown",
            "--actor",
            "alice@example.net",
        )
        step("The same plan in the terminal")
        _show(
            work,
            "plan",
            "--base",
            "main",
            "--head",
            "HEAD",
            "--no-color",
            "--actor",
            "alice@example.net",
        )

        step("Merged: proxgit apply (the CI job on main, or the watch pod)")
        _git(work, "checkout", "--quiet", "main")
        _git(
            work,
            "merge",
            "--quiet",
            "--no-ff",
            "-m",
            "Merge pull request #1: web-03, web-04",
            "add-web-03-04",
            author=ERIN,
        )
        _git(work, "push", "--quiet", "origin", "main")
        _show(work, "apply", "--push")
        click.echo(_git(work, "log", "-1", "--format=commit by %an <%ae>: %s"))

        step("proxgit reflect --push: live state committed back as a snapshot")
        _show(work, "reflect", "--push")
        click.echo(_git(work, "log", "-1", "--format=commit by %an <%ae>: %s"))

        step("Erin removes web-02 in a commit she signs with her SSH key")
        _git(work, "rm", "--quiet", guest_path("lab", "VirtualMachine", "web-02"), author=ERIN)
        _git(work, "commit", "--quiet", "-S", "-m", "Retire web-02", author=ERIN, key=keys["erin"])
        _git(work, "push", "--quiet", "origin", "main")
        _show(work, "apply", "--push")
        request = work / deletion_request_path("lab", 102)
        click.echo(f"\n{request.relative_to(work)} (head, opened in a commit proxgit signed):")
        click.echo("\n".join(request.read_text().splitlines()[:26]))

        step("A forged approval: author set to Grace, but not signed by her key")
        _approve(work, request, GRACE, None)
        _show(work, "deletions", "execute")
        _git(work, "revert", "--no-edit", "HEAD", author=ERIN)

        step("Erin tries to approve her own request with her signing key: refused (four eyes)")
        _as_person(work, ERIN, keys["erin"])
        _show(work, "deletions", "approve", "lab-102")
        click.echo(_git(work, "log", "-1", "--format=head is still %h %an: %s"))

        step("Grace, another approver, approves with her signing key")
        _as_person(work, GRACE, keys["grace"])
        _show(work, "deletions", "approve", "lab-102", "--push")
        _show(work, "deletions", "list")
        _show(work, "deletions", "execute", "--push")

        step("Final drift check")
        _show(work, "drift")
        click.echo(_git(work, "log", "--format=%h %an: %s", "-12"))
    finally:
        for fake in fakes.values():
            fake.stop()
    click.echo(f"\nThe temporary repository is at {work}; look around.")
    return work


def _approve(work: Path, request: Path, author: tuple[str, str], key: Path | None) -> None:
    text = request.read_text().replace("approve: false", "approve: true")
    request.write_text(text)
    _git(work, "add", str(request.relative_to(work)))
    sign = ["-S"] if key else ["--no-gpg-sign"]
    _git(work, "commit", "--quiet", *sign, "-m", f"Approve {request.stem}", author=author, key=key)
    _git(work, "push", "--quiet", "origin", "main")
    how = "signed with her key" if key else "unsigned"
    click.echo(f"{author[0]} <{author[1]}> committed approve: true to {request.name} ({how})")


def _as_person(work: Path, person: tuple[str, str], key: Path) -> None:
    """Configure the clone as a person's own would be: name, email, SSH signing key."""
    for name, value in (
        ("user.name", person[0]),
        ("user.email", person[1]),
        ("gpg.format", "ssh"),
        ("user.signingkey", str(key)),
    ):
        _git(work, "config", name, value)
    click.echo(f"git config: {person[0]} <{person[1]}>, signing key {key.name}")


def _show(work: Path, *args: str) -> None:
    """Run one ``proxgit`` command in-process on the work tree, as typed, then its exit code.

    The command's own function parses the arguments and prints; its output goes
    straight to this process's stdout and stderr.
    """
    click.secho(f"$ proxgit {' '.join(args)}", fg="yellow")
    command = COMMANDS[args[0]]
    code: int | str | None
    try:
        code = command.main(
            [*args[1:], "--repo", str(work)], prog_name=f"proxgit {args[0]}", standalone_mode=False
        )
    except SystemExit as done:
        code = done.code
    except click.ClickException as err:
        err.show()
        code = err.exit_code
    click.secho(f"(exit {code or 0})", dim=True)


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to create the demo repositories (default: a new temp dir).",
)
@user_errors
def demo(workdir: Path | None) -> None:
    """The whole story on a temporary Git repository."""
    run_demo(workdir)
