"""The built-in highway oracle as a plug-in teacher: the same object as ``--teacher highway``,
loaded through the plug-in route. bench/preference_suite.py teaches its highway task with
it, so that the route (import, source hash, labels named by the spec) is measured too.

    rlhf-sandbox train --env rlhf_sandbox/Highway-v0 --teacher highway_oracle:HIGHWAY \
        --labels 200 --timesteps 50000 --out runs/highway     # run from examples/teachers/

Importing this module runs it: a plug-in teacher is code you run (docs/ORACLES.md).
"""

from rlhf_sandbox.agents.teachers.oracles import get_oracle

HIGHWAY = get_oracle("highway")  # docs/ORACLES.md, "highway": its terms and constants
