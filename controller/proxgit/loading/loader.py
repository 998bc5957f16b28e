"""Loading the desired tree: every file parsed, validated and cross-checked.

The loader reports *every* problem at once, each located to the line and
column of the offending key or value, so one ``proxgit validate`` run shows a
reviewer everything that is wrong. It never writes anything.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from proxgit.errors import InvalidRepository, Problem
from proxgit.layout import (
    ARCHIVE_PREFIX,
    CONFIG_FILE,
    KIND_FOLDER,
    guest_kind_of,
    is_deletion_request_path,
)
from proxgit.loading.sources import (
    NotADocument,
    changed_paths,
    read_git_files,
    read_git_revision,
    read_working_tree,
    resolve_revision,
)
from proxgit.models import CONFIRM_PHRASE, DOCUMENT_KINDS, Config, Container, VirtualMachine
from proxgit.models.base import (
    CLUSTER_NAME_PATTERN,
    DNS_NAME_PATTERN,
    ENV_NAME_PATTERN,
    STORAGE_ID_PATTERN,
    TAG_PATTERN,
)
from proxgit.models.config import (
    BRANCH_PATTERN,
    EMAIL_PATTERN,
    FORGE_LOGIN_PATTERN,
    FORGE_REPOSITORY_PATTERN,
    FORGE_URL_PATTERN,
    NETBOX_URL_PATTERN,
    TOKEN_ID_PATTERN,
    URL_PATTERN,
)
from proxgit.models.deletion import DeletionRequest
from proxgit.models.guests import (
    BRIDGE_PATTERN,
    DISK_SLOT_PATTERN,
    HOTPLUG_PATTERN,
    LINUX_USER_PATTERN,
    MAC_PATTERN,
    MP_SLOT_PATTERN,
    NET_SLOT_PATTERN,
    OSTEMPLATE_PATTERN,
    POOL_PATTERN,
    SSH_KEY_PATTERN,
)
from proxgit.outcomes import Gate
from proxgit.pauses import gc_paused
from proxgit.proxmox.fields import extra_key_problem, key_for
from proxgit.secrets import SECRET_KEYS, SECRET_VALUE, may_hold_secret, normalize_key
from proxgit.yamlio import PositionIndex, parse_document

GuestDocument = VirtualMachine | Container


_PATTERN_HINTS = {
    DISK_SLOT_PATTERN: "disk slots are scsi0-scsi30, virtio0-virtio15, sata0-sata5, ide0-ide3",
    NET_SLOT_PATTERN: "network slots are net0-net31",
    MP_SLOT_PATTERN: "mount point slots are mp0-mp255",
    MAC_PATTERN: "write a MAC address like BC:24:11:2A:3B:4C",
    URL_PATTERN: "write the API address with https:// and no path, like "
    "https://pve1.example.net:8006",
    ENV_NAME_PATTERN: "write the variable's name alone, without $ or braces, like "
    "PROXGIT_LAB_TOKEN",
    BRIDGE_PATTERN: "write the bridge's name as on the node, like vmbr0 (at most 15 characters)",
    LINUX_USER_PATTERN: "a Linux user name: lower-case letters, digits, '_', '-' and '.', "
    "starting with a letter or '_'",
    POOL_PATTERN: "pool names use letters, digits, '-', '_' and '.'",
    EMAIL_PATTERN: "write an email address, like alice@example.com",
    FORGE_LOGIN_PATTERN: "write a forge login as forge:name, like github:alice",
    FORGE_URL_PATTERN: "write the forge's API address with its scheme, like "
    "https://api.github.com or https://gitlab.example.net/api/v4",
    FORGE_REPOSITORY_PATTERN: "write it as owner/name (GitLab: group/project)",
    NETBOX_URL_PATTERN: "write NetBox's address with its scheme, like https://netbox.example.net",
    BRANCH_PATTERN: "write a branch name, like main",
    OSTEMPLATE_PATTERN: "write the template's volume id, storage:vztmpl/file, like "
    "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
    TOKEN_ID_PATTERN: "write the API token id as user@realm!tokenname, like proxgit@pve!gitops",
    SSH_KEY_PATTERN: "write one public key per entry, as in a .pub file: "
    "ssh-ed25519 AAAA... comment",
    TAG_PATTERN: "tags use letters, digits and _ - + . and start with a letter, digit or _",
    DNS_NAME_PATTERN: "use a DNS name: letters, digits, '-' and '.', not starting or ending in '-'",
    CLUSTER_NAME_PATTERN: "cluster names use lower-case letters, digits, '-' and '_'",
    STORAGE_ID_PATTERN: "storage ids start with a letter, end with a letter or digit and "
    "use letters, digits, '-', '_' and '.'",
    HOTPLUG_PATTERN: "hotplug is 0, 1 or a comma list of network, disk, cpu, memory, usb, "
    "cloudinit",
}


@dataclass
class DesiredGuest:
    """One declared guest and the file it came from."""

    path: str
    document: GuestDocument

    @property
    def key(self) -> tuple[str, int]:
        return self.document.metadata.cluster, self.document.spec.vmid

    @property
    def kind(self) -> str:
        return self.document.kind

    @property
    def name(self) -> str:
        return self.document.metadata.name


@dataclass
class DesiredState:
    """The whole desired tree of one revision, validated."""

    config: Config
    guests: dict[tuple[str, int], DesiredGuest] = field(default_factory=dict)
    deletion_requests: dict[str, tuple[str, DeletionRequest]] = field(default_factory=dict)
    revision: str | None = None

    def guests_in(self, cluster: str) -> list[DesiredGuest]:
        return [g for (c, _), g in sorted(self.guests.items()) if c == cluster]


@dataclass
class _File:
    path: str
    text: str
    data: Any = None
    positions: PositionIndex | None = None

    def at(self, loc: tuple[Any, ...], *, key: bool = False) -> tuple[int, int]:
        if self.positions is None:
            self.positions = PositionIndex(self.text)
        return self.positions.locate(loc, key=key)


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(
        self,
        file: _File,
        loc: tuple[Any, ...],
        message: str,
        *,
        key: bool = False,
        gate: Gate | None = None,
    ) -> None:
        line, col = file.at(loc, key=key)
        self.problems.append(Problem(file.path, line, col, _dotted(loc), message, gate))


def load_directory(root: Path) -> DesiredState:
    """Load and validate the desired tree in the working directory ``root``."""
    if not root.is_dir():
        raise InvalidRepository(
            [Problem(str(root), 0, 0, "", "no such directory; give the repository's root")]
        )
    try:
        return load_files(read_working_tree(root))
    except InvalidRepository as err:
        raise _inside_repository(root, err) from None


def _inside_repository(root: Path, err: InvalidRepository) -> InvalidRepository:
    """Pointed at a folder inside the repository (clusters/, a cluster): say where the
    root is instead of only that proxgit.yaml is missing."""
    if (root / CONFIG_FILE).exists():
        return err
    for parent in root.absolute().parents:
        if (parent / CONFIG_FILE).is_file():
            return InvalidRepository(
                [
                    Problem(
                        str(root.absolute()),
                        0,
                        0,
                        "",
                        f"is inside the repository at {parent}; run proxgit there, or pass "
                        f"--repo {parent}",
                    )
                ]
            )
    return err


def load_revision(repo: Path, revision: str) -> DesiredState:
    """Load and validate the desired tree as it is in a Git revision."""
    sha = resolve_revision(repo, revision)
    state = load_files(read_git_revision(repo, sha), revision=sha)
    state.revision = sha
    return state


def load_revision_against(repo: Path, revision: str, other: DesiredState) -> DesiredState:
    """The desired tree at ``revision``, reading only the files that differ from ``other``
    (loaded from its commit ``other.revision``): the rest are ``other``'s documents, the
    same blobs. A pull request's base costs what the pull request changes."""
    sha = resolve_revision(repo, revision)
    if other.revision is None or not re.fullmatch(r"[0-9a-f]{40,64}", other.revision):
        return load_revision(repo, sha)  # the working tree: no commit to compare with
    changed = set(changed_paths(repo, sha, other.revision))
    state = load_files(read_git_files(repo, sha, sorted(changed)), revision=sha)
    kept = {key: g for key, g in other.guests.items() if g.path not in changed}
    state.guests = {**kept, **state.guests}
    state.revision = sha
    return state


