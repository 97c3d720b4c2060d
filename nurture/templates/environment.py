"""The sandboxed Jinja environments of one render: partials loaded by name, undefined names recorded."""

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, ClassVar

from jinja2 import BaseLoader, Environment, TemplateNotFound, Undefined, UndefinedError
from jinja2.utils import missing
from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.db.models import Partial
from nurture.templates.limits import Budget
from nurture.templates.sandbox import LimitedSandbox

PARTIAL_LABEL = "partial:"


class Record(dict[str, Any]):
    """A mapping shown to templates that knows where it sits (`contact`, `model.order`)."""

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        super().__init__(data)
        # Underscored, so the sandbox refuses it to templates; a custom field may be called `path`.
        self._path = path


class Items(list[Any]):
    """A list shown to templates that knows where it sits (`model.items`)."""

    def __init__(self, data: list[Any], path: str) -> None:
        super().__init__(data)
        self._path = path


# What `expose` wraps: values that hold names of their own.
_NESTED = (Mapping, list, tuple)


def expose(value: Any, path: str) -> Any:
    """`value` with every mapping and list in it wrapped so undefined names can say where they were."""
    if isinstance(value, Mapping):
        # Paths are built only for what holds more names: a contact's scalars need none.
        return Record(
            {str(k): expose(v, f"{path}.{k}") if isinstance(v, _NESTED) else v for k, v in value.items()},
            path,
        )
    if isinstance(value, list | tuple):
        return Items(
            [expose(v, f"{path}[{i}]") if isinstance(v, _NESTED) else v for i, v in enumerate(value)], path
        )
    return value


@dataclass(frozen=True)
class Use:
    """An undefined variable used in a template: its dotted path, and the field and line using it."""

    path: str
    field: str
    line: int | None


@dataclass
class Recorder:
    """The undefined variables one render used, in order."""

    uses: list[Use] = field(default_factory=list)

    def record(self, path: str) -> None:
        """Note a use of `path`, located at the innermost template frame on the stack."""
        label, line = "?", None
        frame = sys._getframe(1)
        while frame is not None:
            # Every function Jinja compiles for a template shares a module holding this name.
            template = frame.f_globals.get("__jinja_template__")
            if template is not None:
                label, line = template.filename or "?", template.get_corresponding_lineno(frame.f_lineno)
                break
            frame = frame.f_back  # type: ignore[assignment]
        self.uses.append(Use(path=path, field=label, line=line))

    def names(self) -> list[str]:
        """Each undefined path once, in the order first used."""
        return list(dict.fromkeys(use.path for use in self.uses))


class RecordingUndefined(Undefined):
    """Like `StrictUndefined`, every use of an undefined value counts; it is recorded, not raised.

    Printing, iterating, testing truth or comparing records the name and behaves as empty, so a
    preview can show the whole email; a strict render raises afterwards naming every name.
    `is defined` and `| default(...)` stay the ways to allow a missing value. Attribute access
    chains (`contact.owner.name` is reported as the first missing part). Arithmetic and calls
    still raise, as there is no sensible empty result. Unsafe attributes raise `SecurityError`.
    """

    __slots__ = ()
    recorder: ClassVar[Recorder | None] = None

    @property
    def path(self) -> str:
        """Where the value was looked up: `nickname`, `contact.nickname`, `model.items[3]`."""
        obj, name = self._undefined_obj, self._undefined_name
        if obj is missing:
            return str(name)
        base = obj._path if isinstance(obj, Record | Items) else f"<{type(obj).__name__}>"
        return f"{base}.{name}" if isinstance(name, str) else f"{base}[{name!r}]"

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        return f"'{self.path}' is undefined"

    def _use(self) -> None:
        if self._undefined_exception is not UndefinedError:
            self._fail_with_undefined_error()
        if self.recorder is not None:
            self.recorder.record(self.path)

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        if self._undefined_exception is UndefinedError and self.recorder is not None:
            self.recorder.record(self.path)
        raise self._undefined_exception(self._undefined_message)

    __add__ = __radd__ = __sub__ = __rsub__ = _fail_with_undefined_error
    __mul__ = __rmul__ = __div__ = __rdiv__ = _fail_with_undefined_error
    __truediv__ = __rtruediv__ = _fail_with_undefined_error
    __floordiv__ = __rfloordiv__ = _fail_with_undefined_error
    __mod__ = __rmod__ = _fail_with_undefined_error
    __pos__ = __neg__ = _fail_with_undefined_error
    __call__ = _fail_with_undefined_error
    __lt__ = __le__ = __gt__ = __ge__ = _fail_with_undefined_error  # type: ignore[assignment]
    __int__ = __float__ = __complex__ = _fail_with_undefined_error
    __pow__ = __rpow__ = _fail_with_undefined_error

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)
        if self._undefined_exception is not UndefinedError:
            self._fail_with_undefined_error()
        return self

    def __getitem__(self, key: Any) -> Any:
        if self._undefined_exception is not UndefinedError:
            self._fail_with_undefined_error()
        return self

    def __str__(self) -> str:
        self._use()
        return ""

    def __len__(self) -> int:
        self._use()
        return 0

    def __iter__(self) -> Any:
        self._use()
        return iter(())

    def __bool__(self) -> bool:
        self._use()
        return False

    def __eq__(self, other: Any) -> bool:
        self._use()
        return type(self) is type(other)

    def __ne__(self, other: Any) -> bool:
        self._use()
        return type(self) is not type(other)

    __hash__ = Undefined.__hash__


