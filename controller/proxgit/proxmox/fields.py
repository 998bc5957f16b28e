"""The field table: every Proxmox config key of a guest kind, and what proxgit does with it.

One table per guest kind (:data:`QEMU`, :data:`LXC`). A row (:class:`Key`) is
one config key or one indexed family (``scsiN``, ``netN``, ``mpN``...) with:

- ``role``: ``typed`` (a spec field), ``carried`` (kept verbatim in
  ``extraConfig``), ``secret`` (written from a secret reference, never read
  back into a spec) or ``owned`` (Proxmox sets it: ``digest``, ``vmgenid``,
  ``meta``, volume names of unused disks...);
- its spec path (``disks.{slot}``, ``cores``), its Proxmox type, enum and range;
- its property-string format: the sub-keys (:class:`Sub`), which one is the
  default key, each sub-key's type, enum and the spec path it fills (``None``
  for the sub-keys proxgit does not type: they are kept as live has them when
  the key is written);
- how a value is parsed (Proxmox text to flat-view values) and written (flat
  view values, over the live value, to Proxmox text);
- its effect on a running guest: ``live``, ``restart``, ``hotplug:<feature>``
  (live when QEMU's ``hotplug`` option holds the feature), ``create-only``.

Normalization (``normalize.py``), translation to API parameters
(``translate.py``), the executor's updates, the planner's effects and import
all read these rows; PVE's own API schema is the oracle a test holds the
table against (``tests/proxmox/test_field_table.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import quote, unquote

from proxgit.models.base import normalize_tags, parse_size, proxmox_size

Role = Literal["typed", "carried", "secret", "owned"]
FlatView = dict[str, Any]

_TRUE = {"1", "on", "yes", "true"}
PENDING_DELETION_TAG = "proxgit-pending-deletion"


# --- value codecs ----------------------------------------------------------------


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


def to_int(value: Any) -> int:
    return int(float(value))


def _flag(value: Any) -> str:
    return "1" if value else "0"


def _num(value: Any) -> str:
    return f"{float(value):g}"


def split_tags(value: Any) -> list[str]:
    """Proxmox tags (``a;b``, ``a,b`` or ``a b``) as the sorted list it stores, case kept."""
    if isinstance(value, list | tuple):
        return normalize_tags([str(t) for t in value])
    text = str(value or "")
    for sep in (",", " "):
        text = text.replace(sep, ";")
    return normalize_tags([t for t in text.split(";") if t])


def visible_tags(tags: list[str]) -> list[str]:
    """Tags a user manages: proxgit's own marker tag is not part of the spec."""
    return [t for t in tags if t.lower() != PENDING_DELETION_TAG]


def split_ssh_keys(value: str) -> list[str]:
    """Proxmox stores ``sshkeys`` URL-encoded, one key per line."""
    return [line.strip() for line in unquote(value).splitlines() if line.strip()]


@dataclass(frozen=True)
class Codec:
    """Proxmox text <-> a flat-view value, and a desired value to the same flat form."""

    parse: Callable[[Any], Any]
    write: Callable[[Any], str]
    canon: Callable[[Any], Any] = lambda v: v


STR = Codec(parse=str, write=str)
INT = Codec(parse=to_int, write=lambda v: str(int(v)))
NUM = Codec(parse=float, write=_num, canon=float)
BOOL = Codec(parse=to_bool, write=_flag, canon=bool)
# a size= Proxmox stores: a bare number is bytes; desired sizes are bytes already
SIZE = Codec(
    parse=lambda v: parse_size(v, bare_unit="B"),
    write=proxmox_size,
    canon=lambda v: parse_size(v) if isinstance(v, str) else int(v),
)
MAC = Codec(parse=lambda v: str(v).upper(), write=lambda v: str(v).upper(), canon=str.upper)
DISCARD = Codec(parse=lambda v: str(v) == "on", write=lambda v: "on" if v else "ignore", canon=bool)
TAGS = Codec(
    parse=lambda v: visible_tags(split_tags(v)),
    write=lambda v: ";".join(normalize_tags(list(v))),
    canon=split_tags,
)
TEXT = Codec(parse=lambda v: str(v).rstrip(), write=str, canon=lambda v: str(v).rstrip())
SSHKEYS = Codec(
    parse=lambda v: split_ssh_keys(str(v)),
    write=lambda v: quote("\n".join(v) + "\n", safe=""),
    canon=list,
)


# --- rows ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sub:
    """One sub-key of a property string."""

    name: str
    type: str = "string"  # PVE's type: boolean | integer | number | string
    path: str | None = None  # spec path under the key's path ("" = the key's path itself)
    codec: Codec = STR
    enum: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    default_key: bool = False
    generated: bool = False  # Proxmox fills it in when not given (MACs): never imported
    virtual: bool = False  # proxgit's view only, not a Proxmox sub-key (a volume's storage)
    effect: str | None = None  # overrides the key's effect for a change of this sub-key
    # what Proxmox takes when the sub-key is absent, where that is not false/0/empty
    # (``backup``, ``replicate``, ``rombar``): an absent live value is compared as it
    default: Any = None


