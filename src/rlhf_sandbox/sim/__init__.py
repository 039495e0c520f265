"""Batched worlds in numpy (and numba kernels).

No gymnasium or torch imports; pygame only lazily, inside drawing code.
"""
