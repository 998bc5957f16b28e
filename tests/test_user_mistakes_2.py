"""Mistakes a new user makes, provoked through the CLI as the user would make them.

Each case is one mistake, taken while following README.md and docs/quickstart.md:
a broken file, a secret set up wrong, a bad option, a peer that is not Proxmox.
Every one must end in one located line that says what to fix, the exit code of
README's table, and nothing written: no file, no commit, no Proxmox request.
``tests/loading/test_validate_corpus.py`` holds the first corpus; this is the next.
"""

from __future__ import annotations

import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from proxgit.cli import main
from tests.conftest import BASE_FILES, CONFIG
from tests.support import TOKEN_ENV, TOKEN_SECRET, GitRepo, config_yaml, vm_path, vm_yaml

VM = "clusters/lab/vms/web-01.yaml"
CT = "clusters/lab/containers/dns-01.yaml"
WEB01 = BASE_FILES[VM]


def web01(old: str, new: str) -> str:
    assert old in WEB01
    return WEB01.replace(old, new)


def config(old: str, new: str) -> str:
    assert old in CONFIG
    return CONFIG.replace(old, new)


def write_raw(root: Path, files: dict[str, str | bytes | None]) -> Path:
    """Files written byte for byte (no dedent, no newline translation)."""
    for rel, content in files.items():
        target = root / rel
        if content is None:
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def snapshot(root: Path) -> list[tuple[str, bytes | str]]:
    """Every path under ``root`` with its content (links by target): 'nothing written'."""
    out: list[tuple[str, bytes | str]] = []
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out.append((rel, f"-> {os.readlink(path)}"))
        elif path.is_file():
            out.append((rel, path.read_bytes()))
        else:
            out.append((rel, "dir"))
    return out


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    assert "internal error" not in result.output, result.output
    return result


# --- validate: mistakes in the files -----------------------------------------

BOMB = (
    "apiVersion: proxgit/v1\nkind: VirtualMachine\nmetadata: {name: web-01, cluster: lab}\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "spec: {vmid: 101, node: pve1, description: *i}\n"
)

PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)

