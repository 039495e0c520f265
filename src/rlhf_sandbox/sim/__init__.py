"""Batched worlds in pure numpy: no gymnasium, torch or pygame imports (pygame only, lazily, in drawing)."""
