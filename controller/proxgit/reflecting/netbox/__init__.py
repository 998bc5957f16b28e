"""NetBox as a reflection target: live Proxmox state written to NetBox, idempotently.

``objects`` holds the plain data and the pure difference (wanted vs found
objects -> writes), ``mapping`` the pure translation of a cluster's reading
into wanted NetBox objects and of NetBox's answers into found ones,
``client`` the pynetbox session (bulk reads and writes, retries, request
counts, one-line failures), and ``sync`` the run that ties them together
after reflect's read. docs/netbox.md describes it for users.
"""

from proxgit.reflecting.netbox.sync import ClusterSync, NetBoxResult, describe, reflect_to_netbox

__all__ = ["ClusterSync", "NetBoxResult", "describe", "reflect_to_netbox"]