# (id, files, expected problem line "file:line:col: field: message-fragment")
VALIDATE_CASES: list[tuple[str, dict[str, str | bytes | None], str]] = [
    (
        "non-utf8-byte",
        {"proxgit.yaml": CONFIG.encode().replace(b"lab:", b"l\xe4b:", 1)},
        "proxgit.yaml:5:6: bytes that are not UTF-8 text; save the file as UTF-8",
    ),
    (
        "tab-indent",
        {VM: web01("  cores: 2\n", "\tcores: 2\n")},
        f"{VM}:7:1: YAML syntax error: a tab character; YAML indents and separates with spaces",
    ),
    (
        "tab-after-colon",
        {VM: web01("  cores: 2\n", "  cores:\t2\n")},
        f"{VM}:7:9: YAML syntax error: a tab character",
    ),
    (
        "alias-bomb",
        {VM: BOMB},
        f"{VM}:1:1: YAML error: the aliases (*name) expand to more than a million values",
    ),
    (
        "spec-key-not-indented",
        {VM: WEB01 + "cloudInit:\n  user: ubuntu\n"},
        f"{VM}:14:1: cloudInit: unknown key 'cloudInit' at the top level; it belongs under "
        "spec: indent it",
    ),
    (
        "ttl-bare-number",
        {"proxgit.yaml": CONFIG + "  deletions:\n    ttl: 7\n"},
        "proxgit.yaml:19:10: spec.deletions.ttl: 7 is a bare number; write the unit: 7d for days",
    ),
    (
        "ttl-zero",
        {"proxgit.yaml": CONFIG + "  deletions:\n    ttl: 0d\n"},
        "proxgit.yaml:19:10: spec.deletions.ttl: '0d' would expire every request at once; "
        "write it like 7d",
    ),
    (
        "timeout-negative",
        {
            "proxgit.yaml": config(
                "allowWrites: true", "allowWrites: true\n      timeouts: {read: -1}"
            )
        },
        "proxgit.yaml:10:24: spec.clusters.lab.timeouts.read: -1 is too small: it must be greater "
        "than 0",
    ),
    (
        "main-branch-empty",
        {"proxgit.yaml": CONFIG + "  mainBranch: ''\n"},
        "proxgit.yaml:18:15: spec.mainBranch: '' is not valid: write a branch name, like main",
    ),
    (
        "forge-url-without-scheme",
        {
            "proxgit.yaml": CONFIG
            + "  forge: {type: github, url: api.github.com, repository: o/r, tokenFrom: {env: T}}\n"
        },
        "proxgit.yaml:18:30: spec.forge.url: 'api.github.com' is not valid: write the forge's API "
        "address with its scheme",
    ),
    (
        "forge-repository-without-owner",
        {
            "proxgit.yaml": CONFIG + "  forge: {type: github, url: https://api.github.com, "
            "repository: infra, tokenFrom: {env: T}}\n"
        },
        "proxgit.yaml:18:66: spec.forge.repository: 'infra' is not valid: write it as owner/name",
    ),
    (
        "forge-token-inline",
        {
            "proxgit.yaml": CONFIG + "  forge: {type: github, url: https://api.github.com, "
            "repository: o/r, token: ghp_0123456789abcdef0123456789abcdef0123}\n"
        },
        "proxgit.yaml:18:71: spec.forge.token: plaintext secret in desired YAML; use tokenFrom: "
        "{env: NAME} or {file: PATH}",
    ),
    (
        "ostemplate-without-storage",
        {CT: BASE_FILES[CT].replace("ostemplate: local:vztmpl/", "ostemplate: ")},
        f"{CT}:7:15: spec.ostemplate: 'debian-12-standard_12.7-1_amd64.tar.zst' is not valid: "
        "write the template's volume id, storage:vztmpl/file",
    ),
    (
        "power-as-boolean",
        {VM: WEB01 + "  power: true\n"},
        f"{VM}:14:10: spec.power: true is not allowed; use 'running' or 'stopped'",
    ),
    (
        "memory-infinite",
        {VM: web01("memory: 2048", "memory: .inf")},
        f"{VM}:8:11: spec.memory: inf is not a size; write it like 32G, 512M or 1T",
    ),
    (
        "disk-size-not-a-number",
        {VM: web01("size: 32G", "size: .nan")},
        f"{VM}:11:39: spec.disks.scsi0.size: nan is not a size; write it like 32G",
    ),
    (
        "cores-not-a-number",
        {VM: web01("cores: 2", "cores: .nan")},
        f"{VM}:7:10: spec.cores: nan is not a number; write digits, like 2",
    ),
    (
        "number-as-key",
        {VM: web01("  cores: 2\n", "  2: 2\n")},
        f"{VM}:7:3: spec.2: a key must be a name, not the number 2; write a name (quote it if "
        "it looks like a number) or fix the indentation",
    ),
    (
        "upper-case-suffix",
        {"clusters/lab/vms/web-02.YAML": WEB01},
        "clusters/lab/vms/web-02.YAML:1:1: is not read: proxgit reads files ending in .yaml or "
        ".yml (lower case); rename it",
    ),
    (
        "config-named-yml",
        {"proxgit.yaml": None, "proxgit.yml": CONFIG},
        "proxgit.yml:1:1: proxgit reads proxgit.yaml; rename this file to it",
    ),
    (
        "env-name-with-dollar",
        {"proxgit.yaml": config("{env: PROXGIT_LAB_TOKEN}", "{env: $PROXGIT_LAB_TOKEN}")},
        "proxgit.yaml:8:30: spec.clusters.lab.tokenSecretFrom.env: '$PROXGIT_LAB_TOKEN' is not "
        "valid: write the variable's name alone, without $ or braces",
    ),
    (
        "cloud-init-user-capitalised",
        {VM: WEB01 + "  cloudInit: {user: Ubuntu}\n"},
        f"{VM}:14:21: spec.cloudInit.user: 'Ubuntu' is not valid: a Linux user name: lower-case",
    ),
    (
        "bridge-starting-with-digit",
        {VM: web01("bridge: vmbr0", "bridge: 0vmbr")},
        f"{VM}:13:20: spec.networks.net0.bridge: '0vmbr' is not valid: write the bridge's name "
        "as on the node, like vmbr0",
    ),
    (
        "pool-with-space",
        {VM: WEB01 + "  pool: web servers\n"},
        f"{VM}:14:9: spec.pool: 'web servers' is not valid: pool names use letters, digits",
    ),
    (
        "directory-named-like-yaml",
        {"clusters/lab/vms/web-02.yaml/notes.txt": "x"},
        "clusters/lab/vms/web-02.yaml:1:1: is a directory; a guest is one file",
    ),
    (
        "vmid-as-word",
        {VM: web01("vmid: 101", "vmid: one-oh-one")},
        f"{VM}:5:9: spec.vmid: 'one-oh-one' is not a whole number; write digits only",
    ),
    (
        "vmid-too-large",
        {VM: web01("vmid: 101", "vmid: 1000000000")},
        f"{VM}:5:9: spec.vmid: 1000000000 is too large: it must be less than or equal to "
        "999999999; write 999999999 or less",
    ),
    (
        "vmid-fraction",
        {VM: web01("vmid: 101", "vmid: 101.5")},
        f"{VM}:5:9: spec.vmid: 101.5 is not a whole number; write it without a fraction",
    ),
    (
        "cores-zero",
        {VM: web01("cores: 2", "cores: 0")},
        f"{VM}:7:10: spec.cores: 0 is too small: it must be greater than or equal to 1; "
        "write 1 or more",
    ),
    (
        "cores-fraction",
        {VM: web01("cores: 2", "cores: 2.5")},
        f"{VM}:7:10: spec.cores: 2.5 is not a whole number",
    ),
    (
        "vlan-4095",
        {VM: web01("tag: 20", "tag: 4095")},
        f"{VM}:13:32: spec.networks.net0.tag: 4095 is too large: it must be less than or "
        "equal to 4094",
    ),
    (
        "url-as-number",
        {"proxgit.yaml": config("https://127.0.0.1:8006", "8006")},
        "proxgit.yaml:6:12: spec.clusters.lab.url: 8006 is not text",
    ),
    (
        "url-plain-http",
        {"proxgit.yaml": config("https://127.0.0.1:8006", "http://127.0.0.1:8006")},
        "proxgit.yaml:6:12: spec.clusters.lab.url: 'http://127.0.0.1:8006' is not valid: "
        "write the API address with https:// and no path",
    ),
    (
        "url-with-api-path",
        {"proxgit.yaml": config("https://127.0.0.1:8006", "https://127.0.0.1:8006/api2/json")},
        "proxgit.yaml:6:12: spec.clusters.lab.url: 'https://127.0.0.1:8006/api2/json' is not "
        "valid: write the API address with https:// and no path",
    ),
    (
        "token-id-without-bang",
        {"proxgit.yaml": config("proxgit@pve!ci", "proxgit@pve")},
        "proxgit.yaml:7:16: spec.clusters.lab.tokenId: 'proxgit@pve' is not valid: write the "
        "API token id as user@realm!tokenname, like proxgit@pve!gitops",
    ),
    (
        "token-secret-inline-in-from",
        {
            "proxgit.yaml": config(
                "tokenSecretFrom: {env: PROXGIT_LAB_TOKEN}", f"tokenSecretFrom: {TOKEN_SECRET}"
            )
        },
        "proxgit.yaml:8:24: spec.clusters.lab.tokenSecretFrom: write where the secret is, as "
        "{env: NAME} or {file: PATH}; the secret itself never goes in the repository",
    ),
    (
        "token-secret-from-env-name-only",
        {
            "proxgit.yaml": config(
                "tokenSecretFrom: {env: PROXGIT_LAB_TOKEN}", "tokenSecretFrom: PROXGIT_LAB_TOKEN"
            )
        },
        "proxgit.yaml:8:24: spec.clusters.lab.tokenSecretFrom: write where the secret is, as "
        "{env: NAME} or {file: PATH}",
    ),
    (
        "clusters-as-list",
        {"proxgit.yaml": "apiVersion: proxgit/v1\nkind: Config\nspec:\n  clusters: [lab]\n"},
        "proxgit.yaml:4:13: spec.clusters: expected a mapping (key: value lines or {key: "
        "value}), found a list",
    ),
    (
        "spec-as-text",
        {
            VM: "apiVersion: proxgit/v1\nkind: VirtualMachine\n"
            "metadata: {name: web-01, cluster: lab}\nspec: web server\n"
        },
        f"{VM}:4:7: spec: expected a mapping (key: value lines or {{key: value}}), found text",
    ),
    (
        "sshkeys-as-one-string",
        {
            VM: WEB01
            + "  cloudInit:\n"
            + "    sshKeys: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMq ops@example.com\n"
        },
        f"{VM}:15:14: spec.cloudInit.sshKeys: expected a list, found text; write [a, b] or one "
        "'- item' per line",
    ),
    (
        "sshkey-without-type",
        {
            VM: WEB01
            + "  cloudInit:\n    sshKeys: ['AAAAC3NzaC1lZDI1NTE5AAAAIOMq ops@example.com']\n"
        },
        f"{VM}:15:15: spec.cloudInit.sshKeys.0: 'AAAAC3NzaC1lZDI1NTE5AAAAIOMq ops@example.com' "
        "is not valid: write one public key per entry, as in a .pub file",
    ),
    (
        "sshkey-private-key-pasted",
        {
            VM: WEB01
            + "  cloudInit:\n    sshKeys:\n      - |\n"
            + "".join(f"        {line}\n" for line in PRIVATE_KEY.splitlines())
        },
        f"{VM}:16:9: spec.cloudInit.sshKeys.0: value looks like a secret (private key, token or "
        "password hash); paste the public key (the .pub file) instead",
    ),
    (
        "container-sshkey-from-putty",
        {
            "clusters/lab/containers/dns-01.yaml": BASE_FILES["clusters/lab/containers/dns-01.yaml"]
            + "  sshKeys: ['---- BEGIN SSH2 PUBLIC KEY ----']\n"
        },
        "clusters/lab/containers/dns-01.yaml:11:13: spec.sshKeys.0: '---- BEGIN SSH2 PUBLIC KEY "
        "----' is not valid: write one public key per entry",
    ),
]


