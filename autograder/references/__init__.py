"""Reference layers built on scipy.signal, independent of the solutions, one module per topic."""
