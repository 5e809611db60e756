"""The one check pipeline: cases -> reference -> comparator, with the student's code called through `call`.

A check draws its cases from the run's seed (`run_seed`), calls the student's function on each through
`call` (on copies of the inputs; an error or an in-place change raises `Rejected` with the failed
`Verdict`, which `checked`, `run_grid`, `first_failure` and `hidden_check` return), compares with a
reference (`compare_array`) and names the likely mistake (`first_match`). `run_grid` turns a grid of
cases into one `Verdict`: the first failure that names its mistake, how many cases fail, and the feature
that separates failing from passing cases (every case's features and verdict stay in `Verdict.results`).
`hidden_check` makes the function a hidden test cell calls; it ends in `require`. `requirement_check` makes
the one of a function whose points are split by requirement (one cell each): `split_by_requirement` bills a
grid's failures to the simplest requirement that shows them, so one mistake costs one cell, with one message.

The grading engine fixes the seed and the sandbox's time with `grading(...)`; in a notebook kernel the
seed comes from $CONVBOOK_SEED or is drawn once per process.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import io
import os
import secrets
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convbook.testing import describe_difference

SEED_VARIABLE = "CONVBOOK_SEED"


# ---------------------------------------------------------------------------------------------------
# The grading context


@dataclass(frozen=True)
class GradingContext:
    """What one grading run fixes: the hidden cases' seed, and the seconds the student's cells ran in the
    sandbox before the checks. (What an assignment forbids is declared with it: autograder/assignments.py.)

    `findings` is what one check learnt for the later checks of the same run (e.g. that a helper loops, so
    a layer calling it is not billed again); it starts empty with each run and ends with it."""

    seed: int
    sandbox_seconds: float = 0.0
    findings: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


_context: ContextVar[GradingContext | None] = ContextVar("convbook_grading_context", default=None)
_process_context: list[GradingContext] = []   # a notebook kernel's context, its seed drawn once


@contextlib.contextmanager
def grading(seed: int, sandbox_seconds: float = 0.0) -> Iterator[GradingContext]:
    """Run the checks inside `with grading(seed, sandbox_seconds):`; nothing of it outlives the block."""
    token = _context.set(GradingContext(int(seed), float(sandbox_seconds)))
    try:
        yield _context.get()
    finally:
        _context.reset(token)


def current_context() -> GradingContext:
    """The context of the enclosing `grading` block, else a kernel's: $CONVBOOK_SEED or a seed drawn once."""
    context = _context.get()
    if context is not None:
        return context
    if not _process_context:
        value = os.environ.get(SEED_VARIABLE)
        _process_context.append(GradingContext(int(value) if value else secrets.randbits(31)))
    return _process_context[0]


def run_seed() -> int:
    """The seed of this grading run's hidden cases."""
    return current_context().seed


def notebook_seconds(start: float) -> float:
    """Seconds the notebook has been running, from `start` (a time.perf_counter() reading in its first cell).

    Under the grading engine the student's cells ran in the sandbox first, so the sandbox's time is added.
    """
    return time.perf_counter() - start + current_context().sandbox_seconds


# ---------------------------------------------------------------------------------------------------
# Verdicts


@dataclass(frozen=True)
class CaseResult:
    """One case of a grid: the case, its features (what can separate failing from passing cases), verdict."""

    case: Any
    features: Mapping[str, bool]
    verdict: Verdict


@dataclass(frozen=True)
class Verdict:
    """passed; message; diagnosed: the message names the mistake; results: per case, for a grid."""

    passed: bool
    message: str = ""
    diagnosed: bool = False
    results: tuple[CaseResult, ...] = ()

    def __bool__(self) -> bool:
        return self.passed

    def failing(self) -> list[CaseResult]:
        """The grid's failing cases (with their features), in order."""
        return [r for r in self.results if not r.verdict.passed]


def passed(message: str = "") -> Verdict:
    return Verdict(True, message)


def failed(message: str, diagnosis: str = "", diagnosed: bool = False) -> Verdict:
    """A failed verdict; a non-empty `diagnosis` (appended) or `diagnosed` marks it as naming the mistake."""
    return Verdict(False, f"{message} {diagnosis}".strip(), diagnosed or bool(diagnosis))


def with_note(verdict: Verdict, note: Verdict) -> Verdict:
    """`note` if it failed, else `verdict` with the note's message appended."""
    if not note.passed:
        return note
    return Verdict(verdict.passed, f"{verdict.message} {note.message}".strip(), verdict.diagnosed, verdict.results)


