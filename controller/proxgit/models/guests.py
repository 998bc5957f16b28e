"""The two guest kinds users declare: ``VirtualMachine`` (QEMU) and ``Container`` (LXC).

The fields are what Proxmox users really set in ``qm.conf`` and ``pct.conf``,
under the names they know, typed. Fields left out of a spec are not managed:
Proxmox's defaults and generated values (MAC addresses, volume names) are
never diffed against them.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_validator,
    model_serializer,
    model_validator,
)

from proxgit.models.base import (
    Bool,
    GuestName,
    MemoryMiB,
    Metadata,
    MiB,
    Model,
    NodeName,
    SecretRef,
    Size,
    StorageId,
    SyncPolicy,
    Tag,
    Vmid,
)

EXTRA_KEY_PATTERN = r"^[a-z][a-z0-9_\-]*$"
_HOTPLUG = r"(network|disk|cpu|memory|usb|cloudinit)"
HOTPLUG_PATTERN = rf"^(0|1|{_HOTPLUG}(,{_HOTPLUG})*)$"


_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_CIDR = re.compile(rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}/(3[0-2]|[12]?[0-9])$")


def _ip(text: str, version: int, *, cidr: bool) -> bool:
    if version == 4 and cidr and _IPV4_CIDR.match(text):
        return True  # the common case, without ipaddress's cost (a tenth of a plan's load)
    try:
        if cidr:
            if "/" not in text:
                return False
            return ipaddress.ip_interface(text).version == version
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def check_ip_config(
    props: dict[str, str], *, v4_words: tuple[str, ...], v6_words: tuple[str, ...]
) -> None:
    """ip/gw/ip6/gw6 as Proxmox checks them (pve-ipv4-config, pve-ipv6-config)."""
    ip, ip6 = props.get("ip"), props.get("ip6")
    if ip is not None and ip not in v4_words and not _ip(ip, 4, cidr=True):
        raise ValueError(
            f"ip={ip}: write an IPv4 address with its prefix (10.0.0.5/24) or "
            + " or ".join(v4_words)
        )
    if ip6 is not None and ip6 not in v6_words and not _ip(ip6, 6, cidr=True):
        raise ValueError(
            f"ip6={ip6}: write an IPv6 address with its prefix (fd00::5/64) or "
            + " or ".join(v6_words)
        )
    if props.get("gw") is not None and not _ip(props["gw"], 4, cidr=False):
        raise ValueError(f"gw={props['gw']}: not an IPv4 address")
    if props.get("gw6") is not None and not _ip(props["gw6"], 6, cidr=False):
        raise ValueError(f"gw6={props['gw6']}: not an IPv6 address")


class Power(StrEnum):
    running = "running"
    stopped = "stopped"


class RestartPolicy(StrEnum):
    never = "Never"
    if_required = "IfRequired"


class Startup(Model):
    """Proxmox's ``startup`` property: boot order and delays in seconds."""

    order: Annotated[int, Field(ge=0)] | None = None
    up: Annotated[int, Field(ge=0)] | None = None
    down: Annotated[int, Field(ge=0)] | None = None


# --- QEMU ----------------------------------------------------------------------

# One authorized_keys line: options (optional), the key type, the base64 key (every
# OpenSSH public key starts AAAA), a comment; or a comment line.
SSH_KEY_PATTERN = (
    r"^(#.*|(.* )?(ssh-ed25519|ssh-rsa|ssh-dss|ecdsa-sha2-nistp\d+|sk-[a-z0-9-]+@openssh\.com)"
    r" AAAA[A-Za-z0-9+/]+={0,3}( .*)?)$"
)
SshKey = Annotated[str, StringConstraints(min_length=1, pattern=SSH_KEY_PATTERN)]
# a volume id (storage:vztmpl/file) or an absolute path on the node
OSTEMPLATE_PATTERN = r"^([A-Za-z][A-Za-z0-9\-_.]*:\S+|/\S+)$"

