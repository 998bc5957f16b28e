"""Talking to NetBox through pynetbox: bulk reads, bulk writes, retries, counts, one-line failures.

* One :class:`requests.Session` with an adapter that retries 429 and 5xx
  answers (honouring ``Retry-After``) and counts every request by method, so a
  run can say exactly how many reads and writes it made.
* :meth:`NetBoxClient.list` reads a whole filtered list, page by page
  (1,000 objects a page), as plain dicts.
* :meth:`NetBoxClient.write` sends writes of one kind and action in bulk
  (one request per chunk of objects, chunks in parallel up to the configured
  concurrency). NetBox refuses a bulk request whole when one object in it is
  bad; the chunk is then sent again object by object, so only the refused
  objects fail, each with its field and NetBox's message.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pynetbox
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from proxgit.reflecting.netbox.objects import Action, Key, Kind, Write

PAGE_SIZE = 1000
CHUNK = 100
RETRY_STATUS = (429, 500, 502, 503, 504)

#: Where each kind lives in the API: (app, endpoint).
ENDPOINTS: dict[Kind, tuple[str, str]] = {
    Kind.device: ("dcim", "devices"),
    Kind.vm: ("virtualization", "virtual_machines"),
    Kind.interface: ("virtualization", "interfaces"),
    Kind.disk: ("virtualization", "virtual_disks"),
    Kind.mac: ("dcim", "mac_addresses"),
    Kind.ip: ("ipam", "ip_addresses"),
}


#: The NetBox object type (what an object permission names) behind each endpoint proxgit uses.
OBJECT_TYPES: dict[tuple[str, str], str] = {
    ("dcim", "devices"): "dcim.device",
    ("dcim", "device_roles"): "dcim.devicerole",
    ("dcim", "device_types"): "dcim.devicetype",
    ("dcim", "mac_addresses"): "dcim.macaddress",
    ("dcim", "manufacturers"): "dcim.manufacturer",
    ("dcim", "sites"): "dcim.site",
    ("extras", "custom_fields"): "extras.customfield",
    ("extras", "tags"): "extras.tag",
    ("ipam", "ip_addresses"): "ipam.ipaddress",
    ("ipam", "vlans"): "ipam.vlan",
    ("virtualization", "cluster_types"): "virtualization.clustertype",
    ("virtualization", "clusters"): "virtualization.cluster",
    ("virtualization", "interfaces"): "virtualization.vminterface",
    ("virtualization", "virtual_disks"): "virtualization.virtualdisk",
    ("virtualization", "virtual_machines"): "virtualization.virtualmachine",
}
#: The object-permission action each write needs.
PERMISSIONS: dict[Action, str] = {
    Action.create: "add",
    Action.update: "change",
    Action.delete: "delete",
}
PERMISSIONS_HELP = "grant it in NetBox (docs/netbox.md, Required NetBox permissions)"


def permission(app: str, endpoint: str, action: str) -> str:
    """``"add virtualization.virtualmachine"``: the permission a request on ``endpoint`` needs."""
    return f"{action} {OBJECT_TYPES.get((app, endpoint), f'{app}.{endpoint}')}"


class NetBoxUnavailable(Exception):
    """NetBox could not be asked at all (unreachable, refused the token, not NetBox)."""


@dataclass(frozen=True)
class Failure:
    """One object NetBox refused: which, in which field, and NetBox's own words."""

    label: str
    action: str
    message: str
    field: str | None = None
    kind: Kind | None = None
    key: Key | None = None
    # the object permission NetBox said the token lacks ("add dcim.macaddress"), on a 403
    denied: str | None = None

    def line(self) -> str:
        where = f" ({self.field})" if self.field else ""
        return f"{self.action} {self.label}{where}: {self.message}"


class _CountingAdapter(HTTPAdapter):
    """Counts each request by method (a retry inside urllib3 is not counted again) and
    gives every request the configured timeout."""

    def __init__(
        self, counts: Counter[str], lock: threading.Lock, timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._counts = counts
        self._lock = lock
        self._timeout = timeout

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._counts[str(request.method)] += 1
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, *args, **kwargs)


