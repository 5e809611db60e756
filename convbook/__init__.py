"""convbook: the student-side helpers of the convolution workbook.

Everything here is allowed (and meant) to be used inside the exercises:
gradient checking, relative errors with a verdict, sample data, plotting and timing.
"""
from convbook.gradcheck import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)
from convbook.testing import check_close, check_output_shape, describe_difference

__all__ = [
    "check_close",
    "check_output_shape",
    "describe_difference",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "rel_error",
]