def load_files(files: Iterable[tuple[str, str]], *, revision: str | None = None) -> DesiredState:
    """Validate ``(path, text)`` pairs into a :class:`DesiredState` or raise with every problem.

    ``revision`` is the commit the files come from, named when proxgit.yaml is missing
    from it (it may exist, uncommitted, in the working tree).
    """
    with gc_paused():
        return _load_files(files, revision)


def _load_files(files: Iterable[tuple[str, str]], revision: str | None = None) -> DesiredState:
    out = _Collector()
    config: Config | None = None
    config_file: _File | None = None
    guest_files: list[tuple[_File, GuestDocument]] = []
    requests: dict[str, tuple[str, DeletionRequest]] = {}

    for path, text in files:
        if path.startswith(ARCHIVE_PREFIX):
            continue  # finished deletion requests, kept for the record
        if isinstance(text, NotADocument):
            out.problems.append(Problem(path, 1, 1, "", str(text)))
            continue
        text = text.removeprefix("\ufeff")  # a byte order mark some editors write
        if "\ufffd" in text:
            out.problems.append(_not_utf8(path, text))
            continue
        file = _File(path, text)
        expected_kind = _expected_kind(path)
        if expected_kind is None:
            out.problems.append(
                Problem(
                    path,
                    1,
                    1,
                    "",
                    "unexpected file location; guests live in "
                    "clusters/<cluster>/vms/<name>.yaml or clusters/<cluster>/containers/"
                    "<name>.yaml, deletion requests in deletions/<cluster>-<vmid>.yaml",
                )
            )
            continue
        data, fault = parse_document(text)
        if fault is not None:
            out.problems.append(Problem(path, fault.line, fault.col, fault.field, fault.message))
            continue
        file.data = data
        document = _validate_document(file, expected_kind, out)
        if document is None:
            continue
        if isinstance(document, Config):
            config, config_file = document, file
        elif isinstance(document, DeletionRequest):
            requests[document.metadata.name] = (path, document)
        else:
            guest_files.append((file, document))

    if config is None and not any(p.path == CONFIG_FILE for p in out.problems):
        out.problems.append(
            Problem(
                CONFIG_FILE,
                0,
                0,
                "",
                "missing: a desired-state repository needs "
                "proxgit.yaml at its root (see docs/repository-format.md)"
                + (
                    f"; it is not in commit {revision[:12]}: commit it"
                    if revision is not None
                    else ""
                ),
            )
        )
    if config is not None and config_file is not None:
        _check_config(config_file, config, out)

    guests = _cross_check(guest_files, config, out)
    if out.problems:
        raise InvalidRepository(sorted(set(out.problems)))
    assert config is not None
    return DesiredState(config=config, guests=guests, deletion_requests=requests)


