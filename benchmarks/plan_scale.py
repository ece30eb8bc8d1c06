"""Benchmark: `reconciler plan` end to end on a local catalog of N images, N declared, 1% drifted.

Run on demand (not part of the test suite):  python benchmarks/plan_scale.py [--sizes 1000 10000]

Each size runs the real command line in a fresh subprocess (YAML parse + schema validation,
SQLite snapshot, planning, text rendering) and reports wall time and the child's peak RSS.
Targets (issue 2): 10,000 images in under 5 s and under 300 MB on a 2-core machine; linear growth.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DRIFT = 0.01


def make_inputs(n: int, workdir: Path) -> tuple[Path, Path]:
    images = []
    lines = [
        "version: 1",
        "catalog:",
        "  name: bench",
        "  provider: local",
        f"  path: {workdir / 'catalog.db'}",
        "policy:",
        "  prune: false",
        "images:",
    ]
    drift_every = int(1 / DRIFT)
    for i in range(n):
        name = f"img-{i:06d}"
        family = f"fam-{i % 50:02d}"
        label = f"Image {i}"
        images.append(
            {
                "name": name,
                "type": "vm" if i % 2 else "os",
                "os": "linux",
                "os_state": "generalized",
                "category": "user",
                "family": family,
                "label": label if i % drift_every else f"{label} (edited by hand)",
                "description": "benchmark image",
                "recommended_vm_size": "Standard_D2s_v5",
                "tags": {"team": "bench", "index": str(i)},
                "owner": "bench",
                "protected": False,
                "source": {"vm": f"build-{i:06d}"},
                "data_disks": 1 if i % 2 else 0,
                "created": "2026-11-01T00:00:00Z",
            }
        )
        lines += [
            f"  - name: {name}",
            f"    type: {'vm' if i % 2 else 'os'}",
            "    os: linux",
            *(["    os_state: generalized"] if i % 2 else []),
            f"    family: {family}",
            f"    label: {label}",
            "    description: benchmark image",
            "    recommended_vm_size: Standard_D2s_v5",
            f"    source: {{vm: build-{i:06d}}}",
            f'    tags: {{team: bench, index: "{i}"}}',
        ]
    seed = workdir / "seed.json"
    seed.write_text(json.dumps({"vms": [], "images": images}))
    spec = workdir / "images.yaml"
    spec.write_text("\n".join(lines) + "\n")
    return seed, spec


def run(cmd: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """Run ``cmd``; return (seconds, peak RSS MB of that very process, exit code, stdout)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=out, env={**os.environ, "NO_COLOR": "1"})
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return elapsed, usage.ru_maxrss / 1024, proc.returncode, text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = ap.parse_args()
    exe = [sys.executable, "-m", "reconciler"]
    rows = []
    for n in sorted(args.sizes):
        with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
            work = Path(tmp)
            seed, spec = make_inputs(n, work)
            init = subprocess.run(
                [*exe, "catalog", "init", "--from", str(seed), "--path", str(work / "catalog.db")],
                capture_output=True,
                text=True,
            )
            if init.returncode != 0:
                print(init.stdout, init.stderr, file=sys.stderr)
                return 1
            elapsed, peak_mb, code, output = run([*exe, "plan", str(spec), "--detailed-exitcode"], work)
            if code != 2:
                print(output[-3000:], file=sys.stderr)
                print(f"unexpected exit code {code} (expected 2: changes present)", file=sys.stderr)
                return 1
            footer = [line for line in output.splitlines() if line.startswith("Plan:")]
            rows.append((n, elapsed, peak_mb, footer[-1] if footer else "?"))
            print(f"{n:>6} images: {elapsed:6.2f} s, peak RSS {peak_mb:6.1f} MB   {rows[-1][3]}", flush=True)
    if len(rows) >= 2:
        (n0, t0, *_), (n1, t1, *_) = rows[0], rows[-1]
        print(f"growth: {n1 / n0:.0f}x images -> {t1 / t0:.1f}x time")
    worst = rows[-1]
    ok = worst[0] < 10000 or (worst[1] < 5.0 and worst[2] < 300)
    print("targets (10,000 images: < 5 s, < 300 MB):", "met" if ok else "NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
