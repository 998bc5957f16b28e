"""``proxgit init``: a starter desired-state repository that validates as written.

It writes a commented ``proxgit.yaml`` for one cluster, one VM and one
container, the CI workflow for the chosen forge, the hash-pinned requirements
lock the workflow installs from, and ``schemas/`` inside the repository, so
every ``# yaml-language-server: $schema=...`` line resolves wherever the
repository is cloned. The CI files are the example repository's (the ones the
tests lint), narrowed from its two clusters to the starter's one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from proxgit.errors import ConfigError
from proxgit.layout import CONFIG_FILE, guest_path
from proxgit.schemas import write_schemas

# The wheel carries the example repository as package data (setup.py); a
# source checkout (an editable install) has it at the top of the tree.
PACKAGED_EXAMPLE = Path(__file__).resolve().parent / "example_repo"
SOURCE_EXAMPLE = Path(__file__).resolve().parents[2] / "example-repo"

FORGES = ("github", "gitlab", "gitea")

# Where each forge reads its CI files, in the example repository.
CI_FILES = {
    "github": (
        ".github/workflows/proxgit-plan.yml",
        ".github/workflows/proxgit-apply.yml",
        ".github/workflows/proxgit-reflect.yml",
    ),
    "gitlab": (".gitlab-ci.yml",),
    "gitea": (".gitea/workflows/proxgit.yml", ".gitea/workflows/proxgit-reflect.yml"),
}

FORGE_BLOCKS = {
    "github": (
        "    type: github\n"
        "    url: https://api.github.com\n"
        "    repository: your-org/infra          # owner/name of this repository\n"
        "    tokenFrom: {env: GITHUB_TOKEN}\n"
    ),
    "gitlab": (
        "    type: gitlab\n"
        "    url: https://gitlab.example.net/api/v4   # your instance's $CI_API_V4_URL\n"
        "    repository: your-group/infra            # the project's path\n"
        "    tokenFrom: {env: PROXGIT_GITLAB_TOKEN}\n"
    ),
    "gitea": (
        "    type: gitea\n"
        "    url: https://gitea.example.net/api/v1\n"
        "    repository: your-org/infra\n"
        "    tokenFrom: {env: PROXGIT_GITEA_TOKEN}\n"
    ),
}

CA_FILE = "/etc/proxgit/ca/proxmox-ca.pem"

CONFIG = """\
# yaml-language-server: $schema=schemas/config.schema.json
#
# proxgit.yaml: the clusters proxgit talks to, the write gates, the deletion
# rules and who may do what. It holds no secrets: each token secret is named
# by *From and read from the environment (or a file) at run time.
# Field reference: docs/repository-format.md in proxgit's repository, or the
# JSON Schemas in schemas/ (your editor reads them through the first line).
apiVersion: proxgit/v1
kind: Config
metadata:
  name: {name}
spec:
  mainBranch: main

  clusters:
    # One cluster; add more under their own names (clusters/<name>/ holds
    # their guests).
    lab:
      url: https://pve.example.net:8006
      # A privilege-separated API token: pveum user token add proxgit@pve gitops
      tokenId: proxgit@pve!gitops
      tokenSecretFrom: {{env: PROXGIT_LAB_TOKEN_SECRET}}
      # Plan, drift, reflect and import only read: they use a PVEAuditor
      # token (the CI jobs pass PROXGIT_LAB_READ_TOKEN_SECRET):
      #   pveum user token add proxgit@pve plan --privsep 1
      #   pveum acl modify / --tokens 'proxgit@pve!plan' --roles PVEAuditor
      readTokenId: proxgit@pve!plan
      readTokenSecretFrom: {{env: PROXGIT_LAB_READ_TOKEN_SECRET}}
      verifySsl: true
      # The CA that signed the cluster's API certificate; the CI jobs write it
      # here from the PROXGIT_CA_PEM variable. Drop the line for a public CA.
      caFile: {ca_file}
      # Gate: proxgit writes to this cluster only when this is true.
      allowWrites: false

  # The master write gate. Both keys are required to apply anything:
  # enabled: true, and confirm set to exactly allow-edit-and-add-actions.
  apply:
    enabled: false

  # The forge that hosts this repository: plan comments and commit statuses,
  # and (identity: forge) who asked for and who approved a deletion, from
  # pull request authors and approving reviews.
  forge:
{forge}
  deletions:
    ttl: 7d
    selfApprovalAllowed: false
    identity: forge

  # proxgit's own commits (journal, snapshot, deletion requests).
  commitIdentity:
    name: proxgit
    email: proxgit@noreply.invalid
    signingKeyFrom: {{env: PROXGIT_SIGNING_KEY}}