@pytest.mark.parametrize(
    ("files", "expected"), [c[1:] for c in VALIDATE_CASES], ids=[c[0] for c in VALIDATE_CASES]
)
def test_validate_locates_and_explains_each_mistake(
    tmp_path: Path, files: dict[str, str | bytes | None], expected: str
) -> None:
    root = write_raw(tmp_path / "repo", {**BASE_FILES, **files})
    before = snapshot(root)
    started = time.monotonic()
    result = invoke("validate", "--repo", str(root))
    assert time.monotonic() - started < 10
    assert result.exit_code == 1, result.output
    lines = [line.removeprefix(f"{root}/") for line in result.stderr.splitlines()]
    assert any(line.startswith(expected) for line in lines), "\n".join(lines)
    assert TOKEN_SECRET not in result.output
    assert snapshot(root) == before


def test_validate_corpus_2_has_at_least_20_mistakes() -> None:
    assert len({case[0] for case in VALIDATE_CASES}) >= 20


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda text: b"\xef\xbb\xbf" + text.encode(), id="byte-order-mark"),
        pytest.param(lambda text: text.replace("\n", "\r\n").encode(), id="crlf-line-ends"),
    ],
)
def test_what_windows_editors_write_is_read_as_written(
    tmp_path: Path, encode: Callable[[str], bytes]
) -> None:
    files = {rel: encode(text) for rel, text in BASE_FILES.items()}
    root = write_raw(tmp_path / "repo", files)
    result = invoke("validate", "--repo", str(root), "--output", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["valid"] is True


@pytest.mark.parametrize("target", ["/etc/hostname", "/nonexistent/web-02.yaml", "web-01.yaml"])
def test_a_symbolic_link_is_refused_not_followed(tmp_path: Path, target: str) -> None:
    """A link (outside the repository, dangling, or to a sibling) is never read: a Git
    revision would hold only the link, so the working tree must not differ."""
    root = write_raw(tmp_path / "repo", dict(BASE_FILES))
    (root / "clusters/lab/vms/web-02.yaml").symlink_to(target)
    before = snapshot(root)
    result = invoke("validate", "--repo", str(root))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"{root}/clusters/lab/vms/web-02.yaml:1:1: is a symbolic link (to {target}); proxgit "
        "reads only regular files in the repository: replace the link with the file itself"
    )
    assert snapshot(root) == before


