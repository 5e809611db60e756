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


def _conv_case(rng, N, C, F, H, W, HH, WW, stride, pad):
    return ConvCase(
        x=rng.standard_normal((N, C, H, W)),
        w=rng.standard_normal((F, C, HH, WW)),
        b=rng.standard_normal(F),
        conv_param={"stride": stride, "pad": pad},
    )


def conv_grid(seed):
    """Random conv layers over pad 0..2 and stride 1..3 with N > 1, C != F, H != W, HH != WW.

    Three easy cases (square kernel and input, stride 1) come first, so that a failure pattern
    ("fails only for non-square kernels") can be told apart.
    """
    rng = np.random.default_rng(seed)
    cases = [
        _conv_case(rng, 2, 2, 2, 5, 5, 3, 3, 1, 0),
        _conv_case(rng, 2, 3, 3, 6, 6, 3, 3, 1, 1),
        _conv_case(rng, 2, 1, 2, 5, 5, 2, 2, 1, 0),
    ]
    for pad in range(3):
        for stride in range(1, 4):
            C = int(rng.integers(1, 4))
            F = int(rng.choice([f for f in range(1, 5) if f != C]))
            HH, WW = (int(v) for v in rng.choice(np.arange(1, 5), size=2, replace=False))
            H = int(rng.integers(max(HH, WW) + 2, 10))
            W = int(rng.choice([v for v in range(max(HH, WW) + 2, 11) if v != H]))
            N = int(rng.integers(2, 4))
            cases.append(_conv_case(rng, N, C, F, H, W, HH, WW, stride, pad))
    return cases


def backward_cases(seed):
    """Two cases that keep the failure patterns apart, then the shared grid; every case with a dout.

    A square kernel on a non-square input, and a non-square kernel on a square input (both stride 1),
    so that "fails only for non-square kernels" and "fails only for non-square inputs" differ.
    """
    rng = np.random.default_rng(seed + 1)
    cases = [_conv_case(rng, 2, 2, 3, 6, 8, 3, 3, 1, 1), _conv_case(rng, 2, 3, 2, 7, 7, 2, 3, 1, 0)] + conv_grid(seed)
    rng = np.random.default_rng(seed + 2)
    for case in cases:
        case.dout = rng.standard_normal(case.out_shape())
    return cases
