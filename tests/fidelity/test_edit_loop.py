"""One-field edits on imported corpus guests: plan shows that field, apply writes only it.

For each edit a corpus sidecar names (``edits: [{key, to}]``, in Proxmox's own terms):

1. the guest is loaded into fakepve and imported (``proxgit import``), the document
   merged; ``proxgit plan`` shows zero changes; ``proxgit apply`` records it as applied;
2. the edited document is the one import writes for the same config with that key set
   to ``to``: only this key's part of the document differs;
3. ``proxgit plan --base <applied>`` shows fields of that key only (a sub-key ``to``
   drops is planned as removed), with the effect the field table
   gives them on this guest;
4. ``proxgit apply`` writes it: the config request carries exactly ``to`` for the key
   (sub-keys compared through PVE's own format, so every sub-option proxgit does not
   type is sent back as live had it), nothing else but ``digest``; a size change goes
   through ``resize`` instead; a re-plan shows zero changes.

Every write request is checked against PVE's schema (``schema_checked_pve``). One edit
per kind of field runs in the fast suite; the rest are ``slow``.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from proxgit.cli import main
from proxgit.importing import guest_document, render_document
from proxgit.planning.effects import effect_of, parse_hotplug
from proxgit.proxmox.fields import EXTRA, resolve, root_only
from proxgit.proxmox.live import LiveGuest
from tests.fidelity import pveconf, pveschema
from tests.fidelity.test_import_roundtrip import _KEYED, CORPUS, _format_of, load_guest
from tests.reflecting.conftest import run
from tests.support import BOB, GitRepo

# One edit of each kind of field, run in the fast suite: (corpus entry, key).
FAST = {
    ("cloudinit-ide", "memory"),  # a typed scalar
    ("cpu-tuning", "cpu"),  # a property-string sub-key (cpu flags)
    ("windows-server-2025", "localtime"),  # an extraConfig key
    ("ct-basic", "rootfs"),  # a mount option
    ("memory-current", "tags"),  # tags, case kept
    ("router-trunks", "net1"),  # a NIC option
    ("tuned-disks", "scsi1"),  # disk options beside untyped ones
}
# Edits Proxmox refuses, and how: planned as blocked (a finding code), or refused at
# apply to a token that is not root@pam (the message), after the plan warned.
REFUSED: dict[tuple[str, str], tuple[str, str]] = {
    ("ct-zfs-idmap", "mp0"): ("blocker", "protected"),
    ("uefi-secureboot", "efidisk0"): ("blocker", "create-only"),
    ("windows-server-2025", "hookscript"): ("root-only-key", "only root can set 'hookscript'"),
}
# Where fakepve 0.5 is not Proxmox, and the edit can't converge against it.
FAKEPVE: dict[tuple[str, str], str] = {
    ("ct-media-tags", "tags"): "fakepve 0.5 lower-cases a container's tags on every write; "
    "PVE keeps their case",
}


def _cases() -> list[Any]:
    cases = []
    for entry in CORPUS:
        for edit in entry.edits:
            marks: list[Any] = []
            if (entry.name, edit["key"]) not in FAST:
                marks.append(pytest.mark.slow)
            if (entry.name, edit["key"]) in FAKEPVE:
                marks.append(
                    pytest.mark.xfail(strict=True, reason=FAKEPVE[entry.name, edit["key"]])
                )
            cases.append(
                pytest.param(
                    entry, edit["key"], edit["to"], id=f"{entry.name}:{edit['key']}", marks=marks
                )
            )
    return cases


def _cli(repo: GitRepo, *args: str) -> Result:
    result = CliRunner().invoke(main, [args[0], "--repo", str(repo.path), *args[1:]])
    assert "Traceback" not in result.output, result.output
    return result


def _plan(repo: GitRepo, base: str | None = None) -> list[dict[str, Any]]:
    result = _cli(repo, "plan", "--output", "json", *(["--base", base] if base else []))
    assert result.exit_code in (0, 1, 2), result.output  # 1: a change is blocked
    return [c for c in json.loads(result.stdout)["changes"] if c["action"] != "noop"]


def _merge(repo: GitRepo, message: str) -> None:
    repo.git("add", "-A")
    repo.git("commit", "--quiet", "-m", message, author=BOB)
    repo.git("push", "--quiet", "origin", "main")


def _edited_text(entry: pveconf.Entry, key: str, to: str, current: dict[str, Any]) -> str:
    """The document import writes for the guest with ``key: to``."""
    config = dict(current)
    config[key] = pveschema.coerce(entry.kind, key, to)
    guest = LiveGuest(
        vmid=entry.vmid,
        type=entry.kind,
        name=entry.guest_name,
        node=entry.node,
        status=entry.status,
        config=config,
    )
    data, _ = guest_document(guest, "lab")
    return render_document(data, None)


def _config_key_of(kind: str, path: str) -> str | None:
    if path.startswith(f"{EXTRA}."):
        return path.split(".", 1)[1]
    found = resolve(kind, path)
    return found.config_key if found else None


def _canon(kind: str, key: str, value: Any) -> Any:
    """A config value in a form independent of sub-key order and number spelling."""
    text = urllib.parse.unquote(str(value)).strip()
    props, _ = _format_of(kind, key)
    if props is not None:
        try:
            parsed = pveschema.parse_property_string(props, text)
        except ValueError:
            return text
        return {k: _scalar(v) for k, v in parsed.items()}
    if key == "tags":
        return sorted(t for t in re.split(r"[;, ]+", text) if t)
    if _KEYED.fullmatch(text):  # a named format of k=v pairs (startup): any order
        return {k: _scalar(v) for k, _, v in (p.partition("=") for p in text.split(","))}
    return _scalar(text)


def _scalar(text: str) -> str:
    try:
        return f"{float(text):g}"
    except ValueError:
        return text


def _config_writes(pve: Any, entry: pveconf.Entry) -> list[dict[str, Any]]:
    path = f"/{entry.kind}/{entry.vmid}/config"
    return [
        pveschema.decode_body(body)
        for method, url, body in pve.requests
        if method in ("PUT", "POST") and url.endswith(path)
    ]


@pytest.mark.parametrize(("entry", "key", "to"), _cases())
def test_one_field_edit_plans_applies_and_converges(
    entry: pveconf.Entry,
    key: str,
    to: str,
    repo: GitRepo,
    schema_checked_pve: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pve = schema_checked_pve
    load_guest(pve, entry)
    imported = run(repo, "import", "--cluster", "lab", "--vmid", str(entry.vmid))
    assert imported.exit_code == 0, imported.output
    for name in re.findall(r"passwordFrom: \{env: (\w+)\}", imported.output):
        monkeypatch.setenv(name, "Edit-Loop-Pw-5521")
    _merge(repo, f"Import {entry.name}")
    assert _plan(repo) == []
    # the imported document is applied (nothing to change): the edit's plan and apply
    # have it as their base, so a sub-key the edit drops is removed from Proxmox
    assert _cli(repo, "apply", "--lock-timeout", "5").exit_code == 0
    # a lock in the file (a backup running when it was copied) clears when that task
    # ends; proxgit waits for it before writing (tests/applying/test_apply.py)
    pve.guest(entry.vmid).config.pop("lock", None)

    # the edit: the document import writes for the config with key: to
    files = [p for p in (repo.path / "clusters").rglob("*.yaml")]
    assert len(files) == 1
    before_text = files[0].read_text(encoding="utf-8")
    guest = pve.guest(entry.vmid)
    current = dict(guest.config)  # with pending changes applied, as proxgit reads it
    for pending_key, pending_value in (guest.pending or {}).items():
        if pending_value is None:
            current.pop(pending_key, None)
        else:
            current[pending_key] = pending_value
    after_text = _edited_text(entry, key, to, current)
    before_doc, after_doc = yaml.safe_load(before_text), yaml.safe_load(after_text)
    assert before_doc != after_doc, "the edit changes nothing in the document"
    files[0].write_text(after_text, encoding="utf-8")
    _merge(repo, f"{entry.name}: {key}")

    changes = _plan(repo, base="HEAD~1")
    assert len(changes) == 1 and changes[0]["action"] == "update", json.dumps(changes, indent=1)
    fields = changes[0]["fields"]
    assert fields, changes
    live = pveconf.api_config(entry.kind, pveconf.effective(entry.config))
    hotplug = parse_hotplug(live.get("hotplug")) if entry.kind == "qemu" else frozenset()
    numa = str(live.get("numa", "0")) == "1"
    for item in fields:
        assert _config_key_of(entry.kind, item["path"]) == key, (item, key)
        if entry.status == "running":
            want = effect_of(entry.kind, item["path"], new_slot=False, hotplug=hotplug, numa=numa)
            assert item["effect"] == want.value, item

    if root_only(entry.kind, key, to):  # PVE refuses it to every token but root@pam's
        assert "root-only-key" in {w["code"] for w in changes[0]["warnings"]}, changes

    pve.requests.clear()
    applied = _cli(repo, "apply", "--lock-timeout", "5")
    refused = REFUSED.get((entry.name, key))
    if refused and refused[0] == "blocker":
        assert refused[1] in {b["code"] for b in changes[0]["blockers"]}, changes
        assert not _config_writes(pve, entry), pve.requests
        return
    if refused:
        assert refused[0] in {w["code"] for w in changes[0]["warnings"]}, changes
        assert applied.exit_code == 1 and refused[1] in applied.output, applied.output
        return
    assert not changes[0]["blockers"], changes
    assert applied.exit_code == 0, applied.output

    writes = _config_writes(pve, entry)
    resizing = any(url.endswith(f"/{entry.vmid}/resize") for _, url, _ in pve.requests)
    assert writes or resizing, f"no write for {key}; requests: {pve.requests}"
    sent: dict[str, Any] = {}
    for params in writes:
        sent.update({k: v for k, v in params.items() if k not in ("digest", "background_delay")})
    resized = [
        pveschema.decode_body(body)
        for method, url, body in pve.requests
        if method == "PUT" and url.endswith(f"/{entry.vmid}/resize")
    ]
    want = _canon(entry.kind, key, to)
    if resized:  # a size change: resize, and the config write (if any) keeps the rest
        assert [r["disk"] for r in resized] == [key]
        assert isinstance(want, dict)
        want.pop("size")
        if key in sent:
            got = _canon(entry.kind, key, sent[key])
            assert isinstance(got, dict)
            got.pop("size", None)
            assert got == want
        assert set(sent) <= {key}, sent
    elif want in ("0", "") and key not in sent:  # back to Proxmox's default: deleted
        assert key in str(sent.get("delete", "")).split(","), sent
        assert set(sent) == {"delete"}, sent
    else:
        assert set(sent) == {key}, f"the write changed more than {key}: {sent}"
        assert _canon(entry.kind, key, sent[key]) == want, (sent[key], to)

    left = _plan(repo)
    if resized and entry.kind == "qemu":
        # fakepve 0.5 answers a QEMU resize with a task but keeps the old size: what is
        # left is that size, and nothing else
        paths = [f["path"] for c in left for f in c["fields"]]
        assert paths == [f"disks.{key}.size"], left
    else:
        assert left == []