@dataclass(frozen=True)
class Key:
    """One Proxmox config key, or an indexed family of keys (``count`` > 0)."""

    name: str
    role: Role
    path: str | None = None  # spec path; "{slot}" stands for the config key (scsi0)
    type: str = "string"
    codec: Codec | None = None  # a scalar key's codec
    subs: tuple[Sub, ...] = ()  # a property string's sub-keys
    enum: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    count: int = 0  # indexed family: name0 .. name{count-1}
    effect: str = "restart"
    new_effect: str | None = None  # effect when the slot is added to a running guest
    root_only: bool = False  # only root@pam may set it (plan warns)
    file_only: bool = False  # the API can't write it (raw lxc.* lines): import reports it
    default: Any = None  # what Proxmox takes when the key is absent (see Sub.default)
    why: str = ""  # for carried and owned keys: why they are not typed
    # custom parse/write for formats the generic property string can't express
    parse_fn: Callable[[Key, str, Any], FlatView | None] | None = None
    write_fn: Callable[[Key, Mapping[str, Any], str | None], str] | None = None

    @property
    def default_sub(self) -> Sub | None:
        return next((s for s in self.subs if s.default_key), None)

    def matches(self, config_key: str) -> bool:
        if not self.count:
            return config_key == self.name
        rest = config_key[len(self.name) :]
        return (
            config_key.startswith(self.name)
            and rest.isdigit()
            and (rest == "0" or not rest.startswith("0"))
            and int(rest) < self.count
        )

    def spec_path(self, config_key: str) -> str | None:
        return None if self.path is None else self.path.replace("{slot}", config_key)

    def sub(self, name: str) -> Sub | None:
        return next((s for s in self.subs if s.name == name), None)

    def sub_for_path(self, subpath: str) -> Sub | None:
        return next((s for s in self.subs if s.path == subpath), None)

    # --- parse: Proxmox text -> flat view --------------------------------------------

    def parse(self, config_key: str, raw: Any) -> FlatView | None:
        """The flat-view values of ``raw``; None when this value is not typed (a cdrom
        in a disk slot, a passed-through device): then it is carried as it is."""
        if self.parse_fn is not None:
            return self.parse_fn(self, config_key, raw)
        base = self.spec_path(config_key) or config_key
        if not self.subs:
            assert self.codec is not None
            return {base: self.codec.parse(raw)}
        default = self.default_sub
        props = parse_property_string(str(raw), default.name if default else None)
        view: FlatView = {}
        for sub in self.subs:
            if sub.path is not None and sub.name in props:
                view[_join(base, sub.path)] = sub.codec.parse(props[sub.name])
        return view

    # --- write: flat values over the live text -> Proxmox text ---------------------

    def write(self, values: Mapping[str, Any], live: str | None = None) -> str:
        """Proxmox text for ``values`` (sub-paths to desired values: ``{"size": ..}``,
        ``{"": 4}`` for a scalar), written over ``live``: every sub-key ``values``
        does not name is kept exactly as live has it."""
        if self.write_fn is not None:
            return self.write_fn(self, values, live)
        if not self.subs:
            assert self.codec is not None
            return self.codec.write(values[""])
        default = self.default_sub
        name = default.name if default else None
        props = parse_property_string(live, name) if live else {}
        for subpath, value in values.items():
            sub = self.sub_for_path(subpath)
            if sub is None or sub.virtual or value is None:
                continue
            props[sub.name] = sub.codec.write(value)
        if live and name and f"{name}=" in live.split(",", 1)[0]:
            name = None  # live names its default key (host=..): keep that form
        return join_property_string(props, name)

    def without(self, live: str, subpaths: Iterable[str]) -> str:
        """``live`` with the sub-keys at spec ``subpaths`` taken out, so Proxmox takes
        its default for them again; every other sub-key is kept as live has it."""
        default = self.default_sub
        name = default.name if default else None
        props = parse_property_string(live, name)
        for subpath in subpaths:
            sub = self.sub_for_path(subpath) or self.sub(subpath)  # typed, or by its name
            if sub is None:
                props.pop(subpath, None)  # a sub-key the table does not know
            elif not sub.virtual and not sub.default_key:
                props.pop(sub.name, None)
        if name and f"{name}=" in live.split(",", 1)[0]:
            name = None
        return join_property_string(props, name)


def _join(base: str, sub: str) -> str:
    """A sub-key's spec path: under the key's path, or from the spec's root (``/cpuFlags``)."""
    if sub.startswith("/"):
        return sub[1:]
    return f"{base}.{sub}" if sub else base


def parse_property_string(value: str, default_key: str | None = None) -> dict[str, str]:
    """``a=1,b=2`` to a dict; a first item without ``=`` goes under ``default_key``."""
    result: dict[str, str] = {}
    for index, item in enumerate(str(value).split(",")):
        if not item:
            continue
        key, sep, val = item.partition("=")
        if not sep:
            if index == 0 and default_key:
                result[default_key] = key
            else:
                result[key] = "1"
            continue
        result[key.strip()] = val.strip()
    return result


def join_property_string(props: Mapping[str, str], default_key: str | None = None) -> str:
    """The reverse of :func:`parse_property_string`: the default key's value first, bare."""
    parts: list[str] = []
    if default_key and default_key in props:
        parts.append(str(props[default_key]))
    parts.extend(f"{k}={v}" for k, v in props.items() if k != default_key)
    return ",".join(parts)


# --- custom formats --------------------------------------------------------------

_NIC_MODELS = (
    "e1000",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
    "e1000e",
    "i82551",
    "i82557b",
    "i82559er",
    "ne2k_isa",
    "ne2k_pci",
    "pcnet",
    "rtl8139",
    "virtio",
    "vmxnet3",
)
NIC_MODELS: tuple[str, ...] = _NIC_MODELS  # the model names a QEMU NIC starts with


