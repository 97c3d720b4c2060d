"""Resource limits on rendering: huge values, long ranges, big output and slow templates are refused fast."""

import itertools
import time
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from nurture.db.models import Contact, ContactStatus, Partial, Template, TemplateKind
from nurture.db.session import session_factory
from nurture.settings import Settings
from nurture.templates.limits import DEFAULT_LIMITS, Limits
from nurture.templates.render import Sender, TemplateRenderError, preview_email, render_email
from nurture.templates.validate import check_template_source

SENDER = Sender(name="Acme Team", email="team@acme.test")
_COUNT = itertools.count()
# Two harmless lines first, so errors must carry the line of the expression at fault.
PREFIX = "<p>Hello {{ contact.first_name }}</p>\n<p>{{ model.order }}</p>\n"
# Refused "promptly": without the limits each of these runs for minutes or exhausts memory. The
# bound is loose because a busy CI host can stall a process for a second; speed is bench/'s job.
PROMPTLY = 5.0


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    with session_factory(settings.resolved_database_url)() as session:
        yield session
        session.rollback()


def _render(
    session: Session,
    html: str,
    *,
    text: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    model: dict[str, object] | None = None,
) -> tuple[str, float]:
    """The rendered HTML (or the error's text) and how long rendering took."""
    number = next(_COUNT)
    contact = Contact(status=ContactStatus.ACTIVE, email=f"ada{number}@example.com", first_name="Ada")
    template = Template(
        name=f"t-{number}", kind=TemplateKind.MARKETING, subject="Hi", html_body=html, text_body=text
    )
    session.add_all([contact, template])
    session.flush()
    started = time.monotonic()
    try:
        email = render_email(
            session,
            template=template,
            contact=contact,
            sender=SENDER,
            model={"order": 42} if model is None else model,
            limits=limits,
        )
    except TemplateRenderError as exc:
        return str(exc), time.monotonic() - started
    return email.html, time.monotonic() - started


@pytest.mark.parametrize(
    "expression",
    [
        "{{ 'x' * 10**10 }}",
        "{{ [1, 2] * 10**9 }}",
        "{{ 2 ** 100000000 }}",
        "{{ 10**60 * 10**60 }}",
        "{{ '%0100000000d' % 1 }}",
        "{{ '%0*d'|format(100000000, 1) }}",
        "{{ '{:>10000000000}'.format(1) }}",
        "{{ 'ab'|center(10000000000) }}",
        "{{ 'ab'.ljust(10000000000) }}",
        "{{ lipsum(1000, max=100000) }}",
        "{{ [1]|slice(10000000000)|list }}",
        "{% set s = 'x' * 100000 %}{{ s|replace('x', s) }}",
        "{% set s = 'x' * 100000 %}{{ s.replace('x', s) }}",
        "{% set s = 'x' * 100000 %}{{ ([s] * 1000)|join }}",
        "{% set s = 'x' * 100000 %}{{ ''.join([s] * 1000) }}",
        "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    ],
)
def test_huge_values_are_refused_before_they_are_built(session: Session, expression: str) -> None:
    error, took = _render(session, PREFIX + expression)
    assert error == "html_body: line 3: result too large"
    assert took < PROMPTLY


def test_ranges_are_capped(session: Session) -> None:
    error, took = _render(session, PREFIX + "{{ range(100000)|join(',') }}")
    assert error == "html_body: line 3: range over 10,000 items"
    html, _ = _render(session, "{{ range(10000)|sum }}")
    assert html == str(sum(range(10000)))


def test_output_over_the_limit_stops_rendering(session: Session) -> None:
    big = "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}"
    error, took = _render(session, big)
    assert error == "html_body: line 1: rendered output over 2 MiB"
    assert took < PROMPTLY
    # Each field has its own limit, counted in UTF-8 bytes.
    error, _ = _render(session, "<p>ok</p>", text="{{ 'é' * 600 }}", limits=Limits(max_output=1024))
    assert error == "text_body: line 1: rendered output over 1 KiB"
    html, _ = _render(session, "{{ 'é' * 500 }}", limits=Limits(max_output=1024))
    assert html == "é" * 500


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        "{% for a in model.items %}{% for b in model.items %}{% for c in model.items %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        # No loop at all: a macro calling itself twice, 2**40 calls.
        "{% macro d(n) %}{% if n %}{{ d(n - 1) }}{{ d(n - 1) }}{% endif %}{% endmacro %}{{ d(40) }}",
    ],
)
def test_slow_templates_stop_at_the_deadline(session: Session, source: str) -> None:
    limits = Limits(seconds=0.2)
    error, took = _render(session, PREFIX + source, limits=limits, model={"items": list(range(1000))})
    assert error == "html_body: line 3: rendering took over 0.2 s"
    assert 0.2 <= took < PROMPTLY


