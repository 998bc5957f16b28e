"""Building blocks shared by every document kind.

Desired YAML is camelCase, as Kubernetes users expect; the Python attributes
are snake_case. Unknown keys are errors (``extra="forbid"``): a typo must never
silently mean "use the default". Sizes, tags and secret references have one
parser each here, so the loader, the normalizer of live Proxmox config and the
planner compare the same typed values.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel

API_VERSION = "proxgit/v1"


class Model(BaseModel):
    """Base for every model: camelCase keys, unknown keys rejected."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        use_enum_values=True,
    )


# A boolean is written true or false. Under YAML 1.2 (the one semantics proxgit
# reads, see proxgit.yamlio) yes/no/on/off are text, so they are refused here
# exactly as the JSON Schemas refuse them in an editor, with a did-you-mean.
Bool = Annotated[bool, Strict()]


# --- sizes -----------------------------------------------------------------

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(i?B)?\s*$", re.IGNORECASE)
_UNIT = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def parse_size(value: object, *, bare_unit: str = "G") -> int:
    """Parse ``32G``, ``512M``, ``1.5T``, ``1000B`` or a bare number (in ``bare_unit``) to bytes.

    In desired YAML a bare number is GiB, as in Proxmox's allocation syntax
    (``local-lvm:32``). In a config Proxmox stores (``size=34359738368``) a
    bare number is bytes: its readers pass ``bare_unit="B"``. A ``B`` suffix
    without a unit letter always means bytes.
    """
    if isinstance(value, bool):
        raise ValueError("expected a size such as 32G or 512M, not a boolean")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a size; write it like 32G, 512M or 1T")
    if isinstance(value, int | float):
        return int(value * _UNIT[bare_unit])
    if not isinstance(value, str):
        raise ValueError("expected a size such as 32G or 512M")
    match = _SIZE_RE.match(value)
    if not match:
        raise ValueError(f"'{value}' is not a size; write it like 32G, 512M or 1T")
    number, unit, suffix = match.groups()
    if unit:
        unit = unit.upper()
    elif suffix:
        unit = "B"
    else:
        unit = bare_unit
    return int(float(number) * _UNIT[unit])


def format_size(size: int) -> str:
    """Bytes to the shortest exact size string proxgit reads back (``32G``, ``1536M``,
    ``1000B``): never a bare number, which desired YAML reads as GiB."""
    for unit in ("P", "T", "G", "M", "K"):
        if size and size % _UNIT[unit] == 0:
            return f"{size // _UNIT[unit]}{unit}"
    return f"{size}B"


def proxmox_size(size: int) -> str:
    """Bytes as Proxmox's ``disk-size`` format takes them: ``32G``, or a bare number of bytes."""
    text = format_size(size)
    return text[:-1] if text.endswith("B") else text


def _size_validator(value: object) -> int:
    size = parse_size(value)
    if size <= 0:
        raise ValueError("size must be greater than zero")
    return size


Size = Annotated[
    int,
    BeforeValidator(_size_validator),
    PlainSerializer(format_size, return_type=str),
    WithJsonSchema(
        {
            "type": ["string", "integer"],
            "pattern": r"^\d+(\.\d+)?\s*[KMGTPkmgtp]?(i?[Bb])?$",
            "description": "Size like 32G, 512M or 1T; a bare number is GiB, 1000B is bytes.",
            "examples": ["32G", "512M"],
        }
    ),
]


def _mib_validator(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return parse_size(value, bare_unit="M") // _UNIT["M"]


MiB = Annotated[
    int,
    BeforeValidator(_mib_validator),
    Field(ge=0),
    WithJsonSchema(
        {
            "type": ["integer", "string"],
            "minimum": 0,
            "description": "MiB as an integer, or a size like 4G.",
            "examples": [2048, "4G"],
        }
    ),
]
# a guest's memory: Proxmox's minimum is 16 MiB
MemoryMiB = Annotated[
    int,
    BeforeValidator(_mib_validator),
    Field(ge=16),
    WithJsonSchema(
        {
            "type": ["integer", "string"],
            "minimum": 16,
            "description": "MiB as an integer (at least 16), or a size like 4G.",
            "examples": [2048, "4G"],
        }
    ),
]


# --- names and tags ----------------------------------------------------------

# Proxmox's tag grammar (pve-tag). Proxmox keeps a tag's case as written; by default
# (datacenter.cfg ``tag-style: case-sensitive=0``) it drops duplicates ignoring case
# and sorts ignoring case.
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
TAG_PATTERN = r"^[a-zA-Z0-9_][a-zA-Z0-9_\-+.]*$"
Tag = Annotated[str, StringConstraints(pattern=TAG_PATTERN, max_length=128)]

# Proxmox guest names are DNS names.
DNS_NAME_PATTERN = r"^[a-zA-Z0-9]([a-zA-Z0-9\-.]{0,61}[a-zA-Z0-9])?$"
GuestName = Annotated[str, StringConstraints(pattern=DNS_NAME_PATTERN)]
CLUSTER_NAME_PATTERN = r"^[a-z0-9]([a-z0-9\-_]{0,38}[a-z0-9])?$"
ClusterName = Annotated[str, StringConstraints(pattern=CLUSTER_NAME_PATTERN)]
NodeName = Annotated[str, StringConstraints(pattern=DNS_NAME_PATTERN)]
Vmid = Annotated[int, Field(ge=100, le=999_999_999)]
# pve-storage-id: a letter first, a letter or digit last
STORAGE_ID_PATTERN = r"^[a-zA-Z]([a-zA-Z0-9\-_.]*[a-zA-Z0-9])?$"
StorageId = Annotated[str, StringConstraints(pattern=STORAGE_ID_PATTERN)]


def normalize_tags(tags: list[str] | tuple[str, ...]) -> list[str]:
    """Tags as Proxmox stores them: case kept, duplicates (ignoring case) dropped after
    the first, sorted ignoring case."""
    seen: dict[str, str] = {}
    for tag in tags:
        seen.setdefault(tag.lower(), tag)
    return sorted(seen.values(), key=lambda t: (t.lower(), t))


# --- secrets -----------------------------------------------------------------


class SyncPolicy(Model):
    """How the watch pod treats drift: off unless a cluster or guest turns it on."""

    self_heal: Bool = Field(
        default=False,
        description=(
            "Let the watch pod put drifted guests back to their files (like "
            "'proxgit apply --sync'), through the same gates, lock, restart policy and "
            "journal. A guest's own syncPolicy wins over its cluster's."
        ),
    )


class SecretRef(Model):
    """Where a secret comes from at apply time: an environment variable or a file.

    The secret's value is never stored in desired YAML, a plan or a journal.
    """

    env: Annotated[str, StringConstraints(pattern=ENV_NAME_PATTERN)] | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env: NAME or file: PATH")
        return self

    def describe(self) -> str:
        return f"env:{self.env}" if self.env else f"file:{self.file}"


class Metadata(Model):
    name: GuestName = Field(description="Guest name in Proxmox; also the file's name.")
    cluster: ClusterName = Field(description="A cluster defined in proxgit.yaml.")
    labels: dict[str, str] = Field(default_factory=dict)


Kind = Literal["Config", "VirtualMachine", "Container", "DeletionRequest"]
