"""Print the mutation score per module from mutmut's results (``make mutation`` runs it after mutmut).

mutmut 3 keeps one ``mutants/<path>.meta`` JSON per mutated file, with the exit code of the test run
against each mutant. A mutant is *killed* when a test failed (exit 1/3), timed out, or the type checker
caught it; it *survived* when every selected test passed. The score is killed / (killed + survived):
mutants not checked (an interrupted run) or without tests are reported separately, never counted as
killed. ``--survivors`` also prints the diff of each survivor (``mutmut show``), which is what
docs/testing.md asks you to read.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 24, -24, 36, 37, 152, 255}
SURVIVED = {0}


def load(mutants: Path) -> dict[str, dict[str, int | None]]:
    """module path -> {mutant name: exit code}."""
    out: dict[str, dict[str, int | None]] = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        module = str(meta.relative_to(mutants)).removesuffix(".meta")
        out[module] = json.loads(meta.read_text(encoding="utf-8")).get("exit_code_by_key", {})
    return out


def table(results: dict[str, dict[str, int | None]]) -> tuple[str, list[str], float]:
    rows = [f"{'module':34} {'mutants':>7} {'killed':>7} {'survived':>8} {'other':>6} {'score':>7}"]
    survivors: list[str] = []
    tk = ts = 0
    for module, codes in results.items():
        c = Counter("killed" if v in KILLED else "survived" if v in SURVIVED else "other" for v in codes.values())
        survivors += sorted(k for k, v in codes.items() if v in SURVIVED)
        tk, ts = tk + c["killed"], ts + c["survived"]
        score = c["killed"] / (c["killed"] + c["survived"]) if c["killed"] + c["survived"] else 1.0
        rows.append(f"{module:34} {len(codes):7} {c['killed']:7} {c['survived']:8} {c['other']:6} {score:7.1%}")
    total = tk / (tk + ts) if tk + ts else 1.0
    rows.append(f"{'all':34} {'':7} {tk:7} {ts:8} {'':6} {total:7.1%}")
    return "\n".join(rows), survivors, total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutants", type=Path, default=Path("mutants"))
    ap.add_argument("--survivors", action="store_true", help="print each survivor's diff")
    ap.add_argument("--min", type=float, default=0.0, help="exit 1 when a module scores below this share")
    args = ap.parse_args()
    results = load(args.mutants)
    if not results:
        print(f"no mutmut results under {args.mutants}/: run `make mutation` first", file=sys.stderr)
        return 1
    text, survivors, _ = table(results)
    print(text)
    if survivors:
        print(f"\n{len(survivors)} survivors:")
        for name in survivors:
            if args.survivors:
                subprocess.run([sys.executable, "-m", "mutmut", "show", name], check=False)
            else:
                print(f"  {name}")
    low = []
    for module, codes in results.items():
        k = sum(v in KILLED for v in codes.values())
        s = sum(v in SURVIVED for v in codes.values())
        if k + s and k / (k + s) < args.min:
            low.append(module)
    if low:
        print(f"\nbelow {args.min:.0%}: {', '.join(low)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
