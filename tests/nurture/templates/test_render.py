"""Rendering templates for a contact: fields, escaping, layouts and partials, undefined names, sandbox."""

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from nurture.db.models import Contact, ContactStatus, Partial, Template, TemplateKind, User
from nurture.db.session import session_factory
from nurture.settings import Settings
from nurture.templates.limits import Limits
from nurture.templates.render import (
    PreparedTemplate,
    Sender,
    TemplateRenderError,
    preview_email,
    render_email,
)

SENDER = Sender(name="Acme Team", email="team@acme.test")


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    with session_factory(settings.resolved_database_url)() as session:
        yield session
        session.rollback()


def _contact(session: Session, **fields: object) -> Contact:
    values: dict[str, object] = {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}
    values.update(fields)
    contact = Contact(status=ContactStatus.ACTIVE, **values)
    session.add(contact)
    session.flush()
    return contact


def _template(
    session: Session, *, subject: str = "Hi", html: str, text: str | None = None, **kw: object
) -> Template:
    template = Template(
        name=f"t{len(session.new)}-{id(html)}",
        kind=TemplateKind.MARKETING,
        subject=subject,
        html_body=html,
        text_body=text,
        **kw,
    )
    session.add(template)
    session.flush()
    return template


def _partial(session: Session, name: str, body: str) -> Partial:
    partial = Partial(name=name, body=body)
    session.add(partial)
    session.flush()
    return partial


def test_contact_fields_custom_fields_sender_model_and_extra(session: Session) -> None:
    owner = User(email="grace@acme.test", name="Grace Hopper")
    session.add(owner)
    session.flush()
    contact = _contact(session, custom_fields={"plan": "pro", "email": "shadowed@x.test"}, owner_id=owner.id)
    template = _template(
        session,
        subject="{{ contact.first_name }}, your {{ contact.plan }} plan",
        html=(
            "<p>{{ contact.full_name }} <{{ contact.email }}> on {{ contact.custom_fields.plan }}, "
            "owner {{ contact.owner.name }}, from {{ sender.name }}, order {{ model.order.id }} "
            "x{{ model.items | length }}, {{ unsubscribe_url }}</p>"
        ),
        text="Hello {{ contact.first_name }}, {{ model.order.id }}",
    )
    rendered = render_email(
        session,
        template=template,
        contact=contact,
        sender=SENDER,
        model={"order": {"id": 42}, "items": [1, 2, 3]},
        extra={"unsubscribe_url": "https://nurture.test/u/abc"},
    )
    assert rendered.subject == "Ada, your pro plan"
    # Built-in names win over custom fields of the same name.
    assert rendered.html == (
        "<p>Ada Lovelace <ada@example.com> on pro, owner Grace Hopper, from Acme Team, order 42 x3, "
        "https://nurture.test/u/abc</p>"
    )
    assert rendered.text == "Hello Ada, 42"


def test_html_autoescapes_contact_fields_but_subject_and_text_do_not(session: Session) -> None:
    contact = _contact(session, first_name="<script>alert(1)</script>", custom_fields={"company": "R&D"})
    template = _template(
        session,
        subject="Hello {{ contact.first_name }} at {{ contact.company }}",
        html="<p>Hello {{ contact.first_name }} at {{ contact.company }}</p>",
    )
    rendered = render_email(session, template=template, contact=contact, sender=SENDER, model={})
    assert rendered.html == "<p>Hello &lt;script&gt;alert(1)&lt;/script&gt; at R&amp;D</p>"
    assert rendered.subject == "Hello <script>alert(1)</script> at R&D"
    # Derived from the HTML: the text reads as the contact wrote it, entities decoded.
    assert rendered.text == "Hello <script>alert(1)</script> at R&D"


