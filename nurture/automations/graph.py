"""Structural checks of a definition: step ids, where steps go, reachability and loops without a wait."""

from collections import deque

from nurture.automations.conditions import EmailEngaged, walk_paths
from nurture.automations.definition import (
    ROUTING_STEPS,
    WAITING_STEPS,
    Definition,
    EventReceived,
    Goal,
    If,
    Manual,
    SendEmail,
    WaitFor,
    WaitUntil,
    named_targets,
)
from nurture.automations.problems import Loc, Problem, problem, step_label

# One edge of the step graph: the key that names the target (() for "the next step in the list").
Edge = tuple[Loc, str]


def check_graph(definition: Definition) -> list[Problem]:
    """Every structural problem of a definition, in the order a reader meets them.

    Checks duplicate step ids, triggers and exits; the entry rule; wait_until steps; step ids named
    by next, then, else, branches, on_timeout, goto and email conditions; steps no contact can
    reach; and loops with no wait, wait_until or wait_for step on them.
    """
    found = _duplicates(definition) + _entry(definition)
    index = _first_index(definition)
    edges = _edges(definition)
    for i, step in enumerate(definition.steps):
        if isinstance(step, ROUTING_STEPS) and step.next is not None:
            found.append(
                problem(("steps", i, "next"), f"not used by a {step.type} step; remove it", step_id=step.id)
            )
        if isinstance(step, WaitUntil):
            found += _wait_until(i, step)
        for loc, target in edges[i]:
            if loc and target not in index:
                found.append(problem(("steps", i, *loc), f"unknown step '{target}'", step_id=step.id))
        found += _email_conditions(definition, i, index)
    found += _unreachable(definition, edges, index)
    found += _loops_without_wait(definition, edges, index)
    return found


def _first_index(definition: Definition) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, step in enumerate(definition.steps):
        index.setdefault(step.id, i)
    return index


def _edges(definition: Definition) -> list[list[Edge]]:
    steps = definition.steps
    edges: list[list[Edge]] = []
    for i, step in enumerate(steps):
        out = named_targets(step)
        # Without `next`, a step goes on to the one below it; routing steps choose for themselves.
        if not isinstance(step, ROUTING_STEPS) and step.next is None and i + 1 < len(steps):
            out.insert(0, ((), steps[i + 1].id))
        edges.append(out)
    return edges


def _duplicates(definition: Definition) -> list[Problem]:
    found: list[Problem] = []
    seen: dict[str, int] = {}
    for i, step in enumerate(definition.steps):
        if step.id in seen:
            text = f"'{step.id}' is already the id of steps[{seen[step.id]}]; ids must be unique"
            found.append(problem(("steps", i, "id"), text, step_id=step.id))
        else:
            seen[step.id] = i
    for key, items in (("triggers", definition.triggers), ("exits", definition.exits)):
        dumped: list[str] = []
        for i, item in enumerate(items):
            text = item.model_dump_json()
            if text in dumped:
                what = "trigger" if key == "triggers" else "exit"
                found.append(problem((key, i), f"the same {what} as {key}[{dumped.index(text)}]"))
            dumped.append(text)
    return found


def _entry(definition: Definition) -> list[Problem]:
    entry = definition.entry
    if entry.mode != "per_value":
        return []
    found = []
    if entry.property is None:
        found.append(
            problem(
                ("entry", "property"),
                "per_value needs the event property that tells runs apart, e.g. cart_id",
            )
        )
    if not any(isinstance(trigger, EventReceived) for trigger in definition.triggers):
        return [
            *found,
            problem(
                ("entry", "mode"),
                "per_value starts one run per value of an event property, so it needs an event trigger",
            ),
        ]
    for i, trigger in enumerate(definition.triggers):
        # Enrolling refuses them all: they carry no event property to key the run on.
        if not isinstance(trigger, EventReceived | Manual):
            found.append(
                problem(
                    ("triggers", i),
                    f"a {trigger.type} trigger never starts a run under per_value entry, which keys "
                    "runs on an event property; use an event trigger or another entry rule",
                )
            )
    return found


def _wait_until(i: int, step: WaitUntil) -> list[Problem]:
    if step.date is None and step.time_of_day is None:
        return [problem(("steps", i), "wait_until needs a date or a time_of_day", step_id=step.id)]
    found = []
    if step.date is not None and step.time_of_day is not None:
        found.append(problem(("steps", i), "give a date or a time_of_day, not both", step_id=step.id))
    if step.weekdays is not None and step.time_of_day is None:
        found.append(problem(("steps", i, "weekdays"), "weekdays go with a time_of_day", step_id=step.id))
    return found


