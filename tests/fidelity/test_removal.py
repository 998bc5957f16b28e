"""A field removed from a document is removed from Proxmox on apply, against fakepve.

Each case imports a corpus guest, merges and applies the document (so it is the last
applied revision), removes fields from it and merges again. Then:

- ``plan --base <applied>`` shows each removal: ``before`` what live holds, ``after``
  absent, ``removed: true``, with its effect;
- ``apply`` sends one config write carrying ``delete=<keys>`` for whole keys and each
  key that lost a sub-key rewritten without it, nothing else; the keys are gone from
  the guest's config (or pending deletion until a restart) and a re-plan is empty;
- a key the applied revision never declared is left alone.

Every write request is checked against PVE's schema (``schema_checked_pve``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxgit.importing import guest_document
from proxgit.proxmox.fields import holds_volume, key_for, root_only
from proxgit.proxmox.live import LiveGuest
from tests.fidelity import pveconf, pveschema
from tests.fidelity.test_edit_loop import _cli, _merge, _plan
from tests.fidelity.test_import_roundtrip import CORPUS, load_guest
from tests.reflecting.conftest import run
from tests.support import GitRepo

ENTRIES = {e.name: e for e in CORPUS}


def _imported_and_applied(repo: GitRepo, pve: Any, name: str) -> tuple[Path, dict[str, Any]]:
    entry = ENTRIES[name]
    load_guest(pve, entry)
    imported = run(repo, "import", "--cluster", "lab", "--vmid", str(entry.vmid))
    assert imported.exit_code == 0, imported.output
    _merge(repo, f"Import {name}")
    applied = _cli(repo, "apply", "--lock-timeout", "5")
    assert applied.exit_code == 0, applied.output
    [path] = list((repo.path / "clusters").rglob("*.yaml"))
    return path, yaml.safe_load(path.read_text(encoding="utf-8"))


def _save(repo: GitRepo, path: Path, document: dict[str, Any], message: str) -> None:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    _merge(repo, message)


def _based_plan(repo: GitRepo) -> list[dict[str, Any]]:
    result = _cli(repo, "plan", "--base", "HEAD~1", "--output", "json")
    assert result.exit_code in (0, 2), result.output
    return [c for c in json.loads(result.stdout)["changes"] if c["action"] != "noop"]


def _config_writes(pve: Any, kind: str, vmid: int) -> list[dict[str, Any]]:
    return [
        pveschema.decode_body(body)
        for method, url, body in pve.requests
        if method in ("PUT", "POST") and url.endswith(f"/{kind}/{vmid}/config")
    ]


def _gone(guest: Any, key: str) -> bool:
    """Not in the config, or pending deletion until the guest restarts."""
    pending = getattr(guest, "pending", {}) or {}
    return key not in guest.config or (key in pending and pending[key] is None)


def _value(guest: Any, key: str) -> str:
    """The key's value, or what is pending for it until the guest restarts."""
    pending = getattr(guest, "pending", {}) or {}
    return str(pending.get(key) or guest.config[key])


def test_removed_vm_fields_are_deleted_on_apply(repo: GitRepo, schema_checked_pve: Any) -> None:
    pve = schema_checked_pve
    path, document = _imported_and_applied(repo, pve, "windows-server-2025")
    spec = document["spec"]
    assert spec["extraConfig"]["localtime"] in (1, "1", True)
    del spec["extraConfig"]["localtime"]
    del spec["description"]
    net0 = spec["networks"]["net0"]
    assert net0["tag"] == 10
    del net0["tag"]
    _save(repo, path, document, "dc01: drop localtime, description and the VLAN tag")

    [change] = _based_plan(repo)
    fields = {f["path"]: f for f in change["fields"]}
    assert set(fields) == {"description", "extraConfig.localtime", "networks.net0.tag"}
    assert all(f["removed"] and f["after"] is None for f in fields.values())
    assert fields["description"]["before"] == "Domain controller dc01"
    assert fields["networks.net0.tag"]["before"] == 10
    assert fields["networks.net0.tag"]["effect"] == "live"  # a NIC option, hotplug network
    text = _cli(repo, "plan", "--base", "HEAD~1").output
    assert '~ description: "Domain controller dc01" -> (removed)' in text, text

    pve.requests.clear()
    applied = _cli(repo, "apply", "--lock-timeout", "5")
    assert applied.exit_code == 0, applied.output
    [sent] = _config_writes(pve, "qemu", 112)
    assert sorted(sent["delete"].split(",")) == ["description", "localtime"]
    assert set(sent) == {"delete", "net0", "digest"}, sent
    assert "tag=" not in sent["net0"] and "bridge=vmbr0" in sent["net0"]
    vm = pve.guest(112)
    assert _gone(vm, "description") and _gone(vm, "localtime")
    assert "tag=" not in _value(vm, "net0")
    assert _plan(repo) == []