def nic_mac(props: Mapping[str, str]) -> str | None:
    """The MAC of a parsed ``netN`` value: ``virtio=BC:24:..`` (QEMU) or ``hwaddr=`` (LXC)."""
    mac = props.get("hwaddr") or props.get("macaddr")
    if not mac:
        mac = next((v for k, v in props.items() if k in _NIC_MODELS and v not in ("", "1")), None)
    return mac.upper() if mac else None


def _qemu_nic_parse(key: Key, config_key: str, raw: Any) -> FlatView:
    base = key.spec_path(config_key) or config_key
    props = parse_property_string(str(raw))
    view: FlatView = {}
    for name, val in props.items():
        if name in _NIC_MODELS:
            view[f"{base}.model"] = name
            if val and val != "1":
                view[f"{base}.macaddr"] = val.upper()
            continue
        sub = key.sub(name)
        if sub is not None and sub.path is not None:
            view[_join(base, sub.path)] = sub.codec.parse(val)
    return view


def _qemu_nic_write(key: Key, values: Mapping[str, Any], live: str | None) -> str:
    props = parse_property_string(live) if live else {}
    model = next((k for k in props if k in _NIC_MODELS), None) or props.get("model")
    mac = nic_mac(props)
    rest = {
        k: v for k, v in props.items() if k not in _NIC_MODELS and k not in ("model", "macaddr")
    }
    for subpath, value in values.items():
        if value is None:
            continue
        if subpath == "model":
            model = str(value)
        elif subpath == "macaddr":
            mac = str(value).upper()
        else:
            sub = key.sub_for_path(subpath)
            if sub is not None:
                rest[sub.name] = sub.codec.write(value)
    model = model or "virtio"
    head = f"{model}={mac}" if mac else model
    return join_property_string({"_": head, **rest}, "_")


def _volume_parse(
    volume_key: str, *, bind: bool = False
) -> Callable[[Key, str, Any], FlatView | None]:
    """Disks, rootfs and mount points: ``storage:volume,size=..``; a cdrom, ``none`` or
    a passed-through device (``/dev/...``) is not typed. With ``bind``, a host
    directory in the volume's place is a bind mount: its ``source``."""

    def parse(key: Key, config_key: str, raw: Any) -> FlatView | None:
        props = parse_property_string(str(raw), volume_key)
        volume = props.get(volume_key, "")
        if bind and volume.startswith("/") and not volume.startswith("/dev/"):
            base = key.spec_path(config_key) or config_key
            view: FlatView = {f"{base}.source": volume}
            for sub in key.subs:
                if sub.path not in (None, "storage", "source", "size") and sub.name in props:
                    view[_join(base, sub.path)] = sub.codec.parse(props[sub.name])
            return view
        if "cloudinit" in volume and ":" in volume and key.path == "disks.{slot}":
            # the cloud-init drive: its slot and storage (the volume is Proxmox's)
            return {
                "cloudInit.drive.slot": config_key,
                "cloudInit.drive.storage": volume.split(":", 1)[0],
            }
        if (
            props.get("media") == "cdrom"
            or volume in ("none", "cdrom", "")
            or "cloudinit" in volume
            or ":" not in volume
            or volume.startswith("/")
        ):
            return None
        base = key.spec_path(config_key) or config_key
        view = {f"{base}.storage": volume.split(":", 1)[0]}
        for sub in key.subs:
            if sub.path not in (None, "storage") and sub.name in props:
                view[_join(base, sub.path)] = sub.codec.parse(props[sub.name])
        return view

    return parse


_GIB = 1 << 30


def alloc(storage: str, size: int) -> str:
    """``storage:SIZE_IN_GiB``, Proxmox's syntax for allocating a new volume."""
    gib = size / _GIB
    return f"{storage}:{int(gib) if gib.is_integer() else round(gib, 3)}"


def _volume_write(volume_key: str) -> Callable[[Key, Mapping[str, Any], str | None], str]:
    """A new volume is written in allocation syntax (``storage:GiB``); an existing one
    keeps its volume and size (sizes change through ``resize``)."""

    def write(key: Key, values: Mapping[str, Any], live: str | None) -> str:
        if live:
            props = parse_property_string(live, volume_key)
            if values.get("source"):
                props[volume_key] = str(values["source"])  # a bind mount's new source
        elif values.get("source"):
            props = {volume_key: str(values["source"])}
        elif "size" in values:
            props = {volume_key: alloc(str(values["storage"]), int(values["size"]))}
        else:  # efidisk0, tpmstate0: Proxmox sizes them
            props = {volume_key: f"{values['storage']}:1"}
        for subpath, value in values.items():
            if subpath in ("storage", "size", "source") or value is None:
                continue
            sub = key.sub_for_path(subpath)
            if sub is not None:
                props[sub.name] = sub.codec.write(value)
        return join_property_string(props, volume_key)

    return write


# --- sub-key sets ----------------------------------------------------------------

_CACHE = ("none", "writethrough", "writeback", "unsafe", "directsync")
_DISK_SUBS = (
    Sub("file", default_key=True),
    Sub("storage", path="storage", virtual=True),  # the storage part of file
    Sub("size", path="size", codec=SIZE, effect="live"),
    Sub("format", enum=("raw", "qcow", "qed", "qcow2", "vmdk", "cloop"), path="format"),
    Sub("ssd", "boolean", path="ssd", codec=BOOL),
    Sub("discard", enum=("ignore", "on"), path="discard", codec=DISCARD),
    Sub("iothread", "boolean", path="iothread", codec=BOOL),
    Sub("cache", enum=_CACHE, path="cache"),
    Sub("backup", "boolean", path="backup", codec=BOOL, default=True),
    Sub("aio", enum=("native", "threads", "io_uring"), path="aio"),
    Sub("replicate", "boolean", path="replicate", codec=BOOL, default=True),
    Sub("serial", path="serial"),
    Sub("ro", "boolean", path="ro", codec=BOOL),
    Sub("queues", "integer", minimum=2, path="queues", codec=INT),
    Sub("iops", "integer", path="iops", codec=INT),
    Sub("iops_rd", "integer", path="iopsRd", codec=INT),
    Sub("iops_wr", "integer", path="iopsWr", codec=INT),
    Sub("mbps", "number", path="mbps", codec=NUM),
    Sub("mbps_rd", "number", path="mbpsRd", codec=NUM),
    Sub("mbps_wr", "number", path="mbpsWr", codec=NUM),
    Sub("bps", "integer", path="bps", codec=INT),
    Sub("bps_rd", "integer", path="bpsRd", codec=INT),
    Sub("bps_wr", "integer", path="bpsWr", codec=INT),
    # bursts: the ceiling, and for how many seconds it may be held
    Sub("iops_max", "integer", path="iopsMax", codec=INT),
    Sub("iops_rd_max", "integer", path="iopsRdMax", codec=INT),
    Sub("iops_wr_max", "integer", path="iopsWrMax", codec=INT),
    Sub("iops_max_length", "integer", path="iopsMaxLength", codec=INT, minimum=1),
    Sub("iops_rd_max_length", "integer", path="iopsRdMaxLength", codec=INT, minimum=1),
    Sub("iops_wr_max_length", "integer", path="iopsWrMaxLength", codec=INT, minimum=1),
    Sub("mbps_max", "number", path="mbpsMax", codec=NUM),
    Sub("mbps_rd_max", "number", path="mbpsRdMax", codec=NUM),
    Sub("mbps_wr_max", "number", path="mbpsWrMax", codec=NUM),
    Sub("bps_max_length", "integer", path="mbpsMaxLength", codec=INT, minimum=1),
    Sub("bps_rd_max_length", "integer", path="mbpsRdMaxLength", codec=INT, minimum=1),
    Sub("bps_wr_max_length", "integer", path="mbpsWrMaxLength", codec=INT, minimum=1),
    # Proxmox detects zero writes unless told not to
    Sub("detect_zeroes", "boolean", path="detectZeroes", codec=BOOL, default=True),
    Sub("werror", enum=("enospc", "ignore", "report", "stop"), path="werror"),
    Sub("rerror", enum=("ignore", "report", "stop"), path="rerror"),
    # what the guest is told about the drive, and how migration and snapshots treat it
    Sub("wwn", path="wwn"),
    Sub("product", path="product"),
    Sub("vendor", path="vendor"),
    Sub("model", path="model"),
    Sub("snapshot", "boolean", path="snapshot", codec=BOOL),
    Sub("shared", "boolean", path="shared", codec=BOOL),
    # kept as live has them, never typed (yet): written back untouched
    Sub("media", enum=("cdrom", "disk")),
)
# sub-keys a bus does not have (qemu-server's drive formats)
_NOT_ON_BUS = {
    "scsi": frozenset({"model"}),
    "virtio": frozenset({"ssd", "queues", "wwn", "product", "vendor", "model"}),
    "sata": frozenset({"iothread", "ro", "queues", "product", "vendor", "model"}),
    "ide": frozenset({"iothread", "ro", "queues", "product", "vendor"}),
}


def disk_subs(bus: str) -> tuple[Sub, ...]:
    return tuple(s for s in _DISK_SUBS if s.name not in _NOT_ON_BUS[bus])


def disk_options_not_on(bus: str) -> frozenset[str]:
    """Spec options of a disk that Proxmox refuses on ``bus`` (``iothread`` on ``ide``)."""
    return _NOT_ON_BUS[bus]


_QEMU_NIC_SUBS = (
    Sub("model", enum=_NIC_MODELS, path="model", default_key=True, effect="restart"),
    Sub("macaddr", path="macaddr", codec=MAC, generated=True, effect="restart"),
    Sub("bridge", path="bridge"),
    Sub("tag", "integer", path="tag", codec=INT, minimum=1, maximum=4094),
    Sub("firewall", "boolean", path="firewall", codec=BOOL),
    Sub("rate", "number", path="rate", codec=NUM, minimum=0),
    Sub("mtu", "integer", path="mtu", codec=INT, minimum=1, maximum=65520),
    Sub("queues", "integer", path="queues", codec=INT, minimum=0, maximum=64),
    Sub("link_down", "boolean", path="linkDown", codec=BOOL),
    Sub("trunks", path="trunks"),
)
_LXC_NIC_SUBS = (
    Sub("name", path="name"),
    Sub("bridge", path="bridge"),
    Sub("hwaddr", path="hwaddr", codec=MAC, generated=True),
    Sub("ip", path="ip"),
    Sub("gw", path="gw"),
    Sub("ip6", path="ip6"),
    Sub("gw6", path="gw6"),
    Sub("tag", "integer", path="tag", codec=INT, minimum=1, maximum=4094),
    Sub("firewall", "boolean", path="firewall", codec=BOOL),
    Sub("mtu", "integer", path="mtu", codec=INT, minimum=64, maximum=65535),
    Sub("rate", "number", path="rate", codec=NUM),
    Sub("trunks", path="trunks"),
    Sub("link_down", "boolean", path="linkDown", codec=BOOL),
    Sub("type", enum=("veth",), path="type"),
    Sub("host-managed", "boolean", path="hostManaged", codec=BOOL),
)
_MOUNT_OPTION_SUBS = (
    Sub("acl", "boolean", path="acl", codec=BOOL),
    Sub("quota", "boolean", path="quota", codec=BOOL),
    Sub("replicate", "boolean", path="replicate", codec=BOOL, default=True),
    Sub("shared", "boolean", path="shared", codec=BOOL),
    Sub("mountoptions", path="mountoptions"),
    Sub("idmap", path="idmap"),
)
_ROOTFS_SUBS = (
    Sub("volume", default_key=True),
    Sub("storage", path="storage", virtual=True),
    Sub("size", path="size", codec=SIZE, effect="live"),
    Sub("ro", "boolean", path="ro", codec=BOOL),
    *_MOUNT_OPTION_SUBS,
)
_MP_SUBS = (
    Sub("volume", default_key=True),
    Sub("storage", path="storage", virtual=True),
    Sub("source", path="source", virtual=True),  # a bind mount's host directory
    Sub("size", path="size", codec=SIZE, effect="live"),
    Sub("mp", path="path"),
    Sub("backup", "boolean", path="backup", codec=BOOL),
    Sub("ro", "boolean", path="ro", codec=BOOL),
    Sub("keepattrs", "boolean", path="keepattrs", codec=BOOL),
    *_MOUNT_OPTION_SUBS,
)
_STARTUP_SUBS = (
    Sub("order", "integer", path="order", codec=INT),
    Sub("up", "integer", path="up", codec=INT),
    Sub("down", "integer", path="down", codec=INT),
)