BRIDGE_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_.\-]{0,14}$"
LINUX_USER_PATTERN = r"^[a-z_][a-z0-9_\-.]*$"
POOL_PATTERN = r"^[A-Za-z0-9\-_.]+$"
DISK_SLOT_PATTERN = r"^(scsi([0-9]|[12][0-9]|30)|virtio([0-9]|1[0-5])|sata[0-5]|ide[0-3])$"
DiskSlot = Annotated[str, StringConstraints(pattern=DISK_SLOT_PATTERN)]
NET_SLOT_PATTERN = r"^net([0-9]|[12][0-9]|3[01])$"
NetSlot = Annotated[str, StringConstraints(pattern=NET_SLOT_PATTERN)]
MAC_PATTERN = r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"
MacAddress = Annotated[str, StringConstraints(pattern=MAC_PATTERN)]
VlanTag = Annotated[int, Field(ge=1, le=4094)]
Mtu = Annotated[int, Field(ge=1, le=65520)]


class DiskCache(StrEnum):
    none = "none"
    writethrough = "writethrough"
    writeback = "writeback"
    unsafe = "unsafe"
    directsync = "directsync"


# options of Disk a bus does not have (qemu-server's drive formats)
_NOT_ON_BUS = {
    "scsi": ("model",),
    "virtio": ("ssd", "queues", "wwn", "product", "vendor", "model"),
    "sata": ("iothread", "ro", "queues", "product", "vendor", "model"),
    "ide": ("iothread", "ro", "queues", "product", "vendor"),
}
Iops = Annotated[int, Field(ge=0)]
Mbps = Annotated[float, Field(ge=0)]
BurstSeconds = Annotated[int, Field(ge=1)]
Bps = int


class Disk(Model):
    """A virtual disk in a bus slot (``scsi0``, ``virtio1``, ``sata0``, ``ide0``)."""

    storage: StorageId
    size: Size
    format: Literal["raw", "qcow2", "vmdk"] | None = None
    ssd: Bool | None = None
    discard: Bool | None = None
    iothread: Bool | None = None
    cache: DiskCache | None = None
    backup: Bool | None = None
    aio: Literal["native", "threads", "io_uring"] | None = None
    replicate: Bool | None = Field(default=None, description="Include in replication jobs.")
    serial: Annotated[str, StringConstraints(max_length=60)] | None = None
    ro: Bool | None = Field(default=None, description="Read-only (scsi and virtio).")
    queues: Annotated[int, Field(ge=2)] | None = Field(default=None, description="scsi only.")
    iops: Iops | None = None
    iops_rd: Iops | None = None
    iops_wr: Iops | None = None
    mbps: Mbps | None = None
    mbps_rd: Mbps | None = None
    mbps_wr: Mbps | None = None
    bps: Bps | None = Field(
        default=None, description="Bytes per second (Proxmox's bps; mbps sets it in MB/s)."
    )
    bps_rd: Bps | None = None
    bps_wr: Bps | None = None
    iops_max: Iops | None = Field(default=None, description="Burst ceiling (iops).")
    iops_rd_max: Iops | None = None
    iops_wr_max: Iops | None = None
    iops_max_length: BurstSeconds | None = Field(
        default=None, description="Seconds a burst may last (iops_max_length)."
    )
    iops_rd_max_length: BurstSeconds | None = None
    iops_wr_max_length: BurstSeconds | None = None
    mbps_max: Mbps | None = Field(default=None, description="Burst ceiling (MB/s).")
    mbps_rd_max: Mbps | None = None
    mbps_wr_max: Mbps | None = None
    mbps_max_length: BurstSeconds | None = Field(
        default=None, description="Seconds a MB/s burst may last (Proxmox's bps_max_length)."
    )
    mbps_rd_max_length: BurstSeconds | None = None
    mbps_wr_max_length: BurstSeconds | None = None
    detect_zeroes: Bool | None = Field(
        default=None, description="Detect writes of zeroes (Proxmox's default: on)."
    )
    werror: Literal["enospc", "ignore", "report", "stop"] | None = Field(
        default=None, description="What the VM sees on a write error."
    )
    rerror: Literal["ignore", "report", "stop"] | None = Field(
        default=None, description="What the VM sees on a read error."
    )
    wwn: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{16}$")] | None = Field(
        default=None, description="World wide name shown to the guest, 0x and 16 hex digits."
    )
    product: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-_\s]{0,16}$")] | None = Field(
        default=None, description="Product name shown to the guest (scsi only)."
    )
    vendor: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-_\s]{0,8}$")] | None = Field(
        default=None, description="Vendor name shown to the guest (scsi only)."
    )
    model: Annotated[str, StringConstraints(max_length=120)] | None = Field(
        default=None, description="Model name shown to the guest, url-encoded (ide only)."
    )
    snapshot: Bool | None = Field(
        default=None, description="Changes go to a temporary snapshot dropped at shutdown."
    )
    shared: Bool | None = Field(
        default=None,
        description="A local disk that is in fact shared: migration does not copy it.",
    )


