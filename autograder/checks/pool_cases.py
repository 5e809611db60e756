"""Seeded pooling cases for the hidden checks of the assignment `pooling`."""
from dataclasses import dataclass

import numpy as np

from autograder.references.pooling import pool_output_shape, pool_params


@dataclass(eq=False)
class PoolCase:
    """One pooling input: x (N, C, H, W), pool_param, and an upstream gradient dout shaped like the output."""

    x: np.ndarray
    pool_param: dict
    dout: np.ndarray

    @property
    def params(self):
        return pool_params(self.pool_param)

    @property
    def cache(self):
        """The cache contract of the notebook: (x, pool_param)."""
        return (self.x, self.pool_param)

    def out_shape(self, **changes):
        return pool_output_shape(self.x.shape, {**self.pool_param, **changes})

    def describe(self):
        ph, pw, s = self.params
        return f"x {self.x.shape}, pool_height {ph}, pool_width {pw}, stride {s}"

    def features(self):
        """Properties that can separate failing cases from passing ones (most telling first)."""
        ph, pw, s = self.params
        H, W = self.x.shape[2:]
        return {
            "stride equals the window": s == ph == pw,
            "windows overlap": s < ph or s < pw,
            "window is square": ph == pw,
            "stride is 1": s == 1,
            "windows reach the last row and column": (H - ph) % s == 0 and (W - pw) % s == 0,
            "input is square": H == W,
        }


# The requirements a pooling case can exercise beyond the plain one (square windows tiling the input with
# stride = window), in billing order (see split_by_requirement): a non-square window always has a stride
# that differs from one of its sides, so "non-square" comes before "stride" to bill a swapped window once.
POOL_REQUIREMENTS = {
    "non-tiling": lambda f: not f["windows reach the last row and column"],
    "non-square": lambda f: not f["window is square"],
    "stride": lambda f: not f["stride equals the window"],
}


def make_case(rng, x, ph, pw, stride):
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    dout = rng.standard_normal(pool_output_shape(x.shape, pool_param))
    return PoolCase(x=x, pool_param=pool_param, dout=dout)


# (pool_height, pool_width, stride, windows reach the last row): every relation of stride and window.
GRID_SPECS = [
    (2, 2, 2, True),    # the classic 2x2 / stride 2 pool, tiling the input
    (2, 2, 2, False),   # ... with a row and column left over
    (3, 3, 3, False),
    (3, 3, 1, True),    # overlapping windows
    (3, 3, 2, False),
    (2, 3, 1, True),    # non-square, overlapping
    (3, 2, 2, True),    # non-square, overlapping along the height only
    (4, 2, 3, False),   # overlapping along the height, gaps along the width
    (1, 2, 3, False),   # stride larger than the window: gaps between windows
    (2, 2, 3, True),
    (2, 1, 2, False),   # stride equals the height, not the width
]


# (H, W, pool_height, pool_width, stride) on every seed: sizes where each wrong output-size formula
# (off by one, round, H // S, the height used for the width, the stride ignored) gives a shape of its own.
PINNED_SIZES = [(4, 9, 1, 2, 2), (4, 5, 3, 1, 2), (8, 6, 2, 1, 3)]


def _length(rng, window, stride, reach):
    """An axis length with 2 to 4 window positions; `reach`: the last window ends on the last pixel."""
    positions = int(rng.integers(2, 5))
    extra = 0 if (reach or stride == 1) else int(rng.integers(1, stride))
    return window + stride * (positions - 1) + extra


def pool_grid(seed):
    """Random float64 pooling cases (no ties, almost surely) with N > 1, C > 1 and H != W."""
    rng = np.random.default_rng(seed)
    cases = []
    for ph, pw, stride, reach in GRID_SPECS:
        H = _length(rng, ph, stride, reach)
        W = _length(rng, pw, stride, reach)
        while W == H:
            W = _length(rng, pw, stride, reach)
        N, C = int(rng.integers(2, 4)), int(rng.integers(2, 4))
        cases.append(make_case(rng, rng.standard_normal((N, C, H, W)), ph, pw, stride))
    for H, W, ph, pw, stride in PINNED_SIZES:
        cases.append(make_case(rng, rng.standard_normal((2, 2, H, W)), ph, pw, stride))
    return cases


def tie_cases(seed):
    """Cases full of ties, with square windows that tile (stride = window): only the tie rule matters.

    Values are small integers, so most windows hold their maximum two or more times.
    """
    rng = np.random.default_rng(seed + 1)
    cases = []
    # a hand-made window where the first maximum in row-major order differs from column-major order
    x = np.array([[[[1.0, 3.0, 0.0, 2.0], [3.0, 0.0, 2.0, 2.0]]]])
    cases.append(make_case(rng, x, 2, 2, 2))
    cases.append(make_case(rng, np.full((1, 2, 3, 6), 0.5), 3, 3, 3))   # every pixel tied
    for size, (H, W) in ((2, (4, 6)), (3, (6, 9)), (2, (5, 7))):
        x = rng.integers(0, 3, size=(2, 3, H, W)).astype(np.float64)
        cases.append(make_case(rng, x, size, size, size))
    return cases
