"""A client of korrel8's API for the tests: requests against the real server on loopback,
every response of korrel8r's endpoints validated against korrel8r's own OpenAPI spec
(tests/data/korrel8r-openapi.yaml, vendored with its origin and licence)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.templating.responses.exceptions import ResponseNotFound
from prometheus_client import CollectorRegistry

from korrel8.api.app import create_app
from korrel8.api.routes import PREFIX
from korrel8.api.server import Server
from tests.api_data import Loaded

SPEC = Path(__file__).parent / "data" / "korrel8r-openapi.yaml"


class Client:
    """GET/POST/PUT under the API prefix; each answer checked against korrel8r's spec."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.spec = OpenAPI.from_file_path(str(SPEC))
        self.validated = 0

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.session.request(method, f"{self.base}{PREFIX}{path}", timeout=60,
                                        **kwargs)  # fmt: skip
        self.check(response)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def check(self, response: requests.Response) -> None:
        """The answer as korrel8r's spec says it, and never a traceback."""
        assert "Traceback" not in response.text
        assert response.status_code < 500 or response.status_code in (501, 503, 504)
        try:
            self.spec.validate_response(
                RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(response)
            )
        except ResponseNotFound:  # a status korrel8r does not declare (501): its error shape
            assert set(response.json()) == {"error"}, response.text
        self.validated += 1


@pytest.fixture(scope="module")
def api(loaded: Loaded) -> Iterator[Client]:
    """The API over the loaded graph, served by uvicorn on a free loopback port."""
    server = Server(create_app(loaded.store, registry=CollectorRegistry()), "127.0.0.1", 0)
    server.start()
    try:
        yield Client(server.url)
    finally:
        server.stop()