class NicModel(StrEnum):
    """Proxmox's NIC models (qemu-server's ``net`` format)."""

    virtio = "virtio"
    e1000 = "e1000"
    e1000_82540em = "e1000-82540em"
    e1000_82544gc = "e1000-82544gc"
    e1000_82545em = "e1000-82545em"
    e1000e = "e1000e"
    i82551 = "i82551"
    i82557b = "i82557b"
    i82559er = "i82559er"
    ne2k_isa = "ne2k_isa"
    ne2k_pci = "ne2k_pci"
    pcnet = "pcnet"
    rtl8139 = "rtl8139"
    vmxnet3 = "vmxnet3"


class VmNetwork(Model):
    """A NIC in a ``netN`` slot."""

    model: NicModel = NicModel.virtio
    bridge: Annotated[str, StringConstraints(pattern=BRIDGE_PATTERN)]
    tag: VlanTag | None = None
    macaddr: MacAddress | None = None
    firewall: Bool | None = None
    rate: Annotated[float, Field(ge=0)] | None = Field(default=None, description="MB/s")
    mtu: Mtu | None = None
    queues: Annotated[int, Field(ge=0, le=64)] | None = None
    link_down: Bool | None = None
    trunks: Annotated[str, StringConstraints(pattern=r"^\d+(-\d+)?(;\d+(-\d+)?)*$")] | None = Field(
        default=None, description="VLAN trunks, e.g. 10;20;30-40"
    )


IPCONFIG_KEY = re.compile(r"^ipconfig([0-9]|[12][0-9]|3[01])$")


class CloudInitDrive(Model):
    """Where the cloud-init drive goes: a disk slot and a storage (default: ide2 on the
    first disk's storage)."""

    slot: Annotated[str, StringConstraints(pattern=DISK_SLOT_PATTERN)] = "ide2"
    storage: StorageId


