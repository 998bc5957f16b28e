"""Where things live in a proxgit repository: every path and ref name, and their builders.

Paths are POSIX, relative to the repository root::

    proxgit.yaml                                  the configuration
    clusters/<cluster>/vms/<name>.yaml            a VirtualMachine
    clusters/<cluster>/containers/<name>.yaml     a Container
    deletions/<cluster>-<vmid>.yaml               an open deletion request
    deletions/archive/                            finished requests, kept for the record
    .proxgit/journal/                             one JSON file per apply run
    .proxgit/allowed_signers                      SSH signers (default; proxgit.yaml may move it)
    snapshot/<cluster>/                           live state written by reflect

Refs: ``refs/proxgit/applied/<cluster>`` (last revision applied),
``refs/proxgit/locks/<cluster>`` (the apply lock), ``refs/proxgit/seen/<cluster>``
(a local copy of the applied ref fetched before a deletion).
"""

from __future__ import annotations

CONFIG_FILE = "proxgit.yaml"
CLUSTERS_DIR = "clusters"
DELETIONS_DIR = "deletions"
DESIRED_ROOTS = (CLUSTERS_DIR, DELETIONS_DIR)
YAML_SUFFIXES = (".yaml", ".yml")

ARCHIVE_DIR = f"{DELETIONS_DIR}/archive"
ARCHIVE_PREFIX = f"{ARCHIVE_DIR}/"
PROXGIT_DIR = ".proxgit"
JOURNAL_DIR = f"{PROXGIT_DIR}/journal"
DEFAULT_ALLOWED_SIGNERS = f"{PROXGIT_DIR}/allowed_signers"
SNAPSHOT_DIR = "snapshot"

APPLIED_REF = "refs/proxgit/applied/{cluster}"
LOCK_REF = "refs/proxgit/locks/{cluster}"
SEEN_REF = "refs/proxgit/seen/{cluster}"

# Folder under clusters/<cluster>/ for each guest kind, and back.
FOLDER_KIND = {"vms": "VirtualMachine", "containers": "Container"}
KIND_FOLDER = {kind: folder for folder, kind in FOLDER_KIND.items()}


def guest_path(cluster: str, kind: str, name: str) -> str:
    """``clusters/<cluster>/vms|containers/<name>.yaml`` for a guest of ``kind``."""
    return f"{CLUSTERS_DIR}/{cluster}/{KIND_FOLDER[kind]}/{name}.yaml"


def guest_kind_of(path: str) -> str | None:
    """The document kind a guest file at ``path`` must hold; None when it is no guest path."""
    parts = path.split("/")
    if len(parts) == 4 and parts[0] == CLUSTERS_DIR and parts[2] in FOLDER_KIND:
        return FOLDER_KIND[parts[2]]
    return None


def cluster_of(path: str) -> str | None:
    """The cluster of a path under ``clusters/<cluster>/...``; None for any other path."""
    if path.startswith(f"{CLUSTERS_DIR}/") and path.count("/") >= 2:
        return path.split("/")[1]
    return None


def deletion_request_name(cluster: str, vmid: int) -> str:
    """``<cluster>-<vmid>``: a deletion request's name and its file's stem."""
    return f"{cluster}-{vmid}"


def deletion_request_path(cluster: str, vmid: int) -> str:
    """``deletions/<cluster>-<vmid>.yaml``, the one place a request for that guest lives."""
    return f"{DELETIONS_DIR}/{deletion_request_name(cluster, vmid)}.yaml"


def is_deletion_request_path(path: str) -> bool:
    """True for ``deletions/<file>`` (directly in the folder, not the archive)."""
    parts = path.split("/")
    return len(parts) == 2 and parts[0] == DELETIONS_DIR


def archive_path(stem: str, stamp: str, request_id: str) -> str:
    """Where a finished request is kept: ``deletions/archive/<stem>-<stamp>-<id8>.yaml``."""
    return f"{ARCHIVE_DIR}/{stem}-{stamp}-{request_id[:8]}.yaml"


def journal_path(stamp: str, cluster: str, revision: str, suffix: str) -> str:
    """``.proxgit/journal/<stamp>-<cluster>-<rev12>-<suffix>.json``."""
    return f"{JOURNAL_DIR}/{stamp}-{cluster}-{revision[:12]}-{suffix}.json"


def applied_ref(cluster: str) -> str:
    return APPLIED_REF.format(cluster=cluster)


def lock_ref(cluster: str) -> str:
    return LOCK_REF.format(cluster=cluster)


def seen_ref(cluster: str) -> str:
    return SEEN_REF.format(cluster=cluster)
