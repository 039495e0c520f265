"""rlhf-sandbox: reinforcement learning from human feedback in games and driving simulation."""

from rlhf_sandbox import envs as envs  # registers the Gymnasium ids

__version__ = "0.1.0"