def _not_utf8(path: str, text: str) -> Problem:
    """A file with bytes that are not UTF-8 (read as U+FFFD), located at the first one."""
    offset = text.index("\ufffd")
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Problem(
        path,
        line,
        col,
        "",
        "bytes that are not UTF-8 text; save the file as UTF-8 (or remove the character)",
    )


def _expected_kind(path: str) -> str | None:
    if path == CONFIG_FILE:
        return "Config"
    if is_deletion_request_path(path):
        return "DeletionRequest"
    return guest_kind_of(path)


def _validate_document(
    file: _File, expected_kind: str, out: _Collector
) -> Config | GuestDocument | DeletionRequest | None:
    data = file.data
    if data is None:
        out.problems.append(
            Problem(
                file.path, 1, 1, "", f"empty document; remove the file or write a {expected_kind}"
            )
        )
        return None
    if not isinstance(data, dict):
        out.add(
            file,
            (),
            f"expected a mapping with apiVersion, kind, metadata and spec, "
            f"found {type(data).__name__}",
        )
        return None
    secret_locs = _scan_secrets(file, data, out) if may_hold_secret(file.text) else set()
    kind = data.get("kind")
    if kind is None:
        out.add(file, (), f"missing 'kind'; add kind: {expected_kind}", key=True)
        return None
    if kind not in DOCUMENT_KINDS:
        out.add(file, ("kind",), f"unknown kind '{kind}'; this file must be kind: {expected_kind}")
        return None
    if kind != expected_kind:
        out.add(
            file,
            ("kind",),
            f"a {kind} does not belong here; this path holds "
            f"kind: {expected_kind}{_where_kind_goes(kind)}",
        )
        return None
    model = DOCUMENT_KINDS[kind]
    try:
        return model.model_validate(data)
    except ValidationError as err:
        for error in err.errors():
            loc = _yaml_loc(error["loc"])
            if loc in secret_locs and error["type"] in (
                "extra_forbidden",
                "string_pattern_mismatch",
            ):
                continue
            message = _message(model, error, loc)
            on_key = error["type"] in ("extra_forbidden", "invalid_key") or "[key]" in error["loc"]
            out.add(file, loc, message, key=on_key)
        return None