def hidden_check(verdict: Callable[..., Verdict], cases: Callable[[int], Any] | None = None,
                 seed: bool = True) -> Callable[..., None]:
    """The function a hidden test cell calls with the student's functions: it requires
    verdict(*functions, cases(seed) if `cases`, seed if `seed`) with this run's seed."""
    def check(*functions: Callable) -> None:
        run = run_seed()
        require(checked(verdict)(*functions, *([cases(run)] if cases else []), *([run] if seed else [])))
    check.__doc__ = verdict.__doc__
    return check


def require(verdict: Verdict) -> None:
    """What a hidden test cell calls: raise AssertionError with the message (and the seed) if it failed."""
    message = f"{verdict.message} (seed {run_seed()})".strip()
    if not verdict.passed:
        raise AssertionError(message)
    if verdict.message:
        print(message)


# ---------------------------------------------------------------------------------------------------
# Calling the student's code


NOT_ANSWERED = "NotImplementedError: not answered yet: replace the `raise NotImplementedError()` line with your code"


class StudentError(Exception):
    """The student's function raised; carries a readable one-line description."""


def call_student(fn: Callable, *args: Any) -> tuple[Any, list[int]]:
    """fn(*deep copies of args): (result, positions of the arguments it modified in place).

    Warnings and stderr are shown on stdout (nbgrader zeroes a cell that writes to stderr); an exception
    becomes StudentError.
    """
    copies = copy.deepcopy(args)
    captured = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(captured):
            warnings.simplefilter("always")
            result = fn(*copies)
    except Exception as exc:  # the student's bug, reported rather than propagated
        # an error raised in the grading sandbox already carries the student's own exception name
        text = getattr(exc, "student_message", None) or f"{type(exc).__name__}: {exc}"
        if text.split(":")[0].strip() == "NotImplementedError":
            text = NOT_ANSWERED
        raise StudentError(text) from exc
    notes = [f"{w.category.__name__}: {w.message}" for w in caught]
    if captured.getvalue().strip():
        notes.append(captured.getvalue().strip())
    for note in notes[:3]:
        print(f"(note from your code: {note})", file=sys.stdout)
    changed = [i for i, (a, c) in enumerate(zip(args, copies)) if not _same(a, c)]
    return result, changed


class Rejected(Exception):
    """A failed Verdict raised where it is found (by `call`); `checked` (and so run_grid, first_failure,
    hidden_check) turns it back into that Verdict."""

    def __init__(self, verdict: Verdict):
        super().__init__(verdict.message)
        self.verdict = verdict


def checked(check: Callable[..., Verdict]) -> Callable[..., Verdict]:
    """`check`, returning the Verdict of a Rejected raised inside it."""
    @functools.wraps(check)
    def returning_the_verdict(*args: Any, **kwargs: Any) -> Verdict:
        try:
            return check(*args, **kwargs)
        except Rejected as rejected:
            return rejected.verdict
    return returning_the_verdict


def call(fn: Callable, args: Sequence[Any] = (), names: Sequence[str] = (), where: str = "",
         copy_advice: str = "work on a copy", hint: Callable[[str], str] = lambda error: "",
         may_change: Iterable[int] = ()) -> Any:
    """The one way the checks call student code: fn(*copies of args), or Rejected with a failed Verdict when
    it raised or modified an input in place (positions in `may_change` may be modified).

    names: the arguments' names, for the message; copy_advice: what to do instead of changing an input;
    hint(error text): a sentence added after the error the function raised.
    """
    where = f"{where} " if where else ""
    try:
        result, changed = call_student(fn, *args)
    except StudentError as exc:
        raise Rejected(failed(f"{where}your function raised {exc}.{hint(str(exc))}")) from None
    changed = [i for i in changed if i not in set(may_change)]
    if changed:
        which = ", ".join(names[i] if i < len(names) else f"argument {i + 1}" for i in changed)
        raise Rejected(failed(f"{where}your function modified its input ({which}) in place; {copy_advice}.",
                              diagnosed=True))
    return result


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    return bool(a == b)


def as_array(value: Any) -> Any:
    """A student's answer as a float array when it is array-like (a list, a number); else as it is."""
    if value is None or isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return value


def returns(result: Any, count: int) -> bool:
    """Is `result` a tuple of `count` values (what a layer returns: (out, cache), (dx, dw, db), ...)?"""
    return isinstance(result, tuple) and len(result) == count


# ---------------------------------------------------------------------------------------------------
# Comparators


