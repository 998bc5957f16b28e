"""One HTTP conversation with a forge: retries, rate limits and one-line errors.

Every forge call goes through :class:`ForgeClient.request`, so the rules live
in one place:

- 5xx, 429, GitHub's rate-limit 403 and dropped connections are retried with
  exponential backoff, honouring ``Retry-After`` and ``X-RateLimit-Reset``
  (capped by :class:`RetryPolicy`).
- A write that is not idempotent (creating a comment) is not blindly retried
  after a 5xx or a dropped connection: the forge may have done it already.
  :class:`AmbiguousWrite` tells the caller to look before writing again.
- 401, 403 and 404 become one :class:`ForgeError` line naming the token's
  variable and the permission the call needs.

The token travels only in the request headers. Every message passes through
:func:`redact` in case a forge echoes a credential back.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx

from proxgit import __version__
from proxgit.errors import ForgeError
from proxgit.forges.settings import ForgeSettings

log = logging.getLogger("proxgit.forges")

# What each permission failure asks the user to grant, per forge.
TOKEN_HINTS = {
    "github": "set the workflow's permissions: block (classic tokens: the repo scope)",
    "gitlab": "use a project access token with the api scope and Reporter role or higher",
    "gitea": "use a token with the write:issue and write:repository scopes",
}


class AmbiguousWrite(ForgeError):
    """A non-idempotent write failed in a way that may have taken effect."""


def redact(text: str, secret: str) -> str:
    """``text`` with ``secret`` replaced, on one line: safe for a message or a log."""
    if secret:
        text = text.replace(secret, "***")
    return " ".join(text.split())


class ForgeClient:
    """An httpx client bound to one forge's API, its token and its retry policy."""

    def __init__(
        self,
        settings: ForgeSettings,
        *,
        auth_headers: Mapping[str, str],
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        headers = {"User-Agent": f"proxgit/{__version__}", **auth_headers}
        self._http = httpx.Client(
            base_url=settings.api_url + "/",
            headers=headers,
            timeout=settings.timeout,
            transport=transport,
            follow_redirects=False,
        )

    def __enter__(self) -> ForgeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __repr__(self) -> str:
        return f"ForgeClient({self.settings.forge}, {self.settings.api_url})"

    def request(
        self,
        method: str,
        url: str,
        *,
        need: str,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send one API call, retrying what may pass, failing in one line on what won't.

        ``url`` is relative to the API base, or absolute for pagination links.
        ``need`` names the permission the call requires, for the error line.
        Returns the 2xx response.
        """
        policy = self.settings.retry
        title = self.settings.title
        path = self._display_path(url)
        self._check_origin(url)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(method, url, json=json, params=params)
            except httpx.TransportError as err:
                reason = redact(f"{type(err).__name__}: {err}", self.settings.token)
                if not idempotent:
                    raise AmbiguousWrite(f"{title} API: {method} {path} failed: {reason}") from None
                if attempt >= policy.attempts:
                    raise ForgeError(
                        f"cannot reach the {title} API at {self.settings.api_url} "
                        f"({method} {path}, {attempt} attempts): {reason}"
                    ) from None
                self._wait(policy.backoff(attempt), attempt, f"{reason} on {method} {path}")
                continue

            if response.is_success:
                return response

            status = response.status_code
            rate_limited, asked_wait = self._rate_limit(response)
            if not (status >= 500 or status == 429 or rate_limited):
                raise self._refusal(response, method, path, need)
            if status >= 500 and not idempotent:
                raise AmbiguousWrite(
                    f"{title} API: {method} {path} answered {status} "
                    f"{response.reason_phrase}; it may have taken effect"
                )
            if asked_wait is not None and asked_wait > policy.max_wait:
                raise ForgeError(
                    f"{title} API rate limit for the token in {self.settings.token_source} "
                    f"is exhausted for {asked_wait:.0f}s more; rerun the job later"
                )
            if attempt >= policy.attempts:
                raise ForgeError(
                    f"{title} API: {method} {path} still answers {status} "
                    f"{response.reason_phrase} after {attempt} attempts; rerun the job later"
                )
            delay = policy.backoff(attempt) if asked_wait is None else asked_wait
            self._wait(delay, attempt, f"{status} {response.reason_phrase} on {method} {path}")

    def _check_origin(self, url: str) -> None:
        """Refuse an absolute URL (a pagination link) that points away from the API's host.

        The token is sent with every request; a forge answer must not be able
        to steer it to another server.
        """
        if not url.startswith(("http://", "https://")):
            return
        target, api = httpx.URL(url), httpx.URL(self.settings.api_url)
        if (target.scheme, target.host, target.port) != (api.scheme, api.host, api.port):
            raise ForgeError(
                f"{self.settings.title} API sent a link to {target.scheme}://{target.host}, "
                f"not {self.settings.api_url}; not sending the token there"
            )

    def _wait(self, delay: float, attempt: int, why: str) -> None:
        policy = self.settings.retry
        log.warning(
            "%s API: %s; retry %d of %d in %.1fs",
            self.settings.title,
            why,
            attempt,
            policy.attempts - 1,
            delay,
        )
        policy.sleep(delay)

    def _rate_limit(self, response: httpx.Response) -> tuple[bool, float | None]:
        """Whether the answer is a rate limit, and the seconds the forge asks us to wait.

        GitHub signals its primary limit with 403 or 429 and
        ``X-RateLimit-Remaining: 0`` plus ``X-RateLimit-Reset`` (epoch seconds),
        and its secondary limit with ``Retry-After``; GitLab and Gitea send 429
        with ``Retry-After`` (GitLab also ``RateLimit-Reset``). A 403 without
        any of these is a permission error, not a rate limit.
        """
        status = response.status_code
        headers = response.headers
        retry_after = headers.get("Retry-After")
        exhausted = headers.get("X-RateLimit-Remaining") == "0"
        rate_limited = status == 429 or (status == 403 and (exhausted or retry_after is not None))
        if retry_after is not None:
            try:
                return rate_limited, max(float(retry_after), 0.0)
            except ValueError:
                pass  # an HTTP date: fall back to the reset header or backoff
        reset = headers.get("X-RateLimit-Reset") or headers.get("RateLimit-Reset")
        if rate_limited and reset is not None:
            try:
                return rate_limited, max(float(reset) - self.settings.retry.clock(), 0.0)
            except ValueError:
                pass
        return rate_limited, None

    def _refusal(self, response: httpx.Response, method: str, path: str, need: str) -> ForgeError:
        """The one line for a 4xx: which token, which permission, what the forge said."""
        settings = self.settings
        title = settings.title
        status = response.status_code
        said = self._forge_message(response)
        source = settings.token_source
        if status == 401:
            text = (
                f"{title} rejected the token in {source} (401 on {method} {path}): "
                f"it is missing, expired or revoked{said}"
            )
        elif status == 403:
            text = (
                f"{title} refused {method} {path} (403): the token in {source} lacks "
                f"{need}; {TOKEN_HINTS[settings.forge]}{said}"
            )
        elif status == 404:
            text = (
                f"{title} answered 404 for {method} {path}: check repository "
                f"{settings.repository!r} and #{settings.pr}, and that the token in {source} "
                f"can see them ({need}){said}"
            )
        else:
            text = f"{title} API: {method} {path} answered {status} {response.reason_phrase}{said}"
        return ForgeError(redact(text, settings.token))

    @staticmethod
    def _forge_message(response: httpx.Response) -> str:
        try:
            payload = response.json()
        except ValueError:
            return ""
        if isinstance(payload, dict):
            message = payload.get("message") or payload.get("error")
            if message:
                return f"; {_one_line(message)}"
        return ""

    def _display_path(self, url: str) -> str:
        """The call's path without the API base or query, for messages."""
        if url.startswith(("http://", "https://")):
            parsed = httpx.URL(url)
            base = httpx.URL(self.settings.api_url + "/").path
            path = parsed.path
            return "/" + path[len(base) :] if path.startswith(base) else path
        return "/" + url.split("?", 1)[0].lstrip("/")


def _one_line(message: object) -> str:
    """A forge's error payload (a string, list or dict) as short text on one line."""
    text = message if isinstance(message, str) else str(message)
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= 200 else text[:199] + "…"
