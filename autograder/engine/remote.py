"""Student functions as seen from the grader: proxies that run them in the sandbox.

The grader's checks call these as they would call the student's own functions; the arguments go to the
child as arrays and the results come back as arrays, so no student code ever runs in the grader.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from autograder.engine.sandbox import ChildDied

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any


class StudentCodeError(Exception):
    """The student's function failed in the sandbox; `student_message` is what it raised, as in a notebook."""

    def __init__(self, message):
        super().__init__(message)
        self.student_message = message


class RemoteFunction:
    """Calls the student's function `name` in `sandbox`.

    refusal: a message to fail with instead of calling; explain(reply) -> the message of a failed call
    (e.g. naming the banned library it needed). What the function prints is not shown: the checks run
    hidden inputs, and output printed on them would reveal them.
    Changes the function makes to its array, list or dict arguments are copied back onto the caller's
    objects, so that the checks see in-place modification exactly as in a notebook.
    """

    def __init__(self, sandbox, name, refusal=None, explain=None):
        self.sandbox = sandbox
        self.__name__ = self.name = self.student_function = name  # student_function: passed by name
        self.refusal = refusal
        self.explain = explain

    def __call__(self, *args, **kwargs):
        reply = self._ask(self.sandbox.call, args, kwargs)
        if reply.get("args_after") is not None:
            for before, after in zip(args, reply["args_after"]):
                write_back(before, after)
        return reply["result"]

    def count_lines(self, args: Sequence[Any], skip: Iterable[str] = ()) -> dict[str, Any]:
        """The Python lines the function runs on `args`, counted by the sandbox's guard (for loop rules).

        Returns Sandbox.count_lines' dict (a failed call is {"ok": False, "error"}, not an exception);
        interference with the counter is also kept in sandbox.interference, for the instructor.
        """
        if self.refusal:
            raise StudentCodeError(self.refusal)
        try:
            reply = self.sandbox.count_lines(self.name, args, skip)
        except ChildDied as exc:
            raise StudentCodeError(f"{self.name} could not finish: {exc}") from None
        for note in reply.get("interference", ()):
            self.sandbox.interference.append(f"{self.name}: {note}")
        return reply

    def _ask(self, request, *request_args):
        """request(name, *request_args)'s reply; StudentCodeError when refused, failed or the child died."""
        if self.refusal:
            raise StudentCodeError(self.refusal)
        try:
            reply = request(self.name, *request_args)
        except TypeError as exc:  # an argument that cannot cross to the sandbox: a fault of the check
            raise TypeError(f"the grader cannot pass {exc} to {self.name} in the sandbox") from None
        except ChildDied as exc:
            raise StudentCodeError(f"{self.name} could not finish: {exc}") from None
        if not reply["ok"]:
            raise StudentCodeError(self.explain(reply) if self.explain else reply["error"])
        return reply

    def __repr__(self):
        return f"<student function {self.name}>"


def write_back(target: Any, value: Any) -> None:
    """Make `target` (the grader's argument) look as the student's function left its copy."""
    if isinstance(target, np.ndarray) and isinstance(value, np.ndarray):
        if target.shape == value.shape and target.flags.writeable:
            np.copyto(target, value, casting="unsafe")
    elif isinstance(target, dict) and isinstance(value, dict):
        target.clear()
        target.update(value)
    elif isinstance(target, list) and isinstance(value, list):
        target[:] = value
    elif isinstance(target, tuple) and isinstance(value, tuple):
        for t, v in zip(target, value):
            write_back(t, v)