def max_error_location(got: np.ndarray, expected: np.ndarray) -> str:
    """Index and size of the largest absolute difference, as a readable phrase."""
    diff = np.abs(got - expected)
    idx = np.unravel_index(np.argmax(diff), diff.shape)
    return f"largest error at index {tuple(int(i) for i in idx)}: yours {got[idx]:.6g}, expected {expected[idx]:.6g}"


def compare_array(name: str, got: Any, expected: np.ndarray, where: str = "",
                  diagnose: Callable[[], str] = lambda: "", rtol: float = 1e-6, atol: float = 1e-9) -> Verdict:
    """Compare a student's array with the reference: passed, or failed saying what is wrong, after `where`
    and followed by diagnose() (a sentence naming the likely mistake, or "")."""
    problem = _array_problem(name, got, expected, rtol, atol)
    return passed() if problem is None else failed(f"{where} {problem}".strip(), diagnose())


def _array_problem(name: str, got: Any, expected: np.ndarray, rtol: float, atol: float) -> str | None:
    if got is None:
        return f"{name} is None: the answer cell was not filled in or does not return it."
    if not isinstance(got, np.ndarray):
        return f"{name} should be a numpy array, got {type(got).__name__}."
    if got.shape != expected.shape:
        return f"{name} has shape {got.shape}, expected {expected.shape}."
    if np.issubdtype(got.dtype, np.integer) or got.dtype == bool:
        got = got.astype(float)   # right numbers in an integer array are right (a kernel written as ints)
    elif not np.issubdtype(got.dtype, np.floating):
        return f"{name} has dtype {got.dtype}; it should be floating point (float64 here)."
    if not np.all(np.isfinite(got)):
        return f"{name} contains NaN or infinity."
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        return f"{name} has the right shape {got.shape} but wrong values. {describe_difference(got, expected)}"
    return None


def first_match(got: Any, candidates: Iterable[tuple[str, Any]]) -> str | None:
    """The sentence of the first candidate whose array `got` equals (same shape, close values), or None.

    candidates: iterable of (sentence, array or callable returning an array).
    """
    for sentence, value in candidates:
        try:
            value = value() if callable(value) else value
        except Exception:
            continue
        if isinstance(got, np.ndarray) and isinstance(value, np.ndarray) and got.shape == value.shape \
                and np.allclose(got, value, rtol=1e-6, atol=1e-9):
            return sentence
    return None


# ---------------------------------------------------------------------------------------------------
# Grids of cases


def separating_feature(results: Sequence[tuple[Mapping[str, bool], bool]]) -> tuple[str, bool] | None:
    """(feature, its value on every failing case) for the first feature that separates failing from
    passing cases; results: [(features, passed)]."""
    fails = [f for f, ok in results if not ok]
    passes = [f for f, ok in results if ok]
    if not fails or not passes:
        return None
    for key in fails[0]:
        values_failing = {f[key] for f in fails}
        if len(values_failing) == 1 and values_failing.isdisjoint({f[key] for f in passes}):
            return key, values_failing.pop()
    return None


def explain_pattern(results: Sequence[tuple[Mapping[str, bool], bool]]) -> str:
    """Say which property of the cases separates the failing ones from the passing ones (or "")."""
    found = separating_feature(results)
    if found is None:
        return ""
    key, value = found
    return f"Every failing case has '{key}' {'true' if value else 'false'}, and every passing case the opposite."


def run_grid(label: str, cases: Sequence[Any], attempt: Callable[[Any], Verdict],
             hints: Mapping[tuple[str, bool], str] | None = None,
             features: Callable[[Any], Mapping[str, bool]] = lambda case: case.features(),
             done: str = "") -> Verdict:
    """One Verdict for a grid: attempt(case) -> Verdict on every case.

    Fails with the first failure that names its mistake (else the first failure), how many cases fail,
    and the feature that separates failing from passing cases, followed by hints[(feature, value on the
    failing cases)] (left out when the failure's message says it already). Passes with `done` or
    "label: all N hidden cases pass.". The verdict's `results` keep every case's features and verdict.
    """
    results = tuple(CaseResult(case, features(case), checked(attempt)(case)) for case in cases)
    failures = [r.verdict for r in results if not r.verdict.passed]
    if not failures:
        return Verdict(True, done or f"{label}: all {len(cases)} hidden cases pass.", results=results)
    return _grid_failure(failures, results, hints)


