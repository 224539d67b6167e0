"""The HTTP client of every source: retries, timeouts, auth and TLS, never a leaked secret."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from ingest.http import connect, new_session
from korrel8.config import HttpSourceSettings
from korrel8.errors import ConfigError, SourceAuthError, SourceError, SourceUnavailableError
from tests.servers.common import free_port
from tests.servers.faulty_http import FaultyServer
from tests.servers.prom import SecureServer

TOKEN = "eyJhbGciOi.secret-token.sig"


def source(url: str, **settings: Any) -> HttpSourceSettings:
    return HttpSourceSettings(url=url, **settings)


def test_5xx_answers_are_retried_with_backoff(faulty_http: FaultyServer) -> None:
    with connect("prometheus", source(faulty_http.url("fail-2"), retries=3)) as s:
        assert s.get_json("/api/v1/series") == {"ok": True}
    assert faulty_http.hits["fail-2"] == 3


def test_a_lasting_5xx_is_reported_after_the_retries(faulty_http: FaultyServer) -> None:
    with (
        connect("prometheus", source(faulty_http.url("status-503"), retries=2)) as s,
        pytest.raises(SourceError, match=r"prometheus at http://127\.0\.0\.1:\d+/status-503/x "
                      r"answered HTTP 503: fault injected"),
    ):  # fmt: skip
        s.get_json("/x")
    assert faulty_http.hits["status-503"] == 3


def test_a_4xx_is_not_retried(faulty_http: FaultyServer) -> None:
    with (
        connect("loki", source(faulty_http.url("status-404"), retries=3)) as s,
        pytest.raises(SourceError, match="answered HTTP 404"),
    ):
        s.get_json("/x")
    assert faulty_http.hits["status-404"] == 1


def test_a_read_timeout_is_reported_and_not_retried(faulty_http: FaultyServer) -> None:
    with (
        connect("tempo", source(faulty_http.url("slow"), timeout=0.5, retries=3)) as s,
        pytest.raises(SourceUnavailableError, match=r"did not answer within 0\.5s"),
    ):
        s.get_json("/x")
    assert faulty_http.hits["slow"] == 1


def test_a_refused_connection_is_retried_then_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        connect("alertmanager", source(url, retries=2)) as s,
        pytest.raises(SourceUnavailableError, match=f"cannot reach alertmanager at {url}/x: .*"
                      "Connection refused. Is it running"),
    ):  # fmt: skip
        s.get_json("/x")


def test_broken_json_is_a_clear_error(faulty_http: FaultyServer) -> None:
    with (
        connect("prometheus", source(faulty_http.url("broken-json"))) as s,
        pytest.raises(SourceError, match=r"answered a body that is not JSON \(application/json\)"),
    ):
        s.get_json("/api/v1/series")


def test_a_missing_or_odd_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"no URL configured for loki \(sources\.loki\.url\)"):
        connect("loki", HttpSourceSettings())
    with pytest.raises(ConfigError, match="must start with http:// or https://"):
        connect("loki", source("loki.example.com:3100"))


def test_a_bearer_token_goes_in_the_header_only() -> None:
    session = new_session(source("https://thanos-querier:9091", bearer_token=SecretStr(TOKEN)))
    request = session.prepare_request(requests.Request("GET", "https://thanos-querier:9091/x"))
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in repr(session.auth) and TOKEN not in str(request.url)


def test_a_token_file_is_read_at_every_request(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    session = new_session(source("https://alertmanager-main:9094", bearer_token_file=token_file))

    def header() -> str:
        request = session.prepare_request(requests.Request("GET", "https://a/x"))
        return str(request.headers["Authorization"])

    assert header() == "Bearer first"
    token_file.write_text("rotated")  # a service-account token rotated on disk
    assert header() == "Bearer rotated"
    token_file.unlink()
    with pytest.raises(ConfigError, match=f"cannot read the bearer token file {token_file}"):
        header()


def test_tls_with_a_custom_ca_and_basic_auth(
    secure_pushgateway: SecureServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with connect("prometheus", secure_pushgateway.settings()) as s:
        status = s.get_json("/api/v1/status")
    assert status["status"] == "success"
    assert secure_pushgateway.password not in caplog.text


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_without_the_ca_says_how_to_trust_it(secure_pushgateway: SecureServer) -> None:
    with (
        connect("prometheus", secure_pushgateway.settings(ca_file=None)) as s,
        pytest.raises(SourceUnavailableError, match=r"TLS failed .*set ca_file"),
    ):
        s.get_json("/api/v1/status")
    # Skipping verification works, for the test clusters that want it.
    with connect("prometheus", secure_pushgateway.settings(ca_file=None, verify_tls=False)) as s:
        assert s.get_json("/api/v1/status")["status"] == "success"


def test_wrong_credentials_are_reported_without_them(
    secure_pushgateway: SecureServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-Pa55word"
    settings = secure_pushgateway.settings(password=SecretStr(wrong))
    with connect("alertmanager", settings) as s, pytest.raises(SourceAuthError) as info:
        s.get_json("/api/v1/status")
    message = str(info.value)
    assert "refused the credentials (HTTP 401)" in message and "username/password" in message
    for secret in (wrong, secure_pushgateway.password):
        assert secret not in message and secret not in caplog.text
        assert secret not in repr(settings)


def test_a_ca_file_that_does_not_exist_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"CA file .*missing\.pem does not exist"):
        connect("loki", source("https://loki:3100", ca_file=tmp_path / "missing.pem"))
