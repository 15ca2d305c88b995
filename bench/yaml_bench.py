"""YAML parse benchmark: reconciler.manifests.yaml against the loaders it replaces or is measured by.

For each size it generates a factory (bench/factory_gen.py), reads every manifest
into memory, and times parsing all of them, in this process, with:

  CSafeLoader   PyYAML's libyaml loader: the floor the goal is set against
  ruamel today  ruamel.yaml's C safe loader as load.py builds it (timestamps as text)
  ours          reconciler.manifests.yaml.load_all
  json          json.loads of the same documents dumped as JSON: what no YAML parser beats

Each run of ours starts from an empty scalar cache, as a fresh process would.
Loaders take turns within each round so that drift in the machine hits all alike.
Prints CPU time (process_time) and wall time, medians of --repeat rounds.

Usage: python bench/yaml_bench.py [--sizes 10000,100000] [--repeat 5]
Needs PyYAML: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml as pyyaml  # type: ignore[import-untyped]
from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor

import reconciler.manifests.yaml as ours

sys.path.insert(0, str(Path(__file__).resolve().parent))
from factory_gen import generate


class _SafeConstructor(SafeConstructor):
    pass


_SafeConstructor.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)


@functools.cache
def ruamel_today() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.Constructor = _SafeConstructor
    return yaml


def _csafe(texts: list[str]) -> None:
    for text in texts:
        list(pyyaml.load_all(text, Loader=pyyaml.CSafeLoader))


def _ruamel(texts: list[str]) -> None:
    yaml = ruamel_today()
    for text in texts:
        list(yaml.load_all(text))


def _ours(texts: list[str]) -> None:
    ours._CACHES.clear()  # cold, as in a fresh process
    for text in texts:
        ours.load_all(text)


def _json(texts: list[str]) -> None:
    for text in texts:
        json.loads(text)


LOADERS: list[tuple[str, Callable[[list[str]], None], str]] = [
    ("CSafeLoader", _csafe, "yaml"),
    ("ruamel today", _ruamel, "yaml"),
    ("ours", _ours, "yaml"),
    ("json", _json, "json"),
]


def timed(run: Callable[[list[str]], None], texts: list[str]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    run(texts)
    return time.process_time() - cpu, time.perf_counter() - wall


def bench(lines: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), lines)
        texts = [p.read_text(encoding="utf-8") for p in sorted(Path(tmp).rglob("*.yaml"))]
    documents = [ours.load_all(text) for text in texts]
    if documents != [list(ruamel_today().load_all(text)) for text in texts]:
        raise SystemExit("ours and ruamel today disagree on the generated factory")
    inputs = {"yaml": texts, "json": [json.dumps(docs, ensure_ascii=False) for docs in documents]}
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in LOADERS}
    for _ in range(repeat):
        for name, run, kind in LOADERS:
            samples[name].append(timed(run, inputs[kind]))
    return {
        "files": len(texts),
        "mb": sum(len(t.encode()) for t in texts) / 1e6,
        "medians": {
            name: (statistics.median(c for c, _ in runs), statistics.median(w for _, w in runs))
            for name, runs in samples.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(
        f"YAML parse benchmark: medians of {args.repeat} rounds; {os.cpu_count()} CPUs; "
        f"Python {sys.version.split()[0]}; PyYAML {pyyaml.__version__} (libyaml {pyyaml.__with_libyaml__})"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        r = bench(size, args.repeat)
        floor_cpu, floor_wall = r["medians"]["CSafeLoader"]
        print(f"\n{size} lines: {r['files']} files, {r['mb']:.1f} MB")
        print(f"  {'loader':<14} {'cpu s':>8} {'wall s':>8} {'cpu/floor':>10} {'wall/floor':>10}")
        for name, (cpu, wall) in r["medians"].items():
            print(f"  {name:<14} {cpu:>8.3f} {wall:>8.3f} {cpu / floor_cpu:>10.2f} {wall / floor_wall:>10.2f}")
        cpu, wall = r["medians"]["ours"]
        print(f"  ours/CSafeLoader: cpu {cpu / floor_cpu:.2f}x, wall {wall / floor_wall:.2f}x", flush=True)


if __name__ == "__main__":
    main()
