"""Rendering a template for one contact: what the sending pipeline and the preview endpoint call."""

import itertools
import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Protocol, cast

from jinja2 import Template as Compiled
from jinja2 import TemplateNotFound, TemplateSyntaxError
from sqlalchemy.orm import Session

from nurture.db.models import Contact, Partial, Template
from nurture.pieces import cuts_around, pieces
from nurture.templates.context import Sender, build_context
from nurture.templates.environment import Recorder, SandboxEnvironment, environments
from nurture.templates.errors import TemplateRenderError, locate
from nurture.templates.limits import DEFAULT_LIMITS, Budget, LimitExceeded, Limits, byte_size
from nurture.templates.text import TextCache

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "PreparedTemplate",
    "PreviewedEmail",
    "Renderable",
    "RenderedEmail",
    "Sender",
    "TemplateRenderError",
    "preview_email",
    "render_email",
]

# Reserved names for the template's own fields; partial names cannot contain "@".
SUBJECT, HTML_BODY, TEXT_BODY, LAYOUT = "@subject", "@html_body", "@text_body", "@layout"
_LABELS = {"subject", "html_body", "text_body", "layout"}


@dataclass(frozen=True)
class RenderedEmail:
    """A rendered email: a one-line subject, the HTML and the plain text.

    `html_pieces` is the HTML cut into the template's own runs of lines and the lines that hold
    its values (`cuts_around`): what the text and link caches look up, cut once for both.
    """

    subject: str
    html: str
    text: str
    html_pieces: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PreviewedEmail:
    """A preview: the email with undefined variables left empty, and their names."""

    subject: str
    html: str
    text: str
    undefined: list[str]


class Renderable(Protocol):
    """What the send pipeline renders an email from: a template, or an email written out in full."""

    def render(
        self, *, contact: Contact, sender: Sender, model: dict[str, Any], extra: dict[str, Any] | None = None
    ) -> RenderedEmail:
        """The email for this contact (see `PreparedTemplate.render`)."""
        ...


