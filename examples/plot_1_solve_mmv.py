"""
Solve the versioning problem of an instance
===========================================

Load the bundled ``gentzen-star4`` instance (the 4-node star and 5 ML models of the
versioning paper), build the MMV model (eqs 1-12) with the paper's weighted objective, and
solve it with HiGHS. The independent evaluator recomputes every objective of the decision.
"""

import matplotlib.pyplot as plt
import numpy as np

from edgebound.instances import load
from edgebound.models import mmv
from edgebound.solvers import solve

inst = load("gentzen-star4")
print(f"{inst.name}: {len(inst.node_names)} nodes, {len(inst.services)} models")

res = solve(mmv.build(inst, "weighted"), require_optimal=True)
print(res.summary())
for name, value in res.evaluation.objectives.items():
    print(f"  {name:12s} {value:10.4f} {res.evaluation.units.get(name, '')}")

# %%
# The decision: which version each model runs after the update, and its replicas per node.

for k in inst.service_names:
    version = res.decision["versions"][k]
    running = inst.running_version(k).label
    moved = "updated" if version != running else "kept"
    print(f"{k}: version {version} ({moved}), replicas {res.decision['replicas'][k]}")

# %%
# Replicas per node, stacked by model.

fig, ax = plt.subplots(figsize=(6, 3))
bottom = np.zeros(len(inst.node_names))
for k in inst.service_names:
    counts = np.array([res.decision["replicas"][k].get(n, 0) for n in inst.node_names])
    ax.bar(inst.node_names, counts, bottom=bottom, label=k)
    bottom += counts
ax.set_ylabel("replicas")
ax.set_title("gentzen-star4: optimal replicas per node")
ax.legend(fontsize="small", ncol=2)
fig.tight_layout()
