"""The pure check that names security-relevant changes between two configurations."""

from __future__ import annotations

from typing import Any

import pytest

from proxgit.models import Config
from proxgit.planning.security import CODE, FORGEABLE, security_findings


def config(**spec: Any) -> Config:
    base: dict[str, Any] = {
        "clusters": {
            "lab": {
                "url": "https://pve:8006",
                "tokenId": "p@pve!t",
                "tokenSecretFrom": {"env": "T"},
            }
        },
        "deletions": {"identity": "signatures"},
        "policy": {
            "people": {"bob": {"emails": ["bob@example.com"]}},
            "roles": {"approvers": {"members": ["bob"], "permissions": ["approve_deletion"]}},
        },
    }
    for key, value in spec.items():
        base[key] = value
    return Config.model_validate({"apiVersion": "proxgit/v1", "kind": "Config", "spec": base})


def codes(findings: list[Any]) -> list[str]:
    return [f.code for f in findings]


def test_no_change_no_finding() -> None:
    assert security_findings(config(), config()) == []


@pytest.mark.parametrize(
    ("change", "area"),
    [
        (
            {
                "policy": {
                    "people": {"bob": {"emails": ["bob@example.com"]}, "eve": {}},
                    "roles": {
                        "approvers": {
                            "members": ["bob", "eve"],
                            "permissions": ["approve_deletion"],
                        }
                    },
                }
            },
            "policy.roles",
        ),
        ({"deletions": {"identity": "signatures", "selfApprovalAllowed": True}}, "deletions"),
        ({"deletions": {"identity": "signatures", "ttl": "30d"}}, "deletions"),
        ({"commitIdentity": {"email": "bot@example.com"}}, "commitIdentity"),
        (
            {"apply": {"enabled": True, "confirm": "allow-edit-and-add-actions"}},
            "apply",
        ),
        ({"mainBranch": "trunk"}, "mainBranch"),
    ],
)
def test_each_area_is_named(change: dict[str, Any], area: str) -> None:
    findings = security_findings(config(), config(**change))
    assert CODE in codes(findings)
    assert any(area in f.message for f in findings), findings


def test_allow_writes_and_identity_mode_and_signers() -> None:
    head = config(
        clusters={
            "lab": {
                "url": "https://pve:8006",
                "tokenId": "p@pve!t",
                "tokenSecretFrom": {"env": "T"},
                "allowWrites": True,
            }
        },
        deletions={"identity": "git-author"},
    )
    findings = security_findings(config(), head, base_signers="a\n", head_signers="a\nb\n")
    messages = " ".join(f.message for f in findings)
    assert "clusters.lab.allowWrites" in messages
    assert "deletions.identity" in messages
    assert "allowed signers" in messages
    assert FORGEABLE in codes(findings)


def test_git_author_warned_even_without_a_base() -> None:
    findings = security_findings(None, config(deletions={"identity": "git-author"}))
    assert codes(findings) == [FORGEABLE]
    assert "can be forged by anyone with push access" in findings[0].message
