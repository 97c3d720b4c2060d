"""Running the server: state kept in a data file across restarts, and `nurture postmark-server`."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from postmarker.core import PostmarkClient

from nurture.postmark_server import run_in_thread


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_data_file_keeps_messages_suppressions_and_templates_across_restarts(tmp_path: Path) -> None:
    data_file = tmp_path / "postmark.json"
    first = run_in_thread(server_token="t", data_file=data_file)
    try:
        client = PostmarkClient(server_token="t", root_api_url=first.url + "/", timeout=5)
        sent = client.emails.send(From="a@example.com", To="b@example.com", TextBody="x", Metadata={"k": "v"})
        client.call(
            "POST",
            "/message-streams/outbound/suppressions",
            data={"Suppressions": [{"EmailAddress": "c@x.io"}]},
        )
        client.templates.create(Name="t", Alias="a", Subject="s", TextBody="b")
    finally:
        first.stop()

    second = run_in_thread(server_token="t", data_file=data_file)
    try:
        client = PostmarkClient(server_token="t", root_api_url=second.url + "/", timeout=5)
        found = client.call("GET", "/messages/outbound", count=5, offset=0, metadata_k="v")
        assert [m["MessageID"] for m in found["Messages"]] == [sent["MessageID"]]
        dump = client.call("GET", "/message-streams/outbound/suppressions/dump")
        assert [s["EmailAddress"] for s in dump["Suppressions"]] == ["c@x.io"]
        templated = client.emails.send_with_template(
            TemplateAlias="a", TemplateModel={}, From="a@x.io", To="b@x.io"
        )
        assert templated["ErrorCode"] == 0
    finally:
        second.stop()


def test_stop_frees_the_port() -> None:
    server = run_in_thread(server_token="t")
    port = int(server.url.rsplit(":", 1)[1])
    server.stop()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_the_cli_command_serves_with_the_settings(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env.update(
        NURTURE_DATA_DIR=str(tmp_path),
        NURTURE_POSTMARK_LOCAL_PORT=str(port),
        NURTURE_POSTMARK_SERVER_TOKEN="cli-token",
        NURTURE_PUBLIC_URL="http://127.0.0.1:1",
    )
    log = (tmp_path / "out.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "nurture", "postmark-server", "--auto-delivery"],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "out.log").read_text()
            time.sleep(0.1)
        client = PostmarkClient(server_token="cli-token", root_api_url=f"http://127.0.0.1:{port}/", timeout=5)
        assert client.emails.send(From="a@example.com", To="b@example.com", TextBody="x")["ErrorCode"] == 0
        webhooks = httpx.get(f"http://127.0.0.1:{port}/__local/webhooks").json()
        assert webhooks == {"url": "http://127.0.0.1:1/webhooks/postmark", "username": "postmark",
                            "auto_delivery": True, "delay": 0.5}  # fmt: skip
        assert (tmp_path / "postmark-local.json").exists()
    finally:
        process.terminate()
        # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught.
        assert process.wait(timeout=15) in (0, -signal.SIGTERM), (tmp_path / "out.log").read_text()
        log.close()
    assert "Finished server process" in (tmp_path / "out.log").read_text()