class SandboxEnvironment(LimitedSandbox):
    """The sandbox, where a key of a contact or model wins over a dict method of the same name."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Jinja prefers attributes, so `contact.items` would be dict.items, not the custom field.
        if isinstance(obj, Record) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


def _always_current() -> bool:
    return True


class PartialLoader(BaseLoader):
    """The sources of one render by reserved name, and partials by name, ignoring case."""

    def __init__(self, session: Session, sources: Mapping[str, tuple[str, str]]) -> None:
        self._session = session
        self._sources = dict(sources)
        self._partials: dict[str, Partial] | None = None

    def read_partials(self) -> dict[str, Partial]:
        """Every partial by lowercased name, read in one query the first time (partials are few)."""
        if self._partials is None:
            self._partials = {p.name.strip().lower(): p for p in self._session.scalars(select(Partial))}
        return self._partials

    def partial(self, name: str) -> Partial | None:
        """The partial with this name, ignoring case and surrounding spaces."""
        return self.read_partials().get(name.strip().lower())

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        """(source, label, uptodate): the label is the field name or `partial:<name>`."""
        if template in self._sources:
            source, label = self._sources[template]
            return source, label, _always_current
        partial = self.partial(template)
        if partial is None:
            raise TemplateNotFound(template)
        return partial.body, f"{PARTIAL_LABEL}{partial.name}", _always_current


def _printable(value: Any) -> Any:
    """What an expression prints: nothing for None (a contact without a first name), and nothing
    for a function, class or module, whose repr would show Python's internals (paths, addresses)."""
    if isinstance(value, Undefined):
        return value  # it prints as the undefined policy says (and is recorded)
    if value is None or callable(value) or isinstance(value, ModuleType):
        return ""
    if type(value).__repr__ is object.__repr__ and type(value).__str__ is object.__str__:
        return ""  # `<... object at 0x...>`: a helper object, such as a cycler
    return value


@dataclass(frozen=True)
class Environments:
    """The two environments of one render, sharing a loader and a recorder of undefined names."""

    html: SandboxEnvironment
    text: SandboxEnvironment
    recorder: Recorder
    loader: PartialLoader


def environments(
    session: Session, sources: Mapping[str, tuple[str, str]], *, budget: Budget | None = None
) -> Environments:
    """Fresh environments for one render.

    Args:
        session: where partials are read from.
        sources: reserved names (never valid partial names, e.g. `@html_body`) mapped to
            (source, label); the label names the field in errors.
        budget: the time and sizes the render may use (default limits, from now).

    The HTML environment autoescapes, also inside partials it includes; the text one (subject,
    text body) does not, so a partial included in a text body prints `&` rather than `&amp;`.
    """
    recorder = Recorder()
    undefined = type("RenderUndefined", (RecordingUndefined,), {"__slots__": (), "recorder": recorder})
    loader = PartialLoader(session, sources)
    options: dict[str, Any] = {
        "loader": loader,
        "undefined": undefined,
        "finalize": _printable,
        "budget": budget or Budget(),
    }
    return Environments(
        html=SandboxEnvironment(autoescape=True, **options),
        text=SandboxEnvironment(autoescape=False, **options),
        recorder=recorder,
        loader=loader,
    )
