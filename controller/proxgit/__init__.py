"""proxgit: a GitOps controller for Proxmox VE.

The desired state of QEMU VMs and LXC containers lives as YAML in Git; proxgit
plans changes on pull requests, applies them on merge, turns deletions into
requests a second person approves, and commits live state back as a snapshot.
"""

from importlib.metadata import PackageNotFoundError, version

from proxgit.errors import InvalidRepository, Problem, ProxgitError

try:  # set from the Git tag when the package is built (setuptools-scm)
    __version__ = version("proxgit")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["InvalidRepository", "Problem", "ProxgitError", "__version__"]
