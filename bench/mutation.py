"""Mutation score of the modules that decide safety: does the suite fail when the product breaks?

    python bench/mutation.py                       # every module of the table below
    python bench/mutation.py executor state/store   # some of them (by the tail of their path)
    python bench/mutation.py --survivors           # also print the diff of every surviving mutant
    python bench/mutation.py --tests tests/test_planner.py --tests tests/test_state.py   # another selection

It runs mutmut 3 (the `mutation` extra) in a scratch copy of the repository
(`.mutation/`, ignored by git), so the work tree is never touched: mutmut writes
each mutant into a copy of the package behind a trampoline and runs, for each
one, only the tests that reached the mutated function while the selection ran
once unmutated (mutmut's own test selection). The selection is
`[tool.mutmut] pytest_add_cli_args_test_selection` in pyproject.toml: in-process
tests only, since a mutant exists only in the process that imported the mutated
copy (tests that run the CLI as a subprocess cannot kill it).

Score = (killed + timed out) / (all mutants - skipped), per module; a mutant no
selected test reaches counts as not killed. Results also go to
`.mutation/results.json`. Equivalent survivors are listed, with the reason, in
the README's "Mutation score and coverage" section.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The modules that decide safety (issue 16), by path.
MODULES = (
    "reconciler/planning/policy.py",
    "reconciler/planning/planner.py",
    "reconciler/planning/staleness.py",
    "reconciler/executor.py",
    "reconciler/state/store.py",
    "reconciler/state/layout.py",
    "reconciler/epoptia/client.py",
    "reconciler/epoptia/throttle.py",
    "reconciler/resources.py",
)

KILLED = {1, 3, 36, 24, -24, 152, 255, 37}  # killed by a test, by pytest erroring, by a timeout, by the type check
SKIPPED = {34}
NO_TESTS = {5, 33}


def module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def scratch_copy(workdir: Path, tests: list[str] | None) -> None:
    """The repository's package, tests and pyproject in ``workdir`` (mutmut's results there are kept between runs)."""
    workdir.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for folder in ("reconciler", "tests", "manifests"):
        target = workdir / folder
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(ROOT / folder, target, ignore=ignore)
    for name in ("reconciler.yaml", "README.md"):
        shutil.copy(ROOT / name, workdir / name)
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if tests:
        selection = "pytest_add_cli_args_test_selection = [" + ", ".join(json.dumps(t) for t in tests) + "]"
        text = re.sub(r"pytest_add_cli_args_test_selection = \[.*?\]", selection, text, flags=re.S)
    (workdir / "pyproject.toml").write_text(text, encoding="utf-8")


def mutmut() -> str:
    found = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or shutil.which("mutmut")
    if not found:
        sys.exit("mutmut is not installed: pip install -e '.[mutation]'")
    return found


def run_module(workdir: Path, path: str, max_children: int, log) -> float:
    started = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    subprocess.run(
        [mutmut(), "run", "--max-children", str(max_children), module_name(path) + ".*"],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        check=False,
    )
    return time.monotonic() - started


def results(workdir: Path, path: str) -> dict:
    meta = workdir / "mutants" / (path + ".meta")
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
    killed = sorted(k for k, c in codes.items() if c in KILLED)
    skipped = sorted(k for k, c in codes.items() if c in SKIPPED)
    no_tests = sorted(k for k, c in codes.items() if c in NO_TESTS)
    survived = sorted(k for k, c in codes.items() if k not in killed and k not in skipped and k not in no_tests)
    counted = len(codes) - len(skipped)
    return {
        "module": path,
        "mutants": len(codes),
        "killed": len(killed),
        "survived": survived,
        "no_tests": no_tests,
        "skipped": len(skipped),
        "score": round(100 * len(killed) / counted, 1) if counted else None,
    }


def show(workdir: Path, mutant: str) -> str:
    done = subprocess.run([mutmut(), "show", mutant], cwd=workdir, capture_output=True, text=True, check=False)
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="tails of module paths (executor, state/store); default: all")
    parser.add_argument("--tests", action="append", help="test files to select instead of pyproject's")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".mutation")
    parser.add_argument("--survivors", action="store_true", help="print the diff of each surviving mutant")
    args = parser.parse_args(argv)
    chosen = [m for m in MODULES if not args.modules or any(m.removesuffix(".py").endswith(a) for a in args.modules)]
    if not chosen:
        parser.error(f"no module matches {args.modules}; modules: {', '.join(MODULES)}")
    scratch_copy(args.workdir, args.tests)
    rows = []
    with open(args.workdir / "mutmut.log", "a", encoding="utf-8") as log:
        for path in chosen:
            print(f"{path}: running...", file=sys.stderr, flush=True)
            seconds = run_module(args.workdir, path, args.max_children, log)
            row = {**results(args.workdir, path), "seconds": round(seconds)}
            rows.append(row)
            print(
                f"{path}: {row['killed']}/{row['mutants'] - row['skipped']} killed ({row['score']}%), "
                f"{len(row['survived'])} survived, {len(row['no_tests'])} not reached, {seconds:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    previous = {}
    out = args.workdir / "results.json"
    if out.exists():
        previous = {r["module"]: r for r in json.loads(out.read_text())}
    previous.update({r["module"]: r for r in rows})
    out.write_text(json.dumps(sorted(previous.values(), key=lambda r: MODULES.index(r["module"])), indent=2))
    print("| module | mutants | killed | survived | not reached | score |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| `{r['module']}` | {r['mutants'] - r['skipped']} | {r['killed']} | {len(r['survived'])} | "
            f"{len(r['no_tests'])} | {r['score']}% |"
        )
    for r in rows:
        for mutant in r["survived"] + r["no_tests"]:
            print(f"\n{mutant}" if not args.survivors else show(args.workdir, mutant))
    return 0


if __name__ == "__main__":
    sys.exit(main())