def _typed(name: str, path: str | None = None, codec: Codec = STR, **kw: Any) -> Key:
    return Key(name, "typed", path=path if path is not None else name, codec=codec, **kw)


def _carried(name: str, why: str = "", **kw: Any) -> Key:
    return Key(name, "carried", why=why or "not typed: carried verbatim in extraConfig", **kw)


def _owned(name: str, why: str, **kw: Any) -> Key:
    return Key(name, "owned", why=why, **kw)


_SHARED_TYPED = (
    _typed("onboot", codec=BOOL, type="boolean", effect="live"),
    _typed("protection", codec=BOOL, type="boolean", effect="live"),
    _typed("tags", codec=TAGS, effect="live"),
    _typed("description", codec=TEXT, maximum=None, effect="live"),
    Key("startup", "typed", path="startup", subs=_STARTUP_SUBS, effect="live"),
)
_SHARED_OWNED = (
    _owned("digest", "the config's checksum, sent back with every write"),
    _owned("lock", "set by Proxmox while a task holds the guest"),
    _owned("template", "templates are not guests proxgit manages"),
    _owned("unused", "volumes of detached disks: volume names Proxmox owns", count=256),
    _owned("parent", "the current snapshot"),
    _owned("snaptime", "a snapshot's time"),
)

# fmt: off
QEMU: tuple[Key, ...] = (
    *_SHARED_TYPED,
    _typed("name", path="name", effect="live"),
    _typed("cores", codec=INT, type="integer", minimum=1),
    _typed("sockets", codec=INT, type="integer", minimum=1),
    Key("memory", "typed", path="memory", effect="hotplug:memory",
        subs=(Sub("current", "integer", path="", codec=INT, minimum=16, default_key=True),)),
    _typed("balloon", codec=INT, type="integer", minimum=0, effect="hotplug:memory"),
    _typed("numa", codec=BOOL, type="boolean"),
    _typed("bios", enum=("seabios", "ovmf")),
    Key("machine", "typed", path="machine", subs=(
        Sub("type", path="", default_key=True), Sub("viommu", enum=("intel", "virtio")),
        Sub("aw-bits", "number", minimum=32, maximum=64), Sub("enable-s3", "boolean"),
        Sub("enable-s4", "boolean"))),
    _typed("ostype", enum=("other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8",
                           "win10", "win11", "l24", "l26", "solaris")),
    _typed("scsihw", enum=("lsi", "lsi53c810", "virtio-scsi-pci", "virtio-scsi-single",
                           "megasas", "pvscsi")),
    _typed("boot"),
    _typed("hotplug"),
    Key("cpu", "typed", path="cpu", subs=(
        Sub("cputype", path="", default_key=True), Sub("flags", path="/cpuFlags"),
        Sub("hidden", "boolean"),
        Sub("hv-vendor-id"), Sub("phys-bits"), Sub("reported-model"))),
    Key("agent", "typed", path="agent", subs=(
        Sub("enabled", "boolean", path="enabled", codec=BOOL, default_key=True),
        Sub("fstrim_cloned_disks", "boolean", path="fstrim", codec=BOOL),
        Sub("freeze-fs", "boolean", path="freezeFs", codec=BOOL, default=True),
        Sub("type", enum=("virtio", "isa"), path="type"))),
    *(Key(bus, "typed", path="disks.{slot}", subs=disk_subs(bus), count=count,
          effect="restart", new_effect="hotplug:disk",
          parse_fn=_volume_parse("file"), write_fn=_volume_write("file"))
      for bus, count in (("scsi", 31), ("virtio", 16), ("sata", 6), ("ide", 4))),
    Key("net", "typed", path="networks.{slot}", subs=_QEMU_NIC_SUBS, count=32,
        effect="hotplug:network", new_effect="hotplug:network",
        parse_fn=_qemu_nic_parse, write_fn=_qemu_nic_write),
    _typed("ipconfig", path="cloudInit.{slot}", count=32, effect="live"),
    _typed("ciuser", path="cloudInit.user", effect="live"),
    _typed("sshkeys", path="cloudInit.sshKeys", codec=SSHKEYS, effect="live"),
    _typed("nameserver", path="cloudInit.nameserver", effect="live"),
    _typed("searchdomain", path="cloudInit.searchdomain", effect="live"),
    _typed("cicustom", path="cloudInit.cicustom", effect="live"),
    _typed("citype", path="cloudInit.citype", enum=("configdrive2", "nocloud", "opennebula"),
           effect="live"),
    _typed("ciupgrade", path="cloudInit.upgrade", codec=BOOL, type="boolean", effect="live",
           default=True),
    Key("cipassword", "secret", path="cloudInit.passwordFrom", effect="live",
        why="a secret: written from cloudInit.passwordFrom, never read back"),
    *_SHARED_OWNED,
    _owned("vmgenid", "generated by Proxmox for each VM"),
    _owned("meta", "creation metadata Proxmox records"),
    _owned("vmstate", "a snapshot's saved RAM volume"),
    _owned("runningmachine", "what the running VM was started with"),
    _owned("runningcpu", "what the running VM was started with"),
    _owned("running-nets-host-mtu", "what the running VM was started with"),
    _carried("acpi"), _typed("affinity"), _carried("allow-ksm"), _carried("amd-sev"),
    _carried("arch"), _carried("args", root_only=True), Key("audio0", "typed", path="audio", subs=(
        Sub("device", path="device", enum=("ich9-intel-hda", "intel-hda", "AC97")),
        Sub("driver", path="driver", enum=("spice", "none")))),
    _carried("autostart"), _carried("bootdisk"), _carried("cdrom"),
    _typed("cpulimit", codec=NUM, type="number", minimum=0, maximum=128, effect="live"),
    _typed("cpuunits", codec=INT, type="integer", minimum=1, maximum=262144, effect="live"),
    Key("efidisk0", "typed", path="efiDisk", parse_fn=_volume_parse("file"),
        write_fn=_volume_write("file"), subs=(
            Sub("file", default_key=True), Sub("storage", path="storage", virtual=True),
            Sub("efitype", enum=("2m", "4m"), path="efitype", effect="create-only"),
            Sub("pre-enrolled-keys", "boolean", path="preEnrolledKeys", codec=BOOL,
                effect="create-only"),
            Sub("format", enum=("raw", "qcow", "qed", "qcow2", "vmdk", "cloop")),
            Sub("size", generated=True),
            Sub("ms-cert", enum=("2011", "2023", "2023w", "2023k"), path="msCert",
                effect="create-only"))),
    _carried("freeze"), _typed("hookscript", effect="live", root_only=True),
    Key("hostpci", "typed", path="hostpci.{slot}", count=16, subs=(
        Sub("host", path="host", default_key=True), Sub("mapping", path="mapping"),
        Sub("pcie", "boolean", path="pcie", codec=BOOL),
        Sub("rombar", "boolean", path="rombar", codec=BOOL, default=True),
        Sub("x-vga", "boolean", path="xVga", codec=BOOL), Sub("mdev", path="mdev"),
        Sub("romfile", path="romfile"), Sub("device-id"), Sub("vendor-id"),
        Sub("sub-device-id"), Sub("sub-vendor-id"), Sub("legacy-igd", "boolean"))),
    _typed("hugepages", enum=("any", "2", "1024")),
    _carried("intel-tdx"), _carried("ivshmem"), _carried("keephugepages"),
    _carried("keyboard"), _carried("kvm"), _carried("localtime"),
    _carried("migrate_downtime"), _carried("migrate_speed"),
    Key("numa", "typed", path="numaNodes.{slot}", count=8, subs=(
        Sub("cpus", path="cpus"), Sub("hostnodes", path="hostnodes"),
        Sub("memory", "number", path="memory", codec=NUM),
        Sub("policy", path="policy", enum=("preferred", "bind", "interleave")))),
    _carried("parallel", count=3, root_only=True), _carried("reboot"),
    Key("rng0", "typed", path="rng", subs=(
        Sub("source", path="source", default_key=True),
        Sub("max_bytes", "integer", path="maxBytes", codec=INT),
        Sub("period", "integer", path="period", codec=INT))),
    _typed("serial", path="serials.{slot}", count=4), _carried("shares"), _carried("smbios1"),
    _carried("smp"), _carried("spice_enhancements"), _carried("startdate"),
    _carried("tablet"), _carried("tdf"),
    Key("tpmstate0", "typed", path="tpmState", parse_fn=_volume_parse("file"),
        write_fn=_volume_write("file"), subs=(
            Sub("file", default_key=True), Sub("storage", path="storage", virtual=True),
            Sub("version", enum=("v1.2", "v2.0"), path="version", effect="create-only"),
            Sub("format", enum=("raw", "qcow2", "vmdk")), Sub("size", generated=True))),
    Key("usb", "typed", path="usb.{slot}", count=14, effect="hotplug:usb",
        new_effect="hotplug:usb", subs=(
            Sub("host", path="host", default_key=True), Sub("mapping", path="mapping"),
            Sub("usb3", "boolean", path="usb3", codec=BOOL))),
    _typed("vcpus", codec=INT, type="integer", minimum=1, effect="hotplug:cpu"),
    Key("vga", "typed", path="vga", subs=(
        Sub("type", path="type", default_key=True, enum=(
            "cirrus", "qxl", "qxl2", "qxl3", "qxl4", "none", "serial0", "serial1", "serial2",
            "serial3", "std", "virtio", "virtio-gl", "vmware")),
        Sub("memory", "integer", path="memory", codec=INT, minimum=4, maximum=512),
        Sub("clipboard", path="clipboard", enum=("vnc",)))),
    _carried("virtiofs", count=10), _carried("vmstatestorage"),
    Key("watchdog", "typed", path="watchdog", subs=(
        Sub("model", path="model", default_key=True), Sub("action", path="action"))),
)

