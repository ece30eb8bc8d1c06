"""Benchmark: reading N managed images through the ARM emulator, list + nextLink against per-image GETs.

The emulator runs in a child process (as Azure is remote: its JSON rendering does not share the
client's interpreter lock) with ``Faults.latency`` seconds added to every request. In the same run:

* ``list_s``: the azure provider's ``snapshot()`` (the paged list of images, pipelined: page k is
  mapped while page k+1 is in flight, fingerprints hashed from the bytes as sent; plus the one VM
  list), wall time;
* ``per_get_s``: one GET per image with ``workers`` threads through the same transport (how
  Terraform refreshes: one read per resource in state), each mapped to the same ``Image``.

``ratio = per_get_s / list_s`` (issue 13's goal: >= 8 at 10k images, 5 ms, 10 workers).
``latency_only_ratio`` is the bound if every request cost the injected latency only:
(N / workers) round trips against the read's round trips (``list_requests``, which includes the VM
list and any instance-view GETs). ``get_rtt_ms``/``page_rtt_ms``: one unloaded GET of an image and
of a list page (latency plus the emulator's own time), measured before the runs.

Run: ``.venv/bin/python benchmarks/arm_read.py [--images N] [--latency S] [--workers W] [--json]``;
``make bench`` imports ``measure``. Layer: benchmark script (prints its report; not the package).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The seeded resources are the same as the azure plan benchmark's (one definition of them).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from azure_plan_scale import LOCATION, OWNER, RG, RP, SUB, image_resource, vm_resource  # noqa: E402

PAGE_SIZE = 100


def _serve(state_file: str, latency: float) -> int:
    """Child mode: serve the state until stdin closes (the parent's end of the pipe)."""
    from reconciler.emulators.arm import ArmEmulator, Faults  # noqa: PLC0415

    state = json.loads(Path(state_file).read_text())
    with ArmEmulator(state, page_size=PAGE_SIZE, faults=Faults(latency=latency)) as emu:
        print(emu.url, flush=True)
        sys.stdin.read()
    return 0


def _start_child(state: dict[str, Any], latency: float, tmp: Path) -> tuple[subprocess.Popen[str], str]:
    state_file = tmp / "state.json"
    state_file.write_text(json.dumps(state))
    child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", str(state_file),
                              "--latency", repr(latency)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    url = child.stdout.readline().strip()
    if not url.startswith("http://"):
        child.kill()
        raise RuntimeError(f"the emulator child did not start (said {url!r})")
    return child, url


def measure(n_images: int = 10_000, latency_s: float = 0.005, workers: int = 10) -> dict[str, Any]:
    """One run: ``list_s``, ``per_get_s``, ``ratio`` (= per_get_s / list_s), request counts, the
    latency-only bound ``latency_only_ratio`` and unloaded round trips (see the module doc)."""
    from reconciler.model import CatalogConfig  # noqa: PLC0415
    from reconciler.providers import azure  # noqa: PLC0415

    state = {"resources": [image_resource(i) for i in range(n_images)] + [vm_resource(f"vm-{i}") for i in range(5)]}
    with tempfile.TemporaryDirectory(prefix="arm-read-") as tmp:
        child, url = _start_child(state, latency_s, Path(tmp))
        try:
            config = CatalogConfig(name=OWNER, provider="azure", settings={
                "subscription": SUB, "resource_group": RG, "location": LOCATION, "endpoint": url})
            p = azure.open_provider(config, env={"AZURE_ACCESS_TOKEN": "benchmark"})
            try:
                params = {"api-version": azure.COMPUTE_API}
                names = [f"img-{i:05d}" for i in range(n_images)]
                # Unloaded round trips (after a warm-up), for the latency-only bound.
                p.t.get(f"{RP}/images/{names[0]}", params=params)
                t0 = time.perf_counter()
                for name in names[:20]:
                    p.t.get(f"{RP}/images/{name}", params=params)
                get_rtt = (time.perf_counter() - t0) / 20
                t0 = time.perf_counter()
                for _ in range(5):
                    p.t.get(f"{RP}/images", params=params)
                page_rtt = (time.perf_counter() - t0) / 5

                sent = p.t.sent
                t0 = time.perf_counter()
                snap = p.snapshot()
                list_s = time.perf_counter() - t0
                list_requests = p.t.sent - sent
                if len(snap.images) != n_images:
                    raise RuntimeError(f"the snapshot read {len(snap.images)} images, not {n_images}")

                def one(name: str) -> Any:
                    return azure.image_from_managed(p.t.get(f"{RP}/images/{name}", params=params).body)

                sent = p.t.sent
                t0 = time.perf_counter()
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    got = list(pool.map(one, names))
                per_get_s = time.perf_counter() - t0
                get_requests = p.t.sent - sent
                if len(got) != n_images:
                    raise RuntimeError("per-image GETs came back short")
            finally:
                p.close()
        finally:
            assert child.stdin is not None
            child.stdin.close()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return {
        "images": n_images, "latency_ms": latency_s * 1000, "workers": workers, "page_size": PAGE_SIZE,
        "list_s": round(list_s, 3), "per_get_s": round(per_get_s, 3), "ratio": round(per_get_s / list_s, 2),
        "list_requests": list_requests, "get_requests": get_requests,
        "get_rtt_ms": round(get_rtt * 1000, 2), "page_rtt_ms": round(page_rtt * 1000, 2),
        "latency_only_ratio": round((n_images / workers) / list_requests, 2),
        "images_per_s_list": round(n_images / list_s),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--latency", type=float, default=0.005)
    ap.add_argument("--workers", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        return _serve(args.serve, args.latency)
    r = measure(args.images, args.latency, args.workers)
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"ARM read of {r['images']} images, {r['latency_ms']:g} ms per request, emulator in a child process:")
        print(f"  list + nextLink (pipelined)  {r['list_requests']:>6} requests  {r['list_s']:>7.3f} s")
        print(f"  per-image GET x{r['workers']:<2}            {r['get_requests']:>6} requests  "
              f"{r['per_get_s']:>7.3f} s")
        print(f"  -> {r['ratio']}x faster (goal >= 8x; latency-only bound {r['latency_only_ratio']}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