def _grid_failure(failures: Sequence[Verdict], results: tuple[CaseResult, ...],
                  hints: Mapping[tuple[str, bool], str] | None) -> Verdict:
    """The failed Verdict of a grid: the first of `failures` that names its mistake (else the first), how many
    of the grid's cases fail, and the separating feature with its hint."""
    first = next((v for v in failures if v.diagnosed), failures[0])
    table = [(r.features, r.verdict.passed) for r in results]
    hint = (hints or {}).get(separating_feature(table) or ("", False), "")
    pattern = "" if hint and hint in first.message else f"{explain_pattern(table)} {hint}".strip()
    count = sum(not ok for _, ok in table)
    message = f"{first.message} ({count} of {len(results)} hidden cases fail.) {pattern}".strip()
    return Verdict(False, message, first.diagnosed, results)


PLAIN = "plain"


def split_by_requirement(grid: Verdict, requirements: Mapping[str, Callable[[Mapping[str, bool]], bool]],
                         label: str, hints: Mapping[tuple[str, bool], str] | None = None) -> dict[str, Verdict]:
    """{requirement: Verdict} for PLAIN and each of `requirements` (name -> does a case's features exercise
    it), from a grid's Verdict, so that one mistake costs the points of the requirement it breaks, once.

    A failing case is minimal when no failing case exercises a strict subset of its requirements; each
    minimal failing case bills the first requirement (in order) it exercises, PLAIN when none. A stride bug
    fails every strided case and bills "stride" only; a bug that fails the plain cases bills PLAIN only.
    """
    def exercised(result: CaseResult) -> frozenset[str]:
        return frozenset(name for name, holds in requirements.items() if holds(result.features))

    def first(needs: frozenset[str]) -> str:
        return next((n for n in requirements if n in needs), PLAIN)

    failing = [(r, exercised(r)) for r in grid.failing()]
    minimal = {needs for _, needs in failing if not any(other < needs for _, other in failing)}
    billed: dict[str, list[Verdict]] = {}   # each billed requirement: the failures it explains (to name one)
    for result, needs in failing:
        for name in {first(m) for m in minimal if m <= needs}:
            billed.setdefault(name, []).append(result.verdict)
    # When no case passes and no failure names its mistake, nothing shows any requirement met: none is credited.
    unexplained = not any(r.verdict.passed for r in grid.results) and not any(r.verdict.diagnosed for r, _ in failing)
    verdicts = {}
    for name in (PLAIN, *requirements):
        if name in billed:
            verdicts[name] = _grid_failure(billed[name], grid.results, hints)
        elif unexplained:
            verdicts[name] = failed(f"{label} ({name}): no hidden case passes yet, so this requirement cannot be "
                                    f"credited; fix the failure the plain check reports first.")
        else:
            cases = sum(1 for r in grid.results if name in exercised(r) or (name == PLAIN and not exercised(r)))
            verdicts[name] = passed(f"{label} ({name}): nothing here fails ({cases} hidden cases test it"
                                    f"{'' if grid.passed else '; see the other requirements'}).")
    return verdicts


def requirement_check(verdict: Callable[..., Verdict], cases: Callable[[int], Any],
                      requirements: Mapping[str, Callable[[Mapping[str, bool]], bool]], label: str,
                      hints: Mapping[tuple[str, bool], str] | None = None) -> Callable[..., None]:
    """The function a hidden test cell of one requirement calls: check(*functions, requirement=name) requires
    split_by_requirement(verdict(*functions, cases(seed)))[name] with this run's seed."""
    def check(*functions: Callable, requirement: str = PLAIN) -> None:
        if requirement not in (PLAIN, *requirements):
            raise ValueError(f"unknown requirement {requirement!r}")
        grid = checked(verdict)(*functions, cases(run_seed()))
        if not grid.results:   # rejected before the grid ran: nothing is credited
            require(grid if requirement == PLAIN else failed(f"{label} ({requirement}): see the plain check."))
            return
        require(split_by_requirement(grid, requirements, label, hints)[requirement])
    check.__doc__ = verdict.__doc__
    return check


def seeded_cases(attempt: Callable[..., Verdict], specs: Iterable[tuple], seed: int, done: str = "") -> Verdict:
    """first_failure of attempt(rng, *spec) for each spec, all drawing from one rng seeded by `seed`."""
    rng = np.random.default_rng(seed)
    return first_failure((attempt(rng, *spec) for spec in specs), done)


def first_failure(verdicts: Iterable[Verdict], done: str = "") -> Verdict:
    """The first failed verdict of a sequence of checks made one after the other (lazily), else passed(done)."""
    try:
        for verdict in verdicts:
            if not verdict.passed:
                return verdict
    except Rejected as rejected:
        return rejected.verdict
    return passed(done)