LXC: tuple[Key, ...] = (
    *_SHARED_TYPED,
    _typed("hostname", effect="restart"),
    _typed("cores", codec=INT, type="integer", minimum=1, maximum=8192, effect="live"),
    _typed("memory", codec=INT, type="integer", minimum=16, effect="live"),
    _typed("swap", codec=INT, type="integer", minimum=0, effect="live", default=512),
    _typed("unprivileged", codec=BOOL, type="boolean", effect="create-only"),
    _typed("nameserver"),
    _typed("searchdomain"),
    _typed("ostype", enum=("debian", "devuan", "ubuntu", "centos", "fedora", "opensuse",
                           "archlinux", "alpine", "gentoo", "nixos", "unmanaged")),
    Key("features", "typed", path="features", subs=(
        Sub("nesting", "boolean", path="nesting", codec=BOOL),
        Sub("keyctl", "boolean", path="keyctl", codec=BOOL),
        Sub("fuse", "boolean", path="fuse", codec=BOOL),
        Sub("mount", path="mount"), Sub("mknod", "boolean", path="mknod", codec=BOOL),
        Sub("force_rw_sys", "boolean", path="forceRwSys", codec=BOOL))),
    Key("rootfs", "typed", path="rootfs", subs=_ROOTFS_SUBS,
        parse_fn=_volume_parse("volume"), write_fn=_volume_write("volume")),
    Key("mp", "typed", path="mountpoints.{slot}", subs=_MP_SUBS, count=256, new_effect="live",
        parse_fn=_volume_parse("volume", bind=True), write_fn=_volume_write("volume")),
    Key("net", "typed", path="networks.{slot}", subs=_LXC_NIC_SUBS, count=32, effect="live",
        new_effect="live"),
    *_SHARED_OWNED,
    _owned("lxc", "raw lxc.* lines: only editable in the file on the node", file_only=True),
    _typed("arch", enum=("amd64", "i386", "arm64", "armhf", "riscv32", "riscv64")),
    _typed("cmode", enum=("shell", "console", "tty")),
    _typed("console", codec=BOOL, type="boolean", default=True),
    _typed("cpulimit", codec=NUM, type="number", minimum=0, maximum=8192, effect="live"),
    _typed("cpuunits", codec=INT, type="integer", minimum=0, maximum=500000, effect="live"),
    _carried("debug"),
    Key("dev", "typed", path="devices.{slot}", count=256, subs=(
        Sub("path", path="path", default_key=True),
        Sub("uid", "integer", path="uid", codec=INT, minimum=0),
        Sub("gid", "integer", path="gid", codec=INT, minimum=0),
        Sub("mode", path="mode"),
        Sub("deny-write", "boolean", path="denyWrite", codec=BOOL))),
    _carried("entrypoint"), _carried("env"), _typed("hookscript", effect="live", root_only=True),
    _typed("timezone"),
    _typed("tty", codec=INT, type="integer", minimum=0, maximum=6, default=2),
)
# fmt: on