# --- plan: a secret or a CA set up wrong: one line, and not one request --------

NOT_PEM = "this is the fingerprint, not the certificate\n"


def _file_ref(tmp: Path, content: bytes | None, *, directory: bool = False) -> str:
    path = tmp / "secrets" / "token"
    path.parent.mkdir(exist_ok=True)
    if directory:
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    return f"{{file: {path}}}"


# (id, env value or None (unset), file content (None: env ref), expected blocker fragment)
SECRET_CASES: list[tuple[str, str | None, bytes | None, str]] = [
    ("env-unset", None, None, f"environment variable {TOKEN_ENV} is not set; export it"),
    ("env-blank", "   ", None, f"environment variable {TOKEN_ENV} is empty; export it"),
    (
        "env-two-lines",
        f"{TOKEN_SECRET}\n{TOKEN_SECRET}",
        None,
        f"the secret (tokenSecretFrom env {TOKEN_ENV}) holds a space, line break or non-ASCII "
        "character; it must be the token's secret alone",
    ),
    (
        "env-with-label",
        f"secret: {TOKEN_SECRET}",
        None,
        "holds a space, line break or non-ASCII character",
    ),
    (
        "env-not-utf8",
        TOKEN_SECRET[:8] + "\udce9",
        None,
        f"environment variable {TOKEN_ENV} holds bytes that are not UTF-8",
    ),
    ("file-empty", "unused", b"", "is empty; write the secret into it"),
    ("file-only-newline", "unused", b"\n", "is empty; write the secret into it"),
    ("file-binary", "unused", b"\xff\xfe\x00\x01", "is not UTF-8 text; write the secret into it"),
    (
        "file-two-lines",
        "unused",
        f"{TOKEN_SECRET}\n{TOKEN_SECRET}\n".encode(),
        "holds a space, line break or non-ASCII character",
    ),
]


