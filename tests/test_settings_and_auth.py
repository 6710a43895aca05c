"""Settings come from defaults, TELEMETRON_* variables and flags; beyond loopback a token is required."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
import websockets.sync.client
from oracle_fixtures import start_oracle
from telemetron_oracle_api.settings import Settings, load_settings
from websockets.exceptions import ConnectionClosed, InvalidStatus


@pytest.fixture
def env(monkeypatch):
    """The process environment without the caller's TELEMETRON_* variables; ``env(NAME=value)`` sets some."""
    for name in [name for name in os.environ if name.startswith("TELEMETRON_")]:
        monkeypatch.delenv(name)

    def set_variables(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return set_variables


def test_defaults_follow_the_port_contract(env):
    settings = load_settings([])
    assert (settings.http_host, settings.http_port, settings.grpc_port) == ("127.0.0.1", 8080, 4319)
    assert settings.kafka_spans_topic == "agent-telemetry-spans"


def test_flags_override_environment_which_overrides_defaults(env):
    env(TELEMETRON_HTTP_PORT="9000", TELEMETRON_GRPC_PORT="9001", TELEMETRON_DB_PATH="/tmp/x.db")
    settings = load_settings(["--grpc-port", "9002"])
    assert (settings.http_port, settings.grpc_port, settings.db_path) == (9000, 9002, Path("/tmp/x.db"))


@pytest.mark.parametrize("flag", ["--http-host", "--grpc-host"])
def test_listening_beyond_loopback_without_a_token_is_refused(flag, capsys, env):
    with pytest.raises(SystemExit) as exit_info:
        load_settings([flag, "0.0.0.0"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "beyond loopback" in error and "TELEMETRON_API_TOKEN" in error and "on 0.0.0.0" in error
    env(TELEMETRON_API_TOKEN="t")
    assert load_settings([flag, "0.0.0.0"]).requires_token


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_addresses_need_no_token(host, env):
    assert not load_settings(["--http-host", host, "--grpc-host", host]).requires_token


@pytest.mark.parametrize("token", ["pässwort", "two words", "tab\there"])
def test_a_token_that_cannot_travel_in_headers_is_refused(token, capsys, env):
    env(TELEMETRON_API_TOKEN=token)
    with pytest.raises(SystemExit):
        load_settings([])
    assert "printable ASCII" in capsys.readouterr().err


def test_any_host_is_allowed_only_with_a_token(capsys, env):
    env(TELEMETRON_ALLOWED_HOSTS="*")
    with pytest.raises(SystemExit):
        load_settings([])
    assert "TELEMETRON_ALLOWED_HOSTS=*" in capsys.readouterr().err
    env(TELEMETRON_API_TOKEN="t")
    assert load_settings([]).allowed_hosts == "*"


def test_an_empty_variable_keeps_the_default_and_a_malformed_one_is_named(capsys, env):
    env(TELEMETRON_HTTP_PORT="")
    assert load_settings([]).http_port == 8080
    env(TELEMETRON_GRPC_PORT="many")
    with pytest.raises(SystemExit) as exit_info:
        load_settings([])
    assert exit_info.value.code == 2
    assert "TELEMETRON_GRPC_PORT / --grpc-port" in capsys.readouterr().err


def test_serve_help_shows_every_setting_with_its_help_default_and_variable(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps help at the terminal's width
    with pytest.raises(SystemExit):
        load_settings(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        assert flag in help_text and f"$TELEMETRON_{name.upper()})" in help_text, name
        assert " ".join(field.description.split()) in help_text, name
    assert "--http-port INT port of the HTTP API" in help_text and "(default: 8080; $TELEMETRON_HTTP_PORT)" in help_text


def test_settings_made_in_code_ignore_the_environment(env):
    env(TELEMETRON_HTTP_PORT="9000")
    assert Settings().http_port == 8080
    assert Settings(http_port=9001).environment()["TELEMETRON_HTTP_PORT"] == "9001"


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
