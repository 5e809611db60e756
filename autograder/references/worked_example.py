"""The worked example of the assignment `conv_backward` (seed 000): a 5x5 input, a 2x2 kernel -> 4x4, 2x2 max
pool -> 2x2, sigmoid, a dense layer of 2. The numbers the source states, the signs it lost, its sign slip,
and the corrected kernel gradient (tests/test_conv_backward.py checks each against the others).
"""
import numpy as np
from scipy import signal

from autograder.references.conv import unpool_reference

DELTA_H = np.array([0.25, -0.15])
# Fully connected weights, row k feeds H_{k+1}, columns are the pooled units 11, 12, 21, 22.
# The source lost its minus signs; these signs reproduce every stated delta.
FC_WEIGHTS = np.array([[0.61, 0.82, 0.96, 1.00],
                       [0.02, -0.50, 0.23, -0.17]])
SIGMOID_OUT = np.array([[0.58, 0.57], [0.65, 0.55]])
STATED_POOLED_DELTAS = np.array([[0.0364182, 0.068628], [0.04675125, 0.06818625]])
O_SEED = np.array([[0.51, 0.9, 0.88, 0.84, 0.05],
                   [0.4, 0.62, 0.22, 0.59, 0.1],
                   [0.11, 0.2, 0.74, 0.33, 0.14],
                   [0.47, 0.01, 0.85, 0.7, 0.09],
                   [0.76, 0.19, 0.72, 0.17, 0.57]])
# Where each pooling window had its maximum (delta11 -> (1, 1), delta12 -> (0, 2), ...).
MAX_POSITIONS = ((1, 1), (0, 2), (2, 1), (3, 3))
# The delta map of the answer in the source, with its sign slip at (3, 3), and the gradient it reports.
D_ANSWER = np.zeros((4, 4))
for (_r, _c), _v in zip(MAX_POSITIONS, (0.0364, 0.0686, 0.0467, -0.0681)):
    D_ANSWER[_r, _c] = _v
ANSWER_GRADIENT = np.array([[0.044606, 0.094061], [0.011262, 0.068288]])


def max_mask():
    mask = np.zeros((4, 4), dtype=bool)
    for r, c in MAX_POSITIONS:
        mask[r, c] = True
    return mask


def corrected_seed_gradient():
    """The kernel gradient of the worked example with the stated (correctly signed) deltas."""
    return signal.correlate2d(O_SEED, unpool_reference(STATED_POOLED_DELTAS, max_mask()), mode="valid")
