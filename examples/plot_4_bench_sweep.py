"""
A small experiment sweep
========================

An experiment is a YAML file of instances, methods with parameter grids, and seeds
(:doc:`../bench`). Here two update policies at two loads over four seeds, run with
:func:`edgebound.bench.run_experiment`; every record is appended to a JSON-lines file as it
finishes, so an interrupted sweep resumes with ``resume=True`` (``edgebound bench
--resume``) without redoing finished runs. The summary gives means and 95 % Student-t
confidence intervals over the seeds.
"""

import tempfile
from pathlib import Path

from rich.console import Console

from edgebound.bench import (
    loads_experiment,
    plot_summary,
    read_records,
    run_experiment,
    summarize,
    summary_tables,
)

experiment = loads_experiment("""
name: loads
seeds: 4
instances: [gentzen-star4]
methods:
  - method: simulate
    params: {arrivals: 4000}
    grid:
      policy: [always, never]
      load: [0.3, 0.6]
  - method: solve
""")
print(f"{len(experiment.runs)} runs")

out = Path(tempfile.mkdtemp()) / "loads.jsonl"
report = run_experiment(experiment, out, workers=1)
print(
    f"{report.completed} runs done; again with resume=True:",
    run_experiment(experiment, out, workers=1, resume=True).skipped,
    "skipped",
)

# %%
# One record per line: the run's identity, its result, and ``meta`` (timings, host), the
# only part that differs between machines and backends.

record = read_records(out)[0]
print({k: record[k] for k in ("key", "method", "params", "seed", "status")})
print(sorted(record["result"]), sorted(record["meta"]))

# %%
# Means and confidence intervals over the seeds.

groups = summarize(read_records(out))
console = Console(width=120)
for table in summary_tables(groups, metrics=["objectives.delay", "objectives.accuracy"]):
    console.print(table)

fig = plot_summary(groups, metrics=["objectives.delay", "objectives.accuracy"], x="load")