def _email_conditions(definition: Definition, i: int, index: dict[str, int]) -> list[Problem]:
    step = definition.steps[i]
    if not isinstance(step, If | WaitFor | Goal):
        return []
    found = []
    for loc, condition in walk_paths(step.condition, ("steps", i, "condition")):
        if not isinstance(condition, EmailEngaged):
            continue
        target = index.get(condition.step)
        if target is None:
            found.append(problem((*loc, "step"), f"unknown step '{condition.step}'", step_id=step.id))
        elif not isinstance(definition.steps[target], SendEmail):
            kind = definition.steps[target].type
            text = (
                f"'{condition.step}' is a {kind} step; only a send_email step's email can be {condition.did}"
            )
            found.append(problem((*loc, "step"), text, step_id=step.id))
        if condition.link is not None and condition.did != "clicked":
            found.append(
                problem((*loc, "link"), "only a click has a link; use did: clicked", step_id=step.id)
            )
    return found


def _unreachable(definition: Definition, edges: list[list[Edge]], index: dict[str, int]) -> list[Problem]:
    # Runs start at the first step, and a contact who meets a goal jumps to it from anywhere.
    roots = [0] + [i for i, step in enumerate(definition.steps) if isinstance(step, Goal)]
    reached = set(roots)
    queue = deque(roots)
    while queue:
        for _, target in edges[queue.popleft()]:
            j = index.get(target)
            if j is not None and j not in reached:
                reached.add(j)
                queue.append(j)
    found = []
    for i, step in enumerate(definition.steps):
        # A duplicate id is reported as such; no edge can name it apart from the first.
        if i not in reached and index[step.id] == i:
            text = "no step leads here, so no contact can reach it; link it from another step or remove it"
            found.append(problem(("steps", i), text, step_id=step.id))
    return found


def _strongly_connected(successors: list[list[int]]) -> list[list[int]]:
    """Tarjan's algorithm, iterative: the strongly connected components of a graph of indexes."""
    counter = 0
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    components: list[list[int]] = []
    for root in range(len(successors)):
        if root in order:
            continue
        # Each frame: a node and the position of the next successor to look at.
        work = [(root, 0)]
        order[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, position = work[-1]
            if position < len(successors[node]):
                work[-1] = (node, position + 1)
                nxt = successors[node][position]
                if nxt not in order:
                    order[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], order[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == order[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _loops_without_wait(
    definition: Definition, edges: list[list[Edge]], index: dict[str, int]
) -> list[Problem]:
    # A cycle is harmless if a waiting step is on it; so drop the waiting steps, and any cycle
    # left in what remains is a loop a contact would spin through without pause.
    steps = definition.steps
    moving = [not isinstance(step, WAITING_STEPS) for step in steps]
    successors: list[list[int]] = []
    for i in range(len(steps)):
        targets = [index[t] for _, t in edges[i] if t in index] if moving[i] else []
        successors.append([j for j in targets if moving[j]])
    found = []
    for component in _strongly_connected(successors):
        if len(component) == 1 and component[0] not in successors[component[0]]:
            continue
        source, loc, target = _back_edge(component, successors, edges, index)
        step = steps[source]
        where = step_label(source, step.id)
        text = f"goes back to '{target}' in a loop with no wait inside; add a wait step"
        if not loc:
            text = f"goes on to '{target}' (next in the list) in a loop with no wait inside; add a wait step"
        found.append(Problem(("steps", source, *loc), f"{where}: {text}"))
    return found


def _back_edge(
    component: list[int], successors: list[list[int]], edges: list[list[Edge]], index: dict[str, int]
) -> tuple[int, Loc, str]:
    """The edge that closes the loop, found by a depth-first walk from the component's first step."""
    members = set(component)
    start = component[0]
    on_path = {start}
    visited = {start}
    work = [(start, 0)]
    while work:
        node, position = work[-1]
        if position == len(edges[node]):
            work.pop()
            on_path.discard(node)
            continue
        work[-1] = (node, position + 1)
        loc, target = edges[node][position]
        j = index.get(target)
        if j is None or j not in members or j not in successors[node]:
            continue
        if j in on_path:
            return node, loc, target
        if j not in visited:
            visited.add(j)
            on_path.add(j)
            work.append((j, 0))
    raise AssertionError("a strongly connected component with an edge always holds a cycle")
