"""Checks on save: syntax errors with their line, unknown partials, layouts, include cycles."""

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from nurture.db.models import Partial, Template, TemplateKind
from nurture.db.session import session_factory
from nurture.settings import Settings
from nurture.templates.errors import TemplateSourceError
from nurture.templates.validate import check_partial_source, check_template_source


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    with session_factory(settings.resolved_database_url)() as session:
        yield session
        session.rollback()


def _partial(session: Session, name: str, body: str) -> Partial:
    partial = Partial(name=name, body=body)
    session.add(partial)
    session.flush()
    return partial


def _refused(session: Session, **fields: object) -> TemplateSourceError:
    values: dict[str, object] = {
        "subject": "Hi",
        "html_body": "<p>x</p>",
        "text_body": None,
        "layout_id": None,
    }
    values.update(fields)
    with pytest.raises(TemplateSourceError) as caught:
        check_template_source(session, **values)  # type: ignore[arg-type]
    return caught.value


def test_valid_template_passes(session: Session) -> None:
    layout = _partial(session, "base", "<html>{% block content %}{% endblock %}{% include 'footer' %}</html>")
    _partial(session, "footer", "<p>bye</p>")
    check_template_source(
        session,
        subject="Hi {{ contact.first_name }}",
        html_body="<p>{{ model.x | upper }}</p>{% include 'FOOTER' %}",
        text_body="Hi",
        layout_id=layout.id,
    )


def test_syntax_errors_name_field_and_line(session: Session) -> None:
    error = _refused(session, html_body="<p>\n</p>\n{{ contact.first_name }\n")
    assert (error.field, error.line) == ("html_body", 3)
    assert str(error) == "html_body: line 3: unexpected '}'"
    assert _refused(session, subject="{% if x %}").field == "subject"
    text = _refused(session, text_body="ok\n{{ x | no_such_filter }}")
    assert (text.field, text.line) == ("text_body", 2)
    assert "no_such_filter" in text.message


def test_unknown_or_computed_partials_are_refused(session: Session) -> None:
    error = _refused(session, html_body="<p>x</p>\n{% include 'missing' %}")
    assert str(error) == "html_body: line 2: unknown partial 'missing'"
    computed = _refused(session, html_body="{% include model.partial %}")
    assert computed.field == "html_body" and "in quotes" in computed.message


def test_layout_must_exist_and_hold_content_block(session: Session) -> None:
    assert str(_refused(session, layout_id=999)) == "layout_id: partial 999 does not exist"
    plain = _partial(session, "plain", "<html>{% block body %}{% endblock %}</html>")
    error = _refused(session, layout_id=plain.id)
    assert error.field == "layout_id" and "'plain' has no {% block content %}" in error.message
    # A layout that extends one holding the block is fine.
    base = _partial(session, "base", "<html>{% block content %}{% endblock %}</html>")
    child = _partial(session, "branded", "{% extends 'base' %}{% block head %}{% endblock %}")
    check_template_source(session, subject="s", html_body="x", text_body=None, layout_id=child.id)
    extends = _refused(session, html_body="{% extends 'base' %}", layout_id=base.id)
    assert extends.field == "html_body" and "extends" in extends.message


def test_partial_cycles_are_refused(session: Session) -> None:
    a = _partial(session, "a", "A")
    _partial(session, "b", "{% include 'a' %}")
    with pytest.raises(TemplateSourceError, match="'a' may not use itself"):
        check_partial_source(session, name="a", body="{% include 'A' %}", partial_id=a.id)
    with pytest.raises(TemplateSourceError, match="'b' uses 'a' in turn") as caught:
        check_partial_source(session, name="a", body="x\n{% include 'b' %}", partial_id=a.id)
    assert (caught.value.field, caught.value.line) == ("body", 2)
    with pytest.raises(TemplateSourceError, match="body: line 1: Unexpected end of template"):
        check_partial_source(session, name="c", body="{% if x %}")


def test_changing_a_layout_keeps_its_content_block(session: Session) -> None:
    layout = _partial(session, "base", "{% block content %}{% endblock %}")
    session.add(
        Template(name="Welcome", kind=TemplateKind.MARKETING, subject="s", html_body="x", layout_id=layout.id)
    )
    session.flush()
    with pytest.raises(TemplateSourceError, match="template 'Welcome' would lose the {% block content %}"):
        check_partial_source(session, name="base", body="<p>no block</p>", partial_id=layout.id)
    check_partial_source(
        session, name="base", body="<div>{% block content %}{% endblock %}</div>", partial_id=layout.id
    )
