"""`nurture automations apply` and `list`: YAML files in version control become automations and versions."""

import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from nurture.settings import Settings


def _nurture(*args: str, settings: Settings, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    clean.update(
        NURTURE_DATA_DIR=str(tmp_path), NURTURE_DATABASE_URL=settings.resolved_database_url, COLUMNS="200"
    )
    return subprocess.run(
        [sys.executable, "-m", "nurture", *args], env=clean, capture_output=True, text=True, timeout=60
    )


WELCOME = """\
name: Welcome series
definition:
  triggers:
    - type: list_subscribed
      list_id: {newsletter}
  exits:
    - type: unsubscribed
  steps:
    - id: welcome
      type: send_email
      template_id: {welcome}
    - id: wait-2d
      type: wait
      duration: {wait}
    - id: opened
      type: if
      condition: {{type: email, step: welcome, did: opened}}
      then: done
      else: morning-reminder
    - id: morning-reminder
      type: wait_until
      time_of_day: 10:30
      weekdays: [mon, tue, wed, thu, fri]
    - id: reminder
      type: send_email
      template_id: {reminder}
    - id: done
      type: end
"""

CART = """\
name: Cart abandonment
status: active
definition:
  triggers:
    - {{type: event, name: cart_abandoned}}
  entry: {{mode: per_value, property: cart_id}}
  steps:
    - {{id: wait-1h, type: wait, duration: 1h}}
    - {{id: remind, type: send_email, template_id: {welcome}}}
"""


def _refs(api: TestClient) -> dict[str, int]:
    ids = {}
    for name in ("welcome", "reminder"):
        body = {"name": name, "kind": "marketing", "subject": name, "html_body": f"<p>{name}</p>"}
        ids[name] = api.post("/templates", json=body).json()["id"]
    ids["newsletter"] = api.post("/lists", json={"name": "Newsletter"}).json()["id"]
    return ids


def test_apply_creates_then_versions_only_on_change(
    api: TestClient, settings: Settings, tmp_path: Path
) -> None:
    refs = _refs(api)
    file = tmp_path / "automations.yaml"
    file.write_text(WELCOME.format(wait="2d", **refs) + "---\n" + CART.format(**refs))

    first = _nurture("automations", "apply", str(file), settings=settings, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    welcome, cart = api.get("/automations").json()["data"]
    assert first.stdout.splitlines() == [
        f"Created automation 'Welcome series' (id {welcome['id']}), version 1, draft",
        f"Created automation 'Cart abandonment' (id {cart['id']}), version 1, active",
    ]
    # 10:30 is a time of day, not YAML 1.1's base-60 number 630.
    assert welcome["definition"]["steps"][3]["time_of_day"] == "10:30"
    assert cart["status"] == "active" and cart["definition"]["entry"]["property"] == "cart_id"

    again = _nurture("automations", "apply", str(file), settings=settings, tmp_path=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        f"Unchanged: 'Welcome series' (id {welcome['id']}) is at version 1",
        f"Unchanged: 'Cart abandonment' (id {cart['id']}) is at version 1",
    ]
    assert len(api.get(f"/automations/{welcome['id']}/versions").json()["data"]) == 1

    file.write_text(WELCOME.format(wait="3d", **refs).replace("Welcome series", "welcome SERIES"))
    changed = _nurture("automations", "apply", str(file), settings=settings, tmp_path=tmp_path)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == f"Saved version 2 of 'Welcome series' (id {welcome['id']})"
    latest = api.get(f"/automations/{welcome['id']}").json()
    assert (latest["version"], latest["definition"]["steps"][1]["duration"]) == (2, "3d")

    listed = _nurture("automations", "list", settings=settings, tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("│") for line in listed.stdout.splitlines() if "│" in line]
    cells = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    assert [str(welcome["id"]), "Welcome series", "draft", "2", "0"] in cells
    assert [str(cart["id"]), "Cart abandonment", "active", "1", "0"] in cells


def test_a_refused_file_prints_every_problem_and_changes_nothing(
    api: TestClient, settings: Settings, tmp_path: Path
) -> None:
    refs = _refs(api)
    file = tmp_path / "automations.yaml"
    good = CART.format(**refs)
    bad = (
        WELCOME.format(wait="2 days", **refs)
        .replace("else: morning-reminder", "else: remindr")
        .replace(f"template_id: {refs['reminder']}", "template_id: 9999")
    )
    file.write_text(good + "---\n" + bad)
    result = _nurture("automations", "apply", str(file), settings=settings, tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{file} is refused; nothing was changed:",
        "  document 2 (Welcome series): steps[1] (wait-2d): duration: '2 days' is not a duration such as "
        "'2d', '12h', '1w 2d' or 'P2DT12H'",
    ]
    # With the shape right, the graph and the references are checked together.
    file.write_text(good + "---\n" + bad.replace("2 days", "2d"))
    result = _nurture("automations", "apply", str(file), settings=settings, tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[1:] == [
        "  document 2 (Welcome series): steps[2] (opened): else: unknown step 'remindr'",
        "  document 2 (Welcome series): steps[3] (morning-reminder): no step leads here, so no contact can "
        "reach it; link it from another step or remove it",
        "  document 2 (Welcome series): steps[4] (reminder): no step leads here, so no contact can "
        "reach it; link it from another step or remove it",
        "  document 2 (Welcome series): steps[4] (reminder): template_id: template 9999 does not exist",
    ]
    assert api.get("/automations").json()["data"] == []

    file.write_text("name: Broken\nstatus: paused\ndefintion: {}\n---\n- a list\n")
    result = _nurture("automations", "apply", str(file), settings=settings, tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[1:] == [
        "  document 1: defintion: unknown key",
        "  document 1 (Broken): status: must be one of draft, active",
        "  document 1 (Broken): definition: is required",
        "  document 2: must be a mapping with name, status and definition",
    ]
    file.write_text("name: [unclosed\n")
    result = _nurture("automations", "apply", str(file), settings=settings, tmp_path=tmp_path)
    assert result.returncode == 1 and "not a YAML file" in result.stderr
    assert api.get("/automations").json()["data"] == []