class CloudInit(Model):
    """Cloud-init values Proxmox feeds the guest (``ciuser``, ``sshkeys``, ``ipconfigN``...).

    ``ipconfig0`` ... ``ipconfig31`` are written as keys of their own, as in
    qm.conf. The password is never written here: ``passwordFrom`` names where
    it comes from at apply time.
    """

    model_config = Model.model_config | {
        "json_schema_extra": {
            "patternProperties": {
                IPCONFIG_KEY.pattern: {
                    "type": "string",
                    "description": "e.g. ip=10.0.20.11/24,gw=10.0.20.1 or ip=dhcp",
                }
            }
        }
    }

    user: Annotated[str, StringConstraints(pattern=LINUX_USER_PATTERN)] | None = None
    password_from: SecretRef | None = None
    ssh_keys: list[SshKey] | None = None
    nameserver: str | None = None
    searchdomain: str | None = None
    cicustom: str | None = None
    citype: Literal["nocloud", "configdrive2", "opennebula"] | None = None
    upgrade: Bool | None = None
    drive: CloudInitDrive | None = None
    ipconfig: dict[int, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _collect_ipconfig(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        ipconfig = dict(data.pop("ipconfig", None) or {})
        for key in [k for k in data if isinstance(k, str) and IPCONFIG_KEY.match(k)]:
            ipconfig[int(key[len("ipconfig") :])] = data.pop(key)
        if ipconfig:
            data["ipconfig"] = ipconfig
        return data

    @field_validator("ipconfig")
    @classmethod
    def _ipconfig_values(cls, ipconfig: dict[int, str]) -> dict[int, str]:
        for index, text in ipconfig.items():
            props: dict[str, str] = {}
            for item in str(text).split(","):
                key, sep, value = item.partition("=")
                if not sep or key not in ("ip", "gw", "ip6", "gw6"):
                    raise ValueError(
                        f"ipconfig{index}: '{item}' is not ip=, gw=, ip6= or gw6= "
                        "(e.g. ip=10.0.20.11/24,gw=10.0.20.1 or ip=dhcp)"
                    )
                props[key] = value
            try:
                check_ip_config(props, v4_words=("dhcp",), v6_words=("dhcp", "auto"))
            except ValueError as err:
                raise ValueError(f"ipconfig{index}: {err}") from None
        return ipconfig

    @model_serializer(mode="wrap")
    def _spread_ipconfig(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for index, value in sorted((data.pop("ipconfig", None) or {}).items()):
            data[f"ipconfig{index}"] = value
        return data


class EfiDisk(Model):
    """The EFI vars disk (``efidisk0``) of a ``bios: ovmf`` VM."""

    storage: StorageId
    efitype: Literal["2m", "4m"] | None = Field(
        default=None, description="2m (old default) or 4m (needed for Secure Boot)."
    )
    pre_enrolled_keys: Bool | None = Field(
        default=None, description="Enroll Microsoft's Secure Boot keys at creation."
    )
    ms_cert: Literal["2011", "2023", "2023w", "2023k"] | None = Field(
        default=None,
        description="Which Microsoft UEFI CA the enrolled keys hold (ms-cert; PVE 9).",
    )

    @field_validator("ms_cert", mode="before")
    @classmethod
    def _ms_cert_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class TpmState(Model):
    """The TPM state volume (``tpmstate0``), e.g. for Windows 11."""

    storage: StorageId
    version: Literal["v1.2", "v2.0"] | None = None


class Vga(Model):
    """The display (``vga``)."""

    type: (
        Literal[
            "cirrus",
            "qxl",
            "qxl2",
            "qxl3",
            "qxl4",
            "none",
            "serial0",
            "serial1",
            "serial2",
            "serial3",
            "std",
            "virtio",
            "virtio-gl",
            "vmware",
        ]
        | None
    ) = None
    memory: Annotated[int, Field(ge=4, le=512)] | None = Field(default=None, description="MiB")
    clipboard: Literal["vnc"] | None = None


class HostPci(Model):
    """A PCI device passed through (``hostpciN``): by host address or by a cluster
    resource mapping (which users other than root@pam may use)."""

    host: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F:.;]+$")] | None = Field(
        default=None, description="e.g. 0000:01:00.0, 01:00 or 01:00.0;01:00.1"
    )
    mapping: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z][a-zA-Z0-9_\-]*$")] | None = None
    pcie: Bool | None = None
    rombar: Bool | None = None
    x_vga: Bool | None = Field(default=None, alias="xVga")
    mdev: str | None = None
    romfile: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> HostPci:
        if (self.host is None) == (self.mapping is None):
            raise ValueError("give the device as exactly one of host: ADDRESS or mapping: NAME")
        return self


class Usb(Model):
    """A USB device passed through (``usbN``): by vendor:product id, port, spice or mapping."""

    host: str | None = Field(default=None, description="e.g. 1d6b:0002, 1-2.3 or spice")
    mapping: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z][a-zA-Z0-9_\-]*$")] | None = None
    usb3: Bool | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Usb:
        if (self.host is None) == (self.mapping is None):
            raise ValueError("give the device as exactly one of host: ID or mapping: NAME")
        return self


class Audio(Model):
    """An audio device (``audio0``)."""

    device: Literal["ich9-intel-hda", "intel-hda", "AC97"]
    driver: Literal["spice", "none"] | None = None


class Rng(Model):
    """A VirtIO random number generator (``rng0``)."""

    source: Literal["/dev/urandom", "/dev/random", "/dev/hwrng"]
    max_bytes: Annotated[int, Field(ge=0)] | None = None
    period: Annotated[int, Field(ge=0)] | None = Field(default=None, description="ms")


