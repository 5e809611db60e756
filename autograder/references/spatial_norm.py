"""References for the assignment `spatial_norm`, written independently of the notebook's solutions.

The forward passes move the normalised axes last and flatten them to rows (the fully-connected
formulation); the backward passes are the vector-Jacobian product of that formulation, built from the
derivatives of the mean and variance one term at a time (the "computational graph" derivation), and the
test suite checks them against numeric gradients.
"""
import numpy as np


def batchnorm_statistics(x):
    """Per-channel mean and biased variance over (N, H, W): two arrays of shape (C,)."""
    rows = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
    return rows.mean(axis=0), rows.var(axis=0)


def _normalise_rows(rows, mean, var, eps):
    return (rows - mean) / np.sqrt(var + eps)


def spatial_batchnorm_reference(x, gamma, beta, mean, var, eps):
    """gamma * (x - mean) / sqrt(var + eps) + beta, with per-channel mean and var of shape (C,)."""
    N, C, H, W = x.shape
    rows = np.moveaxis(x, 1, -1).reshape(-1, C)
    out = gamma * _normalise_rows(rows, mean, var, eps) + beta
    return np.moveaxis(out.reshape(N, H, W, C), -1, 1)


def spatial_batchnorm_train_reference(x, gamma, beta, eps, momentum, running_mean, running_var):
    """(out, new running_mean, new running_var) of a training-mode step."""
    mean, var = batchnorm_statistics(x)
    out = spatial_batchnorm_reference(x, gamma, beta, mean, var, eps)
    return out, momentum * running_mean + (1 - momentum) * mean, momentum * running_var + (1 - momentum) * var


def _rows_backward(dout_rows, rows, gamma_rows, eps):
    """Backward of y = gamma * (rows - mean) / sqrt(var + eps) with statistics over axis 0, by the graph:
    through x_hat, then the variance, then the mean."""
    M = rows.shape[0]
    mean = rows.mean(axis=0)
    centred = rows - mean
    var = (centred ** 2).mean(axis=0)
    std = np.sqrt(var + eps)
    dx_hat = dout_rows * gamma_rows
    dvar = np.sum(dx_hat * centred, axis=0) * -0.5 * std ** -3
    dmean = np.sum(-dx_hat / std, axis=0) + dvar * np.mean(-2.0 * centred, axis=0)
    return dx_hat / std + dvar * 2.0 * centred / M + dmean / M


def spatial_batchnorm_backward_reference(dout, x, gamma, eps):
    """(dx, dgamma, dbeta) of training-mode spatial batch norm."""
    N, C, H, W = x.shape
    rows = np.moveaxis(x, 1, -1).reshape(-1, C)
    drows = np.moveaxis(dout, 1, -1).reshape(-1, C)
    mean, var = batchnorm_statistics(x)
    x_hat = _normalise_rows(rows, mean, var, eps)
    dx = _rows_backward(drows, rows, gamma, eps)
    return np.moveaxis(dx.reshape(N, H, W, C), -1, 1), np.sum(drows * x_hat, axis=0), drows.sum(axis=0)


def _group_columns(x, G):
    """x (N, C, H, W) -> (C/G * H * W, N * G): one column per (image, group)."""
    N = x.shape[0]
    return x.reshape(N * G, -1).T


def spatial_groupnorm_reference(x, gamma, beta, G, eps):
    N, C, H, W = x.shape
    cols = _group_columns(x, G)
    x_hat = _normalise_rows(cols, cols.mean(axis=0), cols.var(axis=0), eps).T.reshape(N, C, H, W)
    return gamma[None, :, None, None] * x_hat + beta[None, :, None, None]


def spatial_groupnorm_backward_reference(dout, x, gamma, G, eps):
    """(dx, dgamma, dbeta) of spatial group norm."""
    N, C, H, W = x.shape
    cols = _group_columns(x, G)
    x_hat = _normalise_rows(cols, cols.mean(axis=0), cols.var(axis=0), eps).T.reshape(N, C, H, W)
    gamma_cols = _group_columns(np.broadcast_to(gamma[None, :, None, None], x.shape), G)
    dx = _rows_backward(_group_columns(dout, G), cols, gamma_cols, eps).T.reshape(N, C, H, W)
    return dx, np.sum(dout * x_hat, axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))
