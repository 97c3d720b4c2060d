"""Errors naming the part of a template at fault: the field (or partial) and the line."""

import traceback


class TemplateError(Exception):
    """A problem in a template, located by field (`html_body`, `layout`, `partial:footer`) and line."""

    def __init__(self, *, field: str, line: int | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.line = line
        self.message = message

    @property
    def detail(self) -> str:
        """The message with its line, without the field (`line 3: unexpected '}'`)."""
        return f"line {self.line}: {self.message}" if self.line else self.message

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}"


class TemplateSourceError(TemplateError):
    """A template or partial that cannot be saved: bad syntax, unknown partial, layout without content."""


class TemplateRenderError(TemplateError):
    """Rendering failed: an undefined variable (all are listed in `undefined`) or a runtime error."""

    def __init__(
        self, *, field: str, line: int | None, message: str, undefined: list[str] | None = None
    ) -> None:
        super().__init__(field=field, line=line, message=message)
        self.undefined = list(undefined or [])


def locate(exc: BaseException, labels: set[str]) -> tuple[str | None, int | None]:
    """The innermost template frame of an exception's traceback, as (label, line).

    Jinja rewrites tracebacks raised while rendering so that template frames carry the
    template's filename (the label our loader gives each source) and its own line numbers.
    """
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename in labels or frame.filename.startswith("partial:"):
            return frame.filename, frame.lineno
    return None, None