class NetBoxClient:
    """pynetbox with proxgit's session: timeouts, TLS settings, retries and request counts."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        verify: bool | str = True,
        timeout: float = 60.0,
        concurrency: int = 2,
        retries: int = 4,
        backoff: float = 0.5,
    ) -> None:
        self.url = url.rstrip("/")
        self.concurrency = max(1, concurrency)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        session = requests.Session()
        session.verify = verify
        retry = Retry(
            total=retries,
            connect=2,
            read=0,
            status=retries,
            status_forcelist=RETRY_STATUS,
            allowed_methods=None,  # every method: NetBox answers 429/503 before it writes
            backoff_factor=backoff,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        adapter = _CountingAdapter(
            self.counts,
            self._lock,
            timeout,
            max_retries=retry,
            pool_maxsize=self.concurrency + 2,
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self.api = pynetbox.api(self.url, token=token)
        self.api.http_session = session

    # --- counts ----------------------------------------------------------------------

    @property
    def reads(self) -> int:
        return self.counts["GET"]

    @property
    def writes(self) -> int:
        return sum(n for method, n in self.counts.items() if method != "GET")

    # --- reads -----------------------------------------------------------------------

    def endpoint(self, app: str, endpoint: str) -> Any:
        return getattr(getattr(self.api, app), endpoint)

    def read(self, app: str, endpoint: str, /, **filters: Any) -> list[dict[str, Any]]:
        """Every object of ``app/endpoint`` matching ``filters``, as plain dicts (all pages)."""
        source = self.endpoint(app, endpoint)
        try:
            records = (
                source.filter(limit=PAGE_SIZE, **filters)
                if filters
                else source.all(limit=PAGE_SIZE)
            )
            # RecordSet.response is the generator of the API's own dicts: no Record per object
            return [dict(item) for item in records.response]
        except pynetbox.RequestError as err:
            if err.req.status_code == 403:
                raise NetBoxUnavailable(_denied(err, permission(app, endpoint, "view"))) from err
            raise NetBoxUnavailable(f"GET {app}/{endpoint}: {_message(err)}") from err
        except requests.RequestException as err:
            raise NetBoxUnavailable(f"cannot reach {self.url}: {_reason(err)}") from err
        except (pynetbox.ContentError, ValueError) as err:
            raise NetBoxUnavailable(f"GET {app}/{endpoint}: {err}") from err

    def check(self) -> str:
        """NetBox's version, after checking that the token may read (one request)."""
        try:
            status = self.api.status()
        except pynetbox.RequestError as err:
            raise NetBoxUnavailable(f"{self.url}: {_message(err)}") from err
        except requests.RequestException as err:
            raise NetBoxUnavailable(f"cannot reach {self.url}: {_reason(err)}") from err
        except (pynetbox.ContentError, ValueError) as err:
            raise NetBoxUnavailable(f"{self.url} does not answer like NetBox: {err}") from err
        return str(status.get("netbox-version") or "?")

    def create_one(self, app: str, endpoint: str, data: Mapping[str, Any], label: str) -> int:
        """Create one supporting object (a tag, a site, a cluster); its id."""
        try:
            record = self.endpoint(app, endpoint).create(dict(data))
        except pynetbox.RequestError as err:
            if err.req.status_code == 403:
                denied = _denied(err, permission(app, endpoint, "add"))
                raise NetBoxUnavailable(f"create {label}: {denied}") from err
            raise NetBoxUnavailable(f"create {label}: {_message(err)}") from err
        except requests.RequestException as err:
            raise NetBoxUnavailable(f"cannot reach {self.url}: {_reason(err)}") from err
        return int(record.id)

    # --- writes ----------------------------------------------------------------------

    def write(
        self, writes: Sequence[Write], on_done: Callable[[Write, int | None], None]
    ) -> list[Failure]:
        """Send ``writes`` (any kinds and actions) in bulk; ``on_done`` hears each success.

        ``on_done(write, id)`` gets the new id of a created object. Returns the
        objects NetBox refused.
        """
        batches: list[list[Write]] = []
        groups: dict[tuple[Kind, Action], list[Write]] = {}
        for write in writes:
            groups.setdefault((write.kind, write.action), []).append(write)
        for group in groups.values():
            batches.extend(group[i : i + CHUNK] for i in range(0, len(group), CHUNK))
        failures: list[Failure] = []
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for found in pool.map(lambda b: self._send(b, on_done), batches):
                failures.extend(found)
        return failures

    def _send(
        self, batch: list[Write], on_done: Callable[[Write, int | None], None]
    ) -> list[Failure]:
        try:
            ids = self._bulk(batch)
        except pynetbox.RequestError as err:
            if err.req.status_code == 403:
                return self._forbidden(batch, err, on_done)
            if len(batch) > 1 and err.req.status_code in (400, 404):
                # NetBox refuses a bulk request whole; its answer names the objects at
                # fault (by index, or by id for updates). Those fail, the rest goes again.
                refused = _not_found(_refused(err, batch), batch)
                if refused:
                    rest = [w for i, w in enumerate(batch) if i not in refused]
                    failures = [
                        Failure(
                            w.label, w.action.value, refused[i][1], refused[i][0], w.kind, w.key
                        )
                        for i, w in enumerate(batch)
                        if i in refused
                    ]
                    return failures + (self._send(rest, on_done) if rest else [])
                return [f for one in batch for f in self._send([one], on_done)]
            if err.req.status_code == 404 and batch[0].action is not Action.create:
                return [
                    Failure(w.label, w.action.value, _missing(w), None, w.kind, w.key)
                    for w in batch
                ]
            return [_failure(w, err) for w in batch]
        except requests.RequestException as err:
            reason = f"cannot reach {self.url}: {_reason(err)}"
            return [Failure(w.label, w.action.value, reason, None, w.kind, w.key) for w in batch]
        for write, new_id in zip(batch, ids, strict=True):
            on_done(write, new_id)
        return []

    def _forbidden(
        self,
        batch: list[Write],
        err: pynetbox.RequestError,
        on_done: Callable[[Write, int | None], None],
    ) -> list[Failure]:
        """A 403: the token lacks the permission for the whole kind and action (every object
        fails, with the permission named), or some objects fall outside its constraint (those
        fail; the rest goes again)."""
        needed = permission(*ENDPOINTS[batch[0].kind], PERMISSIONS[batch[0].action])
        refused = _refused(err, batch) if len(batch) > 1 else {}
        if refused and len(refused) < len(batch):
            rest = [w for i, w in enumerate(batch) if i not in refused]
            outside = [
                Failure(
                    w.label,
                    w.action.value,
                    f"NetBox refused it (HTTP 403: {refused[i][1]}): outside the token's "
                    f"permission constraint on {needed} (does it carry proxgit's tag?); left alone",
                    None,
                    w.kind,
                    w.key,
                )
                for i, w in enumerate(batch)
                if i in refused
            ]
            return outside + self._send(rest, on_done)
        message = _denied(err, needed)
        return [
            Failure(w.label, w.action.value, message, None, w.kind, w.key, needed) for w in batch
        ]

    def _bulk(self, batch: list[Write]) -> list[int | None]:
        first = batch[0]
        endpoint = self.endpoint(*ENDPOINTS[first.kind])
        if first.action is Action.create:
            answer = endpoint.create([w.data for w in batch])
            records = answer if isinstance(answer, list) else [answer]
            return [int(r.id) for r in records]
        if first.action is Action.update:
            endpoint.update([{"id": w.id, **w.data} for w in batch])
            return [w.id for w in batch]
        endpoint.delete([w.id for w in batch])
        return [w.id for w in batch]