@pytest.mark.parametrize(
    ("env", "content", "expected"), [c[1:] for c in SECRET_CASES], ids=[c[0] for c in SECRET_CASES]
)
def test_a_token_secret_set_up_wrong_is_one_line_and_no_request(
    repo: GitRepo,
    pve: Any,
    fakepve_cafile: str,
    monkeypatch: pytest.MonkeyPatch,
    env: str | None,
    content: bytes | None,
    expected: str,
) -> None:
    if env is None:
        monkeypatch.delenv(TOKEN_ENV, raising=False)
    else:
        monkeypatch.setenv(TOKEN_ENV, env)
    text = config_yaml(pve.url, fakepve_cafile)
    if content is not None:
        text = text.replace(f"{{env: {TOKEN_ENV}}}", _file_ref(repo.path.parent, content))
    repo.commit({"proxgit.yaml": text, vm_path("web-01"): vm_yaml("web-01", 101)}, "secret")
    _plan_refused(repo, pve, expected)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "does not exist; copy /etc/pve/pve-root-ca.pem from a node there"),
        ("directory", "is a directory; name the certificate file in it"),
        ("not-pem", "is not a PEM certificate (no BEGIN CERTIFICATE line); copy"),
        ("secret-file-missing", "cannot read secret file"),
        ("secret-file-directory", "cannot read secret file"),
    ],
)
def test_a_ca_file_or_secret_file_that_is_not_there_is_one_line_and_no_request(
    repo: GitRepo, pve: Any, fakepve_cafile: str, case: str, expected: str
) -> None:
    tmp = repo.path.parent
    ca = {
        "missing": str(tmp / "nope.pem"),
        "directory": str(tmp),
        "not-pem": str(tmp / "ca.pem"),
    }.get(case, fakepve_cafile)
    (tmp / "ca.pem").write_text(NOT_PEM)
    text = config_yaml(pve.url, ca)
    if case.startswith("secret-file"):
        ref = _file_ref(tmp, None, directory=case.endswith("directory"))
        text = text.replace(f"{{env: {TOKEN_ENV}}}", ref)
    repo.commit({"proxgit.yaml": text, vm_path("web-01"): vm_yaml("web-01", 101)}, "ca")
    _plan_refused(repo, pve, expected)


