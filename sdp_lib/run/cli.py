"""The `sdp-eval` command line: validate inputs, make synthetic data, run the evaluation.

A user's mistake (bad input file, bad parameter, unknown partner) is reported as a list of problems and
exit status 2, never a traceback. A run in which a report failed exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sdp_lib import __version__

from sdp_lib.config import paths
from sdp_lib.config.validation import ValidationFailed, notes_report

EXIT_OK, EXIT_FAILED, EXIT_USER_ERROR = 0, 1, 2


def _dirs(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """The data, parameters and output folders: the programme's (`--programme`, default the programme in
    params/ itself), each overridden by --data, --params, --out."""
    data, params, out = paths.programme_folders(getattr(args, "programme", None))
    data = paths.resolve(args.data) if args.data else data
    params = paths.resolve(args.params) if args.params else params
    out = paths.resolve(args.out) if getattr(args, "out", None) else out
    return data, params, out


def cmd_validate(args: argparse.Namespace) -> int:
    from sdp_lib.inputs import load_inputs

    data, params, _ = _dirs(args)
    inputs = load_inputs(data, params)
    n_rows = len(inputs.uptake)
    print(f"All inputs valid: {len(inputs.programme.partners)} partners, {n_rows} uptake rows "
          f"in {paths.relative_to_root(data)}, parameters in {paths.relative_to_root(params)}.")
    if inputs.notes:  # e.g. extra columns, ignored: listed by name, never with their values
        print(notes_report(inputs.notes))
    return EXIT_OK


def cmd_synth(args: argparse.Namespace) -> int:
    from sdp_lib.synthetic import generate

    data, params = paths.programme_folders(args.programme)[:2]
    out = paths.resolve(args.out) if args.out else data
    params = paths.resolve(args.params) if args.params else params
    written = generate(args.seed, out, params)
    for name in sorted(written):
        print(f"wrote {paths.relative_to_root(written[name])}")
    return EXIT_OK


def cmd_tables(args: argparse.Namespace) -> int:
    from sdp_lib.metrics.evaluation import build_tables

    data, params, out = _dirs(args)
    written = build_tables(data, params, out)
    for path in written:
        print(f"wrote {paths.relative_to_root(path)}")
    return EXIT_OK


def cmd_deck(args: argparse.Namespace) -> int:
    from sdp_lib.reports.deck import build_deck

    data, params, out = _dirs(args)
    path = build_deck(data, params, out)
    print(f"wrote {paths.relative_to_root(path)}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from sdp_lib.run import batch
    from sdp_lib.metrics.evaluation import check_partners

    data, params, out = _dirs(args)
    check_partners(params, args.partner)
    try:
        if args.tables_only:
            written = batch.build_tables_staged(data, params, out)
            print(f"{len(written)} result tables written to {paths.relative_to_root(out)}/")
            return EXIT_OK
        # the tables, then the reports, staged together: outputs/ changes only when the whole run is done
        result = batch.run(args.partner, args.jobs, data, params, out, resume=args.resume, cold=args.cold,
                           timeout=args.timeout, tables=True, pdf=args.pdf)
    except batch.OutputBusy as exc:
        print(f"sdp-eval run: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    print(f"{len(result.tables)} result tables written to {paths.relative_to_root(out)}/")
    print(batch.summary_text(result))
    return result.exit_code


def cmd_refresh_notebooks(args: argparse.Namespace) -> int:
    from sdp_lib.run.notebooks import refresh_notebooks

    return refresh_notebooks()


def cmd_programmes(args: argparse.Namespace) -> int:
    for name in paths.programme_names():
        print(name)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdp-eval",
        description="Evaluate a community health grant programme from its monitoring data.",
    )
    parser.add_argument("--version", action="version", version=f"sdp-eval {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def programme(p: argparse.ArgumentParser) -> None:
        p.add_argument("--programme", metavar="NAME",
                       help="the programme whose folders to use: params/NAME, data/synthetic/NAME, outputs/NAME "
                            "(default: the programme in params/ itself; `sdp-eval programmes` lists the others)")

    def common(p: argparse.ArgumentParser, out: bool = True) -> None:
        programme(p)
        p.add_argument("--data", help="input data folder (default data/synthetic[/NAME])")
        p.add_argument("--params", help="parameters folder (default params[/NAME])")
        if out:
            p.add_argument("--out", help="output folder (default outputs[/NAME])")

    p = sub.add_parser("validate", help="check every input file and parameter; list all problems")
    common(p, out=False)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("synth", help="write the deterministic synthetic data set")
    programme(p)
    p.add_argument("--seed", type=int, default=20240731)
    p.add_argument("--out", help="folder to write (default data/synthetic[/NAME])")
    p.add_argument("--params", help="parameters folder (default params[/NAME])")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("tables", help="validate the inputs and write the result tables only")
    common(p)
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser("deck", help="write the summary presentation (summary.pptx in the output folder)")
    common(p)
    p.set_defaults(func=cmd_deck)

    p = sub.add_parser("run", help="the main job: result tables, then every partner's report and the programme report")
    common(p)
    p.add_argument("--partner", action="append", metavar="ID", help="run only this partner (repeatable)")
    p.add_argument("--jobs", type=int, default=None, help="parallel processes (default: the CPU count)")
    p.add_argument("--resume", action="store_true",
                   help="re-run only the reports that failed or whose inputs changed since the last run")
    p.add_argument("--tables-only", action="store_true", help="stop after the result tables")
    p.add_argument("--pdf", action="store_true",
                   help="also print each report to a tagged A4 PDF beside its HTML (needs the headless Chromium at "
                        "/usr/bin/chromium; without it the run says so and makes the HTML only)")
    p.add_argument("--cold", action="store_true",
                   help="start a fresh kernel for every notebook (default: one warm kernel per worker, reset "
                        "between notebooks; the reports are the same)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="fail a notebook whose cell runs longer than this (default: no limit)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("programmes", help="list the programmes besides the default one (folders under params/)")
    p.set_defaults(func=cmd_programmes)

    p = sub.add_parser("refresh-notebooks", help="re-execute the committed notebooks with their default parameters")
    p.set_defaults(func=cmd_refresh_notebooks)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 a report failed, 2 a user's mistake)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "jobs", None) is not None and args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if getattr(args, "timeout", None) is not None and not args.timeout > 0:
        parser.error("--timeout must be a positive number of seconds")
    try:
        return int(args.func(args) or 0)
    except paths.UnknownProgramme as exc:
        print(f"sdp-eval: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except ValidationFailed as exc:
        print(exc.report(), file=sys.stderr)
        print("Nothing was written. Fix the problems above and run the command again.", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGINT/SIGTERM during `run` (batch.Interrupted)
        what = getattr(exc, "message", "") or "outputs from earlier complete runs are unchanged."
        name = {130: "SIGINT", 143: "SIGTERM"}.get(getattr(exc, "exit_code", 130), "signal")
        print(f"Interrupted ({name}): {what}", file=sys.stderr)
        return getattr(exc, "exit_code", 130)
    except BrokenPipeError:  # pragma: no cover - e.g. piped into head
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
