"""The pure parts of reflect: scrubbing, deterministic YAML, change summaries."""

from __future__ import annotations

from proxgit.reflecting.summary import commit_message, compare
from proxgit.reflecting.yamlwrite import dump, usage_text
from proxgit.secrets import MASK, Scrubber


def test_scrubber_masks_by_key_shape_and_value() -> None:
    scrub = Scrubber(known=["tok-3f9a-secret-value"])
    assert scrub.value("cipassword", "hunter22") == MASK
    assert scrub.value("sshkeys", "ssh-ed25519 AAAA") == "ssh-ed25519 AAAA"
    assert scrub.text("root password: hunter22 and more") == "root password: *** and more"
    assert scrub.text("api_token=abc123,user=local:snippets/u.yaml") == (
        f"api_token={MASK},user=local:snippets/u.yaml"
    )
    assert scrub.text("Authorization: PVEAPIToken=a@pve!ci=1234-5678") == (
        f"Authorization: PVEAPIToken={MASK}"
    )
    assert scrub.text("hash $6$salt$abcdefghijk end") == f"hash {MASK} end"
    assert (
        scrub.text("-----BEGIN OPENSSH PRIVATE KEY-----\nxyz\n-----END OPENSSH PRIVATE KEY-----")
        == MASK
    )
    assert scrub.any({"note": "uses tok-3f9a-secret-value"}) == {"note": f"uses {MASK}"}


def test_dump_is_byte_stable_whatever_the_insertion_order() -> None:
    one = dump({"b": [1, 2], "a": {"y": "2", "x": True}, "c": "multi\nline"})
    two = dump({"c": "multi\nline", "a": {"x": True, "y": "2"}, "b": [1, 2]})
    assert one == two
    assert one.decode().splitlines()[1] == "a:"
    assert usage_text(1 << 30) == "1.0G" and usage_text(None) is None


def test_compare_matches_guests_by_vmid() -> None:
    old = {"guests/100-a.yaml": b"1", "guests/101-b.yaml": b"1", "index.yaml": b"1"}
    new = {"guests/100-a2.yaml": b"1", "guests/102-c.yaml": b"1", "index.yaml": b"2"}
    changes = compare("lab", old, new)
    assert changes.added == ["102 c"] and changes.removed == ["101 b"]
    assert changes.changed == ["100 a2"] and changes.other == ["index.yaml"]
    message = commit_message([changes])
    assert message.startswith("proxgit reflect: lab: 1 added, 1 removed, 1 changed\n\nlab:\n")
    assert compare("lab", new, new).any is False
