"""proxgit: a GitOps controller for Proxmox VE.

The desired state of QEMU VMs and LXC containers lives as YAML in Git; proxgit
plans changes on pull requests, applies them on merge, turns deletions into
requests a second person approves, and commits live state back as a snapshot.
"""

from proxgit.errors import InvalidRepository, Problem, ProxgitError

__version__ = "0.1.0"

__all__ = ["InvalidRepository", "Problem", "ProxgitError", "__version__"]
