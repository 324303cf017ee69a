"""The ``http`` output's bearer token: sent as ``Authorization: Bearer``, configured per output
in the config file (``bearer_token`` or ``bearer_token_env``), never printed by ``config show``,
and only accepted on http(s) outputs."""

from __future__ import annotations

import http.server
import re
import threading

import pytest

from memwarden.app.settings import ConfigError, parse_settings
from memwarden.outputs.fanout import open_outputs
from memwarden.outputs.http import HttpTransport


class _Headers(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[str | None] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append(self.headers.get("Authorization"))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a: object) -> None:
        pass


def test_the_transport_sends_the_bearer_token() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Headers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://u:p@127.0.0.1:{server.server_address[1]}/ingest"
        t = HttpTransport(url, bearer_token="s3cret")
        t.send(b"{}\n", None)  # type: ignore[arg-type]
        t.close()
        HttpTransport(url).send(b"{}\n", None)  # type: ignore[arg-type]
    finally:
        server.shutdown()
        server.server_close()
    assert _Headers.seen[0] == "Bearer s3cret"  # replaces the URL's credentials
    assert _Headers.seen[1].startswith("Basic ")


def test_a_token_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        HttpTransport("http://127.0.0.1:1/", bearer_token="a\r\nX-Evil: 1")


def test_config_tokens_per_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UI_TOKEN", "from-env")
    s = parse_settings({"outputs": [
        {"output": "http://127.0.0.1:8765/ingest", "format": "falco", "bearer_token": "t1"},
        {"output": "http://127.0.0.1:9/x", "bearer_token_env": "UI_TOKEN"},
        "stdout"]}, "c.yaml")
    assert s.output_tokens == {"falco:http://127.0.0.1:8765/ingest": "t1",
                               "http://127.0.0.1:9/x": "from-env"}
    shown = s.to_yaml()
    assert "t1" not in shown and "from-env" not in shown and "(set)" in shown
    outs = open_outputs(s.outputs, "tracee", tokens=s.output_tokens)
    try:
        transports = [getattr(o, "transport", None) for o in outs.outputs]
        assert transports[0].headers["Authorization"] == "Bearer t1"
        assert transports[1].headers["Authorization"] == "Bearer from-env"
    finally:
        outs.close(0.0)


@pytest.mark.parametrize(("item", "says"), [
    ({"output": "stdout", "bearer_token": "x"}, "needs an http(s) output"),
    ({"output": "http://h/", "bearer_token": "a b"}, "no spaces"),
    ({"output": "http://h/", "bearer_token_env": "MW_NOT_SET_ANYWHERE"}, "is not set"),
    ({"output": "http://h/", "bearer_token": "a", "bearer_token_env": "B"}, "not both"),
])
def test_bad_tokens_name_the_output(item: dict, says: str) -> None:
    with pytest.raises(ConfigError, match=r"c\.yaml: outputs\[0\].*" + re.escape(says)):
        parse_settings({"outputs": [item]}, "c.yaml")