def _plan_refused(repo: GitRepo, pve: Any, expected: str) -> None:
    pve.requests.clear()
    head = repo.git("rev-parse", "HEAD")
    before = snapshot(repo.path)
    result = invoke("plan", "--repo", str(repo.path))
    assert result.exit_code == 1, result.output
    blockers = [line for line in result.output.splitlines() if "blocker [" in line]
    assert len(blockers) == 1 and expected in blockers[0], result.output
    assert "cluster 'lab'" in blockers[0]
    assert TOKEN_SECRET not in result.output
    assert [r for r in pve.requests if "/access/" not in r[1]] == []
    assert repo.git("rev-parse", "HEAD") == head and snapshot(repo.path) == before


# --- plan: the URL does not lead to Proxmox -----------------------------------


class _NotProxmox(http.server.BaseHTTPRequestHandler):
    answer: tuple[int, str, bytes] = (200, "text/html", b"")

    def do_GET(self) -> None:
        status, kind, body = self.answer
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def not_proxmox(tmp_path: Path) -> Iterator[Callable[..., tuple[str, str]]]:
    """An HTTPS (or plain HTTP) server answering every GET with one canned answer;
    returns its URL and the CA file that verifies it."""
    from fakepve.certs import make_cert

    (tmp_path / "pki").mkdir()
    cert, key = make_cert(str(tmp_path / "pki"), hosts=("127.0.0.1",))[:2]
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(status: int, kind: str, body: bytes, *, tls: bool = True) -> tuple[str, str]:
        handler = type("Handler", (_NotProxmox,), {"answer": (status, kind, body)})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"https://127.0.0.1:{server.server_address[1]}", cert

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("answer", "tls", "expected"),
    [
        (
            (502, "text/html", b"<html><body>502 Bad Gateway</body></html>"),
            True,
            "GET /cluster/resources: 502 Bad Gateway: the answer is not JSON: <html><body>502",
        ),
        (
            (403, "application/json", b'{"data":null}'),
            True,
            "403 Forbidden; API token proxgit@pve!ci lacks that privilege: grant it with pveum "
            "acl modify",
        ),
        (
            (200, "text/html", b"<html>Welcome to nginx</html>"),
            False,
            "does not answer with TLS (a plain-HTTP port or a proxy?); the Proxmox API is "
            "HTTPS, on port 8006 unless a proxy says otherwise: check url",
        ),
    ],
    ids=["proxy-error-page", "token-lacks-privilege", "plain-http-port"],
)
def test_a_peer_that_is_not_proxmox_is_named_with_the_fix(
    tmp_path: Path,
    not_proxmox: Callable[..., tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    answer: tuple[int, str, bytes],
    tls: bool,
    expected: str,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN_SECRET)
    url, cafile = not_proxmox(*answer, tls=tls)
    git = GitRepo(tmp_path)
    git.commit(
        {
            "proxgit.yaml": config_yaml(url, cafile).replace(
                "allowWrites: true", "allowWrites: true\n      timeouts: {read: 3}"
            ),
            vm_path("web-01"): vm_yaml("web-01", 101),
        },
        "peer",
    )
    result = invoke("plan", "--repo", str(git.path))
    assert result.exit_code == 1, result.output
    blockers = [line for line in result.output.splitlines() if "blocker [" in line]
    assert len(blockers) == 1 and expected in blockers[0], result.output
    assert "errors: b'" not in result.output and TOKEN_SECRET not in result.output


# --- revisions that do not exist ----------------------------------------------


def test_plan_against_a_revision_not_fetched_says_fetch_it(repo: GitRepo) -> None:
    result = invoke("plan", "--repo", str(repo.path), "--base", "upstream/main")
    assert result.exit_code == 1
    assert result.stderr.strip().endswith(
        "no such revision 'upstream/main'; fetch it first (git fetch upstream), or check the "
        "name with git branch -a"
    )


def test_plan_and_apply_in_a_repository_without_commits_say_commit_first(tmp_path: Path) -> None:
    root = write_raw(tmp_path / "repo", dict(BASE_FILES))
    subprocess.run(["git", "init", "--quiet", str(root)], check=True)
    before = snapshot(root)
    for args in (["plan", "--base", "HEAD"], ["apply", "--no-push"]):
        result = invoke(*args, "--repo", str(root))
        assert result.exit_code == 1, result.output
        assert result.stderr.strip().endswith(
            "no such revision 'HEAD'; the repository has no commits yet: commit proxgit.yaml "
            "and clusters/ first"
        ), result.output
    assert snapshot(root) == before


def test_a_proxgit_yaml_left_uncommitted_is_named_as_such(repo: GitRepo) -> None:
    repo.git("rm", "--quiet", "proxgit.yaml")
    repo.commit({vm_path("web-01"): vm_yaml("web-01", 101)}, "guests only")
    (repo.path / "proxgit.yaml").write_text(CONFIG)  # on disk, not in the commit
    result = invoke("plan", "--repo", str(repo.path), "--base", "HEAD")
    assert result.exit_code == 1
    assert "it is not in commit " in result.stderr and ": commit it" in result.stderr


# --- the command line -----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "--output", "garbage"],
        ["drift", "--output", "yaml"],
        ["plan", "--bogus"],
        ["deletions", "approve"],
        ["deletions", "reject", "lab-101"],
        ["import", "--cluster", "lab", "--vmid", "abc"],
        ["init", "--forge", "bitbucket", "x"],
        ["plan", "--actor", ""],
        ["plan", "--actor", "alice @example.com"],
        ["plan", "--out", "README.md/plan.txt"],
        ["reflect", "--push", "--no-commit"],
        ["apply", "--lock-lease", "0"],
        ["deletions", "execute", "--lock-timeout", "-1"],
        ["watch", "--interval", "0", "--url", "/nonexistent"],
        ["watch", "--max-iterations", "0", "--url", "/nonexistent"],
        ["schema", "--out", ""],
        ["no-such-command"],
    ],
    ids=lambda args: "-".join(a.strip("-") for a in args),
)
def test_a_command_line_mistake_exits_1_never_2(args: list[str]) -> None:
    """2 means "changes" for plan and drift: a typo in CI must not read as a plan."""
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines()[-1].lower().startswith("error: ")


