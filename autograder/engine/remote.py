"""Student functions as seen from the grader: proxies that run them in the sandbox.

The grader's checks call these as they would call the student's own functions; the arguments go to the
child as arrays and the results come back as arrays, so no student code ever runs in the grader.
"""
import numpy as np

from autograder.engine.sandbox import ChildDied


class StudentCodeError(Exception):
    """The student's function failed in the sandbox; `student_message` is what it raised, as in a notebook."""

    def __init__(self, message):
        super().__init__(message)
        self.student_message = message


class RemoteFunction:
    """Calls the student's function `name` in `sandbox`.

    refusal: a message to fail with instead of calling (e.g. the function uses a forbidden library).
    Changes the function makes to its array, list or dict arguments are copied back onto the caller's
    objects, so that the checks see in-place modification exactly as in a notebook.
    """

    def __init__(self, sandbox, name, refusal=None):
        self.sandbox = sandbox
        self.__name__ = self.name = self.student_function = name  # student_function: passed by name
        self.refusal = refusal

    def __call__(self, *args, **kwargs):
        reply = self._ask(self.sandbox.call, args, kwargs)
        if reply.get("stdout"):
            print(reply["stdout"], end="" if reply["stdout"].endswith("\n") else "\n")
        if reply.get("args_after") is not None:
            for before, after in zip(args, reply["args_after"]):
                write_back(before, after)
        return reply["result"]

    def count_lines(self, args, skip=()):
        """The Python lines the function runs on `args`, counted in the sandbox (for loop rules).

        Returns {"total", "per_line": {(function, line): count}, "reference_calls": [...]}; raises like a call.
        """
        reply = self._ask(self.sandbox.count_lines, args, skip)
        return {**reply, "per_line": {(f, line): n for f, line, n in reply["per_line"]}}

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
            raise StudentCodeError(reply["error"])
        return reply

    def __repr__(self):
        return f"<student function {self.name}>"


def write_back(target, value):
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
