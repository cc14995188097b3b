"""Plumbing of the command line: the typer app, error handling, JSON output."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from typer.core import TyperCommand

from edgebound import __version__
from edgebound.errors import EdgeboundError

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_INFEASIBLE = 3
EXIT_NOT_OPTIMAL = 4
EXIT_INTERNAL = 70  # EX_SOFTWARE of sysexits.h
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it

_DEBUG_ENV = "EDGEBOUND_DEBUG"

F = TypeVar("F", bound=Callable[..., Any])


class _InputError(EdgeboundError):
    """A file the command was given cannot be read or written (not an instance problem)."""


# --------------------------------------------------------------------------- app and plumbing


def _debug() -> bool:
    return os.environ.get(_DEBUG_ENV, "") not in ("", "0")


def _echo_err(text: str) -> None:
    # typer.echo rather than rich: a problem line must never be wrapped or re-coloured.
    typer.echo(text, err=True)


def _emit_json(doc: Any) -> None:
    typer.echo(json.dumps(_jsonable(doc), indent=2))


def _jsonable(x: Any) -> Any:
    """Strict JSON: non-finite floats become strings; numpy values and result objects plain."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "to_dict"):  # Problem, Evaluation, Violation
        return _jsonable(x.to_dict())
    if hasattr(x, "tolist"):  # numpy arrays and scalars
        return _jsonable(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    return str(x)


def _console() -> Console:
    return Console(highlight=False)


def _progress(quiet: bool) -> Progress:
    """A transient progress bar (description, bar, done of total, time left); ``quiet``
    disables it (e.g. under ``--json``)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=_console(),
        transient=True,
        disable=quiet,
    )


# Taken from typer rather than click: recent typer versions carry their own copy of click.
_FRAMEWORK_EXCEPTIONS: tuple[type[BaseException], ...] = (
    typer.Exit,
    typer.Abort,
    *(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"),
)


class _Command(TyperCommand):
    """A command whose failures become a message on stderr and an exit code, not a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _FRAMEWORK_EXCEPTIONS:
            raise
        except EdgeboundError as exc:
            _report_failure(ctx, exc, EXIT_INVALID)
        except Exception as exc:
            if _debug():
                raise
            _report_failure(ctx, exc, EXIT_INTERNAL)


def _report_failure(ctx: Any, exc: Exception, code: int) -> NoReturn:
    if code == EXIT_INTERNAL:
        message = f"internal error: {type(exc).__name__}: {exc}"
        hint = f"(set {_DEBUG_ENV}=1 to see the traceback, and please report it)"
        _echo_err(f"{message}\n{hint}")
    else:
        message = str(exc)
        _echo_err(f"error: {message}")
    if ctx.params.get("json_out"):
        problems = getattr(exc, "problems", None) or []
        error = {"type": type(exc).__name__, "message": message, "problems": problems}
        _emit_json({"ok": False, "error": error})
    raise typer.Exit(code)


app = typer.Typer(
    name="edgebound",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _command(name: str, **kwargs: Any) -> Callable[[F], F]:
    """Register a command with the package's error handling."""
    return app.command(name, cls=_Command, **kwargs)


JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout instead of tables."),
]
OutOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write to this file instead of stdout.", dir_okay=False),
]
InstanceArg = Annotated[str, typer.Argument(help="A bundled instance name or a YAML/JSON file.")]
SeedsOption = Annotated[int, typer.Option("--seeds", min=1, help="Runs (seeds 0 .. N-1).")]
HoursOption = Annotated[
    float | None,
    typer.Option("--hours", min=0.0, help="Simulated hours (default: the whole workload)."),
]


def _periods(inst: Any, hours: float | None, error: type[Exception]) -> int:
    """Control periods of ``hours`` on the instance's workload (all of it for ``None``)."""
    horizon = inst.workload.horizon_steps
    if hours is None:
        return int(horizon)
    step_h = inst.workload.step_s / 3600.0
    periods = round(hours / step_h)
    if not 1 <= periods <= horizon:
        raise error(
            f"--hours: {hours:g} h is {periods} periods of {inst.workload.step_s:g} s; "
            f"allowed 1 to {horizon} ({horizon * step_h:g} h)"
        )
    return int(periods)


def _ci_cell(mean: float, half: float, digits: int) -> str:
    """``mean ± half`` for a table cell; n/a, inf or the mean alone where those are not finite."""
    if math.isnan(mean):
        return "n/a"
    if math.isinf(mean):
        return "inf" if mean > 0 else "-inf"
    if not math.isfinite(half):
        return f"{mean:,.{digits}f}"
    return f"{mean:,.{digits}f} ± {half:,.{digits}f}"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgebound {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Exact baselines, bounds and simulators for edge-cloud resource management.

    Exit codes: 0 ok, 1 invalid input, 2 usage error, 3 infeasible decision, 70 internal error.
    """


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _InputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _g(x: float) -> str:
    return f"{x:g}" if isinstance(x, (int, float)) else str(x)


def _one_line(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    first = text.split(". ")[0].rstrip(".")
    return first if len(first) <= width else first[: width - 1] + "…"


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (the ``edgebound`` entry point).

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        The exit code (see the module docstring).

    Examples
    --------
    >>> main(["--version"])
    edgebound ...
    0
    """
    command = typer.main.get_command(app)
    try:
        command.main(args=list(argv) if argv is not None else None, prog_name="edgebound")
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return EXIT_OK
        return code if isinstance(code, int) else EXIT_INVALID
    except Exception as exc:
        # Failures outside a command body (option callbacks, help rendering) end here.
        if _debug():
            raise
        _echo_err(f"internal error: {type(exc).__name__}: {exc}")
        return EXIT_INTERNAL
    return EXIT_OK