def test_a_removed_mount_point_is_deleted_and_its_volume_kept(
    repo: GitRepo, schema_checked_pve: Any
) -> None:
    pve = schema_checked_pve
    path, document = _imported_and_applied(repo, pve, "ct-mounts")
    spec = document["spec"]
    del spec["mountpoints"]["mp0"]
    del spec["networks"]["net0"]["firewall"]
    _save(repo, path, document, "pg-ct: drop mp0 and the firewall flag")

    [change] = _based_plan(repo)
    fields = {f["path"]: f for f in change["fields"]}
    assert set(fields) == {"mountpoints.mp0", "networks.net0.firewall"}
    assert fields["mountpoints.mp0"]["effect"] == "restart"  # a running container
    assert "volume-detached" in {w["code"] for w in change["warnings"]}

    pve.requests.clear()
    applied = _cli(repo, "apply", "--lock-timeout", "5")
    assert applied.exit_code == 0, applied.output
    [sent] = _config_writes(pve, "lxc", 301)
    assert sent["delete"] == "mp0"
    assert "firewall" not in sent["net0"] and "ip=10.0.0.61/24" in sent["net0"]
    ct = pve.guest(301)
    assert _gone(ct, "mp0")


def test_keys_the_applied_revision_never_declared_stay(
    repo: GitRepo, schema_checked_pve: Any
) -> None:
    pve = schema_checked_pve
    entry = ENTRIES["windows-server-2025"]
    load_guest(pve, entry)
    assert run(repo, "import", "--cluster", "lab", "--vmid", "112").exit_code == 0
    [path] = list((repo.path / "clusters").rglob("*.yaml"))
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    del document["spec"]["description"]  # never declared by any applied revision
    del document["spec"]["extraConfig"]["localtime"]
    _save(repo, path, document, "dc01 without description and localtime")
    assert _cli(repo, "apply", "--lock-timeout", "5").exit_code == 0
    document["spec"]["cores"] = 6
    _save(repo, path, document, "dc01: six cores")

    [change] = _based_plan(repo)
    assert [f["path"] for f in change["fields"]] == ["cores"]
    pve.requests.clear()
    assert _cli(repo, "apply", "--lock-timeout", "5").exit_code == 0
    sent = _config_writes(pve, "qemu", 112)
    assert sent and all("delete" not in s for s in sent), sent
    assert pve.guest(112).config["description"] == "Domain controller dc01"
    assert str(pve.guest(112).config["localtime"]) == "1"


def test_a_plan_without_a_base_removes_nothing(repo: GitRepo, schema_checked_pve: Any) -> None:
    pve = schema_checked_pve
    path, document = _imported_and_applied(repo, pve, "windows-server-2025")
    del document["spec"]["description"]
    _save(repo, path, document, "dc01 without description")
    result = _cli(repo, "plan", "--output", "json")
    changes = json.loads(result.stdout)["changes"]
    assert not any(f.get("removed") for c in changes for f in c["fields"]), changes


def _removable_extra(entry: Any) -> list[str]:
    """Carried keys a token may delete: not root-only, not a drive (a cdrom or the
    cloud-init drive in a disk slot), not a volume, not generated on create."""
    values = entry.config.main.values
    out = []
    for key, value in values.items():
        row = key_for(entry.kind, key)
        if row is None or root_only(entry.kind, key, value) or key in ("smbios1",):
            continue
        if holds_volume(row) or "media=cdrom" in value:
            continue
        out.append(key)
    return out


def _predicted_removable(entry: Any) -> list[str]:
    """The carried keys a token may delete that import puts in ``extraConfig``, from the
    pure import of the corpus file (no Proxmox): which cases have something to remove."""
    guest = LiveGuest(
        vmid=entry.vmid,
        type=entry.kind,
        name=entry.guest_name,
        node=entry.node,
        status=entry.status,
        config=pveconf.api_config(entry.kind, pveconf.effective(entry.config)),
    )
    data, _ = guest_document(guest, "lab")
    extra = data["spec"].get("extraConfig") or {}
    return sorted(k for k in extra if k in _removable_extra(entry))


# a running container's pending is fakepve's; a guest with nothing to remove is no case
_EXTRA_CASES = [
    e for e in CORPUS if (e.status == "stopped" or e.kind == "qemu") and _predicted_removable(e)
]


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(e, id=e.name, marks=[] if e.name == "sata-workstation" else [pytest.mark.slow])
        for e in _EXTRA_CASES
    ],
)
def test_every_carried_key_removed_is_deleted(
    entry: Any, repo: GitRepo, schema_checked_pve: Any
) -> None:
    """Over the corpus: every extraConfig key a token may delete is taken out of the
    document; apply deletes exactly those keys and a re-plan is empty."""
    pve = schema_checked_pve
    path, document = _imported_and_applied(repo, pve, entry.name)
    extra = document["spec"].get("extraConfig") or {}
    keys = sorted(k for k in extra if k in _removable_extra(entry))
    assert keys and keys == _predicted_removable(entry)
    for key in keys:
        del extra[key]
    if not extra:
        document["spec"].pop("extraConfig", None)
    _save(repo, path, document, f"{entry.name}: drop {', '.join(keys)}")
    [change] = _based_plan(repo)
    assert sorted(f["path"] for f in change["fields"]) == [f"extraConfig.{k}" for k in keys]
    pve.requests.clear()
    applied = _cli(repo, "apply", "--lock-timeout", "5")
    assert applied.exit_code == 0, applied.output
    sent = _config_writes(pve, entry.kind, entry.vmid)
    deleted = sorted(k for s in sent for k in str(s.get("delete", "")).split(",") if k)
    assert deleted == keys, sent
    guest = pve.guest(entry.vmid)
    assert all(_gone(guest, k) for k in keys)
    assert _plan(repo) == []
