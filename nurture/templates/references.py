"""Which partials a template source names in `{% include %}`, `{% extends %}` and `{% import %}`."""

from dataclasses import dataclass

from jinja2 import TemplateSyntaxError, nodes

from nurture.templates.sandbox import LimitedSandbox

# Parsing and compiling need an environment but never load or render anything; this is the class
# templates render in, so compiling here catches unknown filters and, like a render, never
# evaluates `{{ 'x' * 10**10 }}` while compiling (which would make saving a template slow).
PARSER = LimitedSandbox(autoescape=True)

_KINDS: dict[type[nodes.Node], str] = {
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "import",
}


@dataclass(frozen=True)
class Reference:
    """One tag naming another template; `name` is None when it is computed rather than quoted."""

    kind: str
    name: str | None
    line: int


def references(ast: nodes.Template) -> list[Reference]:
    """Every include, extends and import in a parsed template, in source order."""
    found = []
    for node in ast.find_all(tuple(_KINDS)):
        target = node.template  # type: ignore[attr-defined]
        name = target.value if isinstance(target, nodes.Const) and isinstance(target.value, str) else None
        found.append(Reference(kind=_KINDS[type(node)], name=name, line=node.lineno))
    return sorted(found, key=lambda ref: ref.line)


def parse(source: str) -> nodes.Template | None:
    """The parsed source, or None if it does not parse (callers that must know use validate)."""
    try:
        return PARSER.parse(source)
    except (TemplateSyntaxError, RecursionError):
        return None


def referenced_names(source: str | None) -> set[str]:
    """The partial names (lower-cased) a source refers to; empty when it does not parse."""
    ast = parse(source) if source else None
    if ast is None:
        return set()
    return {ref.name.lower() for ref in references(ast) if ref.name}


def has_block(ast: nodes.Template, name: str) -> bool:
    """Whether the parsed template declares `{% block <name> %}`."""
    return any(block.name == name for block in ast.find_all(nodes.Block))
