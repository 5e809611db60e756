"""Libraries an exercise forbids: the engine grades those functions where the libraries do not exist.

An assignment's declaration (autograder/assignments.py) may declare FORBIDDEN = {function name: (names,
reason)}. Of the names, the ones that are modules are banned (others, like "correlate2d", are words of the message only: a ban
never matches names in the student's code). convbook.layers, the instructor's complete layers, is
banned for every such function in every assignment but the ones that give it (cnn_digits).

The engine runs every function under a ban in a clean room, a sandbox of its own per distinct set of
bans, whose child has exactly that function's banned modules neither importable (its audit hook refuses
the import by name) nor on disk (namespaces mode leaves their files out of the child's view). The
student's cells all run there too, statement by statement, so a statement that needs a banned library
fails alone; a function that needs one fails with `ban_message`.
"""
from __future__ import annotations

import importlib
import importlib.util
import re
from typing import TYPE_CHECKING

from autograder.assignments import COURSE
from autograder.assignments import assignment as declared

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

REFERENCE_LAYERS = "convbook.layers"
GIVES_REFERENCE_LAYERS = "cnn_digits"   # the assignment that gives students the layers: from it on they are allowed
KNOWN_LIBRARIES = {"scipy", "torch", "skimage", "sklearn", "tensorflow", "jax", "cv2"}


def forbidden_rules(assignment: str) -> dict[str, tuple[Any, str]]:
    """{function name: (names, reason)} of the assignment, or {}."""
    return declared(assignment).forbidden


def is_module(name: str) -> bool:
    """Whether a FORBIDDEN name is a module (rather than a word such as "correlate2d")."""
    if name.split(".")[0] in KNOWN_LIBRARIES or "." in name:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def reference_layers_given(assignment: str) -> bool:
    """Whether students have convbook.layers by `assignment` (cnn_digits gives it; later ones keep it)."""
    order = [a.id for a in COURSE]
    return assignment in order and order.index(assignment) >= order.index(GIVES_REFERENCE_LAYERS)


def bans(assignment: str) -> dict[str, tuple[tuple[str, ...], str]]:
    """{function name: (banned modules, reason)} for the functions of `assignment` under a ban."""
    result = {}
    for function, (names, reason) in forbidden_rules(assignment).items():
        modules = {n for n in names if is_module(n)}
        if not reference_layers_given(assignment):
            modules.add(REFERENCE_LAYERS)
        result[function] = (tuple(sorted(modules)), reason)
    return result


def banned_modules(assignment: str) -> list[str]:
    """Every module banned by some exercise of `assignment`."""
    return sorted({m for modules, _ in bans(assignment).values() for m in modules})


def banned_paths(modules: Iterable[str]) -> list[str]:
    """The files and folders of `modules` as installed here (hidden from the clean room's child)."""
    paths = set()
    for module in modules:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations:
            paths.update(spec.submodule_search_locations)
        elif spec.origin and spec.origin not in ("built-in", "frozen"):
            paths.add(spec.origin)
    return sorted(paths)


def ban_message(function: str, modules: Iterable[str], reason: str, error: str | None, refused: Iterable[str],
                bindings: dict[str, str]) -> str | None:
    """The student's message when `function`, under a ban of `modules`, failed with `error` in the clean room.

    refused: modules the guard refused during the call; bindings: {name: module} of names the student's
    cells could not bind there (a banned import). Returns `error` unchanged when the ban played no part.
    """
    used = [m for m in refused if any(m == b or m.startswith(b + ".") for b in modules)]
    missing = re.match(r"NameError: name '(\w+)' is not defined", error or "")
    if missing and missing.group(1) in bindings:
        used.append(bindings[missing.group(1)])
    if function in bindings:   # bound by an import (`from ... import ... as function`), not by a def
        used.append(bindings[function])
    if not used:
        return error
    return (f"{function} used {used[0]}, which this exercise forbids: {reason}. While {function} is graded, "
            f"{used[0]} does not exist ({error}).")
