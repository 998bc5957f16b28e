"""The Kubernetes manifests in example-repo/deploy/ parse and fit together.

Beyond "is it YAML": the probes hit the endpoints the pod serves, the Service
and ServiceMonitor select what the Deployments label, every Secret and
ConfigMap a pod refers to exists, each shard's pod gets exactly the secrets its
clusters' YAML names (and no other shard's), and the pods run as the image's
non-root user with a read-only root filesystem.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example-repo"
DEPLOY = EXAMPLE / "deploy"
MANIFESTS = sorted(DEPLOY.glob("*.yaml"))


def documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                yield path, doc


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in documents() if doc["kind"] == kind}


DEPLOYMENTS = by_kind("Deployment")


def test_every_manifest_is_kubernetes_shaped() -> None:
    assert {p.name for p in MANIFESTS} >= {
        "deployment-lab.yaml",
        "secret.yaml",
        "configmap.yaml",
        "service.yaml",
        "servicemonitor.yaml",
    }
    seen: set[tuple[str, str]] = set()
    for path, doc in documents():
        assert isinstance(doc, dict), path
        assert isinstance(doc.get("apiVersion"), str) and doc["apiVersion"], path
        assert isinstance(doc.get("kind"), str) and doc["kind"], path
        name = doc.get("metadata", {}).get("name")
        assert isinstance(name, str) and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), (
            f"{path}: metadata.name {name!r}"
        )
        assert (doc["kind"], name) not in seen, f"{path}: duplicate {doc['kind']}/{name}"
        seen.add((doc["kind"], name))
    kinds = {kind for kind, _ in seen}
    assert kinds >= {"Deployment", "Secret", "ConfigMap", "Service", "ServiceMonitor"}


def test_deployment_api_versions() -> None:
    versions = {doc["kind"]: doc["apiVersion"] for _, doc in documents()}
    assert versions["Deployment"] == "apps/v1"
    assert versions["ServiceMonitor"] == "monitoring.coreos.com/v1"
    assert versions["Secret"] == versions["ConfigMap"] == versions["Service"] == "v1"


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_a_shard_is_one_non_root_watch_pod(name: str) -> None:
    deployment = DEPLOYMENTS[name]
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    shard = name.removeprefix("proxgit-")
    args = container["args"]
    assert args[0] == "watch"
    assert args[args.index("--cluster") + 1] == shard
    assert args[args.index("--reflect-interval") + 1] == "15m"
    assert args[args.index("--listen") + 1] == "0.0.0.0:8080"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert {"requests", "limits"} <= container["resources"].keys()

    (port,) = container["ports"]
    assert (port["name"], port["containerPort"]) == ("metrics", 8080)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}

    # The clone lives on an emptyDir: the root filesystem is read-only.
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    for path in ("/var/lib/proxgit", "/tmp", "/home/proxgit"):
        assert "emptyDir" in volumes[mounts[path]], path
    env = {e["name"]: e["value"] for e in container.get("env", [])}
    assert env["PROXGIT_WORKDIR"] == "/var/lib/proxgit"


def test_every_referenced_secret_and_configmap_exists() -> None:
    secrets, configmaps = by_kind("Secret"), by_kind("ConfigMap")
    for name, deployment in DEPLOYMENTS.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        for source in container["envFrom"]:
            if "secretRef" in source:
                assert source["secretRef"]["name"] in secrets, name
            else:
                assert source["configMapRef"]["name"] in configmaps, name
        for volume in pod["volumes"]:
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets, name
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps, name
        assert pod["serviceAccountName"] in by_kind("ServiceAccount")


def _secret_refs(path: Path) -> tuple[set[str], set[str]]:
    """Environment variables and files that ``path`` reads secrets from."""
    data = yaml.safe_load(path.read_text())
    envs: set[str] = set()
    files: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("tokenSecretFrom", "passwordFrom") and isinstance(value, dict):
                    envs.update([value["env"]] if "env" in value else [])
                    files.update([value["file"]] if "file" in value else [])
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    return envs, files


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_each_shard_gets_exactly_its_clusters_secrets(name: str) -> None:
    shard = name.removeprefix("proxgit-")
    config = yaml.safe_load((EXAMPLE / "proxgit.yaml").read_text())
    cluster = config["spec"]["clusters"][shard]
    needed_env = {cluster["tokenSecretFrom"]["env"]}
    # every shard signs its own commits and asks the forge who requested and approved
    needed_env.add(config["spec"]["commitIdentity"]["signingKeyFrom"]["env"])
    needed_env.add(config["spec"]["forge"]["tokenFrom"]["env"])
    needed_files: set[str] = set()
    for guest in sorted((EXAMPLE / "clusters" / shard).glob("*/*.yaml")):
        envs, files = _secret_refs(guest)
        needed_env |= envs
        needed_files |= files

    secrets = by_kind("Secret")
    pod = DEPLOYMENTS[name]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    given_env: set[str] = set()
    for source in container["envFrom"]:
        if "secretRef" in source:
            given_env |= set(secrets[source["secretRef"]["name"]]["stringData"])
    assert given_env == needed_env

    volumes = {v["name"]: v for v in pod["volumes"]}
    given_files = {
        f"{m['mountPath']}/{key}"
        for m in container["volumeMounts"]
        if "secret" in volumes[m["name"]] and m["mountPath"] != "/etc/proxgit/git"
        for key in secrets[volumes[m["name"]]["secret"]["secretName"]]["stringData"]
    }
    assert given_files == needed_files


def test_secrets_hold_placeholders_only() -> None:
    for name, secret in by_kind("Secret").items():
        assert "data" not in secret, f"{name}: use stringData placeholders, not encoded values"
        for key, value in secret["stringData"].items():
            assert "PLACEHOLDER" in value or set(value) <= set("0-"), f"{name}.{key}"


def test_git_ssh_uses_the_mounted_key_and_pinned_host_keys() -> None:
    config = by_kind("ConfigMap")["proxgit-config"]["data"]
    assert {"PROXGIT_REPO_URL", "PROXGIT_BRANCH", "GIT_SSH_COMMAND"} <= config.keys()
    ssh = config["GIT_SSH_COMMAND"]
    assert "-i /etc/proxgit/git/ssh-privatekey" in ssh
    assert "UserKnownHostsFile=/etc/proxgit/known_hosts/known_hosts" in ssh
    assert "StrictHostKeyChecking=yes" in ssh
    assert by_kind("Secret")["proxgit-git"]["type"] == "kubernetes.io/ssh-auth"
    assert "known_hosts" in by_kind("ConfigMap")["proxgit-known-hosts"]["data"]
    for deployment in DEPLOYMENTS.values():
        pod = deployment["spec"]["template"]["spec"]
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        key = volumes[mounts["/etc/proxgit/git"]]["secret"]
        assert key["secretName"] == "proxgit-git"
        assert key["defaultMode"] == 0o440
        assert "/etc/proxgit/known_hosts" in mounts


def test_prod_shard_mounts_the_ca_that_proxgit_yaml_names() -> None:
    config = yaml.safe_load((EXAMPLE / "proxgit.yaml").read_text())
    ca_file = Path(config["spec"]["clusters"]["prod"]["caFile"])
    pod = DEPLOYMENTS["proxgit-prod"]["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    configmap = volumes[mounts[str(ca_file.parent)]]["configMap"]["name"]
    assert ca_file.name in by_kind("ConfigMap")[configmap]["data"]


def test_service_and_servicemonitor_reach_every_shard() -> None:
    service = by_kind("Service")["proxgit-metrics"]
    monitor = by_kind("ServiceMonitor")["proxgit"]
    assert service["spec"]["publishNotReadyAddresses"] is True
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("metrics", 8080, "metrics")
    selector = service["spec"]["selector"].items()
    for deployment in DEPLOYMENTS.values():
        assert selector <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")


def test_deploy_readme_explains_sharding() -> None:
    text = (DEPLOY / "README.md").read_text()
    assert "## Sharding by `--cluster`" in text
    assert "one Deployment per" in text
    for manifest in MANIFESTS:
        assert f"`{manifest.name}`" in text, f"README.md does not list {manifest.name}"


def test_example_repo_still_validates_with_deploy_present() -> None:
    # deploy/ sits beside the desired tree, not in it: the loader must not read it.
    from click.testing import CliRunner

    from proxgit.cli import main

    result = CliRunner().invoke(main, ["validate", str(EXAMPLE)])
    assert result.exit_code == 0, result.output


def test_the_pod_sets_no_git_identity_of_its_own() -> None:
    """proxgit.yaml's commitIdentity is the pod's only commit identity: no Git env override."""
    for name, doc in by_kind("ConfigMap").items():
        for key in doc.get("data", {}):
            assert not key.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_")), (name, key)
    for name, deployment in by_kind("Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for var in container.get("env", []):
                assert not var["name"].startswith(("GIT_AUTHOR_", "GIT_COMMITTER_")), name
