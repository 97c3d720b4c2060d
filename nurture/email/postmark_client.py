"""postmarker's client with request bodies encoded by orjson: the JSON of a batch of 500 newsletters."""

from typing import Any

import orjson
import requests
from postmarker.core import PostmarkClient


def encode_json(data: Any) -> bytes:
    """The JSON body of a Postmark request, as UTF-8 bytes (RFC 8259's encoding for JSON).

    A batch of 500 newsletters is ~4 MB of JSON. requests writes its `json=` argument with the
    standard library's encoder, escaping every non-ASCII character, then encodes the text to
    bytes: a tenth of the CPU a worker spent on a campaign batch. orjson writes the bytes at
    once, several times faster.
    """
    return orjson.dumps(data)


class _JsonSession(requests.Session):
    """A requests session that sends `json=` bodies as `encode_json` writes them."""

    def request(  # type: ignore[override]
        self, method: str, url: str | bytes, *args: Any, json: Any = None, **kwargs: Any
    ) -> requests.Response:
        if json is not None:
            # As requests does for `json=`: the body, and its type unless the caller gave one.
            kwargs["data"] = encode_json(json)
            headers = dict(kwargs.get("headers") or {})
            headers.setdefault("Content-Type", "application/json")
            kwargs["headers"] = headers
        return super().request(method, url, *args, **kwargs)


class JsonPostmarkClient(PostmarkClient):
    """postmarker's `PostmarkClient`, its bodies encoded by `encode_json`; otherwise the same."""

    @property
    def session(self) -> requests.Session:
        """The client's one session (postmarker's, with its retries), made on first use."""
        session: requests.Session | None = getattr(self, "_session", None)
        if session is None:
            session = _JsonSession()
            adapter = requests.adapters.HTTPAdapter(max_retries=self.max_retries)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._session = session
        return session