def _refused(err: pynetbox.RequestError, batch: list[Write]) -> dict[int, tuple[str | None, str]]:
    """Position in ``batch`` -> (field, message) of each object NetBox's bulk answer names."""
    try:
        body = json.loads(err.error)
    except (TypeError, ValueError):
        return {}
    items = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return {}
    by_id = {w.id: i for i, w in enumerate(batch) if w.id is not None}
    out: dict[int, tuple[str | None, str]] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        index = item.get("index")
        if not isinstance(index, int) and isinstance(item.get("id"), int):
            index = by_id.get(int(item["id"]))
        if isinstance(index, int) and 0 <= index < len(batch):
            out[index] = _first_problem(item.get("errors"), err.req.status_code)
    return out


def _not_found(
    refused: dict[int, tuple[str | None, str]], batch: list[Write]
) -> dict[int, tuple[str | None, str]]:
    """NetBox's "Object with ID n does not exist" for an update or delete, said plainly."""
    return {
        i: (None, _missing(batch[i]))
        if field == "id" and batch[i].id is not None
        else (field, text)
        for i, (field, text) in refused.items()
    }


def _missing(write: Write) -> str:
    needed = PERMISSIONS[write.action]
    return (
        f"NetBox has no object with id {write.id} that the token may {needed}: deleted "
        "meanwhile, or outside the token's permission constraint (does it still carry "
        "proxgit's tag?); left alone"
    )


