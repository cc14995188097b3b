"""
Update policies against their clairvoyant bound
===============================================

Simulate the versioning paper's update policies (always, never, random, Q-learning) on
``gentzen-star4`` over three seeds each, then score seed 0 of every policy against the
clairvoyant bound of the multi-period model on the same measured loads
(:func:`edgebound.sim.schedule.bound_check`). No policy can do better than the bound; the
gap says how much any update agent could still gain.
"""

import matplotlib.pyplot as plt

from edgebound import bounds
from edgebound.instances import load
from edgebound.sim import make_policy, simulate, summarize
from edgebound.sim.schedule import bound_check

inst = load("gentzen-star4")
policies = ["always", "never", "random", "qlearning"]
runs = {
    name: [simulate(inst, make_policy(name), arrivals=5000, seed=s, periods=1) for s in range(3)]
    for name in policies
}
for name, rs in runs.items():
    s = summarize(rs, confidence=0.95)
    print(
        f"{name:10s} delay {s.mean['delay']:6.2f} ± {s.halfwidth['delay']:.2f} ms, "
        f"accuracy {s.mean['accuracy']:.4f} ± {s.halfwidth['accuracy']:.4f}"
    )

# %%
# The static model's certified bound on the instance's own state, for reference.

static = bounds.mmv(inst, schedule=False)
print(f"static MMV bound {static.value:.4f} ({static.status})")

# %%
# Each policy's seed-0 run as a schedule on the analytic model, against its bound. The runs
# above are cut into one period (``periods=1``) to keep the bound's solve short: the schedule
# then keeps, per model, the version that served most requests. More periods (the default 4
# of ``edgebound simulate-sweep``) follow the updates more closely and take longer to bound.

checks = {name: bound_check(inst, rs[0], time_limit=20) for name, rs in runs.items()}
for name, c in checks.items():
    print(
        f"{name:10s} achieved {c['achieved']:.4f}  bound {c['bound']:.4f}  "
        f"gap {100 * c['gap']:.2f} %  admitted: {c['admits']}"
    )

fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(
    policies, [checks[p]["achieved"] for p in policies], color="tab:blue", label="policy (analytic)"
)
ax.scatter(
    policies,
    [checks[p]["bound"] for p in policies],
    color="black",
    marker="_",
    s=800,
    label="clairvoyant bound",
    zorder=3,
)
ax.set_ylabel("weighted objective (min)")
ax.set_ylim(
    min(c["bound"] for c in checks.values()) - 0.5,
    max(c["achieved"] for c in checks.values()) + 0.5,
)
ax.legend(fontsize="small")
ax.set_title("gentzen-star4: policies and their bound")
fig.tight_layout()
