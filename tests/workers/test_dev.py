"""`nurture dev` as a developer runs it: everything comes up, Ctrl-C stops it all, data survives a restart."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

NURTURE = [sys.executable, "-m", "nurture"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.fixture
def dev_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a dev stack on free ports with its own data folder (SQLite default)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env.update(
        NURTURE_DATA_DIR=str(tmp_path / "data"),
        NURTURE_API_PORT=str(_free_port()),
        NURTURE_TEMPORAL_ADDRESS=f"127.0.0.1:{_free_port()}",
        NURTURE_TEMPORAL_UI_PORT=str(_free_port()),
        NURTURE_POSTMARK_LOCAL_PORT=str(_free_port()),
    )
    yield env


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(NURTURE + ["dev"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if "Nurture is running" in log.read_text():
            return process
        assert process.poll() is None, f"nurture dev exited early:\n{log.read_text()}"
        time.sleep(0.5)
    process.kill()
    raise AssertionError(f"nurture dev did not come up:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0, log.read_text()


def test_dev_runs_everything_and_keeps_data_across_restarts(dev_env: dict[str, str], tmp_path: Path) -> None:
    api = f"http://127.0.0.1:{dev_env['NURTURE_API_PORT']}"
    ui = f"http://localhost:{dev_env['NURTURE_TEMPORAL_UI_PORT']}"
    postmark = f"http://127.0.0.1:{dev_env['NURTURE_POSTMARK_LOCAL_PORT']}"
    log = tmp_path / "dev.log"

    first = _start(dev_env, log)
    try:
        output = log.read_text()
        assert f"{api}/docs" in output and ui in output
        assert f"Postmark (local)  {postmark}  (inbox)" in output
        key = (Path(dev_env["NURTURE_DATA_DIR"]) / "dev-api-key").read_text().strip()
        assert key in output, "the first start prints the dev API key"
        headers = {"Authorization": f"Bearer {key}"}

        health = httpx.get(f"{api}/health").json()
        assert health["database"]["status"] == "ok" and health["temporal"]["status"] == "ok"
        assert httpx.get(f"{api}/docs").status_code == 200
        assert httpx.get(ui).status_code == 200
        inbox = httpx.get(f"{postmark}/")
        assert inbox.status_code == 200 and "Local Postmark inbox" in inbox.text
        # Webhooks go back to this API (on its free port), with a Delivery after every send.
        webhooks = httpx.get(f"{postmark}/__local/webhooks").json()
        assert webhooks["url"] == f"http://localhost:{dev_env['NURTURE_API_PORT']}/webhooks/postmark"
        assert webhooks["auto_delivery"] is True
        created = httpx.post(f"{api}/contacts", json={"email": "kept@example.com"}, headers=headers)
        assert created.status_code == 201, created.text
    finally:
        _stop(first, log)

    ports = [
        dev_env["NURTURE_API_PORT"],
        dev_env["NURTURE_TEMPORAL_UI_PORT"],
        dev_env["NURTURE_TEMPORAL_ADDRESS"].rsplit(":", 1)[1],
        dev_env["NURTURE_POSTMARK_LOCAL_PORT"],
    ]
    assert all(_port_free(int(p)) for p in ports), "something is still listening after Ctrl-C"

    # The developer revokes the dev key; the next start must not keep showing a key that gets 401.
    revoked = subprocess.run(
        NURTURE + ["api-keys", "revoke", key], env=dev_env, capture_output=True, text=True, timeout=60
    )
    assert revoked.returncode == 0, revoked.stderr

    second = _start(dev_env, log)
    try:
        saved = Path(dev_env["NURTURE_DATA_DIR"]) / "dev-api-key"
        new_key = saved.read_text().strip()
        assert new_key != key and new_key in log.read_text(), "a new dev key is created and shown"
        assert key not in log.read_text()
        assert saved.stat().st_mode & 0o777 == 0o600
        assert httpx.get(f"{api}/contacts", headers=headers).status_code == 401
        headers = {"Authorization": f"Bearer {new_key}"}
        contacts = httpx.get(f"{api}/contacts", params={"email": "kept@example.com"}, headers=headers)
        assert [c["email"] for c in contacts.json()["data"]] == ["kept@example.com"]
        # Temporal's own state survives too: the first start's diagnostics run is still listed.
        runs = subprocess.run(
            [
                str(Path(sys.executable).parent / "temporal"),
                "workflow",
                "count",
                "--address",
                dev_env["NURTURE_TEMPORAL_ADDRESS"],
                "--query",
                "NurtureKind = 'diagnostics'",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "Total: 2" in runs.stdout, runs.stdout
    finally:
        _stop(second, log)


def test_dev_refuses_a_taken_port_and_leaves_nothing_running(dev_env: dict[str, str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", int(dev_env["NURTURE_API_PORT"])))
        holder.listen()
        result = subprocess.run(NURTURE + ["dev"], env=dev_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"port {dev_env['NURTURE_API_PORT']} (API) is already in use" in result.stdout
    temporal_port = int(dev_env["NURTURE_TEMPORAL_ADDRESS"].rsplit(":", 1)[1])
    assert _port_free(temporal_port), "Temporal was started although the stack could not come up"
    assert not (Path(dev_env["NURTURE_DATA_DIR"]) / "temporal.db").exists()