def _where_kind_goes(kind: str) -> str:
    if kind in KIND_FOLDER:
        return f" (a {kind} goes in clusters/<cluster>/{KIND_FOLDER[kind]}/)"
    return ""


def _yaml_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Pydantic's error location as a path of YAML keys."""
    out: list[Any] = []
    for part in loc:
        if out and out[-1] == "ipconfig" and isinstance(part, int | str) and str(part).isdigit():
            out[-1] = f"ipconfig{part}"
            continue
        if isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue  # union member tags, not keys
        out.append(part)
    return tuple(out)


def _message(model: type[BaseModel], error: Any, loc: tuple[Any, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        allowed = _keys_at(model, loc[:-1])
        if len(loc) == 1 and name in _keys_at(model, ("spec",)):
            return f"unknown key '{name}' at the top level; it belongs under spec: indent it"
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        hint = (
            f"; did you mean '{close[0]}'?"
            if close
            else (f"; allowed keys: {', '.join(sorted(allowed))}" if allowed else "")
        )
        return f"unknown key '{name}'{hint}"
    if kind == "missing":
        return f"required key '{loc[-1]}' is missing; add it"
    if kind == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        hint = _PATTERN_HINTS.get(pattern, f"must match {pattern}")
        return f"'{error['input']}' is not valid: {hint}"
    if kind == "literal_error":
        value = error["input"]
        shown = str(value).lower() if isinstance(value, bool) else f"'{value}'"
        return f"{shown} is not allowed; {error['msg'].replace('Input should be', 'use')}"
    if kind == "enum":
        value = error["input"]
        shown = str(value).lower() if isinstance(value, bool) else f"'{value}'"
        return f"{shown} is not allowed; {error['msg'].replace('Input should be', 'use')}"
    if kind == "bool_type":
        return _bool_message(error["input"])
    plain = _plain_message(kind, error.get("input"), error.get("ctx") or {}, loc)
    if plain is not None:
        return plain
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    return message


_SECRET_REF_FIELDS = re.compile(r"(?i)from$")


def _plain_message(kind: str, value: Any, ctx: dict[str, Any], loc: tuple[Any, ...]) -> str | None:
    """Pydantic's type and range errors in the user's words, each with what to write."""
    shown = f"'{value}'" if isinstance(value, str) else str(value)
    field = str(loc[-1]) if loc else ""
    if kind in ("dict_type", "model_type", "model_attributes_type") and _SECRET_REF_FIELDS.search(
        field
    ):
        # never echo the value: it may be the secret itself, pasted in
        return (
            "write where the secret is, as {env: NAME} or {file: PATH}; "
            "the secret itself never goes in the repository"
        )
    if kind in ("int_parsing", "int_type"):
        return f"{shown} is not a whole number; write digits only, like 2"
    if kind == "int_from_float":
        return f"{shown} is not a whole number; write it without a fraction"
    if kind in ("float_parsing", "float_type"):
        return f"{shown} is not a number; write digits, like 1.5"
    if kind == "greater_than" and "gt" in ctx:
        return f"{shown} is too small: it must be greater than {ctx['gt']}; write a larger number"
    if kind == "less_than" and "lt" in ctx:
        return f"{shown} is too large: it must be less than {ctx['lt']}"
    if kind == "greater_than_equal" and "ge" in ctx:
        return (
            f"{shown} is too small: it must be greater than or equal to {ctx['ge']}; "
            f"write {ctx['ge']} or more"
        )
    if kind == "less_than_equal" and "le" in ctx:
        return (
            f"{shown} is too large: it must be less than or equal to {ctx['le']}; "
            f"write {ctx['le']} or less"
        )
    if kind == "finite_number":
        return f"{shown} is not a number; write digits, like 2"
    if kind == "invalid_key":
        return (
            f"a key must be a name, not {_yaml_type(value)}; write a name (quote it if it "
            "looks like a number) or fix the indentation"
        )
    if kind == "string_type":
        return f"{shown} is not text; write it as a string (in quotes if it looks like a number)"
    if kind == "list_type":
        return f"expected a list, found {_yaml_type(value)}; write [a, b] or one '- item' per line"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping (key: value lines or {{key: value}}), found {_yaml_type(value)}"
    if kind == "string_too_long" and "max_length" in ctx:
        return f"too long: at most {ctx['max_length']} characters; shorten it"
    return None


def _yaml_type(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_TRUE_WORDS = frozenset({"yes", "y", "on", "true", "1"})
_FALSE_WORDS = frozenset({"no", "n", "off", "false", "0"})


def _bool_message(value: Any) -> str:
    """Why a value is not a boolean, and which boolean was probably meant."""
    word = str(value).strip().lower()
    guess = "true" if word in _TRUE_WORDS else "false" if word in _FALSE_WORDS else None
    shown = f"'{value}'" if isinstance(value, str) else str(value)
    hint = f"did you mean {guess}?" if guess else "write true or false"
    why = " (YAML 1.2 reads it as text)" if isinstance(value, str) else ""
    return f"{shown} is not a boolean{why}; {hint}"


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a mapping at ``loc`` allows, for did-you-mean hints."""
    current: Any = model
    for part in loc:
        current = _descend(current, part)
        if current is None:
            return []
    for candidate in _unwrap(current):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return [f.alias or n for n, f in candidate.model_fields.items()]
    return []


def _descend(annotation: Any, part: Any) -> Any:
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            for name, info in candidate.model_fields.items():
                if part in (name, info.alias):
                    return info.annotation
        origin = typing.get_origin(candidate)
        if origin in (dict, list):
            return typing.get_args(candidate)[-1]
    return None


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        found: list[Any] = []
        for arg in typing.get_args(annotation):
            found.extend(_unwrap(arg))
        return found
    return [annotation]


# secret keys whose reference is the key plus From (tokenSecret -> tokenSecretFrom)
_REFERENCED = frozenset({"password", "token", "tokenSecret", "readTokenSecret", "signingKey"})


def _scan_secrets(file: _File, data: Any, out: _Collector) -> set[tuple[Any, ...]]:
    """Report plaintext secrets anywhere in a document; returns their locations."""
    found: set[tuple[Any, ...]] = set()
    fix = (
        "use tokenSecretFrom: {env: NAME} or {file: PATH}"
        if file.path == CONFIG_FILE
        else "use passwordFrom: {env: NAME} or {file: PATH}"
    )

    def walk(node: Any, loc: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                here = (*loc, key)
                if normalize_key(str(key)) in SECRET_KEYS and not isinstance(value, dict | list):
                    if value not in (None, ""):
                        found.add(here)
                        named = f"use {key}From: {{env: NAME}} or {{file: PATH}}"
                        out.add(
                            file,
                            here,
                            f"plaintext secret in desired YAML; "
                            f"{named if str(key) in _REFERENCED else fix}",
                            key=True,
                        )
                    continue
                walk(value, here)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*loc, index))
        elif isinstance(node, str) and SECRET_VALUE.search(node):
            found.add(loc)
            where = (
                "paste the public key (the .pub file) instead"
                if any(str(part).lower() == "sshkeys" for part in loc)
                else fix
            )
            out.add(
                file,
                loc,
                f"value looks like a secret (private key, token or password hash); {where}",
            )

    walk(data, ())
    return found


def _check_config(file: _File, config: Config, out: _Collector) -> None:
    apply = config.spec.apply
    if apply.enabled and apply.confirm != CONFIRM_PHRASE:
        if apply.confirm is None:
            out.add(
                file,
                ("spec", "apply", "enabled"),
                "apply.enabled is true without "
                f"confirm: {CONFIRM_PHRASE}; add that exact phrase or set enabled: false",
                gate=Gate.apply_confirm,
            )
        else:
            out.add(
                file,
                ("spec", "apply", "confirm"),
                f"'{apply.confirm}' is not the confirmation phrase; write exactly {CONFIRM_PHRASE}",
                gate=Gate.apply_confirm,
            )


def _cross_check(
    guest_files: list[tuple[_File, GuestDocument]], config: Config | None, out: _Collector
) -> dict[tuple[str, int], DesiredGuest]:
    guests: dict[tuple[str, int], DesiredGuest] = {}
    names: dict[tuple[str, str], str] = {}
    for file, document in sorted(guest_files, key=lambda pair: pair[0].path):
        _, path_cluster, _, filename = file.path.split("/")
        stem = filename.rsplit(".", 1)[0]
        cluster, name = document.metadata.cluster, document.metadata.name
        problems_before = len(out.problems)
        if config is not None and cluster not in config.spec.clusters:
            known = ", ".join(sorted(config.spec.clusters)) or "none"
            out.add(
                file,
                ("metadata", "cluster"),
                f"cluster '{cluster}' is not defined in proxgit.yaml (defined: {known})",
            )
        if cluster != path_cluster:
            out.add(
                file,
                ("metadata", "cluster"),
                f"file is under clusters/{path_cluster}/ "
                f"but metadata.cluster is '{cluster}'; move the file or fix the cluster",
            )
        if name != stem:
            out.add(
                file,
                ("metadata", "name"),
                f"file is named {filename} but metadata.name "
                f"is '{name}'; rename the file to {name}.yaml or fix the name",
            )
        _check_extra_config(file, document, out)
        key = (cluster, document.spec.vmid)
        if key in guests:
            out.add(
                file,
                ("spec", "vmid"),
                f"vmid {key[1]} on cluster '{cluster}' is already "
                f"declared in {guests[key].path}; every guest needs its own vmid",
            )
        if (cluster, name.lower()) in names:
            out.add(
                file,
                ("metadata", "name"),
                f"name '{name}' on cluster '{cluster}' is "
                f"already used by {names[(cluster, name.lower())]}; names must be unique",
            )
        if len(out.problems) == problems_before:
            guests[key] = DesiredGuest(file.path, document)
            names[(cluster, name.lower())] = file.path
    return guests


def _check_extra_config(file: _File, document: GuestDocument, out: _Collector) -> None:
    """``extraConfig`` keys against the field table: unknown keys, secrets, keys
    Proxmox owns and typed fields are refused, each at its own line."""
    extra = document.spec.extra_config or {}
    if not extra:
        return
    kind = "qemu" if isinstance(document, VirtualMachine) else "lxc"
    data = document.spec.model_dump(by_alias=True, exclude_none=True)
    for config_key, value in extra.items():
        loc = ("spec", "extraConfig", config_key)
        problem = extra_key_problem(kind, config_key, value)
        if problem is not None:
            out.add(file, loc, problem, key=True)
            continue
        row = key_for(kind, config_key)
        path = row.spec_path(config_key) if row is not None and row.role == "typed" else None
        node: Any = data
        for part in (path or "").split(".") if path else ():
            node = node.get(part) if isinstance(node, dict) else None
        if path and node is not None:
            out.add(
                file,
                loc,
                f"'{config_key}' is also declared as spec.{path}; keep one of the two",
                key=True,
            )


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)
