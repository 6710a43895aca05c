"""Settings come from defaults, TELEMETRON_* variables and flags; beyond loopback a token is required."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import websockets.sync.client
from oracle_fixtures import start_oracle
from telemetron_oracle_api.settings import load_settings
from websockets.exceptions import ConnectionClosed, InvalidStatus


def test_defaults_follow_the_port_contract():
    settings = load_settings([], env={})
    assert (settings.http_host, settings.http_port, settings.grpc_port) == ("127.0.0.1", 8080, 4319)
    assert settings.kafka_spans_topic == "agent-telemetry-spans"


def test_flags_override_environment_which_overrides_defaults():
    env = {"TELEMETRON_HTTP_PORT": "9000", "TELEMETRON_GRPC_PORT": "9001", "TELEMETRON_DB_PATH": "/tmp/x.db"}
    settings = load_settings(["--grpc-port", "9002"], env=env)
    assert (settings.http_port, settings.grpc_port, settings.db_path) == (9000, 9002, Path("/tmp/x.db"))


@pytest.mark.parametrize("flag", ["--http-host", "--grpc-host"])
def test_listening_beyond_loopback_without_a_token_is_refused(flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_settings([flag, "0.0.0.0"], env={})
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "beyond loopback" in error and "TELEMETRON_API_TOKEN" in error and "on 0.0.0.0" in error
    assert load_settings([flag, "0.0.0.0"], env={"TELEMETRON_API_TOKEN": "t"}).requires_token


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_addresses_need_no_token(host):
    assert not load_settings(["--http-host", host, "--grpc-host", host], env={}).requires_token


@pytest.mark.parametrize("token", ["pässwort", "two words", "tab\there"])
def test_a_token_that_cannot_travel_in_headers_is_refused(token, capsys):
    with pytest.raises(SystemExit):
        load_settings([], env={"TELEMETRON_API_TOKEN": token})
    assert "printable ASCII" in capsys.readouterr().err


def test_any_host_is_allowed_only_with_a_token(capsys):
    with pytest.raises(SystemExit):
        load_settings([], env={"TELEMETRON_ALLOWED_HOSTS": "*"})
    assert "TELEMETRON_ALLOWED_HOSTS=*" in capsys.readouterr().err
    assert load_settings([], env={"TELEMETRON_ALLOWED_HOSTS": "*", "TELEMETRON_API_TOKEN": "t"}).allowed_hosts == "*"


@pytest.fixture
def guarded(tmp_path):
    running = start_oracle(tmp_path / "t.db", api_token="s3cret")
    yield running
    running.stop()


def test_every_http_request_needs_the_token(guarded):
    for path in ("/health", "/api/v1/traces", "/docs"):
        assert httpx.get(guarded.http_url + path).status_code == 401
        assert httpx.get(guarded.http_url + path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = httpx.get(guarded.http_url + path, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200, path


def test_websocket_handshake_needs_the_token(guarded):
    url = guarded.http_url.replace("http://", "ws://") + "/ws/debug/probe"
    with pytest.raises((InvalidStatus, ConnectionClosed)):
        with websockets.sync.client.connect(url, open_timeout=5) as ws:
            ws.recv(timeout=5)
    with websockets.sync.client.connect(url + "?token=s3cret", open_timeout=5) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "subscribed"


def test_dashboard_page_loads_without_the_token_but_its_data_does_not(guarded):
    page = httpx.get(guarded.http_url + "/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert httpx.get(guarded.http_url + "/static/app.js").status_code == 200
    assert httpx.get(guarded.http_url + "/api/v1/oracle/state").status_code == 401
