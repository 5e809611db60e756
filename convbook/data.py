"""Data that ships inside installed packages: nothing is downloaded."""
import numpy as np
from matplotlib import cbook


def load_sample_photo() -> np.ndarray:
    """Grace Hopper's portrait from matplotlib's sample data.

    Returns a float64 array of shape (H, W, 3) = (600, 512, 3) with values in [0, 1].
    """
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        import matplotlib.image as mpimg

        img = mpimg.imread(f, format="jpg")
    return np.asarray(img, dtype=np.float64) / 255.0