TABLES: dict[str, tuple[Key, ...]] = {"qemu": QEMU, "lxc": LXC}
_TYPE_OF_KIND = {"VirtualMachine": "qemu", "Container": "lxc"}


def table(kind: str) -> tuple[Key, ...]:
    """The table of ``qemu``/``lxc`` (or ``VirtualMachine``/``Container``)."""
    return TABLES[_TYPE_OF_KIND.get(kind, kind)]


def key_for(kind: str, config_key: str) -> Key | None:
    """The row of a config key (``scsi0`` finds the ``scsi`` family)."""
    for row in table(kind):
        if row.matches(config_key):
            return row
    return None


_SLOT = re.compile(r"^([a-z]+)(\d+)$")


@dataclass(frozen=True)
class Resolved:
    """Where a spec path lands: the config key, its row and the path under the key."""

    config_key: str
    key: Key
    subpath: str
    base: str  # the key's spec path


@lru_cache(maxsize=8192)
def resolve(kind: str, path: str) -> Resolved | None:
    """The config key a spec path (``disks.scsi0.size``, ``cpu``) is written to.

    Remembered per (kind, path): the tables never change and the answer is frozen,
    and a plan asks the same few dozen paths for every guest it diffs.
    """
    best: Resolved | None = None
    for row in table(kind):
        if row.path is None or row.role not in ("typed", "secret"):
            continue
        if "{slot}" in row.path:
            prefix, _, _ = row.path.partition("{slot}")
            if not path.startswith(prefix):
                continue
            slot = path[len(prefix) :].split(".", 1)[0]
            if not row.matches(slot):
                continue
            base = row.spec_path(slot) or slot
            config_key = slot
        else:
            base = row.path
            config_key = row.name
        for sub_row in row.subs:
            if sub_row.path and sub_row.path.startswith("/") and path == sub_row.path[1:]:
                return Resolved(config_key=config_key, key=row, subpath=sub_row.path, base=base)
        if path == base or path.startswith(base + "."):
            sub = path[len(base) + 1 :] if path != base else ""
            if best is None or len(base) > len(best.base):
                best = Resolved(config_key=config_key, key=row, subpath=sub, base=base)
    return best


