"""The check pipeline of autograder/checks/core.py: calls into student code, grids, the grading context."""
import numpy as np
import pytest

from autograder.checks import core
from autograder.checks.core import Rejected, call, checked, failed, grading, hidden_check, passed, run_grid


class Case:
    def __init__(self, n, square):
        self.n, self.square = n, square

    def features(self):
        return {"input is square": self.square, "n is even": self.n % 2 == 0}


def test_call_rejects_an_error_and_an_input_changed_in_place():
    with pytest.raises(Rejected) as raised:
        call(lambda x: 1 / 0, (1,), ("x",), "On x = 1:")
    assert raised.value.verdict.message == "On x = 1: your function raised ZeroDivisionError: division by zero."
    assert not raised.value.verdict.diagnosed

    def doubles_in_place(x, state):
        x *= 2
        state["t"] = 1
        return x

    with pytest.raises(Rejected) as raised:
        call(doubles_in_place, (np.ones(2), {}), ("x", "state"), "", "return a new array")
    assert "modified its input (x, state) in place; return a new array." in raised.value.verdict.message
    assert raised.value.verdict.diagnosed
    assert np.array_equal(call(lambda x, s: x + 1, (np.ones(2), {}), ("x", "state"), may_change=(1,)), [2, 2])


def test_checked_returns_the_verdict_a_rejected_call_carries():
    check = checked(lambda: call(lambda: [][0], where="f():") and passed("never"))
    verdict = check()
    assert not verdict.passed and "IndexError" in verdict.message


def test_run_grid_reports_the_first_diagnosed_failure_the_count_and_the_pattern():
    cases = [Case(0, True), Case(1, True), Case(2, False), Case(3, False)]

    def attempt(case):
        if case.square:
            return passed()
        if case.n == 3:
            return failed(f"case {case.n} is wrong.", "Your code assumes a square input.")
        return call(lambda: 1 / 0, where=f"case {case.n}:")

    hints = {("input is square", False): "Keep H and W apart."}
    verdict = run_grid("f", cases, attempt, hints)
    assert not verdict.passed and verdict.diagnosed
    assert verdict.message.startswith("case 3 is wrong. Your code assumes a square input. (2 of 4 hidden cases fail.)")
    assert "Every failing case has 'input is square' false" in verdict.message and "Keep H and W apart." in verdict.message
    # what each failing case broke, for points per requirement
    assert [r.case.n for r in verdict.failing()] == [2, 3]
    assert all(r.features["input is square"] is False for r in verdict.failing())
    assert run_grid("f", cases[:2], attempt).message == "f: all 2 hidden cases pass."


def test_a_hint_the_failure_already_gives_is_not_repeated():
    cases = [Case(0, True), Case(1, False)]
    hint = "Keep H and W apart."
    verdict = run_grid("f", cases, lambda c: passed() if c.square else failed("wrong.", hint),
                       {("input is square", False): hint})
    assert verdict.message.count(hint) == 1 and "Every failing case" not in verdict.message


def test_the_grading_context_fixes_the_seed_and_sandbox_time_and_ends_with_its_block():
    outside = core.run_seed()
    with grading(seed=1234, sandbox_seconds=50.0):
        assert core.run_seed() == 1234 and core.notebook_seconds(0.0) >= 50.0
        with grading(seed=99):
            assert core.run_seed() == 99 and core.current_context().sandbox_seconds == 0.0
        assert core.run_seed() == 1234
    assert core.run_seed() == outside and core.current_context().sandbox_seconds == 0.0
    with pytest.raises(RuntimeError), grading(seed=5):
        raise RuntimeError("a check crashed")
    assert core.run_seed() == outside


def test_hidden_check_passes_the_cases_and_the_seed_and_requires_the_verdict(capsys):
    seen = []

    def verdict(fn, cases, seed):
        seen.append((fn(), cases, seed))
        return passed("fine.") if fn() else failed("not fine.")

    check = hidden_check(verdict, cases=lambda seed: [seed, seed + 1])
    with grading(seed=7):
        check(lambda: True)
        assert "fine. (seed 7)" in capsys.readouterr().out
        with pytest.raises(AssertionError, match=r"not fine\. \(seed 7\)"):
            check(lambda: False)
        with pytest.raises(AssertionError, match="your function raised ValueError"):
            hidden_check(lambda fn, seed: call(fn))(lambda: int("x"))
    assert seen[0] == (True, [7, 8], 7)


def test_split_by_requirement_bills_the_simplest_requirement_that_shows_a_mistake():
    """A stride bug fails every strided case (some also non-square): it bills "stride" only; a case that
    fails everywhere with a named mistake bills "plain" only; an unnamed failure everywhere credits nothing."""
    from autograder.checks.core import CaseResult, Verdict, failed, passed, split_by_requirement

    requirements = {"stride": lambda f: f["strided"], "non-square": lambda f: f["non-square"]}
    geometries = [(False, False), (True, False), (False, True), (True, True)]

    def grid(fails):
        results = tuple(CaseResult(g, {"strided": g[0], "non-square": g[1]}, fails(g)) for g in geometries)
        ok = all(r.verdict.passed for r in results)
        return Verdict(ok, "", results=results)

    stride_bug = split_by_requirement(grid(lambda g: failed("wrong", "stride bug") if g[0] else passed()), requirements, "f")
    assert [k for k, v in stride_bug.items() if not v.passed] == ["stride"]
    assert "stride bug" in stride_bug["stride"].message and "2 of 4" in stride_bug["stride"].message
    both = split_by_requirement(grid(lambda g: failed("wrong") if any(g) else passed()), requirements, "f")
    assert [k for k, v in both.items() if not v.passed] == ["stride", "non-square"]
    named = split_by_requirement(grid(lambda g: failed("wrong", "flipped kernel")), requirements, "f")
    assert [k for k, v in named.items() if not v.passed] == ["plain"]
    unnamed = split_by_requirement(grid(lambda g: failed("raised NotImplementedError")), requirements, "f")
    assert all(not v.passed for v in unnamed.values())
    assert len({v.message for v in unnamed.values()}) == 3           # one message per cell, each distinct
    assert all(v.passed for v in split_by_requirement(grid(lambda g: passed()), requirements, "f").values())
