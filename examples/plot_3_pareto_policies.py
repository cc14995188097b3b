"""
A Pareto front with the policies on it
======================================

An NSGA-II front of ``gentzen-star4`` over delay (O1, min) and accuracy (O2, max), and the
outcomes of the simulator's policies placed against it with :func:`edgebound.pareto.score`.
The front is the static analytic model; the simulator runs versions released later and pays
spawn times the static model does not have, so policies can land on either side of it (see
the Pareto page of the docs).
"""

from edgebound.instances import load
from edgebound.pareto import mmv_nsga, score
from edgebound.sim import make_policy, simulate

inst = load("gentzen-star4")
front = mmv_nsga(inst, ("delay", "accuracy"), pop_size=40, generations=40, seed=0)
print(f"{len(front)} nondominated points, delay {front.F[0, 0]:.2f}-{front.F[-1, 0]:.2f} ms")

outcomes = {}
for name in ("always", "never", "random", "qlearning"):
    res = simulate(inst, make_policy(name), arrivals=10_000, seed=0)
    outcomes[name] = [res.objectives["delay"], res.objectives["accuracy"]]

ref = [40.0, 0.5]  # worst delay and accuracy that count, in the objectives' own senses
print(f"front hypervolume {front.hypervolume(ref):.5f}")
for name, point in outcomes.items():
    s = score(front, point, ref)
    print(
        f"{name:10s} delay {point[0]:6.2f} ms, accuracy {point[1]:.4f}: "
        f"dominated={s.dominated}, epsilon={s.epsilon:.4f}"
    )

# %%
# The front and the policies' outcomes.

fig = front.plot(agents=outcomes)
fig.axes[0].set_title("gentzen-star4: NSGA-II front and simulated policies")
fig.tight_layout()