def _denied(err: pynetbox.RequestError, needed: str) -> str:
    """One line for a 403: the permission asked for and NetBox's own words."""
    _, said = _field_message(err)
    said = said.removeprefix("HTTP 403: ")
    return f"NetBox refused the token permission to {needed} (HTTP 403: {said}); {PERMISSIONS_HELP}"


def _first_problem(errors: Any, status: int) -> tuple[str | None, str]:
    """(field, message) of the first complaint in a DRF error mapping."""
    if isinstance(errors, dict):
        for name, problems in errors.items():
            if isinstance(problems, list):
                text = "; ".join(str(p) for p in problems)
            elif isinstance(problems, dict):
                text = "; ".join(f"{k}: {v}" for k, v in problems.items())
            else:
                text = str(problems)
            field = None if name in ("non_field_errors", "__all__") else str(name)
            return field, text
    return None, f"HTTP {status}: {str(errors)[:200]}"


def _failure(write: Write, err: pynetbox.RequestError) -> Failure:
    field, message = _field_message(err)
    if field == "id" and write.id is not None:
        field, message = None, _missing(write)
    return Failure(write.label, write.action.value, message, field, write.kind, write.key)


def _field_message(err: pynetbox.RequestError) -> tuple[str | None, str]:
    """NetBox's complaint as (field, message); its JSON is a dict of fields, a list or text."""
    status = err.req.status_code
    try:
        body = json.loads(err.error)
    except (TypeError, ValueError):
        lines = str(err.error or "").strip().splitlines()
        return None, f"HTTP {status}: {lines[0][:200] if lines else err.req.reason}"
    if isinstance(body, list):
        body = next((item for item in body if item), {})
    if isinstance(body, dict):
        nested = body.get("errors")
        if isinstance(nested, list) and nested and isinstance(nested[0], dict):
            return _first_problem(nested[0].get("errors"), status)
        if "detail" in body and len(body) == 1:
            return None, f"HTTP {status}: {body['detail']}"
        return _first_problem(body, status)
    return None, f"HTTP {status}: {str(body)[:200]}"


def _message(err: pynetbox.RequestError) -> str:
    field, message = _field_message(err)
    if err.req.status_code in (401, 403):
        return f"{message} (check netbox.tokenFrom and the token's permissions)"
    return f"{field}: {message}" if field else message


def _reason(err: requests.RequestException) -> str:
    text = str(err)
    for marker in ("Connection refused", "Name or service not known", "timed out"):
        if marker in text:
            return marker.lower()
    if "SSL" in text:
        return f"TLS: {text[text.find('SSL') :][:160]}"
    return type(err).__name__


def chunks(items: Iterable[Any], size: int) -> list[list[Any]]:
    out: list[list[Any]] = []
    for item in items:
        if not out or len(out[-1]) >= size:
            out.append([])
        out[-1].append(item)
    return out
