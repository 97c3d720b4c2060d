"""The sandboxed Jinja environment templates render in, holding each render to its `Budget`."""

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg, generate_lorem_ipsum
from jinja2.visitor import NodeTransformer

from nurture.templates import guards
from nurture.templates.limits import Budget, LimitExceeded

# Rewritten template code calls these attributes of the environment (`environment.loop_guard(...)`).
_LOOP, _SIZED = "loop_guard", "sized"


class RuntimeOnlyCodeGenerator(CodeGenerator):
    """Compiles templates without evaluating any expression in them.

    Jinja folds constant output (`{{ 'x' * 10**10 }}`, `{{ 'a'|center(10**10) }}`) while compiling,
    even with the optimizer off; that would run outside any budget, and while saving a template.
    """

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        if isinstance(node, nodes.TemplateData):
            return super()._output_child_to_const(node, frame, finalize)
        raise nodes.Impossible()


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, holding a render to a budget of time and size.

    Every render gets a `Budget`: loop steps, calls, filters and the operators `*`, `**`, `+`
    and `%` check its deadline and refuse results over its size limits before building them;
    `range` is capped. Constant folding is off, so compiling never computes anything.
    """

    intercepted_binops = frozenset(guards.BINOPS)
    code_generator_class = RuntimeOnlyCodeGenerator

    def __init__(self, *, budget: Budget | None = None, **options: Any) -> None:
        super().__init__(optimized=False, **options)
        self.budget = budget or Budget()
        self.globals["range"] = self._range
        self.globals["lipsum"] = self._lipsum
        self.filters.update({name: self._guard_filter(name, func) for name, func in self.filters.items()})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """`left <operator> right`, refused when the result would be too large."""
        self.budget.tick()
        guards.check_binop(self.budget.limits, operator, left, right)
        return self.budget.check_size(guards.BINOPS[operator](left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Call `obj` from a template: in time, with string-growing methods checked, results sized."""
        self.budget.tick()
        args = guards.check_method(self.budget, obj, args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        # A macro's result is rendered output, already paid for in time; the field's size limit
        # counts it when it is printed.
        return result if isinstance(obj, Macro) else self.budget.check_size(result)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`s.format` and `s.format_map` for templates, refused when a width would pad past the limit."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template, by_map = value.__self__, value.__name__ == "format_map"

        def checked(*args: Any, **kwargs: Any) -> str:
            self.budget.tick()
            mapping = args[0] if by_map and args and isinstance(args[0], dict) else kwargs
            guards.check_format(self.budget.limits, template, [*(() if by_map else args), *mapping.values()])
            return self.budget.check_size(wrapped(*args, **kwargs))  # type: ignore[no-any-return]

        return functools.update_wrapper(checked, value)

    def loop_guard(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """Each `{% for %}` loops through this, so nested loops stop at the deadline."""
        for item in iterable:
            self.budget.tick()
            yield item

    def sized(self, value: Any) -> Any:
        """A concatenation or a list, tuple or dict literal, refused when over the size limit."""
        self.budget.tick()
        return self.budget.check_size(value)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Loops and literals compile to plain Python; route them through the checks above.
        return _Guard().visit(super()._parse(source, name, filename))  # type: ignore[no-any-return]

    def _range(self, *args: int) -> range:
        result = range(*args)
        try:
            length = len(result)
        except OverflowError:
            length = self.budget.limits.max_range + 1
        if length > self.budget.limits.max_range:
            raise LimitExceeded(f"range over {self.budget.limits.max_range:,} items")
        return result

    def _lipsum(self, *args: Any, **kwargs: Any) -> str:
        guards.check_lipsum(self.budget.limits, *args, **kwargs)
        return generate_lorem_ipsum(*args, **kwargs)

    def _guard_filter(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        # A filter taking the context or environment first gets it before the value.
        offset = 0 if _PassArg.from_obj(func) is None else 1

        @functools.wraps(func)  # keeps the pass_arg mark, so Jinja passes the same arguments
        def guarded(*args: Any, **kwargs: Any) -> Any:
            self.budget.tick()
            args = (*args[:offset], *guards.check_filter(self.budget, name, args[offset:], kwargs))
            return self.budget.check_size(func(*args, **kwargs))

        return guarded


class _Guard(NodeTransformer):
    """Rewrites `{% for x in items %}` to loop over `environment.loop_guard(items)`, and wraps
    concatenations and literals in `environment.sized(...)`."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _environment_call(_LOOP, node.iter)
        return node

    def _sized(self, node: nodes.Expr) -> nodes.Node:
        self.generic_visit(node)
        if isinstance(node, nodes.Tuple) and node.ctx != "load":
            return node  # an assignment target: `{% for key, value in ... %}`
        return _environment_call(_SIZED, node)

    visit_Concat = visit_List = visit_Tuple = visit_Dict = _sized


def _environment_call(attribute: str, node: nodes.Node) -> nodes.Call:
    call = nodes.Call(nodes.EnvironmentAttribute(attribute), [node], [], None, None)
    call.set_lineno(node.lineno)
    return call