class Watchdog(Model):
    """A virtual watchdog (``watchdog``)."""

    model: Literal["i6300esb", "ib700"] | None = None
    action: Literal["reset", "shutdown", "poweroff", "pause", "debug", "none"] | None = None


CpuSet = Annotated[str, StringConstraints(pattern=r"^\d+(-\d+)?(;\d+(-\d+)?)*$")]


class NumaNode(Model):
    """A guest NUMA node (``numaN``)."""

    cpus: CpuSet
    hostnodes: CpuSet | None = None
    memory: Annotated[float, Field(ge=0)] | None = Field(default=None, description="MiB")
    policy: Literal["preferred", "bind", "interleave"] | None = None


HOSTPCI_SLOT_PATTERN = r"^hostpci([0-9]|1[0-5])$"
USB_SLOT_PATTERN = r"^usb([0-9]|1[0-3])$"
SERIAL_SLOT_PATTERN = r"^serial[0-3]$"
SerialSlot = Annotated[str, StringConstraints(pattern=SERIAL_SLOT_PATTERN)]
SerialPort = Annotated[str, StringConstraints(pattern=r"^(/dev/[^,]+|socket)$")]


class Clone(Model):
    """Create the VM by cloning a template, by VMID or by name."""

    vmid: Vmid | None = None
    name: str | None = None
    full: Bool = Field(default=True, description="Full clone (true) or linked clone (false).")
    storage: StorageId | None = Field(default=None, description="Target storage of a full clone.")

    @model_validator(mode="after")
    def _one_source(self) -> Clone:
        if (self.vmid is None) == (self.name is None):
            raise ValueError("give the template as exactly one of vmid: N or name: NAME")
        if not self.full and self.storage is not None:
            raise ValueError(
                "a linked clone (full: false) stays on the template's storage; "
                "remove storage or set full: true"
            )
        return self


class Agent(Model):
    enabled: Bool = True
    fstrim: Bool | None = None
    freeze_fs: Bool | None = Field(default=None, description="Freeze file systems for backups.")
    type: Literal["virtio", "isa"] | None = None


class GuestSpec(Model):
    """What VMs and containers share."""

    vmid: Vmid = Field(description="Proxmox VMID; with the cluster, the guest's identity.")
    node: NodeName = Field(
        description="Node the guest runs on: it is created there, and changing it migrates "
        "the guest (docs/plan.md)."
    )
    cores: Annotated[int, Field(ge=1)] | None = None
    memory: MemoryMiB | None = Field(default=None, description="Memory in MiB.")
    onboot: Bool | None = None
    startup: Startup | None = None
    protection: Bool | None = None
    tags: list[Tag] | None = None
    description: Annotated[str, StringConstraints(max_length=8192)] | None = None
    pool: Annotated[str, StringConstraints(pattern=POOL_PATTERN)] | None = None
    power: Power = Power.running
    restart_policy: RestartPolicy = RestartPolicy.never
    sync_policy: SyncPolicy | None = Field(
        default=None, description="Self-heal for this guest; left out: its cluster's setting."
    )
    extra_config: (
        dict[
            Annotated[str, StringConstraints(pattern=EXTRA_KEY_PATTERN)],
            str | bool | int | float,
        ]
        | None
    ) = Field(
        default=None,
        description="Any other Proxmox config key, carried verbatim (e.g. vga: qxl, "
        "efidisk0: local-lvm:vm-100-disk-1,efitype=4m,size=4M). Checked against the keys "
        "Proxmox knows; typed fields and keys Proxmox owns are refused.",
    )

    @field_validator("tags")
    @classmethod
    def _no_reserved_tags(cls, tags: list[str] | None) -> list[str] | None:
        if tags and any(t.lower() == "proxgit-pending-deletion" for t in tags):
            raise ValueError("'proxgit-pending-deletion' is set by proxgit only")
        return tags