def test_limits_name_the_partial_at_fault(session: Session) -> None:
    session.add(
        Partial(name="slow", body="<p>\n{% for i in range(10000) %}{{ range(10000)|sum }}{% endfor %}")
    )
    error, took = _render(session, PREFIX + "{% include 'slow' %}", limits=Limits(seconds=0.2))
    assert error == "partial:slow: line 2: rendering took over 0.2 s"
    assert took < PROMPTLY


def test_making_the_plain_text_counts_in_the_time(session: Session) -> None:
    # Rendering static HTML is instant; reading 240,000 tags to make the text is not (each line
    # differs: a line seen before is not read again).
    html = "".join(f"<p><b>{line}</b></p>\n" for line in range(80000))
    error, took = _render(session, html, limits=Limits(seconds=0.2))
    assert error == "html_body: rendering took over 0.2 s (making its plain text)"
    assert took < PROMPTLY


def test_previews_are_limited_too(session: Session) -> None:
    contact = Contact(status=ContactStatus.ACTIVE, email="ada@example.com")
    template = Template(name="p", kind=TemplateKind.MARKETING, subject="{{ 'x' * 10**10 }}", html_body="<p>")
    session.add_all([contact, template])
    session.flush()
    with pytest.raises(TemplateRenderError) as caught:
        preview_email(session, template=template, contact=contact, sender=SENDER, model={})
    assert (caught.value.field, caught.value.line, caught.value.message) == ("subject", 1, "result too large")


def test_normal_templates_still_render(session: Session) -> None:
    rows = [{"sku": f"A-{i}", "name": f"Item <{i}>", "price": i * 1.5, "qty": i % 3} for i in range(200)]
    html = (
        "<table>{% for row in model.rows %}<tr class=\"{{ loop.cycle('odd', 'even') }}\">"
        "<td>{{ loop.index }}</td><td>{{ row.sku }}</td><td>{{ row.name|upper }}</td>"
        "<td>{{ '%.2f'|format(row.price * row.qty) }}</td><td>{{ '{:,}'.format(row.qty * 1000000) }}</td>"
        "</tr>{% else %}<tr><td>none</td></tr>{% endfor %}</table>"
        "{% for key, value in model.totals.items() %}{{ key }}={{ value }};{% endfor %}"
        "{{ model.rows|map(attribute='qty')|sum }} {{ [1, 2] + [3] }} {{ 'a' ~ 'b' }} {{ 2 ** 10 }}"
        "{{ model.rows|selectattr('qty', 'equalto', 0)|list|length }} {{ ('-' * 20) }}"
        "{% set wide = (model.rows|map(attribute='name')|join(', ')) %}{{ wide|length }}"
    )
    rendered, _ = _render(session, html, model={"rows": rows, "totals": {"count": 200}})
    assert rendered.count("<tr") == 200
    assert (
        '<tr class="odd"><td>1</td><td>A-0</td><td>ITEM &lt;0&gt;</td><td>0.00</td><td>0</td></tr>'
        in rendered
    )
    assert '<tr class="even"><td>200</td><td>A-199</td><td>ITEM &lt;199&gt;</td><td>298.50</td>' in rendered
    assert "<td>2,000,000</td>" in rendered
    assert rendered.endswith(
        f"count=200;199 [1, 2, 3] ab 1024{67} {'-' * 20}{len(', '.join(r['name'] for r in rows))}"
    )


def test_saving_never_evaluates_the_template(session: Session) -> None:
    started = time.monotonic()
    for source in ("{{ 'x' * 10**10 }}", "{{ 'ab'|center(10000000000) }}", "{{ 9 ** 99999999 }}"):
        check_template_source(session, subject="Hi", html_body=source, text_body=None, layout_id=None)
    assert time.monotonic() - started < PROMPTLY
