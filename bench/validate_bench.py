"""How fast the compliance validator checks referrals, on one core.

Generates ``--count`` synthetic referrals (``bench/synthetic.py``, 10-15 KB each) into a
temporary NDJSON file, then measures:

1. **in process**: ``strive_schema.validator.iter_ndjson`` over the file, pinned to CPU 0:
   documents per second, bytes per second, median and p99 latency per document (after a
   warm-up that pays the one-off costs: building the JSON Schema validator, first imports);
2. **the command line**: ``strive validate FILE.ndjson --format json`` as a subprocess under
   ``taskset -c 0``, by wall clock, including interpreter start-up (measured separately on
   one small document and reported alongside).

With ``--profile`` it also runs the in-process pass under cProfile and splits the time between
JSON parsing, the JSON Schema check, pydantic parsing, the semantic rules and the rest.

The target (issue: validator performance) is at least 2,000 documents per second on one core.
Benchmarks print figures; no test asserts a time.

Usage::

    python bench/validate_bench.py [--count 5000] [--seed 1] [--profile] [--keep FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from synthetic import generate_referrals, write_ndjson

from strive_schema import validator
from strive_schema.models import SKIP_SEMANTICS, Referral
from strive_schema.semantics import check_semantics
from strive_schema.validator import iter_ndjson, validate_json

ROOT: Final = Path(__file__).resolve().parent.parent
TARGET_DOCS_PER_SECOND: Final = 2_000
WARM_UP_DOCUMENTS: Final = 50
SCHEMA_SAMPLE: Final = 500  # documents to time jsonschema on when valid ones skip it
SMALL_DOCUMENT: Final = ROOT / "spec" / "examples" / "sandbox-minimal.json"

# Where validation time goes: (label, module path fragment, function name). Cumulative times
# of these functions do not nest in one another, so they add up to the validation time.
PROFILE_STAGES: Final = (
    ("JSON parsing (json.loads, duplicate keys, depth)", "strive_schema/validator.py", "load_json"),
    ("JSON Schema (jsonschema iter_errors)", "strive_schema/validator.py", "_schema_findings"),
    ("pydantic (Referral.model_validate_json)", "pydantic/main.py", "model_validate_json"),
    ("semantic rules (check_semantics)", "strive_schema/semantics.py", "check_semantics"),
    ("deprecated members", "strive_schema/validator.py", "find_deprecated_members"),
)


@dataclass(frozen=True)
class InProcessResult:
    documents: int
    invalid: int
    with_warnings: int
    seconds: float
    latencies: list[float]


def pin_to_one_core() -> str:
    """Pin this process (and its children) to CPU 0 where the OS allows it."""
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {0})
        except OSError as exc:
            return f"not pinned ({exc.strerror})"
        return "pinned to CPU 0 (os.sched_setaffinity)"
    return "not pinned (no sched_setaffinity on this platform)"


def validate_in_process(raw: bytes) -> InProcessResult:
    """Time ``iter_ndjson`` over ``raw``, document by document."""
    latencies: list[float] = []
    invalid = with_warnings = 0
    results = iter_ndjson(raw)
    start = previous = time.perf_counter()
    for _line, result in results:
        now = time.perf_counter()
        latencies.append(now - previous)
        previous = now
        invalid += not result.valid
        with_warnings += bool(result.warnings)
    seconds = time.perf_counter() - start
    return InProcessResult(len(latencies), invalid, with_warnings, seconds, latencies)


def first_invalid(raw: bytes) -> str:
    for number, result in iter_ndjson(raw):
        if not result.valid:
            found = ", ".join(f"{f.code} at {f.pointer}" for f in result.errors[:5])
            return f"line {number}: {found}"
    return "none"


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def strive_command() -> Path | None:
    """The ``strive`` executable next to this interpreter, or on PATH."""
    beside = Path(sys.executable).parent / "strive"
    if beside.exists():
        return beside
    found = shutil.which("strive")
    return Path(found) if found else None


def cli_has_validate(strive: Path) -> bool:
    probe = subprocess.run(
        [str(strive), "validate", "--help"], capture_output=True, text=True, check=False
    )
    return probe.returncode == 0 and "--format" in probe.stdout


def run_timed(command: list[str], output: Path) -> tuple[float, int]:
    """Run ``command`` with stdout to ``output``; return (wall seconds, exit status)."""
    with output.open("wb") as stream:
        start = time.perf_counter()
        completed = subprocess.run(command, stdout=stream, stderr=subprocess.DEVNULL, check=False)
        return time.perf_counter() - start, completed.returncode


def schema_check_on_valid_documents(sample: bytes) -> bool:
    """Whether ``validate_json`` runs the jsonschema pass on a document that is valid.

    Counts calls of the validator's ``_schema_findings`` while validating ``sample``.
    """
    original = validator._schema_findings
    calls = 0

    def counting(document: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(document)

    validator._schema_findings = counting
    try:
        validate_json(sample)
    finally:
        validator._schema_findings = original
    return calls > 0


def stage_timings(raw: bytes) -> str:
    """Time each stage of ``validate_json`` separately, without a profiler's overhead.

    Streams the corpus document by document (holding thousands of parsed documents would
    make the garbage collector, not the validator, dominate). Uses the validator's internals
    (``load_json``, ``_schema_findings``): a diagnostic that follows the validator's
    structure, so it says so and stops if that structure changes.
    """
    if not hasattr(validator, "_schema_findings") or not hasattr(validator, "load_json"):
        return "  (stage timings unavailable: the validator's internals have changed)"
    lines = [line for line in raw.split(b"\n") if line.strip()]
    on_valid = schema_check_on_valid_documents(lines[0])
    parsing = schema = models = rules = 0.0
    sample = min(SCHEMA_SAMPLE, len(lines))
    for index, line in enumerate(lines):
        start = time.perf_counter()
        document: Any = validator.load_json(line)
        parsed = time.perf_counter()
        if on_valid or index < sample:
            validator._schema_findings(document)
        checked = time.perf_counter()
        referral = Referral.model_validate_json(line, context={SKIP_SEMANTICS: True})
        modelled = time.perf_counter()
        check_semantics(referral)
        done = time.perf_counter()
        parsing += parsed - start
        schema += checked - parsed
        models += modelled - checked
        rules += done - modelled
    count = len(lines)
    schema_per_doc = schema / (count if on_valid else sample)
    happy_path = parsing + models + rules + (schema if on_valid else 0.0)
    rows = [
        ("JSON parsing (load_json)", parsing / count, True),
        ("JSON Schema (jsonschema)", schema_per_doc, on_valid),
        ("pydantic (model_validate_json)", models / count, True),
        ("semantic rules (check_semantics)", rules / count, True),
    ]
    per_doc = happy_path / count
    report = []
    for label, seconds, counted in rows:
        if counted:
            report.append(f"  {label:<50} {seconds * 1e3:6.3f} ms/doc  {seconds / per_doc:6.1%}")
        else:
            note = f"skipped for valid documents; timed on {sample}"
            report.append(f"  {label:<50} {seconds * 1e3:6.3f} ms/doc  ({note})")
    report.append(
        f"  {'a valid document, all stages':<50} {per_doc * 1e3:6.3f} ms/doc  "
        f"({1 / per_doc:,.0f} documents/s)"
    )
    return "\n".join(report)


def profile_breakdown(raw: bytes) -> str:
    """Run the in-process pass under cProfile; return the split of the time by stage."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in iter_ndjson(raw):
        pass
    profiler.disable()
    stats = pstats.Stats(profiler)
    table = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in table.values())  # sum of own times: all profiled time
    lines = [f"  total profiled time {total:.2f} s (profiling adds overhead; compare shares)"]
    accounted = 0.0
    for label, path_part, function in PROFILE_STAGES:
        cumulative = sum(
            entry[3]
            for (filename, _line, name), entry in table.items()
            if name == function and filename.replace(os.sep, "/").endswith(path_part)
        )
        accounted += cumulative
        lines.append(f"  {label:<50} {cumulative:7.2f} s  {cumulative / total:6.1%}")
    rest = total - accounted
    label = "everything else (iteration, results, splitting)"
    lines.append(f"  {label:<50} {rest:7.2f} s  {rest / total:6.1%}")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
    listing = out.getvalue().splitlines()
    header = next(i for i, line in enumerate(listing) if line.lstrip().startswith("ncalls"))
    top = "\n".join("    " + line for line in listing[header:] if line.strip())
    return "\n".join(lines) + "\n\n  top functions by own time:\n" + top


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000, help="referrals (default 5000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile breakdown")
    parser.add_argument("--keep", type=Path, help="write the NDJSON corpus here and keep it")
    parser.add_argument("--no-cli", action="store_true", help="skip the `strive validate` run")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="strive-bench-") as scratch:
        corpus = args.keep or Path(scratch) / "referrals.ndjson"
        started = time.perf_counter()
        count, size = write_ndjson(generate_referrals(args.count, seed=args.seed), corpus)
        generated = time.perf_counter() - started
        raw = corpus.read_bytes()
        pinning = pin_to_one_core()

        print("Strive validator benchmark")
        print(f"  machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
        print(f"  python:  {platform.python_implementation()} {platform.python_version()}")
        print(
            f"  corpus:  {count} referrals, {size / 1e6:.1f} MB, {size / count / 1e3:.1f} KB each"
        )
        print(f"           generated in {generated:.1f} s by generate_referrals(seed={args.seed})")
        print(f"  cpu:     {pinning}")
        print()

        # Warm up: the first document builds the JSON Schema validator and imports lazily.
        for line in raw.split(b"\n")[:WARM_UP_DOCUMENTS]:
            if line.strip():
                validate_json(line)
        result = validate_in_process(raw)
        rate = result.documents / result.seconds
        print("In process: strive_schema.validator.iter_ndjson(corpus bytes)")
        print(f"  command:   {shlex.join([sys.executable, *sys.argv])}")
        print(f"  documents: {result.documents} ({result.invalid} invalid, ", end="")
        print(f"{result.with_warnings} with warnings)")
        print(f"  time:      {result.seconds:.2f} s")
        print(f"  rate:      {rate:,.0f} documents/s, {size / result.seconds / 1e6:.1f} MB/s")
        print(
            f"  latency:   median {statistics.median(result.latencies) * 1e3:.2f} ms, "
            f"p99 {percentile(result.latencies, 0.99) * 1e3:.2f} ms, "
            f"max {max(result.latencies) * 1e3:.2f} ms"
        )
        verdict = "meets" if rate >= TARGET_DOCS_PER_SECOND else "BELOW"
        print(f"  target:    {TARGET_DOCS_PER_SECOND:,} documents/s on one core: {verdict}")
        if result.invalid:
            print(f"  WARNING: the corpus should be valid; first invalid: {first_invalid(raw)}")
        print()

        if args.no_cli:
            print("Command line: skipped (--no-cli)")
        else:
            run_cli(corpus, count, size, Path(scratch))

        if args.profile:
            print()
            print("Where the time goes, stage by stage (in process, no profiler, same corpus):")
            print(stage_timings(raw))
            print()
            print("Profile (cProfile, in process, same corpus):")
            print(profile_breakdown(raw))
    return 0


def run_cli(corpus: Path, count: int, size: int, scratch: Path) -> None:
    strive = strive_command()
    if strive is None or not cli_has_validate(strive):
        print("Command line: skipped (`strive validate --format` is not available yet)")
        return
    prefix = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    command = [*prefix, str(strive), "validate", str(corpus), "--format", "json"]
    startup_command = [*prefix, str(strive), "validate", str(SMALL_DOCUMENT), "--format", "json"]
    startup, _ = run_timed(startup_command, scratch / "startup.out")
    seconds, status = run_timed(command, scratch / "cli.out")
    reports = [json.loads(line) for line in (scratch / "cli.out").read_text().splitlines()]
    valid = sum(report["valid"] for report in reports)
    print("Command line: strive validate (subprocess, wall clock, stdout to a file)")
    print(f"  command:   {shlex.join(command)} > out.ndjson")
    print(f"  exit:      {status}; {len(reports)} reports, {valid} valid")
    print(f"  time:      {seconds:.2f} s (of which start-up about {startup:.2f} s)")
    print(f"             start-up measured with: {shlex.join(startup_command)}")
    print(f"  rate:      {count / seconds:,.0f} documents/s including start-up, ", end="")
    print(f"{count / max(seconds - startup, 1e-9):,.0f} documents/s excluding it, ", end="")
    print(f"{size / seconds / 1e6:.1f} MB/s")


if __name__ == "__main__":
    sys.exit(main())