class PreparedTemplate:
    """A template compiled once and rendered for many contacts: what a batch of sends shares.

    Compiling (and building the sandbox) costs several times what rendering does; a batch of
    500 emails of one template compiles it once. Each render still gets its own budget and its
    own record of undefined names. Not for use by two threads at once.
    """

    def __init__(
        self,
        session: Session,
        template: Template,
        *,
        subject: str | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        """Read the template's layout; the fields compile on first use.

        Args:
            session: where the layout and partials (and contacts' owners) are read from.
            template: the template; its layout, if any, wraps the HTML body.
            subject: a subject to render instead of the template's (an A/B variant), in the same
                sandbox and with the same variables.
            limits: the time and sizes each render may use (see `Limits`).

        Raises:
            TemplateRenderError: the template's layout does not exist.
        """
        self._session = session
        self._limits = limits
        subject_source = template.subject if subject is None else subject
        sources = {SUBJECT: (subject_source, "subject")}
        html_source = template.html_body
        if template.layout_id is not None:
            layout = session.get(Partial, template.layout_id)
            if layout is None:
                raise TemplateRenderError(
                    field="layout", line=None, message=f"partial {template.layout_id} does not exist"
                )
            sources[LAYOUT] = (layout.body, "layout")
            # On the body's first line, so errors in the body keep their line numbers.
            html_source = f'{{% extends "{LAYOUT}" %}}{{% block content %}}{html_source}{{% endblock %}}'
        sources[HTML_BODY] = (html_source, "html_body")
        self._has_text = bool(template.text_body and template.text_body.strip())
        if self._has_text:
            sources[TEXT_BODY] = (template.text_body or "", "text_body")
        self._envs = environments(session, sources, budget=Budget(limits))
        # The batch's emails share most of their HTML, so most of their plain text.
        self._texts = TextCache()

    def read_partials(self) -> None:
        """Read the partials now, so that rendering needs the database no more.

        Rendering still reads a contact's owner unless the session has it already.
        """
        self._envs.loader.read_partials()

    def render(
        self, *, contact: Contact, sender: Sender, model: dict[str, Any], extra: dict[str, Any] | None = None
    ) -> RenderedEmail:
        """Render for a contact, refusing to send blanks for undefined variables.

        Args:
            contact: the recipient, seen as `contact` with its custom fields merged in.
            sender: seen as `sender`.
            model: the per-send data, seen as `model`.
            extra: more top-level variables (the pipeline passes `unsubscribe_url`); they cannot
                replace `contact`, `sender` or `model`.

        Raises:
            TemplateRenderError: a variable is undefined (field and line of the first use, every
                undefined name in `undefined`), or rendering failed (sandbox refusal, bad partial,
                a limit: `result too large`, `rendered output over 2 MiB`, `rendering took over 2 s`).
        """
        email, recorder = self._render(contact, sender, model, extra)
        if recorder.uses:
            first, names = recorder.uses[0], recorder.names()
            message = f"'{first.path}' is undefined"
            if len(names) > 1:
                message += f" (undefined: {', '.join(names)})"
            raise TemplateRenderError(field=first.field, line=first.line, message=message, undefined=names)
        return email

    def preview(
        self, *, contact: Contact, sender: Sender, model: dict[str, Any], extra: dict[str, Any] | None = None
    ) -> PreviewedEmail:
        """Render like `render`, but show undefined variables as empty and list them.

        Raises:
            TemplateRenderError: rendering failed for another reason (or arithmetic on an undefined
                value), or went over a limit.
        """
        email, recorder = self._render(contact, sender, model, extra)
        return PreviewedEmail(email.subject, email.html, email.text, recorder.names())

    def _render(
        self, contact: Contact, sender: Sender, model: dict[str, Any], extra: dict[str, Any] | None
    ) -> tuple[RenderedEmail, Recorder]:
        envs = self._envs
        # A fresh budget (its deadline starts now) and an empty record for every render.
        budget = Budget(self._limits)
        envs.html.budget = envs.text.budget = budget
        envs.recorder.uses.clear()
        context = build_context(self._session, contact=contact, sender=sender, model=model, extra=extra)
        subject = "".join(_render_one(envs.text, SUBJECT, context, envs.recorder))
        chunks = _render_one(envs.html, HTML_BODY, context, envs.recorder)
        html = "".join(chunks)
        # The template's text comes in chunks of its own, its values in others.
        split = tuple(pieces(html, cuts_around(html, itertools.accumulate(map(len, chunks[:-1])))))
        if self._has_text:
            text = "".join(_render_one(envs.text, TEXT_BODY, context, envs.recorder))
        else:
            text = _text(self._texts, html, split, budget)
        # A subject is one header line.
        subject = re.sub(r"\s*[\r\n]+\s*", " ", subject).strip()
        return RenderedEmail(subject=subject, html=html, text=text, html_pieces=split), envs.recorder


def render_email(
    session: Session,
    *,
    template: Template,
    contact: Contact,
    sender: Sender,
    model: dict[str, Any],
    extra: dict[str, Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    subject: str | None = None,
) -> RenderedEmail:
    """Render a template once for a contact (see `PreparedTemplate.render`).

    Raises:
        TemplateRenderError: see `PreparedTemplate.render`.
    """
    prepared = PreparedTemplate(session, template, subject=subject, limits=limits)
    return prepared.render(contact=contact, sender=sender, model=model, extra=extra)


def preview_email(
    session: Session,
    *,
    template: Template,
    contact: Contact,
    sender: Sender,
    model: dict[str, Any],
    extra: dict[str, Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    subject: str | None = None,
) -> PreviewedEmail:
    """Render a template once like `render_email`, but show undefined variables as empty and list them.

    Raises:
        TemplateRenderError: rendering failed for another reason (or arithmetic on an undefined
            value), or went over a limit.
    """
    prepared = PreparedTemplate(session, template, subject=subject, limits=limits)
    return prepared.preview(contact=contact, sender=sender, model=model, extra=extra)


def _text(texts: TextCache, html: str, split: tuple[str, ...], budget: Budget) -> str:
    """The plain text made from the HTML body, within the render's time."""
    try:
        return texts.html_to_text(html, split=split, tick=budget.tick)
    except LimitExceeded as exc:
        # Tens of thousands of tags take seconds to convert; the HTML body is what to shorten.
        message = f"{exc} (making its plain text)"
        raise TemplateRenderError(field="html_body", line=None, message=message) from exc


def _render_one(env: SandboxEnvironment, name: str, context: dict[str, Any], recorder: Recorder) -> list[str]:
    """The rendered field, in the chunks the template yielded."""
    field = name.removeprefix("@")
    try:
        return _stream(_compiled(env, name), context, env.budget)
    except TemplateSyntaxError as exc:
        # Saved sources are checked, so this is a partial that predates the checks.
        raise _error(exc.filename or field, exc.lineno, exc.message or str(exc), recorder) from exc
    except TemplateNotFound as exc:
        where, line = locate(exc, _LABELS)
        raise _error(where or field, line, f"unknown partial '{exc.name}'", recorder) from exc
    except RecursionError as exc:
        raise _error(field, None, "partials include each other too deeply", recorder) from exc
    except Exception as exc:
        where, line = locate(exc, _LABELS)
        raise _error(where or field, line, str(exc) or type(exc).__name__, recorder) from exc


def _compiled(env: SandboxEnvironment, name: str) -> Compiled:
    """The compiled template (from the environment's cache after the first render)."""
    template = env.get_template(name)
    if type(template.globals) is not dict:
        # Jinja copies a template's globals into each render's context. Its ChainMap of the
        # template's and the environment's is copied key by key in Python, a fifth of rendering
        # a newsletter; a dict, at once. The environment's globals are set once, when it is made.
        template.globals = dict(template.globals)
    return template


def _stream(template: Compiled, context: dict[str, Any], budget: Budget) -> list[str]:
    """The rendered template's chunks, stopped as soon as they are over the output limit.

    The deadline is checked by the template's own loops, calls and filters, where the error can
    name the partial and line that were running.
    """
    limit, size, chunks = budget.limits.max_output, 0, []
    stream = cast(Generator[str, None, None], template.generate(context))
    for chunk in stream:
        # Characters are never more than UTF-8 bytes, so a huge chunk is refused without encoding it.
        size += len(chunk) if chunk.isascii() or len(chunk) > limit else len(chunk.encode())
        if size > limit:
            # Raised where the template stands, so the error names its field and line.
            stream.throw(LimitExceeded(f"rendered output over {byte_size(limit)}"))
        chunks.append(chunk)
    return chunks


def _error(label: str, line: int | None, message: str, recorder: Recorder) -> TemplateRenderError:
    return TemplateRenderError(field=label, line=line, message=message, undefined=recorder.names())