"""

VM = """\
# yaml-language-server: $schema=../../../schemas/virtualmachine.schema.json
# One VirtualMachine per file, named after the guest; spec.vmid is the VMID.
# Keys a file leaves out are not managed: Proxmox keeps what is set live.
apiVersion: proxgit/v1
kind: VirtualMachine
metadata:
  name: vm-01
  cluster: lab
spec:
  vmid: 1001
  node: pve1
  description: A starter VM, a full clone of template 9000.
  clone: {vmid: 9000, full: true}
  cores: 2
  memory: 2048
  agent: {enabled: true}
  disks:
    scsi0: {storage: local-lvm, size: 32G}
  networks:
    net0: {bridge: vmbr0, model: virtio}
  cloudInit:
    user: debian
    ipconfig0: ip=dhcp
    sshKeys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMmMxKjpQjhnVz286lD2dRO+ibpTR7JsbPgWOTvBLfQc you@laptop
"""

CONTAINER = """\
# yaml-language-server: $schema=../../../schemas/container.schema.json
# One Container per file, named after the guest; spec.vmid is the CT id.
apiVersion: proxgit/v1
kind: Container
metadata:
  name: ct-01
  cluster: lab
spec:
  vmid: 1101
  node: pve1
  hostname: ct-01
  ostemplate: local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst
  ostype: debian
  unprivileged: true
  cores: 1
  memory: 512
  rootfs: {storage: local-lvm, size: 8G}
  networks:
    net0: {name: eth0, bridge: vmbr0, ip: dhcp}
  passwordFrom: {env: LAB_CT_ROOT_PASSWORD}
"""

# A YAML mapping line for a prod-only variable (env, GitLab variables).
_PROD_LINE = re.compile(r"^\s+[A-Z_]*PROD_[A-Z_]*: .*\n", re.M)


def narrow_ci_file(text: str) -> str:
    """An example CI file for the starter's one cluster: prod's variables gone, one CA file."""
    text = text.replace("PROXGIT_PROD_CA_PEM", "PROXGIT_CA_PEM").replace("PROD_CA_PEM", "CA_PEM")
    text = text.replace("/etc/proxgit/ca/example-internal-ca.pem", CA_FILE)
    text = text.replace("prod's internal CA", "the cluster's CA")
    text = text.replace("prod's CA certificate", "the cluster's CA certificate")
    text = _PROD_LINE.sub("", text)
    note = (
        "# Written by `proxgit init` from proxgit's example repository; what each job\n"
        "# does and which secrets it needs: docs/ci-*.md in proxgit's repository.\n"
    )
    if "\nname: " not in text:  # GitLab: its header documents the variables; keep it
        return note + text
    return note + text[text.index("\nname: ") + 1 :]


def write_starter(directory: Path, forge: str, example: Path) -> list[Path]:
    """Write the starter repository into ``directory`` (new or empty but for .git)."""
    if forge not in FORGES:
        raise ConfigError(f"--forge {forge}: not a forge proxgit knows; use {', '.join(FORGES)}")
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory}: exists and is not a directory; choose a new one")
    if directory.is_dir():
        present = sorted(p.name for p in directory.iterdir() if p.name != ".git")
        if present:
            raise ConfigError(
                f"{directory}: not empty ({', '.join(present[:3])}"
                f"{', ...' if len(present) > 3 else ''}); proxgit init writes only into a new "
                "or empty directory, so nothing was written"
            )
    files: dict[str, str] = {
        CONFIG_FILE: CONFIG.format(
            # JSON's double-quoted string is YAML too: any directory name stays one string.
            name=json.dumps(directory.resolve().name or "infra"),
            forge=FORGE_BLOCKS[forge],
            ca_file=CA_FILE,
        ),
        guest_path("lab", "VirtualMachine", "vm-01"): VM,
        guest_path("lab", "Container", "ct-01"): CONTAINER,
    }
    for name in (".gitignore", "ci/requirements.txt"):
        files[name] = (example / name).read_text(encoding="utf-8")
    for name in CI_FILES[forge]:
        files[name] = narrow_ci_file((example / name).read_text(encoding="utf-8"))
    written = []
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    write_schemas(directory / "schemas")
    written.extend(sorted((directory / "schemas").glob("*.schema.json")))
    return written


def example_repository() -> Path:
    """The example repository: the installed package's copy, else the source tree's."""
    for candidate in (PACKAGED_EXAMPLE, SOURCE_EXAMPLE):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    raise ConfigError(
        f"{PACKAGED_EXAMPLE}: the example repository is missing from this installation; "
        "reinstall proxgit from a wheel or sdist"
    )
