"""Libraries an exercise forbids, found in the student's code by its AST (never by running it).

An assignment's checks module (see autograder/assignments.py) may declare FORBIDDEN = {function name: (library prefixes, reason)}.
The functions a graded function calls, when the student defined them too, are searched as well, so
that a helper function in another cell cannot carry the forbidden call.
"""
import ast

from autograder.assignments import assignment as declared

DYNAMIC = {"__import__", "import_module", "eval", "exec", "compile", "getattr", "globals", "vars"}


def forbidden_rules(assignment):
    """{function name: (prefixes, reason)} of the assignment, or {}."""
    return declared(assignment).forbidden


def _definitions(sources):
    """{function name: FunctionDef} over all the student's cells (the last definition wins)."""
    defs = {}
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                defs[node.name] = node
    return defs


def _reachable(defs, root):
    todo, seen = [root], set()
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        todo += [n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name)]
    return [defs[name] for name in seen]


def _uses(node, prefixes):
    """Forbidden things used inside the AST `node`, as readable strings."""
    found = set()
    words = {p.split(".")[-1] for p in prefixes} | {p.split(".")[0] for p in prefixes}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import):
            found |= {a.name for a in sub.names if a.name.startswith(prefixes)}
        elif isinstance(sub, ast.ImportFrom) and sub.module and sub.module.startswith(prefixes):
            found.add(sub.module)
        elif isinstance(sub, ast.Attribute) and sub.attr in words:
            found.add(ast.unparse(sub))
        elif isinstance(sub, ast.Name) and sub.id in words:
            found.add(sub.id)
        elif isinstance(sub, ast.Call):
            name = sub.func.attr if isinstance(sub.func, ast.Attribute) else getattr(sub.func, "id", "")
            if name in DYNAMIC:
                found.add(f"{name}() (dynamic code or lookups)")
    return sorted(found)


def refusals(assignment, sources):
    """{function name: message} for each graded function whose code uses what its exercise forbids."""
    rules = forbidden_rules(assignment)
    if not rules:
        return {}
    defs = _definitions(sources)
    messages = {}
    for name, (prefixes, reason) in rules.items():
        used = sorted({u for d in _reachable(defs, name) for u in _uses(d, tuple(prefixes))})
        if used:
            messages[name] = (f"{name} uses {', '.join(used)}, which this exercise does not allow: {reason} "
                              "(checked on your code's syntax; it was not run).")
    return messages