@pytest.mark.parametrize("command", ["plan", "drift"])
def test_out_into_a_missing_directory_is_refused_before_any_request(
    repo: GitRepo, pve: Any, command: str
) -> None:
    repo.commit({vm_path("web-01"): vm_yaml("web-01", 101)}, "guest")
    pve.requests.clear()
    target = repo.path.parent / "reports" / "plan.txt"
    result = invoke(command, "--repo", str(repo.path), "--out", str(target))
    assert result.exit_code == 1
    assert (
        f"directory {target.parent} does not exist; create it first or choose another file"
        in result.stderr
    )
    assert not target.parent.exists()
    assert [r for r in pve.requests if "/access/" not in r[1]] == []


def test_a_closed_stdout_ends_quietly(make_repo: Callable[..., Path]) -> None:
    """``proxgit validate --output json | head -c 0``: the reader left before the output."""
    root = make_repo()
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before proxgit writes a byte
    try:
        done = subprocess.run(
            [sys.executable, "-m", "proxgit", "validate", "--repo", str(root), "--output", "json"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert "BrokenPipe" not in done.stderr and "Exception ignored" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [["apply", "--push"], ["reflect", "--push"], ["deletions", "execute", "--push"]],
    ids=lambda args: "-".join(a.strip("-") for a in args),
)
def test_push_without_a_remote_fails_before_any_work(
    repo: GitRepo, pve: Any, args: list[str]
) -> None:
    """A clone made with git init (no origin): --push is refused before Proxmox is read or
    written and before anything is committed, not after the commit it cannot push."""
    repo.commit({vm_path("web-01"): vm_yaml("web-01", 101)}, "guest")
    repo.git("remote", "remove", "origin")
    pve.requests.clear()
    head = repo.git("rev-parse", "HEAD")
    before = snapshot(repo.path)
    result = invoke(*args, "--repo", str(repo.path))
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        f"error: --push: {repo.path} has no remote 'origin' to push to; add it (git remote add "
        "origin URL) or leave out --push; nothing was done"
    )
    assert pve.requests == []
    assert repo.git("rev-parse", "HEAD") == head and snapshot(repo.path) == before


