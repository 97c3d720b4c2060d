"""Importing contacts from CSV: counts, per-row errors, what lands on the contacts, and refusals."""

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from nurture.crud import contact_csv, contact_import
from nurture.db.models import Contact, MailingList
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings


def _import(api: TestClient, content: str | bytes, **form: object) -> httpx.Response:
    data = content.encode() if isinstance(content, str) else content
    return api.post(
        "/contacts/import",
        files={"file": ("people.csv", data, "text/csv")},
        data={key: str(value) for key, value in form.items()},
    )


def _ok(api: TestClient, content: str | bytes, **form: object) -> dict:
    response = _import(api, content, **form)
    assert response.status_code == 200, response.text
    return response.json()


def _contact(api: TestClient, email: str) -> dict | None:
    found = api.get("/contacts", params={"email": email}).json()["data"]
    return found[0] if found else None


def _list(settings: Settings) -> int:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        mailing_list = MailingList(name="Newsletter")
        session.add(mailing_list)
        session.flush()
        return mailing_list.id


def _refusal(response: httpx.Response, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == field
    return response.json()["detail"]


MIXED = """Email,First_Name,last_name,timezone,tags,plan,seats
grace@example.com,Grace,Hopper,America/New_York,vip;beta,pro,3
not-an-email,Nobody,,,,,
linus@example.com,Linus,,Mars/Base,,,
alan@example.com,,Turing,,beta|Lead,,
ADA@example.com,Augusta,,,,,
Grace@Example.com,Again,,,,,
"""


def test_mixed_file_imports_the_good_rows_and_reports_the_rest(api: TestClient, settings: Settings) -> None:
    list_id = _list(settings)
    api.post("/contacts", json={"email": "ada@example.com", "first_name": "Ada"})

    report = _ok(api, MIXED, list_id=list_id, tags="imported, Q3")

    assert {k: report[k] for k in ("created", "updated", "skipped", "failed")} == {
        "created": 2,
        "updated": 0,
        "skipped": 1,
        "failed": 3,
    }
    assert [(e["row"], e["field"]) for e in report["errors"]] == [
        (3, "email"),
        (4, "timezone"),
        (6, "email"),
        (7, "email"),
    ]
    assert "Mars/Base" in report["errors"][1]["message"]
    assert "already exists" in report["errors"][2]["message"]
    assert report["errors"][3]["message"] == "grace@example.com already appears in row 2"

    grace = _contact(api, "grace@example.com")
    assert grace is not None
    assert (grace["first_name"], grace["last_name"], grace["timezone"]) == (
        "Grace",
        "Hopper",
        "America/New_York",
    )
    assert grace["custom_fields"] == {"plan": "pro", "seats": "3"}
    assert grace["tags"] == ["beta", "imported", "Q3", "vip"]
    assert [(m["list_id"], m["status"], m["consent_source"]) for m in grace["lists"]] == [
        (list_id, "subscribed", "import:people.csv")
    ]
    alan = _contact(api, "alan@example.com")
    assert alan is not None and alan["tags"] == ["beta", "imported", "Lead", "Q3"]
    assert alan["custom_fields"] == {}
    assert _contact(api, "linus@example.com") is None

    # The existing contact is skipped whole: not renamed, not tagged, not subscribed.
    ada = _contact(api, "ada@example.com")
    assert ada is not None and (ada["first_name"], ada["tags"], ada["lists"]) == ("Ada", [], [])

    activity = api.get(f"/contacts/{grace['id']}/activity").json()["data"]
    assert [e["type"] for e in activity] == ["list.subscribed"] + ["tag.added"] * 4 + ["contact.created"]
    assert activity[0]["data"] == {"list_id": list_id, "source": "import:people.csv"}
    assert activity[-1]["data"] == {"source": "import"}


def test_update_existing_merges_and_never_resubscribes(api: TestClient, settings: Settings) -> None:
    list_id = _list(settings)
    ada = api.post(
        "/contacts",
        json={
            "email": "ada@example.com",
            "first_name": "Ada",
            "custom_fields": {"plan": "free", "seats": 1},
            "tags": ["old", "VIP"],
        },
    ).json()
    left = api.post(
        "/contacts",
        json={"email": "left@example.com", "lists": [{"list_id": list_id, "status": "unsubscribed"}]},
    ).json()
    api.post("/contacts", json={"email": "gone@example.com", "status": "unsubscribed"})
    content = (
        "email,last_name,status,tags,plan,company\n"
        "Ada@Example.com,Lovelace,,vip;new,pro,\n"
        "left@example.com,Left,,,,\n"
        "gone@example.com,Back,active,,,\n"
        "new@example.com,New,,,,Acme\n"
    )

    report = _ok(api, content, update_existing="true", list_id=list_id)

    assert (report["created"], report["updated"], report["skipped"], report["failed"]) == (1, 3, 0, 0)
    assert report["errors"] == []
    updated = _contact(api, "ada@example.com")
    assert updated is not None
    assert (updated["first_name"], updated["last_name"]) == ("Ada", "Lovelace")
    assert updated["custom_fields"] == {"plan": "pro", "seats": 1}
    assert updated["tags"] == ["new", "old", "VIP"]
    assert [(m["list_id"], m["status"]) for m in updated["lists"]] == [(list_id, "subscribed")]
    types = [e["type"] for e in api.get(f"/contacts/{ada['id']}/activity").json()["data"]]
    assert types[:3] == ["list.subscribed", "tag.added", "contact.updated"]
    # An import never undoes an unsubscribe, from the list or from everything.
    still_left = api.get(f"/contacts/{left['id']}").json()
    assert (still_left["last_name"], still_left["lists"][0]["status"]) == ("Left", "unsubscribed")
    gone = _contact(api, "gone@example.com")
    assert gone is not None and (gone["last_name"], gone["status"]) == ("Back", "unsubscribed")
    new = _contact(api, "new@example.com")
    assert new is not None and new["custom_fields"] == {"company": "Acme"}


def test_the_caller_commits_so_a_rolled_back_import_leaves_nothing(settings: Settings) -> None:
    # On SQLite, releasing a savepoint opened outside a transaction commits it; no tags here, as
    # creating one would open the transaction and hide that.
    sessions = session_factory(settings.resolved_database_url)
    with sessions() as session:
        content = b"email\na@example.com\nb@example.com\n"
        result = contact_import.import_contacts(session, data=content, filename="people.csv")
        assert result.created == 2
        session.rollback()
    with sessions() as session:
        assert session.scalars(select(Contact)).all() == []


def test_bom_and_semicolon_files_are_read(api: TestClient) -> None:
    bom = "\ufeffEMAIL,first_name\r\nada@example.com,Ada\r\n".encode()
    assert _ok(api, bom)["created"] == 1
    semicolons = "email;first_name;tags\ngrace@example.com;Grace;a|b\n"
    assert _ok(api, semicolons)["created"] == 1
    grace = _contact(api, "grace@example.com")
    assert grace is not None and (grace["first_name"], grace["tags"]) == ("Grace", ["a", "b"])


def test_tag_cells_split_on_commas_semicolons_and_pipes(api: TestClient) -> None:
    content = 'email,tags\nada@example.com," vip, beta;Lead |VIP,, ;beta"\ngrace@example.com,"a,b"\n'
    report = _ok(api, content, tags="Lead, q3")
    assert (report["created"], report["failed"]) == (2, 0)

    ada = _contact(api, "ada@example.com")
    assert ada is not None and sorted(ada["tags"], key=str.lower) == ["beta", "Lead", "q3", "vip"]
    activity = api.get(f"/contacts/{ada['id']}/activity").json()["data"]
    assert [e["type"] for e in activity].count("tag.added") == 4
    grace = _contact(api, "grace@example.com")
    assert grace is not None and sorted(grace["tags"], key=str.lower) == ["a", "b", "Lead", "q3"]
    names = {tag["name"] for tag in api.get("/tags", params={"limit": 100}).json()["data"]}
    assert "a,b" not in names
    assert {name.lower() for name in names} == {"a", "b", "beta", "lead", "q3", "vip"}


def test_missing_email_column_is_422_naming_the_file(api: TestClient) -> None:
    detail = _refusal(_import(api, "first_name\nAda\n"), 422, "file")
    assert "email column" in detail


def test_invalid_custom_field_header_is_422_naming_the_column(api: TestClient) -> None:
    detail = _refusal(_import(api, "email,plan type\na@example.com,pro\n"), 422, "plan type")
    assert "letter" in detail
    assert _contact(api, "a@example.com") is None


@pytest.mark.parametrize("column", [*contact_csv.RESERVED, "Owner_ID"])
def test_column_named_like_a_field_not_imported_is_422(api: TestClient, column: str) -> None:
    detail = _refusal(_import(api, f"email,{column}\now1@example.com,999\n"), 422, column)
    assert detail == (
        f"{column}: column '{column}' cannot be imported; rename it if it is meant as a custom field"
    )
    assert _contact(api, "ow1@example.com") is None


def test_unknown_list_is_422(api: TestClient) -> None:
    detail = _refusal(_import(api, "email\na@example.com\n", list_id=999), 422, "list_id")
    assert detail == "list_id: list 999 does not exist"
    assert _contact(api, "a@example.com") is None


def test_undecodable_file_is_422(api: TestClient) -> None:
    detail = _refusal(_import(api, b"email\n\xff\xfe\xfa@example.com\n"), 422, "file")
    assert "UTF-8" in detail
    _refusal(_import(api, b"PK\x03\x04\x00\x00binary"), 422, "file")


def test_oversize_files_are_413(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contact_csv, "MAX_BYTES", 40)
    content = "email\n" + "".join(f"p{n}@example.com\n" for n in range(3))
    _refusal(_import(api, content), 413, "file")
    monkeypatch.setattr(contact_csv, "MAX_BYTES", 10_000)
    monkeypatch.setattr(contact_csv, "MAX_ROWS", 2)
    detail = _refusal(_import(api, content), 413, "file")
    assert "rows" in detail
    assert api.get("/contacts").json()["data"] == []


def test_error_report_is_capped_but_counts_go_on(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contact_import, "MAX_REPORTED_ERRORS", 2)
    report = _ok(api, "email\nbad1\nbad2\nok@example.com\nbad3\n")
    assert (report["created"], report["failed"]) == (1, 3)
    assert [e["row"] for e in report["errors"]] == [2, 3]
