"""Verdicts, safe calls into student code, and array comparison with a diagnosis."""
import contextlib
import copy
import io
import os
import secrets
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

SEED_VARIABLE = "CONVBOOK_SEED"
_run_seed = None
_sandbox_seconds = 0.0


def set_run_seed(seed):
    """Fix the seed of the hidden cases (the grading engine sets one per course secret, student, assignment)."""
    global _run_seed
    _run_seed = int(seed)


def run_seed():
    """The seed of this grading run: $CONVBOOK_SEED if set, else drawn once per process."""
    global _run_seed
    if _run_seed is None:
        value = os.environ.get(SEED_VARIABLE)
        _run_seed = int(value) if value else secrets.randbits(31)
    return _run_seed


def set_sandbox_seconds(seconds):
    """Record how long the student's cells ran in the grading engine's sandbox before the checks run here."""
    global _sandbox_seconds
    _sandbox_seconds = float(seconds)


def notebook_seconds(start):
    """Seconds the notebook has been running, from `start` (a time.perf_counter() reading in its first cell).

    In a kernel that is the time since `start`. Under the grading engine the student's cells ran in the
    sandbox first and only the checks run here, so the sandbox's time (measured by the engine) is added.
    """
    return time.perf_counter() - start + _sandbox_seconds


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str

    def __bool__(self):
        return self.passed


def passed(message=""):
    return Verdict(True, message)


def failed(message):
    return Verdict(False, message)


class StudentError(Exception):
    """The student's function raised; carries a readable one-line description."""


def call_student(fn, *args):
    """Call fn(*args) on deep copies of args, so that the student's code cannot change our inputs.

    Warnings and anything written to stderr are shown on stdout (nbgrader would zero a cell that writes
    to stderr). Returns (result, changed) where `changed` lists the positions of arguments the function
    modified in place.
    """
    copies = copy.deepcopy(args)
    captured = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(captured):
            warnings.simplefilter("always")
            result = fn(*copies)
    except Exception as exc:  # the student's bug, reported rather than propagated
        # an error raised in the grading sandbox already carries the student's own exception name
        raise StudentError(getattr(exc, "student_message", None) or f"{type(exc).__name__}: {exc}") from exc
    notes = [f"{w.category.__name__}: {w.message}" for w in caught]
    if captured.getvalue().strip():
        notes.append(captured.getvalue().strip())
    for note in notes[:3]:
        print(f"(note from your code: {note})", file=sys.stdout)
    changed = [i for i, (a, c) in enumerate(zip(args, copies)) if not _same(a, c)]
    return result, changed


def call_checked(fn, args, names, where, copy_advice, hint=lambda error: "",
                 failure=lambda message, diagnosed: failed(message)):
    """Call the student's fn on copies of args: (result, None), or (None, failed Verdict) if it raised or
    modified an input in place.

    names: the arguments' names, for the message; copy_advice: what to do instead of changing an input;
    hint(error text) -> a sentence added after the error the function raised;
    failure(message, diagnosed) -> the failed Verdict (diagnosed: the message names the mistake).
    """
    try:
        result, changed = call_student(fn, *args)
    except StudentError as exc:
        return None, failure(f"{where} your function raised {exc}.{hint(str(exc))}", False)
    if changed:
        which = ", ".join(names[i] for i in changed)
        return None, failure(f"{where} your function modified its input ({which}) in place; {copy_advice}.", True)
    return result, None


def _same(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    return bool(a == b)


def max_error_location(got, expected):
    """Index and size of the largest absolute difference, as a readable phrase."""
    diff = np.abs(got - expected)
    idx = np.unravel_index(np.argmax(diff), diff.shape)
    return f"largest error at index {tuple(int(i) for i in idx)}: yours {got[idx]:.6g}, expected {expected[idx]:.6g}"


def compare_array(name, got, expected, rtol=1e-6, atol=1e-9):
    """Compare a student's array with the reference; the verdict says what is wrong if anything."""
    if got is None:
        return failed(f"{name} is None: the answer cell was not filled in or does not return it.")
    if not isinstance(got, np.ndarray):
        return failed(f"{name} should be a numpy array, got {type(got).__name__}.")
    if got.shape != expected.shape:
        return failed(f"{name} has shape {got.shape}, expected {expected.shape}.")
    if not np.issubdtype(got.dtype, np.floating):
        return failed(f"{name} has dtype {got.dtype}; it should be floating point (float64 here).")
    if not np.all(np.isfinite(got)):
        return failed(f"{name} contains NaN or infinity.")
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        return failed(f"{name} has the right shape {got.shape} but wrong values; {max_error_location(got, expected)}.")
    return passed()


def first_match(got, candidates):
    """The sentence of the first candidate whose array `got` equals (same shape, close values), or None.

    candidates: iterable of (sentence, array or callable returning an array).
    """
    for sentence, value in candidates:
        try:
            value = value() if callable(value) else value
        except Exception:
            continue
        if isinstance(got, np.ndarray) and got.shape == value.shape and np.allclose(got, value, rtol=1e-6, atol=1e-9):
            return sentence
    return None


def explain_pattern(results):
    """Say which property of the cases separates the failing ones from the passing ones.

    results: list of (features: dict[str, bool], passed: bool). Returns a sentence or "".
    """
    fails = [f for f, ok in results if not ok]
    passes = [f for f, ok in results if ok]
    if not fails or not passes:
        return ""
    for key in fails[0]:
        values_failing = {f[key] for f in fails}
        values_passing = {f[key] for f in passes}
        if len(values_failing) == 1 and values_failing.isdisjoint(values_passing):
            state = "true" if values_failing.pop() else "false"
            return f"Every failing case has '{key}' {state}, and every passing case the opposite."
    return ""


def require(verdict):
    """Raise AssertionError with the verdict's message when it failed; print it when it passed."""
    if not verdict.passed:
        raise AssertionError(verdict.message)
    if verdict.message:
        print(verdict.message)
