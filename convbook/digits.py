"""The handwritten digits of scikit-learn: a fixed train/validation/test split, and random shifts.

`sklearn.datasets.load_digits()` reads 1,797 grey images of 8x8 pixels (values 0 to 16) from a file
inside the installed scikit-learn package: nothing is downloaded.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

N_IMAGES = 1797
N_TEST = 360
N_VAL = 180
N_TRAIN = N_IMAGES - N_TEST - N_VAL  # 1257
SPLIT_SEED = 0


def load_digits_split(seed: int = SPLIT_SEED) -> dict[str, np.ndarray | float]:
    """The digits, split into training, validation and test sets, standardised, in NCHW order.

    The split is stratified (each part holds every digit in the proportion of the whole set) and
    fixed by `seed`: first N_TEST = 360 images go to the test set, then N_VAL = 180 of the rest to the
    validation set, with scikit-learn's `train_test_split(..., stratify=labels, random_state=seed)`.

    Pixels are divided by 16 and then standardised with the mean and standard deviation of the
    *training* pixels (two numbers), so that the training images have mean 0 and standard deviation 1.

    Returns a dict with
    - "X_train": (1257, 1, 8, 8) float64,  "y_train": (1257,) int64 labels 0..9
    - "X_val":   (180, 1, 8, 8) float64,   "y_val":   (180,) int64
    - "X_test":  (360, 1, 8, 8) float64,   "y_test":  (360,) int64
    - "mean", "std": the two floats used to standardise (pixel = X * std + mean, in [0, 1])
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = digits.images[:, None, :, :] / 16.0          # (1797, 1, 8, 8) in [0, 1]
    labels = digits.target.astype(np.int64)
    X_rest, X_test, y_rest, y_test = train_test_split(
        images, labels, test_size=N_TEST, stratify=labels, random_state=seed)
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=N_VAL, stratify=y_rest, random_state=seed)
    mean, std = float(X_train.mean()), float(X_train.std())

    def standardise(X):
        return np.ascontiguousarray((X - mean) / std, dtype=np.float64)

    return {
        "X_train": standardise(X_train), "y_train": y_train,
        "X_val": standardise(X_val), "y_val": y_val,
        "X_test": standardise(X_test), "y_test": y_test,
        "mean": mean, "std": std,
    }


def random_shift(X: np.ndarray, rng: np.random.Generator, max_shift: int = 1) -> np.ndarray:
    """Move every image by a random whole number of pixels, a data augmentation.

    Inputs:
    - X: images, shape (N, C, H, W)
    - rng: a numpy Generator (np.random.default_rng(seed)); it draws 2N integers
    - max_shift: each image moves by dy rows and dx columns, dy and dx drawn independently and
      uniformly from -max_shift, ..., max_shift
    Returns a new array shaped like X. Pixels that enter from outside the image take the image's
    smallest value (its background). X is not modified.
    """
    N, C, H, W = X.shape
    s = max_shift
    background = X.min(axis=(1, 2, 3))
    padded = np.empty((N, C, H + 2 * s, W + 2 * s), dtype=X.dtype)
    padded[...] = background[:, None, None, None]
    padded[:, :, s:s + H, s:s + W] = X
    windows = sliding_window_view(padded, (H, W), axis=(2, 3))   # (N, C, 2s+1, 2s+1, H, W), a view
    top = rng.integers(0, 2 * s + 1, size=N)
    left = rng.integers(0, 2 * s + 1, size=N)
    # image n is the window starting at (top[n], left[n]) of its padded copy: moved by s - top[n] rows
    return windows[np.arange(N), :, top, left]