@dataclass
class ConfigReading:
    """A config read through the table: the flat view, and the keys it did not type."""

    view: FlatView = field(default_factory=dict)
    carried: dict[str, str] = field(default_factory=dict)  # config key -> raw value
    unknown: dict[str, str] = field(default_factory=dict)  # keys the table does not know


def generated(kind: str, path: str) -> bool:
    """Whether ``path`` is a value Proxmox generates when it is not given (a MAC):
    an imported document leaves it out, as a hand-written one would."""
    found = resolve(kind, path)
    if found is None or not found.subpath:
        return False
    sub = found.key.sub_for_path(found.subpath)
    return sub is not None and sub.generated


def absent_value(kind: str, path: str) -> Any:
    """What Proxmox takes for ``path`` when its config leaves the key or sub-key out,
    where that is not false/0/empty (``backup`` and ``replicate`` of a disk are on,
    a container's ``swap`` is 512); None when the table records nothing."""
    found = resolve(kind, path)
    if found is None:
        return None
    if not found.subpath:
        return found.key.default
    sub = found.key.sub_for_path(found.subpath)
    return None if sub is None else sub.default


EXTRA = "extraConfig"


def extra_text(value: Any) -> str:
    """An ``extraConfig`` value as the text Proxmox stores (``true`` is ``1``)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def carried_value(kind: str, config_key: str, raw: Any) -> bool:
    """Whether ``config_key: raw`` is carried verbatim: a carried key, or a value a
    typed family does not type (a cdrom or cloud-init drive in a disk slot, a bind
    mount, a passed-through device)."""
    row = key_for(kind, config_key)
    if row is None:
        return False
    if row.role == "carried":
        return True
    if row.role != "typed" or row.parse_fn is None:
        return False
    try:
        return row.parse(config_key, raw) is None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError):
        return False


def all_key_names(kind: str) -> list[str]:
    """Every config key name of ``kind`` (families as ``scsi0``), for did-you-mean hints."""
    return [f"{row.name}0" if row.count else row.name for row in table(kind)]


def extra_key_problem(kind: str, config_key: str, value: Any) -> str | None:
    """Why ``extraConfig: {config_key: value}`` is refused, or None when it may be carried."""
    import difflib

    row = key_for(kind, config_key)
    if row is None:
        close = difflib.get_close_matches(config_key, all_key_names(kind), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        what = "QEMU VM" if kind == "qemu" else "container"
        return f"'{config_key}' is not a Proxmox {what} config key{hint}"
    if row.role == "secret":
        return f"'{config_key}' holds a secret; name its source with {row.path} instead"
    if row.role == "owned":
        return f"'{config_key}' is set by Proxmox ({row.why}); remove it"
    if row.role == "typed" and not row.subs:
        where = row.spec_path(config_key) or config_key
        return f"'{config_key}' is a typed field: write it as spec.{where}"
    return None


def _volume_key(row: Key) -> str | None:
    default = row.default_sub
    return default.name if default else None


def holds_volume(row: Key) -> bool:
    """Whether the key's value names a volume (a disk, rootfs, mount point, EFI disk):
    such a value is never carried whole, or a copy would point at another guest's volume."""
    return row.parse_fn is not None and row.parse_fn is not _qemu_nic_parse


def untyped_subkeys(kind: str, config_key: str, raw: Any) -> list[str]:
    """Sub-keys of a typed property string that no spec field holds (``hidden=1`` in
    ``cpu``, ``media=disk`` on a disk, anything a newer Proxmox adds). A key with
    any is carried whole in ``extraConfig`` by import, so nothing is dropped."""
    row = key_for(kind, config_key)
    if row is None or row.role != "typed" or not row.subs:
        return []
    default = _volume_key(row)
    props = parse_property_string(str(raw), default)
    cloud_init = "cloudinit" in props.get(default or "", "")
    found = []
    for name in props:
        if name == default or (row.parse_fn is _qemu_nic_parse and name in _NIC_MODELS):
            continue
        if cloud_init and name == "media":
            continue  # Proxmox makes the cloud-init drive a cdrom itself
        sub = row.sub(name)
        if sub is None or (sub.path is None and not sub.generated):
            found.append(name)
    return found


def canonical_property_string(kind: str, config_key: str, text: str) -> str:
    """A typed property string with its sub-keys in one order, for comparing a value
    carried verbatim with what Proxmox holds (which may order sub-keys its own way)."""
    row = key_for(kind, config_key)
    if row is None or row.role != "typed" or not row.subs:
        return text
    default = _volume_key(row)
    props = parse_property_string(text, default)
    head = {default: props.pop(default)} if default and default in props else {}
    return join_property_string({**head, **dict(sorted(props.items()))}, default)


def root_only(kind: str, config_key: str, value: Any) -> bool:
    """Whether only ``root@pam`` may write ``config_key: value``: keys such as ``args``
    and ``hookscript``, and host paths in a volume's place (a bind mount
    ``/mnt/data,mp=/data``, a passed-through ``/dev/disk/by-id/...``)."""
    row = key_for(kind, config_key)
    if row is None:
        return False
    if row.root_only:
        return True
    if row.name in ("hostpci", "usb"):  # a raw device: root only; a mapping: anyone allowed
        return "mapping=" not in str(value)
    if row.parse_fn is not None and row.role == "typed":
        default = _volume_key(row)
        volume = parse_property_string(str(value), default).get(default or "", "")
        return volume.startswith("/")
    return False
