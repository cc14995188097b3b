"""Experiment runner: grids of instances x methods x parameters x seeds, locally or on Ray.

An experiment file lists instances, methods with their parameters and grids, and seeds
(:mod:`edgebound.bench.experiment`); it expands into runs, each with a key that identifies it
on every machine. :func:`run_experiment` runs those not yet in the result file on a local
process pool or on Ray, storing each record as it finishes (:mod:`edgebound.bench.store`), so
an interrupted sweep resumes where it stopped. :func:`summarize` gives means and confidence
intervals over seeds, :func:`summary_tables` and :func:`plot_summary` show them. Methods are
small registered functions (:mod:`edgebound.bench.methods`). The docs page "Experiments"
describes the file format and the command ``edgebound bench``.

Examples
--------
>>> import tempfile, pathlib
>>> exp = loads_experiment('''
... instances: [gentzen-star4]
... seeds: 3
... methods:
...   - method: simulate
...     params: {arrivals: 2000}
...     grid: {policy: [always, never]}
... ''')
>>> out = pathlib.Path(tempfile.mkdtemp()) / "results.jsonl"
>>> run_experiment(exp, out, workers=1).completed
6
>>> groups = summarize(read_records(out))
>>> [(g.params["policy"], g.n) for g in groups]
[('always', 3), ('never', 3)]
"""

from edgebound.bench.experiment import (
    Experiment,
    ExperimentError,
    Run,
    from_mapping,
    load_experiment,
    loads_experiment,
    run_key,
)
from edgebound.bench.methods import Method, Param, method, methods, register
from edgebound.bench.runner import BACKENDS, BenchError, BenchReport, execute, run_experiment
from edgebound.bench.store import (
    ResultStore,
    StoreError,
    comparable,
    dumps_record,
    jsonable,
    latest,
    read_records,
)
from edgebound.bench.summary import Group, flatten, plot_summary, summarize, summary_tables

__all__ = [
    "BACKENDS",
    "BenchError",
    "BenchReport",
    "Experiment",
    "ExperimentError",
    "Group",
    "Method",
    "Param",
    "ResultStore",
    "Run",
    "StoreError",
    "comparable",
    "dumps_record",
    "execute",
    "flatten",
    "from_mapping",
    "jsonable",
    "latest",
    "load_experiment",
    "loads_experiment",
    "method",
    "methods",
    "plot_summary",
    "read_records",
    "register",
    "run_experiment",
    "run_key",
    "summarize",
    "summary_tables",
]