class VirtualMachineSpec(GuestSpec):
    sockets: Annotated[int, Field(ge=1)] | None = None
    cpu: str | None = Field(default=None, description="CPU type, e.g. host, x86-64-v2-AES.")
    numa: Bool | None = None
    balloon: MiB | None = Field(default=None, description="Minimum memory in MiB; 0 disables.")
    hotplug: Annotated[str, StringConstraints(pattern=HOTPLUG_PATTERN)] | None = Field(
        default=None, description="e.g. network,disk,usb,memory,cpu; 0 none, 1 all"
    )
    disks: dict[DiskSlot, Disk] | None = None
    networks: dict[NetSlot, VmNetwork] | None = None
    cloud_init: CloudInit | None = None
    clone: Clone | None = None
    agent: Agent | None = None
    bios: Literal["seabios", "ovmf"] | None = None
    machine: Annotated[str, StringConstraints(pattern=r"^(pc|q35)[a-z0-9.+\-]*$")] | None = None
    ostype: (
        Literal[
            "other",
            "wxp",
            "w2k",
            "w2k3",
            "w2k8",
            "wvista",
            "win7",
            "win8",
            "win10",
            "win11",
            "l24",
            "l26",
            "solaris",
        ]
        | None
    ) = None
    scsihw: (
        Literal[
            "lsi",
            "lsi53c810",
            "virtio-scsi-pci",
            "virtio-scsi-single",
            "megasas",
            "pvscsi",
        ]
        | None
    ) = None
    boot: str | None = Field(default=None, description="Boot order, e.g. order=scsi0;net0")
    cpu_flags: (
        Annotated[str, StringConstraints(pattern=r"^[+-][a-zA-Z0-9\-_.]+(;[+-][a-zA-Z0-9\-_.]+)*$")]
        | None
    ) = Field(default=None, description="CPU flags, e.g. +aes;-pcid (cpu's flags=).")
    efi_disk: EfiDisk | None = Field(
        default=None,
        description="The EFI disk; with bios: ovmf and none declared, one (efitype 4m) is "
        "created on the first disk's storage.",
    )
    tpm_state: TpmState | None = None
    vga: Vga | None = None
    serials: dict[SerialSlot, SerialPort] | None = Field(
        default=None, description="Serial ports: serial0: socket or a host device /dev/ttyS0."
    )
    hostpci: (
        dict[Annotated[str, StringConstraints(pattern=HOSTPCI_SLOT_PATTERN)], HostPci] | None
    ) = Field(default=None, description="PCI passthrough: hostpci0 .. hostpci15.")
    usb: dict[Annotated[str, StringConstraints(pattern=USB_SLOT_PATTERN)], Usb] | None = Field(
        default=None, description="USB passthrough: usb0 .. usb13."
    )
    audio: Audio | None = Field(default=None, description="audio0")
    rng: Rng | None = Field(default=None, description="rng0")
    watchdog: Watchdog | None = None
    numa_nodes: dict[Annotated[str, StringConstraints(pattern=r"^numa[0-7]$")], NumaNode] | None = (
        Field(default=None, description="Guest NUMA topology: numa0 .. numa7.")
    )
    hugepages: Literal["any", "2", "1024"] | None = Field(
        default=None, description="Hugepage size in MiB ('2', '1024') or any."
    )
    cpulimit: Annotated[float, Field(ge=0, le=128)] | None = Field(
        default=None, description="CPU time limit in cores; 0 is none."
    )
    cpuunits: Annotated[int, Field(ge=1, le=262144)] | None = Field(
        default=None, description="CPU weight against other guests."
    )
    vcpus: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="vCPUs plugged at start (up to cores x sockets)."
    )
    affinity: Annotated[str, StringConstraints(pattern=r"^\d+(-\d+)?(,\d+(-\d+)?)*$")] | None = (
        Field(default=None, description="Host CPUs the VM may run on, e.g. 0-3,8")
    )
    hookscript: str | None = Field(
        default=None, description="A snippet volume, e.g. local:snippets/hook.pl"
    )

    @field_validator("hugepages", mode="before")
    @classmethod
    def _hugepages_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _balloon_within_memory(self) -> VirtualMachineSpec:
        if self.balloon and self.memory is not None and self.balloon > self.memory:
            raise ValueError(
                f"balloon {self.balloon} is above memory {self.memory}; Proxmox refuses a "
                "minimum above the maximum"
            )
        return self

    @model_validator(mode="after")
    def _vcpus_within_cores(self) -> VirtualMachineSpec:
        if self.vcpus is not None and (self.cores is not None or self.sockets is not None):
            most = (self.cores or 1) * (self.sockets or 1)
            if self.vcpus > most:
                raise ValueError(
                    f"vcpus {self.vcpus} is above sockets x cores ({most}); Proxmox can't "
                    "start a VM with more vCPUs than it has"
                )
        return self

    @field_validator("disks")
    @classmethod
    def _options_the_bus_has(cls, disks: dict[str, Disk] | None) -> dict[str, Disk] | None:
        for slot, disk in (disks or {}).items():
            bus = slot.rstrip("0123456789")
            for option in sorted(_NOT_ON_BUS.get(bus, ())):
                if getattr(disk, option, None) is not None:
                    raise ValueError(f"{slot}: Proxmox has no {option} option on {bus} disks")
        return disks


