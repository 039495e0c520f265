"""The learned reward: the ensemble, its network and batches, absorbing states, and the
wrappers that put it in place of an env's reward."""
