"""Template injection against the Jinja sandbox, through the API: what cannot compile is refused on
save naming the field; what compiles fails its render with a 422 naming field and line, within
its budget, and neither runs nor shows anything of Python's."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from nurture.settings import Settings
from tests.api.abuse.rows import row_counts

# What a render must never show: Python objects, code locations, secrets.
LEAK_MARKERS = (
    "<class",
    "<module",
    "<function",
    "<built-in",
    "<bound method",
    " at 0x",
    "Traceback",
    'File "',
)

# Reaching Python's internals from a template, by attribute, item, filter or format string.
ESCAPES: dict[str, str] = {
    "{{ ''.__class__.__mro__ }}": "access to attribute '__class__' of 'str' object is unsafe",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}": "access to attribute '__class__' of 'str' object",
    "{{ {}.__class__ }}": "access to attribute '__class__' of 'dict' object is unsafe",
    "{{ contact.__class__ }}": "access to attribute '__class__' of 'Record' object is unsafe",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}": "access to attribute '__init__' of 'type'",
    "{{ joiner.__init__.__globals__ }}": "access to attribute '__init__' of 'type' object is unsafe",
    "{{ namespace.__init__.__globals__ }}": "access to attribute '__init__' of 'type' object is unsafe",
    "{{ lipsum.__globals__ }}": "access to attribute '__globals__' of 'method' object is unsafe",
    "{{ lipsum.__self__ }}": "access to attribute '__self__' of 'method' object is unsafe",
    "{{ range.__self__.budget }}": "access to attribute '__self__' of 'method' object is unsafe",
    "{{ dict.mro() }}": "access to attribute 'mro' of 'type' object is unsafe",
    "{{ self.__dict__ }}": "access to attribute '__dict__' of 'TemplateReference' object is unsafe",
    "{{ self._TemplateReference__context }}": "access to attribute '_TemplateReference__context'",
    "{{ ''|attr('__class__') }}": "access to attribute '__class__' of 'str' object is unsafe",
    "{{ contact|attr('__class__') }}": "access to attribute '__class__' of 'Record' object is unsafe",
    "{{ '{0.__class__}'.format('') }}": "access to attribute '__class__' of 'str' object is unsafe",
    "{{ '{0.__class__.__mro__}'.format(contact) }}": "access to attribute '__class__' of 'Record'",
    "{{ '{0[__class__]}'.format(contact) }}": "access to attribute '__class__' of 'Record' object is unsafe",
    "{{ '{x.__class__}'.format_map({'x': 1}) }}": "access to attribute '__class__' of 'int' object is unsafe",
    "{{ '{0.__class__}'|attr('format')(1) }}": "access to attribute '__class__' of 'int' object is unsafe",
    "{{ '%s'|format(contact.__class__) }}": "access to attribute '__class__' of 'Record' object is unsafe",
    # Changing what other fields (or the next email of a batch) would see.
    "{{ contact.update({'email': 'eve@example.com'}) }}": "access to attribute 'update' of 'Record'",
    "{% set x = contact.pop('email') %}{{ x }}": "access to attribute 'pop' of 'Record' object is unsafe",
    "{{ model.setdefault('a', 1) }}": "access to attribute 'setdefault' of 'Record' object is unsafe",
    "{{ [].append(1) }}": "access to attribute 'append' of 'list' object is unsafe",
}

# Asking for more time or memory than a render has.
EXHAUSTION: dict[str, str] = {
    "{{ 'x' * 10**10 }}": "result too large",
    "{{ [1] * 100001 }}": "result too large",
    "{{ 2 ** 100000 }}": "result too large",
    "{{ 10**100 * 10**100 }}": "result too large",
    "{{ range(10**9)|list }}": "range over 10,000 items",
    "{{ range(10**100)|length }}": "range over 10,000 items",
    "{{ lipsum(100000) }}": "result too large",
    "{{ 'a'|center(10**9) }}": "result too large",
    "{{ 'a'|indent(10**9) }}": "result too large",
    "{{ contact|tojson(indent=10**8) }}": "result too large",
    "{{ range(10000)|join(',' * 100000) }}": "result too large",
    "{{ '{:>99999999}'.format(1) }}": "result too large",
    "{{ '{0:{1}}'.format(1, 99999999) }}": "result too large",
    "{{ '%099999999d' % 1 }}": "result too large",
    "{{ 'ab'.replace('', 'x' * 2000000) }}": "result too large",
    # Doubling a list in a loop, through a namespace (a plain `set` in a loop stays in the loop).
    "{% set n = namespace(l=['x' * 9]) %}{% for i in range(99) %}{% set n.l = n.l + n.l %}{% endfor %}": (
        "result too large"
    ),
    "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}": "rendered output over 2 MiB",
    "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}": (
        "rendering took over 2 s"
    ),
}

# Never saved: files, computed or reserved names, tags that are not enabled, parser exhaustion.
REFUSED_ON_SAVE: dict[str, str] = {
    "{% include '/etc/passwd' %}": "line 1: unknown partial '/etc/passwd'",
    "{% include '../../../../etc/passwd' %}": "line 1: unknown partial '../../../../etc/passwd'",
    "{% import '/etc/passwd' as p %}": "line 1: unknown partial '/etc/passwd'",
    "{% from 'api/main.py' import create_app %}": "line 1: unknown partial 'api/main.py'",
    "{% extends '/etc/passwd' %}": "line 1: unknown partial '/etc/passwd'",
    "{% include '@subject' %}": "line 1: unknown partial '@subject'",
    "{% include contact.first_name %}": "line 1: {% include %} must name one partial in quotes",
    "{% include ['footer', '/etc/passwd'] %}": "line 1: {% include %} must name one partial in quotes",
    "{% include 'foot' ~ 'er' %}": "line 1: {% include %} must name one partial in quotes",
    "{% debug %}": "line 1: Encountered unknown tag 'debug'.",
    "{% do contact.clear() %}": "line 1: Encountered unknown tag 'do'.",
    "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}": "nested too deeply",
    "{{ " + "[" * 5000 + "]" * 5000 + " }}": "nested too deeply",
}


def _problem(response: Any, field: str, source: str = "") -> str:
    """The detail of a 422 naming `field` first, after checking it shows nothing of Python's."""
    assert response.status_code == 422, (source, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"][0]["field"] == field, problem
    for marker in LEAK_MARKERS:
        assert marker not in response.text, (marker, response.text)
    return str(problem["detail"])


def _template(api: TestClient, number: int, **fields: str) -> int:
    body = {"name": f"Attempt {number}", "kind": "marketing", "subject": "Hi", "html_body": "<p>Hi</p>"}
    response = api.post("/templates", json={**body, **fields})
    # Saving compiles and never evaluates: an attack in an expression is stored, and fails on render.
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture
def contact_id(api: TestClient) -> int:
    response = api.post("/contacts", json={"email": "ann@example.com", "first_name": "Ann"})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_sandbox_escapes_fail_the_render_naming_field_and_line(
    api: TestClient, settings: Settings, contact_id: int
) -> None:
    for number, (source, message) in enumerate(ESCAPES.items()):
        template_id = _template(api, number, html_body=f"<p>Hi</p>\n{source}")
        response = api.post(f"/templates/{template_id}/preview", json={"contact_id": contact_id})
        detail = _problem(response, "html_body", source)
        assert detail.startswith("html_body: line 2: ") and message in detail, (source, detail)
    # Nothing the templates tried stuck: the contact is as it was.
    contact = api.get(f"/contacts/{contact_id}").json()
    assert (contact["email"], contact["first_name"]) == ("ann@example.com", "Ann")


@pytest.mark.parametrize("field", ["subject", "text_body"])
def test_every_field_renders_in_the_sandbox(api: TestClient, contact_id: int, field: str) -> None:
    template_id = _template(api, 0, **{field: "{{ cycler.__init__.__globals__ }}"})
    response = api.post(f"/templates/{template_id}/preview", json={"contact_id": contact_id})
    assert (
        _problem(response, field)
        == f"{field}: line 1: access to attribute '__init__' of 'type' object is unsafe."
    )


def test_an_escape_in_a_partial_names_the_partial(api: TestClient, contact_id: int) -> None:
    evil = api.post("/partials", json={"name": "evil", "body": "{{ joiner.__init__.__globals__ }}"})
    assert evil.status_code == 201, evil.text
    template_id = _template(api, 0, html_body="<p>Hi</p>\n{% include 'evil' %}")
    response = api.post(f"/templates/{template_id}/preview", json={"contact_id": contact_id})
    assert _problem(response, "partial:evil").startswith(
        "partial:evil: line 1: access to attribute '__init__'"
    )


def test_the_safe_globals_still_work(api: TestClient, contact_id: int) -> None:
    # The refusals above come from the sandbox, not from a template language that does nothing.
    source = (
        "{% set n = namespace(count=1) %}{% set n.count = n.count + 1 %}{{ n.count }}"
        "{{ cycler('a', 'b').next() }}{% set comma = joiner(',') %}{{ comma() }}{{ comma() }}"
        "{{ range(3)|join }}{{ '{0}!'.format(contact.first_name) }}{{ '%s.' % contact.first_name }}"
    )
    template_id = _template(api, 0, html_body=source)
    response = api.post(f"/templates/{template_id}/preview", json={"contact_id": contact_id})
    assert response.status_code == 200, response.text
    assert response.json()["html"] == "2a,012Ann!Ann."


def test_exhausting_time_or_memory_fails_the_render_within_its_budget(
    api: TestClient, contact_id: int
) -> None:
    for number, (source, message) in enumerate(EXHAUSTION.items()):
        template_id = _template(api, number, html_body=source)
        response = api.post(f"/templates/{template_id}/preview", json={"contact_id": contact_id})
        assert _problem(response, "html_body", source) == f"html_body: line 1: {message}", source


def test_recursion_fails_the_render(api: TestClient, contact_id: int) -> None:
    for number, source in enumerate(
        [
            "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
            "{% macro f(n) %}{{ f(n + 1) }}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            "{% macro f() %}{% for i in range(2) %}{{ caller() }}{% endfor %}{% endmacro %}"
            "{% call f() %}{% call f() %}{% call f() %}x{% endcall %}{% endcall %}{% endcall %}",
        ]
    ):
        template_id = _template(api, number, html_body=source)
        response = api.post(f"/templates/{template_id}/preview", json={"contact_id": contact_id})
        if number == 2:
            # Bounded nesting is fine: eight copies.
            assert response.json()["html"] == "x" * 8
            continue
        _problem(response, "html_body", source)


def test_files_computed_names_and_unknown_tags_are_refused_on_save(
    api: TestClient, settings: Settings
) -> None:
    assert api.post("/partials", json={"name": "footer", "body": "<p>Bye</p>"}).status_code == 201
    before = row_counts(settings)
    for number, (source, message) in enumerate(REFUSED_ON_SAVE.items()):
        body = {"name": f"Attempt {number}", "kind": "marketing", "subject": "Hi", "html_body": source}
        assert _problem(api.post("/templates", json=body), "html_body", source) == f"html_body: {message}"
        partial = api.post("/partials", json={"name": f"attempt-{number}", "body": source})
        assert _problem(partial, "body", source) == f"body: {message}"
    assert row_counts(settings) == before


def test_partials_cannot_include_each_other(api: TestClient) -> None:
    assert api.post("/partials", json={"name": "a", "body": "<p>A</p>"}).status_code == 201
    b = api.post("/partials", json={"name": "b", "body": "{% include 'a' %}"})
    assert b.status_code == 201, b.text
    looped = api.patch("/partials/1", json={"body": "{% include 'b' %}"})
    assert (
        _problem(looped, "body")
        == "body: line 1: 'b' uses 'a' in turn; partials may not use each other in a cycle"
    )
    itself = api.post("/partials", json={"name": "c", "body": "{% include 'c' %}"})
    assert _problem(itself, "body") == "body: line 1: unknown partial 'c'"


def test_printing_functions_and_classes_shows_nothing_of_python(api: TestClient, contact_id: int) -> None:
    for number, source in enumerate(["{{ range }}", "{{ ''.join }}", "{{ cycler }}", "{{ contact.items }}"]):
        template_id = _template(api, number, html_body=source)
        response = api.post(f"/templates/{template_id}/preview", json={"contact_id": contact_id})
        for marker in LEAK_MARKERS:
            assert marker not in response.text, (source, response.text)