class _Hanging(http.server.BaseHTTPRequestHandler):
    """A node that accepts the request and never answers (a hung pveproxy)."""

    asked: threading.Event

    def do_GET(self) -> None:
        self.asked.set()
        time.sleep(30)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("command", ["plan", "drift", "reflect"])
def test_ctrl_c_while_proxmox_does_not_answer_ends_at_once(
    tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without it, Ctrl-C waited for every read in flight: up to timeouts.read x retries."""
    import signal

    from fakepve.certs import make_cert

    (tmp_path / "pki").mkdir()
    cert, key = make_cert(str(tmp_path / "pki"), hosts=("127.0.0.1",))[:2]
    asked = threading.Event()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), type("Handler", (_Hanging,), {"asked": asked})
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    git = GitRepo(tmp_path)
    url = f"https://127.0.0.1:{server.server_address[1]}"
    git.commit(
        {"proxgit.yaml": config_yaml(url, cert), vm_path("web-01"): vm_yaml("web-01", 101)}, "c"
    )
    head = git.git("rev-parse", "HEAD")
    monkeypatch.setenv(TOKEN_ENV, TOKEN_SECRET)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "proxgit", command, "--repo", str(git.path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        assert asked.wait(30), "proxgit never asked"
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
        assert time.monotonic() - interrupted < 5
    finally:
        server.shutdown()
        server.server_close()
    assert process.returncode == 130, err
    assert err.strip() == "error: interrupted (Ctrl-C); nothing was committed"
    assert git.git("rev-parse", "HEAD") == head
    assert git.git("status", "--porcelain") == ""


@pytest.mark.parametrize("inside", ["clusters", "clusters/lab/vms"])
def test_validate_pointed_inside_the_repository_names_its_root(
    make_repo: Callable[..., Path], inside: str
) -> None:
    root = make_repo()
    result = invoke("validate", "--repo", str(root / inside))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"{root / inside}:0:0: is inside the repository at {root}; run proxgit there, or pass "
        f"--repo {root}"
    )
