"""Visible checks: compare an answer with a reference and say how good the match is, and if not, how it differs."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from convbook.gradcheck import rel_error

if TYPE_CHECKING:
    from typing import Any

_SCALE = (
    "float64 round-off is about 1e-15, so a correct answer usually scores below 1e-10; "
    "a mistake usually scores above 1e-3"
)
_AXES = ("images", "channels")  # the names of the two leading axes of an NCHW array


def describe_difference(got: np.ndarray, expected: np.ndarray) -> str:
    """One or more sentences on how `got` differs from `expected` (same shape): where the largest error is,
    which images or channels are right, and a constant factor, a transpose or a float32-size error.

    got, expected: float arrays of the same shape. Returns "" when they match to 1e-8.
    """
    single = np.asarray(got).dtype == np.float32
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    diff = np.abs(got - expected)
    if diff.size == 0 or rel_error(got, expected) < 1e-8:
        return ""
    if not np.all(np.isfinite(got)):
        return "Your result contains nan or inf values."
    worst = np.unravel_index(np.argmax(diff), diff.shape)
    sentences = [f"The largest error is at index {tuple(int(k) for k in worst)}: "
                 f"you have {got[worst]:.6g}, expected {expected[worst]:.6g}."]
    scale = np.max(np.abs(expected))
    wrong = diff > 1e-6 * max(scale, 1e-12)
    if got.ndim >= 3:
        for axis, name in zip(range(2), _AXES):
            bad = wrong.any(axis=tuple(k for k in range(got.ndim) if k != axis))
            if bad.any() and not bad.all():
                right = [int(k) for k in np.flatnonzero(~bad)]
                sentences.append(f"Along axis {axis} ({name}) only indices {right} are right.")
    if got.ndim >= 1 and wrong.any() and wrong.sum() < wrong.size:
        sentences.append(f"{int(wrong.sum())} of {wrong.size} entries are wrong.")
    inner = float(np.vdot(got, expected))
    norm = float(np.vdot(expected, expected))
    if norm > 0 and inner != 0:
        factor = inner / norm
        if not np.isclose(factor, 1.0) and rel_error(got, factor * expected) < 1e-6:
            sentences.append(f"Your result is {factor:.6g} times the expected one everywhere (a constant factor).")
    # a permutation that leaves `expected` as it is (size-1 axes, a symmetric matrix) explains nothing
    if got.ndim == 2 and got.shape[0] == got.shape[1] and not np.array_equal(expected.T, expected) \
            and rel_error(got, expected.T) < 1e-6:
        sentences.append("Your result is the expected one transposed (rows and columns swapped).")
    if got.ndim == 4:
        for axes in ((0, 1, 3, 2), (1, 0, 2, 3)):
            permuted = expected.transpose(axes)
            if permuted.shape == got.shape and not np.array_equal(permuted, expected) and rel_error(got, permuted) < 1e-6:
                sentences.append(f"Your result is the expected one with its axes permuted as {axes}.")
    error = rel_error(got, expected)
    if 1e-8 <= error < 1e-5 and single:
        sentences.append("An error this small is float32 round-off: compute in float64 "
                         "(an array created with dtype=np.float32, or a float32 input copied without astype).")
    elif 1e-8 <= error < 1e-5:
        sentences.append("An error this small is no wrong formula's, nor float64 round-off: a step done in "
                         "float32, or a formula that differs slightly from the notebook's (where a small "
                         "constant such as eps is added, for instance).")
    return " ".join(sentences)


def check_close(name: str, got: Any, expected: Any, tol: float = 1e-8) -> None:
    """Print the relative error of `got` against `expected` and fail, saying how they differ, if it is above `tol`.

    name: what is being checked (the exercise and the case), for the message.
    got, expected: arrays; shapes must match exactly.
    Returns None on purpose: nbgrader reads a number left as a test cell's result as its score.
    """
    if got is None:
        raise AssertionError(f"{name}: your function returned None; did you fill in the answer cell "
                             "and end it with a return?")
    got = np.asarray(got)
    expected = np.asarray(expected)
    if got.shape != expected.shape:
        hint = ""
        if sorted(got.shape) == sorted(expected.shape):
            hint = " (the same sizes in another order: are two axes swapped?)"
        raise AssertionError(f"{name}: wrong shape: yours is {got.shape}, expected {expected.shape}{hint}")
    err = rel_error(got, expected)
    verdict = "good" if err < tol else "too large"
    print(f"{name}: relative error {err:.2e} ({verdict}; {_SCALE})")
    if not err < tol:
        raise AssertionError(f"{name}: wrong values: relative error {err:.2e} is above {tol:.0e}. "
                             f"{describe_difference(got, expected)}")


def check_output_shape(name: str, got: Any, expected: tuple) -> None:
    """Fail with a sentence when `got` (an array) does not have the `expected` shape, naming the axes that differ.

    The axes are read as (N, C or F, H', W') for 4-D shapes: an H' or W' off by one is almost always the output
    size, which must be floor((H + 2P - HH) / S) + 1.
    """
    shape = np.shape(got)
    if shape == tuple(expected):
        return
    message = f"{name}: wrong shape: yours is {shape}, expected {tuple(expected)}."
    if len(shape) == 4 == len(expected):
        names = ("N", "C/F", "H'", "W'")
        off = [f"{names[k]} is {shape[k]} instead of {expected[k]}" for k in range(4) if shape[k] != expected[k]]
        message += " " + "; ".join(off) + "."
        if shape[2:] != tuple(expected[2:]):
            message += (" The output size is H' = floor((H + 2P - HH) / S) + 1 and W' = floor((W + 2P - WW) / S) + 1:"
                        " heights with heights, widths with widths.")
    raise AssertionError(message)
