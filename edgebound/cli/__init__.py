"""The ``edgebound`` command line.

Commands: ``instances`` (list the bundled instances), ``show`` (summarize one), ``validate``
(check instance files, every problem with its field path), ``schema`` (the JSON Schema of
instance files), ``generate`` (write a generated instance) and ``evaluate`` (score a
decision on an instance); ``solve``, ``bound``, ``simulate``, ``pareto``, ``forecast``,
``mpc``, ``marl``, ``bench`` and ``bench-summarize`` are described in their modules and in
the docs' command reference. Every command takes ``--json``: stdout then carries exactly one
JSON document and nothing else; messages go to stderr.

Exit codes
----------
===== =====================================================================================
code  meaning
===== =====================================================================================
0     success: the files are valid, the decision is feasible
1     invalid input: an instance or decision with problems, a missing or unreadable file,
      an argument value the command cannot use
2     usage error: unknown command or option, missing argument (reported by click)
3     ``evaluate`` only: the decision is well-formed but violates constraints
70    internal error, a bug in edgebound; ``EDGEBOUND_DEBUG=1`` shows the traceback
===== =====================================================================================

A command is a function registered with ``@_command("name")``; errors deriving from
:class:`~edgebound.errors.EdgeboundError` become exit code 1 with every problem printed to
stderr, so a command body never needs its own error handling.

Examples
--------
>>> from typer.testing import CliRunner
>>> result = CliRunner().invoke(app, ["validate", "gentzen-star4", "--json"])
>>> result.exit_code
0
>>> import json
>>> json.loads(result.stdout)["files"][0]["ok"]
True
"""

from edgebound.cli import (  # noqa: F401  (registers the commands)
    _bench,
    _forecast,
    _instances,
    _marl,
    _mpc,
    _pareto,
    _simulate,
    _solve,
)
from edgebound.cli._app import (
    EXIT_INFEASIBLE,
    EXIT_INTERNAL,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    app,
    main,
)

__all__ = [
    "EXIT_INFEASIBLE",
    "EXIT_INTERNAL",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_USAGE",
    "app",
    "main",
]