class VirtualMachine(Model):
    """A QEMU virtual machine, ``clusters/<cluster>/vms/<name>.yaml``."""

    api_version: Literal["proxgit/v1"]
    kind: Literal["VirtualMachine"]
    metadata: Metadata
    spec: VirtualMachineSpec


# --- LXC -------------------------------------------------------------------------

MP_SLOT_PATTERN = r"^mp([0-9]|[1-9][0-9]|2[0-4][0-9]|25[0-5])$"
MountSlot = Annotated[str, StringConstraints(pattern=MP_SLOT_PATTERN)]


MountOptions = Annotated[
    str,
    StringConstraints(
        pattern=r"^(discard|lazytime|noatime|nodev|noexec|nosuid)"
        r"(;(discard|lazytime|noatime|nodev|noexec|nosuid))*$"
    ),
]


IdMap = Annotated[
    str,
    StringConstraints(
        pattern=r"^(passthrough|[ug]:[0-9]+:[0-9]+:[1-9][0-9]*(;[ug]:[0-9]+:[0-9]+:[1-9][0-9]*)*)$"
    ),
]


class RootFs(Model):
    storage: StorageId
    size: Size
    ro: Bool | None = None
    acl: Bool | None = None
    quota: Bool | None = None
    replicate: Bool | None = None
    shared: Bool | None = None
    mountoptions: MountOptions | None = Field(default=None, description="e.g. noatime;nodev")
    idmap: IdMap | None = Field(
        default=None, description="PVE 9: ID mapping of the volume (passthrough or u:/g: ranges)"
    )


class MountPoint(Model):
    """A volume (``storage`` and ``size``) or a bind mount of a host directory
    (``source``; only root@pam may create one) at ``path`` in the container."""

    storage: StorageId | None = None
    size: Size | None = None
    source: Annotated[str, StringConstraints(pattern=r"^/[^,]*$")] | None = Field(
        default=None, description="Host directory of a bind mount, e.g. /mnt/tank/media"
    )
    path: Annotated[str, StringConstraints(pattern=r"^/.*")]
    backup: Bool | None = None
    readonly: Bool | None = Field(default=None, alias="ro")
    acl: Bool | None = None
    quota: Bool | None = None
    replicate: Bool | None = None
    shared: Bool | None = None
    mountoptions: MountOptions | None = Field(default=None, description="e.g. noatime;nodev")
    idmap: IdMap | None = Field(
        default=None, description="PVE 9: ID mapping of the mount (passthrough or u:/g: ranges)"
    )
    keepattrs: Bool | None = Field(
        default=None, description="PVE 9: keep the mount point directory's attributes as they are"
    )

    @model_validator(mode="after")
    def _volume_or_bind(self) -> MountPoint:
        if (self.storage is None) == (self.source is None):
            raise ValueError(
                "give a volume (storage and size) or a bind mount (source), exactly one"
            )
        if self.storage is not None and self.size is None:
            raise ValueError("a volume mount point needs a size")
        if self.source is not None and self.size is not None:
            raise ValueError("a bind mount has no size")
        return self


