"""Small plotting helpers for the notebooks."""
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def show_images(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, cmap: str = "gray",
                size: float = 3.0) -> Figure:
    """Show a row of images.

    images: list of (H, W) or (H, W, 3) arrays. titles: list of strings or None.
    Returns the matplotlib Figure.
    """
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size), squeeze=False)
    for i, (ax, img) in enumerate(zip(axes[0], images)):
        ax.imshow(np.asarray(img), cmap=cmap)
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(titles[i])
    fig.tight_layout()
    return fig


def show_grid(values: np.ndarray, title: str | None = None, fmt: str = "{:.2g}", ax: Axes | None = None) -> Axes:
    """Draw a small 2-D array as a table of numbers over a colour map.

    values: (H, W) array. Returns the Axes.
    """
    values = np.asarray(values)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.6 * values.shape[1] + 1, 0.6 * values.shape[0] + 0.6))
    ax.imshow(values, cmap="coolwarm")
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax
