"""Seeded case generators shared by the checks."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autograder.references.conv import output_size


@dataclass
class ConvCase:
    """One convolution layer input: x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    conv_param: dict
    dout: np.ndarray | None = None   # an upstream gradient shaped like the output, for backward checks

    @property
    def stride(self):
        return self.conv_param["stride"]

    @property
    def pad(self):
        return self.conv_param["pad"]

    def out_shape(self, stride=None, pad=None):
        s = self.stride if stride is None else stride
        p = self.pad if pad is None else pad
        N, _, H, W = self.x.shape
        F, _, HH, WW = self.w.shape
        return (N, F, output_size(H, HH, s, p), output_size(W, WW, s, p))

    def describe(self):
        return f"x {self.x.shape}, w {self.w.shape}, stride {self.stride}, pad {self.pad}"

    def features(self):
        _, C, H, W = self.x.shape
        F, _, HH, WW = self.w.shape
        return {
            "kernel is square": HH == WW,
            "input is square": H == W,
            "pad is 0": self.pad == 0,
            "stride is 1": self.stride == 1,
            "C equals F": C == F,
            "windows overlap": self.stride < max(HH, WW),
        }


# The requirements a conv grid case can exercise beyond the plain one (in billing order; see split_by_requirement).
CONV_REQUIREMENTS = {
    "stride": lambda f: not f["stride is 1"],
    "padding": lambda f: not f["pad is 0"],
    "non-square": lambda f: not (f["kernel is square"] and f["input is square"]),
    "channels": lambda f: not f["C equals F"],
}


def conv_case(rng, N, C, F, H, W, HH, WW, stride, pad):
    return ConvCase(
        x=rng.standard_normal((N, C, H, W)),
        w=rng.standard_normal((F, C, HH, WW)),
        b=rng.standard_normal(F),
        conv_param={"stride": stride, "pad": pad},
    )


# (N, C, F, H, W, HH, WW, stride, pad) on every seed: sizes where the usual wrong output sizes differ from
# floor((H + 2P - HH) / S) + 1 along both axes, so no seed can miss them.
PINNED_GEOMETRIES = [
    (2, 2, 3, 5, 8, 2, 1, 3, 1),   # stride 3 > the 2x1 kernel: round(5/3) + 1 = 3 != 2, W // S = 2 != 4, H for W
    (2, 3, 2, 9, 8, 2, 1, 3, 0),   # pad 0, stride > kernel, windows that do not reach the last row or column
    (3, 1, 2, 7, 6, 2, 3, 2, 1),   # (7 + 2 - 2) / 2 = 3.5: round() gives one row too many
    (2, 2, 3, 4, 9, 1, 2, 3, 1),   # each wrong size formula gives a shape of its own (see size_mistake)
    (2, 3, 1, 4, 5, 3, 1, 2, 1),   # ... and H // S gives one of its own
]


def conv_grid(seed):
    """Random conv layers over pad 0..2 and stride 1..3 with N > 1, C != F, H != W, HH != WW.

    Three easy cases (square kernel and input, stride 1) come first, so that a failure pattern
    ("fails only for non-square kernels") can be told apart; then PINNED_GEOMETRIES, then the random ones.
    """
    rng = np.random.default_rng(seed)
    cases = [
        conv_case(rng, 2, 2, 2, 5, 5, 3, 3, 1, 0),
        conv_case(rng, 2, 3, 3, 6, 6, 3, 3, 1, 1),
        conv_case(rng, 2, 1, 2, 5, 5, 2, 2, 1, 0),
    ] + [conv_case(rng, *geometry) for geometry in PINNED_GEOMETRIES]
    for pad in range(3):
        for stride in range(1, 4):
            C = int(rng.integers(1, 4))
            F = int(rng.choice([f for f in range(1, 5) if f != C]))
            HH, WW = (int(v) for v in rng.choice(np.arange(1, 5), size=2, replace=False))
            H = int(rng.integers(max(HH, WW) + 2, 10))
            W = int(rng.choice([v for v in range(max(HH, WW) + 2, 11) if v != H]))
            N = int(rng.integers(2, 4))
            cases.append(conv_case(rng, N, C, F, H, W, HH, WW, stride, pad))
    return cases