class ContainerNetwork(Model):
    name: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_.\-]{1,15}$")] = "eth0"
    bridge: Annotated[str, StringConstraints(pattern=BRIDGE_PATTERN)]
    ip: str | None = Field(default=None, description="dhcp, manual or CIDR like 10.0.0.5/24")
    gw: str | None = None
    ip6: str | None = Field(default=None, description="auto, dhcp, manual or CIDR")
    gw6: str | None = None
    tag: VlanTag | None = None
    firewall: Bool | None = None
    hwaddr: MacAddress | None = None
    mtu: Annotated[int, Field(ge=64, le=65535)] | None = None
    rate: Annotated[float, Field(ge=0)] | None = None
    trunks: Annotated[str, StringConstraints(pattern=r"^\d+(;\d+)*$")] | None = None
    link_down: Bool | None = None
    type: Literal["veth"] | None = None
    host_managed: Bool | None = Field(
        default=None, description="PVE 9.1: the host runs DHCP for the container (OCI images)"
    )

    @model_validator(mode="after")
    def _addresses(self) -> ContainerNetwork:
        props = {
            k: v
            for k, v in (("ip", self.ip), ("ip6", self.ip6), ("gw", self.gw), ("gw6", self.gw6))
            if v is not None
        }
        check_ip_config(props, v4_words=("dhcp", "manual"), v6_words=("auto", "dhcp", "manual"))
        return self


class Device(Model):
    """A host device passed into a container (``devN``)."""

    path: Annotated[str, StringConstraints(pattern=r"^/dev/.+")]
    uid: Annotated[int, Field(ge=0)] | None = None
    gid: Annotated[int, Field(ge=0)] | None = None
    mode: Annotated[str, StringConstraints(pattern=r"^0[0-7]{3}$")] | None = None
    deny_write: Bool | None = None


DEV_SLOT_PATTERN = r"^dev([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])$"


class Features(Model):
    nesting: Bool | None = None
    keyctl: Bool | None = None
    fuse: Bool | None = None
    mknod: Bool | None = None
    mount: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_; ]+$")] | None = Field(
        default=None, description="File systems the container may mount, e.g. nfs;cifs"
    )


class ContainerSpec(GuestSpec):
    cores: Annotated[int, Field(ge=1, le=8192)] | None = None
    hostname: GuestName | None = None
    ostemplate: Annotated[str, StringConstraints(pattern=OSTEMPLATE_PATTERN)] | None = Field(
        default=None, description="e.g. local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
    )
    swap: MiB | None = None
    rootfs: RootFs | None = None
    mountpoints: dict[MountSlot, MountPoint] | None = None
    devices: dict[Annotated[str, StringConstraints(pattern=DEV_SLOT_PATTERN)], Device] | None = (
        Field(default=None, description="Host devices: dev0: {path: /dev/dri/renderD128, gid: 104}")
    )
    networks: dict[NetSlot, ContainerNetwork] | None = None
    unprivileged: Bool | None = None
    features: Features | None = None
    nameserver: str | None = None
    searchdomain: str | None = None
    ssh_keys: list[SshKey] | None = None
    password_from: SecretRef | None = None
    cpulimit: Annotated[float, Field(ge=0, le=8192)] | None = None
    cpuunits: Annotated[int, Field(ge=0, le=500000)] | None = None
    timezone: str | None = Field(default=None, description="e.g. Europe/Berlin or host")
    cmode: Literal["shell", "console", "tty"] | None = None
    console: Bool | None = None
    tty: Annotated[int, Field(ge=0, le=6)] | None = None
    arch: Literal["amd64", "i386", "arm64", "armhf", "riscv32", "riscv64"] | None = None
    hookscript: str | None = Field(
        default=None, description="A snippet volume, e.g. local:snippets/hook.pl"
    )
    ostype: (
        Literal[
            "debian",
            "devuan",
            "ubuntu",
            "centos",
            "fedora",
            "opensuse",
            "archlinux",
            "alpine",
            "gentoo",
            "nixos",
            "unmanaged",
        ]
        | None
    ) = None


class Container(Model):
    """An LXC container, ``clusters/<cluster>/containers/<name>.yaml``."""

    api_version: Literal["proxgit/v1"]
    kind: Literal["Container"]
    metadata: Metadata
    spec: ContainerSpec


Guest = VirtualMachine | Container
