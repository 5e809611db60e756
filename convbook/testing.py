"""Visible checks: compare an answer with a reference and say how good the match is."""
import numpy as np

from convbook.gradcheck import rel_error

_SCALE = (
    "float64 round-off is about 1e-15, so a correct answer usually scores below 1e-10; "
    "a mistake usually scores above 1e-3"
)


def check_close(name, got, expected, tol=1e-8):
    """Print the relative error of `got` against `expected` and fail if it is above `tol`.

    name: what is being checked, for the message.
    got, expected: arrays; shapes must match exactly.
    Returns None on purpose: nbgrader reads a number left as a test cell's result as its score.
    """
    if got is None:
        raise AssertionError(f"{name}: your function returned None; did you fill in the answer cell?")
    got = np.asarray(got)
    expected = np.asarray(expected)
    if got.shape != expected.shape:
        raise AssertionError(f"{name}: shape {got.shape}, expected {expected.shape}")
    err = rel_error(got, expected)
    verdict = "good" if err < tol else "too large"
    print(f"{name}: relative error {err:.2e} ({verdict}; {_SCALE})")
    if not err < tol:
        raise AssertionError(f"{name}: relative error {err:.2e} is above {tol:.0e}")