def backward_cases(seed):
    """Two cases that keep the failure patterns apart, then the shared grid; every case with a dout.

    A square kernel on a non-square input, and a non-square kernel on a square input (both stride 1),
    so that "fails only for non-square kernels" and "fails only for non-square inputs" differ.
    """
    rng = np.random.default_rng(seed + 1)
    cases = [conv_case(rng, 2, 2, 3, 6, 8, 3, 3, 1, 1), conv_case(rng, 2, 3, 2, 7, 7, 2, 3, 1, 0)] + conv_grid(seed)
    rng = np.random.default_rng(seed + 2)
    for case in cases:
        case.dout = rng.standard_normal(case.out_shape())
    return cases


def wrong_sizes(H: int, W: int, HH: int, WW: int, stride: int, pad: int = 0) -> list:
    """[(sentence, (H', W'))] that each usual wrong output-size formula gives (the shape may be the right one)."""
    def right(n, k):
        return output_size(n, k, stride, pad)

    formulas = [
        ("Your output size is off by one: you left out the + 1 of H' = (H + 2P - HH) // S + 1.",
         lambda n, k, _: (n + 2 * pad - k) // stride),
        ("Your output size rounds (H + 2P - HH) / S with round() (or rounds up); take the floor with //.",
         lambda n, k, _: round((n + 2 * pad - k) / stride) + 1),
        ("Your output size rounds (H + 2P - HH) / S with round() (or rounds up); take the floor with //.",
         lambda n, k, _: -(-(n + 2 * pad - k) // stride) + 1),
        ("Your output size is H // S; it is H' = (H + 2P - HH) // S + 1 (the window must fit).",
         lambda n, k, _: (n + 2 * pad) // stride),
        ("Your output width is computed from the height: W' = (W + 2P - WW) // S + 1 uses W, not H.",
         lambda n, k, axis: right(H, k) if axis == 1 else right(n, k)),
        ("Your output height is computed from the width: H' = (H + 2P - HH) // S + 1 uses H, not W.",
         lambda n, k, axis: right(W, k) if axis == 0 else right(n, k)),
    ]
    if stride != 1:
        formulas.append(("Your output size ignores the stride.", lambda n, k, _: n + 2 * pad - k + 1))
    if pad != 0:
        formulas.append(("Your output size ignores the padding.", lambda n, k, _: (n - k) // stride + 1))
    axes = ((H, HH), (W, WW))
    expected = tuple(right(n, k) for n, k in axes)
    sizes = []
    for sentence, formula in formulas:
        predicted = tuple(formula(n, k, axis) for axis, (n, k) in enumerate(axes))
        # the formula on both axes, and on one axis only (the other one right)
        for got in {predicted, (predicted[0], expected[1]), (expected[0], predicted[1])}:
            sizes.append((sentence, got))
    sizes.append(("Your output has height and width swapped: out is (N, F, H', W').", expected[::-1]))
    return sizes


def size_mistake(got: tuple, H: int, W: int, HH: int, WW: int, stride: int, pad: int = 0) -> str:
    """The one wrong output-size formula that explains a wrong (H', W') = `got`, or "" when none or several do.

    A formula explains `got` when it gives `got` on both axes or on one (the other axis right); only a
    single explaining formula is named, so a hint never guesses.
    """
    if len(got) != 2 or tuple(got) == (output_size(H, HH, stride, pad), output_size(W, WW, stride, pad)):
        return ""
    explaining = {sentence for sentence, size in wrong_sizes(H, W, HH, WW, stride, pad) if size == tuple(got)}
    return explaining.pop() if len(explaining) == 1 else ""


def positions_mistake(positions: int, N: int, H: int, W: int, HH: int, WW: int, stride: int, pad: int) -> str:
    """Like size_mistake, from the number of window positions N * H' * W' only (an im2col column count)."""
    if positions == N * output_size(H, HH, stride, pad) * output_size(W, WW, stride, pad):
        return ""
    explaining = {sentence for sentence, (h, w) in wrong_sizes(H, W, HH, WW, stride, pad) if N * h * w == positions}
    return explaining.pop() if len(explaining) == 1 else ""
