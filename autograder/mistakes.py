"""A catalogue of typical mistakes, each written as a small edit of the reference solution.

Sample students carry them (`make demo`), and the test suite proves that each one is caught: a
submission with the mistake loses the points of exactly the test cells listed in `fails`.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    name: str
    assignment: str
    cell: str            # grade_id of the answer cell that carries the mistake
    old: str             # text of the solution that the mistake replaces (must occur exactly once)
    new: str
    fails: tuple         # grade_ids of the test cells that must lose their points
    diagnosis: str = ""  # a phrase the feedback must contain, when the checks can name the mistake

    def apply(self, answers):
        """{grade_id: source} of a correct submission -> the same with this mistake made."""
        source = answers[self.cell]
        if source.count(self.old) != 1:
            raise ValueError(f"mistake {self.name}: {self.old!r} occurs {source.count(self.old)} times")
        return {**answers, self.cell: source.replace(self.old, self.new)}


CONV_FORWARD_TESTS = ("test_conv_forward_visible", "test_conv_forward_hidden")

MISTAKES = [
    Mistake("flipped_kernel", "conv_forward", "conv_forward_naive",
            "conv_single_step(window, w[f], b[f])", "conv_single_step(window, w[f, :, ::-1, ::-1], b[f])",
            CONV_FORWARD_TESTS, "you computed convolution, not cross-correlation"),
    Mistake("square_kernel_assumed", "conv_forward", "conv_forward_naive",
            "left:left + WW]", "left:left + HH]",
            CONV_FORWARD_TESTS, "'kernel is square'"),
    Mistake("stride_ignored", "conv_forward", "conv_forward_naive",
            "top, left = i * stride, j * stride", "top, left = i, j",
            CONV_FORWARD_TESTS, "'stride is 1'"),
    Mistake("output_size_off_by_one", "conv_forward", "conv_forward_naive",
            "H_out = output_size(H, HH, stride, pad)", "H_out = (H + 2 * pad - HH) // stride",
            CONV_FORWARD_TESTS, "off by one"),
    Mistake("bias_forgotten", "conv_forward", "conv_single_step",
            "return float(np.sum(x_slice * w) + b)", "return float(np.sum(x_slice * w))",
            ("test_conv_single_step",) + CONV_FORWARD_TESTS, "You forgot the bias"),
    Mistake("all_axes_padded", "conv_forward", "zero_pad",
            "((0, 0), (0, 0), (pad, pad), (pad, pad))", "pad",
            ("test_zero_pad",) + CONV_FORWARD_TESTS, "pad only H and W"),
    Mistake("output_size_true_division", "conv_forward", "output_size",
            "// stride + 1", "/ stride + 1",
            ("test_output_size",) + CONV_FORWARD_TESTS, ""),
    Mistake("edge_kernel_sign", "conv_forward", "image_filters",
            "g_x = np.array([[-1.0, 0.0, 1.0],\n                    [-2.0, 0.0, 2.0],\n                    [-1.0, 0.0, 1.0]])",
            "g_x = np.array([[1.0, 0.0, -1.0],\n                    [2.0, 0.0, -2.0],\n                    [1.0, 0.0, -1.0]])",
            ("test_image_filters",), ""),
    Mistake("full_conv_not_flipped", "conv_forward", "conv2d_full",
            "k_flipped = k[::-1, ::-1]", "k_flipped = k",
            ("test_conv2d_full",), "flip the kernel"),
]

# What the demo's "mistakes" student gets wrong: independent mistakes in different exercises.
DEMO_MISTAKES = {"conv_forward": ["flipped_kernel", "edge_kernel_sign", "full_conv_not_flipped"]}


def mistakes_for(assignment):
    return [m for m in MISTAKES if m.assignment == assignment]


def by_name(name):
    return next(m for m in MISTAKES if m.name == name)
