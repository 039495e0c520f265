"""``python -m rlhf_sandbox.cli``: the same as the ``rlhf-sandbox`` command."""

from rlhf_sandbox.cli import main

main()