def test_layout_with_included_footer_wraps_the_html_body(session: Session) -> None:
    _partial(
        session,
        "footer",
        '<p>Sent by {{ sender.name }} &middot; <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
    )
    layout = _partial(
        session, "base", '<html><body>{% block content %}{% endblock %}{% include "Footer" %}</body></html>'
    )
    contact = _contact(session)
    template = _template(session, html="<h1>Welcome {{ contact.first_name }}</h1>", layout_id=layout.id)
    rendered = render_email(
        session,
        template=template,
        contact=contact,
        sender=SENDER,
        model={},
        extra={"unsubscribe_url": "https://u.test/x"},
    )
    assert rendered.html == (
        '<html><body><h1>Welcome Ada</h1><p>Sent by Acme Team &middot; <a href="https://u.test/x">Unsubscribe</a>'
        "</p></body></html>"
    )
    assert rendered.text == "Welcome Ada\n\nSent by Acme Team · Unsubscribe (https://u.test/x)"


def test_subject_is_one_line(session: Session) -> None:
    template = _template(session, subject="Hello\n  {{ contact.first_name }}\r\n!", html="<p>x</p>")
    rendered = render_email(session, template=template, contact=_contact(session), sender=SENDER, model={})
    assert rendered.subject == "Hello Ada !"


def test_missing_optional_field_prints_nothing(session: Session) -> None:
    contact = _contact(session, first_name=None)
    template = _template(
        session, html="<p>Hi {{ contact.first_name }}{{ contact.first_name | default('there', true) }}</p>"
    )
    assert (
        render_email(session, template=template, contact=contact, sender=SENDER, model={}).html
        == "<p>Hi there</p>"
    )


def test_undefined_variable_names_field_line_and_every_name(session: Session) -> None:
    template = _template(
        session,
        html="<p>Hello</p>\n<p>{{ contact.nickname }}</p>\n"
        "{% if model.coupon %}{{ model.coupon }}{% endif %}",
    )
    with pytest.raises(TemplateRenderError) as caught:
        render_email(session, template=template, contact=_contact(session), sender=SENDER, model={})
    error = caught.value
    assert (error.field, error.line) == ("html_body", 2)
    assert error.undefined == ["contact.nickname", "model.coupon"]
    assert str(error).startswith("html_body: line 2: 'contact.nickname' is undefined")


def test_undefined_in_subject_and_in_a_partial_name_where(session: Session) -> None:
    contact = _contact(session)
    subject = _template(session, subject="Hi {{ first_name }}", html="<p>x</p>")
    with pytest.raises(TemplateRenderError) as caught:
        render_email(session, template=subject, contact=contact, sender=SENDER, model={})
    assert (caught.value.field, caught.value.line, caught.value.undefined) == ("subject", 1, ["first_name"])

    _partial(session, "signature", "<p>Thanks,</p>\n<p>{{ sender.title }}</p>")
    included = _template(session, html="<p>x</p>\n{% include 'signature' %}")
    with pytest.raises(TemplateRenderError) as caught:
        render_email(session, template=included, contact=contact, sender=SENDER, model={})
    assert (caught.value.field, caught.value.line, caught.value.undefined) == (
        "partial:signature",
        2,
        ["sender.title"],
    )


def test_is_defined_and_default_allow_missing_values(session: Session) -> None:
    template = _template(
        session,
        html="{% if model.coupon is defined %}{{ model.coupon }}{% else %}none{% endif %} "
        "{{ model.x | default('-') }}",
    )
    assert (
        render_email(session, template=template, contact=_contact(session), sender=SENDER, model={}).html
        == "none -"
    )


def test_preview_renders_undefined_as_empty_and_lists_them(session: Session) -> None:
    template = _template(
        session,
        subject="For {{ contact.nickname }}",
        html="<p>{{ contact.nickname }} {{ model.order.total }}</p>",
    )
    preview = preview_email(session, template=template, contact=_contact(session), sender=SENDER, model={})
    assert preview.subject == "For"
    assert preview.html == "<p> </p>"
    assert preview.undefined == ["contact.nickname", "model.order"]


