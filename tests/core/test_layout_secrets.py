"""The one place for paths (layout) and for secret words (secrets), directly."""

from __future__ import annotations

import pytest

from proxgit.layout import (
    ARCHIVE_PREFIX,
    archive_path,
    cluster_of,
    deletion_request_name,
    deletion_request_path,
    guest_kind_of,
    guest_path,
    is_deletion_request_path,
)
from proxgit.secrets import (
    PROXMOX_SECRET_KEYS,
    SECRET_KEYS,
    SECRET_WORDS,
    SECRETISH_TEXT,
    Scrubber,
    is_secret_key,
    may_hold_secret,
)


def test_a_deletion_request_path_is_built_one_way_and_read_back() -> None:
    path = deletion_request_path("lab", 102)
    assert path == "deletions/lab-102.yaml"
    assert path.endswith(f"/{deletion_request_name('lab', 102)}.yaml")
    assert is_deletion_request_path(path)
    archived = archive_path("lab-102", "20261130T000000Z", "0123456789abcdef")
    assert archived == "deletions/archive/lab-102-20261130T000000Z-01234567.yaml"
    assert archived.startswith(ARCHIVE_PREFIX) and not is_deletion_request_path(archived)


@pytest.mark.parametrize("kind", ["VirtualMachine", "Container"])
def test_a_guest_path_names_its_kind_and_cluster(kind: str) -> None:
    path = guest_path("lab", kind, "web-01")
    assert guest_kind_of(path) == kind and cluster_of(path) == "lab"
    assert guest_kind_of("clusters/lab/other/web-01.yaml") is None
    assert cluster_of("deletions/lab-1.yaml") is None


@pytest.mark.parametrize("key", sorted(SECRET_KEYS))
def test_every_secret_key_is_seen_by_the_loader_prescan_and_the_scrubber(key: str) -> None:
    # The pre-scan must never skip a document the loader would refuse.
    assert may_hold_secret(f"spec:\n  {key}: hunter22\n")
    assert may_hold_secret(f'{{"{key}": "hunter22"}}')
    assert is_secret_key(key) and is_secret_key(key.upper())
    assert Scrubber().value(key, "hunter22") == "***"


@pytest.mark.parametrize("word", SECRET_WORDS)
def test_every_secret_word_marks_keys_pairs_and_descriptions(word: str) -> None:
    assert is_secret_key(f"db_{word}")
    assert Scrubber().text(f"x {word}=hunter22 y") == f"x {word}=*** y"
    assert SECRETISH_TEXT.search(f"{word}: hunter22")


def test_ordinary_text_and_keys_are_left_alone() -> None:
    assert not may_hold_secret("spec:\n  description: web server\n  cores: 2\n")
    assert not is_secret_key("description") and not is_secret_key("tags")
    assert not SECRETISH_TEXT.search("the token ring network")
    assert all(is_secret_key(key) for key in PROXMOX_SECRET_KEYS)
