"""People and permissions: the one answer to "may this identity do this on this cluster".

An identity reaches proxgit as a *handle* that some authenticated source
vouched for: an email (an SSH signer's principal, a commit author in
``git-author`` mode), a forge login (``github:bob`` from the forge API) or a
signing key. :func:`resolve` maps the handle to the person listed once in
``policy.people``; :func:`roles_granting` says which roles give that person (or
the bare handle, for members written as emails or logins) a permission on a
cluster. The planner's permission check, apply's enforcement and the deletion
approval rules all call these two functions and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxgit.models.config import Config, Permission, Policy


@dataclass(frozen=True)
class Who:
    """An authenticated identity: the handle that was proven, and the person it belongs to."""

    handle: str
    person: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        """How messages name them: ``bob (github:bob)`` or just the handle."""
        if self.person and self.person != self.handle:
            return f"{self.person} ({self.handle})"
        return self.handle

    def same_as(self, other: Who) -> bool:
        """The same person: by the people directory when both are listed, else by handle."""
        if self.person is not None and other.person is not None:
            return self.person == other.person
        return _norm(self.handle) == _norm(other.handle)


def _norm(handle: str) -> str:
    return handle.strip().lower()


def handles_of(policy: Policy | None, person: str) -> set[str]:
    """Every handle under which ``person`` may appear."""
    if policy is None or person not in policy.people:
        return set()
    entry = policy.people[person]
    return {_norm(h) for h in (*entry.emails, *entry.logins)}


def resolve(policy: Policy | None, handle: str) -> Who:
    """The person a handle belongs to (None when nobody lists it)."""
    wanted = _norm(handle)
    if policy is not None and handle in policy.people:  # an SSH principal naming the person
        return Who(handle=handle, person=handle, name=policy.people[handle].name)
    for key, entry in (policy.people if policy else {}).items():
        if wanted in {_norm(h) for h in (*entry.emails, *entry.logins)}:
            return Who(handle=handle, person=key, name=entry.name)
    return Who(handle=handle)


def resolve_key(policy: Policy | None, public_key: str) -> Who | None:
    """The person whose listed SSH key is ``public_key`` (``type base64``), if any."""
    parts = public_key.split()
    if len(parts) < 2:
        return None
    for key, entry in (policy.people if policy else {}).items():
        for listed in entry.keys:
            if listed.split()[:2] == parts[:2]:
                return Who(handle=f"key:{key}", person=key, name=entry.name)
    return None


def _member_matches(policy: Policy, member: str, who: Who) -> bool:
    if who.person is not None and member == who.person:
        return True
    if member in policy.people:  # a person key that is not this person
        return False
    return _norm(member) == _norm(who.handle)


def roles_granting(
    config: Config, who: Who, permission: Permission | str, cluster: str
) -> list[str]:
    """Names of the roles that give ``who`` ``permission`` on ``cluster`` (``*`` counts)."""
    policy = config.spec.policy
    if policy is None:
        return []
    wanted = str(permission)
    names = []
    for name, role in policy.roles.items():
        if role.clusters is not None and cluster not in role.clusters:
            continue
        granted = {str(p) for p in role.permissions}
        if wanted not in granted and str(Permission.all) not in granted:
            continue
        if any(_member_matches(policy, member, who) for member in role.members):
            names.append(name)
    return names


def may(config: Config, who: Who, permission: Permission | str, cluster: str) -> bool:
    """Whether ``who`` holds ``permission`` on ``cluster``; no policy means anyone may
    create, update and delete, and nobody may approve deletions."""
    if config.spec.policy is None:
        return str(permission) != str(Permission.approve_deletion)
    return bool(roles_granting(config, who, permission, cluster))
