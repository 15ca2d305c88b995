"""`python -m reconciler.emulator`: serve the emulator with every option, without the reconciler's CLI.

The emulator's own tests start it this way, so they can ask for any kind of tenant;
`reconciler emulator serve` is the user's way in and calls the same ``serve``.
"""

from __future__ import annotations

import argparse
import sys
from typing import get_args

from pydantic import ValidationError

from ..epoptia.profile import Operation
from .options import EmulatorOptions, ListIds, ReadShape, WriteAnswers
from .server import new_api_key, serve


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reconciler.emulator", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8303, help="0 picks a free port")
    p.add_argument("--db", default=".reconciler/emulator.sqlite", help="SQLite file (':memory:' keeps nothing)")
    p.add_argument("--api-key", default=None, help="key the emulator accepts (default: a new random key)")
    p.add_argument("--admin-key", default=None, help="key for /_emulator/ (default: a new random key)")
    p.add_argument("--read-shape", choices=get_args(ReadShape), default="confirmed")
    p.add_argument("--list-ids", choices=get_args(ListIds), default="erp")
    p.add_argument("--results", choices=get_args(WriteAnswers), default="rows")
    p.add_argument(
        "--disable",
        action="append",
        default=[],
        choices=[op.value for op in Operation],
        metavar="OPERATION",
        help="an operation this tenant lacks (repeatable)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = {
        "read_shape": args.read_shape,
        "list_ids": args.list_ids,
        "results": args.results,
        "disabled_operations": frozenset(Operation(op) for op in args.disable),
    }
    if args.admin_key:
        settings["admin_key"] = args.admin_key
    try:
        options = EmulatorOptions(**settings)
    except ValidationError as bad:
        print(f"bad emulator options: {bad.errors(include_url=False)[0]['msg']}", file=sys.stderr)
        return 2
    try:
        serve(
            args.db,
            args.host,
            args.port,
            args.api_key or new_api_key(),
            options=options,
            announce=lambda line: print(line, flush=True),
        )
    except OSError as error:
        print(f"cannot serve the emulator on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