@pytest.mark.parametrize(
    "html",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ contact.__class__ }}",
        "{{ model._path }}",
        "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_sandbox_refuses_internals(session: Session, html: str) -> None:
    template = _template(session, html=f"<p>ok</p>\n{html}")
    with pytest.raises(TemplateRenderError) as caught:
        render_email(session, template=template, contact=_contact(session), sender=SENDER, model={})
    assert (caught.value.field, caught.value.line) == ("html_body", 2)
    assert "unsafe" in caught.value.message


def test_sandbox_refuses_mutating_the_context(session: Session) -> None:
    template = _template(session, html="{{ model.items.append(1) }}")
    with pytest.raises(TemplateRenderError, match="unsafe"):
        render_email(
            session, template=template, contact=_contact(session), sender=SENDER, model={"items": []}
        )


def test_custom_field_named_like_a_dict_method_is_the_field(session: Session) -> None:
    contact = _contact(session, custom_fields={"items": "three", "keys": "k"})
    template = _template(session, html="{{ contact.items }} {{ contact.keys }}")
    assert (
        render_email(session, template=template, contact=contact, sender=SENDER, model={}).html == "three k"
    )


def test_runtime_error_names_field_and_line(session: Session) -> None:
    template = _template(session, html="a\nb\n{{ 1 // model.zero }}")
    with pytest.raises(TemplateRenderError) as caught:
        render_email(session, template=template, contact=_contact(session), sender=SENDER, model={"zero": 0})
    assert (caught.value.field, caught.value.line) == ("html_body", 3)


def test_undefined_in_the_layout_names_the_layout(session: Session) -> None:
    layout = _partial(
        session, "base", "<html>\n<title>{{ model.brand }}</title>{% block content %}{% endblock %}</html>"
    )
    template = _template(session, html="<p>x</p>", layout_id=layout.id)
    with pytest.raises(TemplateRenderError) as caught:
        render_email(session, template=template, contact=_contact(session), sender=SENDER, model={})
    assert (caught.value.field, caught.value.line, caught.value.undefined) == ("layout", 2, ["model.brand"])


def test_a_prepared_template_renders_each_contact_on_its_own(session: Session) -> None:
    # A batch compiles a template once and renders it for many contacts: nothing one render
    # records (undefined names, time spent) carries into the next.
    template = _template(
        session,
        subject="For {{ contact.first_name }}",
        html="<p>{{ contact.nickname }} {{ contact.email }}</p>",
    )
    prepared = PreparedTemplate(session, template)
    named = _contact(session, email="nick@example.com", custom_fields={"nickname": "Nick"})
    unnamed = _contact(session, email="anon@example.com", first_name="Anon")

    first = prepared.render(contact=named, sender=SENDER, model={})
    with pytest.raises(TemplateRenderError) as refused:
        prepared.render(contact=unnamed, sender=SENDER, model={})
    again = prepared.render(contact=named, sender=SENDER, model={})

    assert (first.subject, first.html) == ("For Ada", "<p>Nick nick@example.com</p>")
    assert refused.value.undefined == ["contact.nickname"]
    assert again == first


def test_a_prepared_template_gives_each_render_its_full_time(session: Session) -> None:
    slow = "{% for i in range(10000) %}{{ range(10000)|sum }}{% endfor %}"
    template = _template(session, html=f"<p>{{% if model.slow %}}{slow}{{% endif %}}ok</p>")
    prepared = PreparedTemplate(session, template, limits=Limits(seconds=0.3))
    contact = _contact(session)

    with pytest.raises(TemplateRenderError, match="rendering took over 0.3 s"):
        prepared.render(contact=contact, sender=SENDER, model={"slow": True})
    # Long after the first render's deadline, the next one has its own.
    assert prepared.render(contact=contact, sender=SENDER, model={"slow": False}).html == "<p>ok</p>"
