"""Benchmark of the azure provider against the ARM emulator (real HTTP on loopback, real clock).

1. Snapshot of 10,000 managed images with 5 ms added latency per request: the provider's
   list-based read (one paginated list, ``nextLink`` to the end) next to a per-image GET strategy
   with 10 workers (how Terraform refreshes: one read per resource in state), in the same run.
   The list-based read must need at least 20x fewer requests.
2. Apply of 100 captures whose operations each take 1 s in the emulator (``lro_seconds=1``), with
   ``reconciler.apply.apply_plan`` at parallelism 20, against the ideal of 100 / 20 x 1 s = 5 s.

Run: ``.venv/bin/python benchmarks/azure_plan_scale.py [--images N] [--captures N] [--json]``.
Layer: benchmark script (prints its report; not part of the package).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.apply import apply_plan  # noqa: E402
from reconciler.emulators.arm import ArmEmulator, Faults  # noqa: E402
from reconciler.model import (  # noqa: E402
    CatalogConfig,
    DesiredState,
    ImageSpec,
    ImageType,
    OSState,
    Policy,
    Source,
)
from reconciler.plan import make_plan  # noqa: E402
from reconciler.providers import azure  # noqa: E402

SUB = "00000000-0000-4000-8000-00000000bench"[:36]
RG = "rg-bench"
LOCATION = "westeurope"
RP = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute"
OWNER = "platform"


def image_resource(i: int) -> dict[str, Any]:
    name = f"img-{i:05d}"
    return {
        "id": f"{RP}/images/{name}", "name": name, "type": "Microsoft.Compute/images", "location": LOCATION,
        "tags": {azure.TAG_OWNER: OWNER, azure.TAG_TYPE: "os", azure.TAG_FAMILY: f"fam-{i % 50}", "n": str(i)},
        "properties": {
            "storageProfile": {"osDisk": {"osType": "Linux", "osState": "Generalized",
                                          "managedDisk": {"id": f"{RP}/disks/{name}-os"}}, "dataDisks": [],
                               "zoneResilient": False},
            "provisioningState": "Succeeded", "hyperVGeneration": "V1",
        },
    }


def vm_resource(name: str) -> dict[str, Any]:
    return {
        "id": f"{RP}/virtualMachines/{name}", "name": name, "type": "Microsoft.Compute/virtualMachines",
        "location": LOCATION,
        "properties": {
            "storageProfile": {"osDisk": {"osType": "Linux", "name": f"{name}-os", "createOption": "FromImage",
                                          "managedDisk": {"id": f"{RP}/disks/{name}-os"}}, "dataDisks": []},
            "provisioningState": "Succeeded",
            "instanceView": {"statuses": [{"code": "PowerState/deallocated", "level": "Info"},
                                          {"code": "OSState/generalized", "level": "Info"}]},
        },
    }


def open_azure(emu: ArmEmulator) -> azure.AzureProvider:
    config = CatalogConfig(name=OWNER, provider="azure", settings={
        "subscription": SUB, "resource_group": RG, "location": LOCATION, "endpoint": emu.url,
        "poll_interval": 1, "timeout": 600})
    return azure.open_provider(config, env={"AZURE_ACCESS_TOKEN": "benchmark"})


def bench_snapshot(n: int, latency: float) -> dict[str, Any]:
    state = {"resources": [image_resource(i) for i in range(n)] + [vm_resource(f"vm-{i}") for i in range(5)]}
    with ArmEmulator(state, page_size=100, faults=Faults(latency=latency)) as emu:
        p = open_azure(emu)
        try:
            t0 = time.perf_counter()
            snap = p.snapshot()
            list_seconds = time.perf_counter() - t0
            list_requests = len(emu.requests)
            assert len(snap.images) == n

            # Per-image GET with 10 workers, through the same transport (retries, auth, parsing).
            before = len(emu.requests)
            names = [f"img-{i:05d}" for i in range(n)]
            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=10) as pool:
                got = list(pool.map(lambda name: p.t.get(f"{RP}/images/{name}",
                                                         params={"api-version": azure.COMPUTE_API}).body, names))
            get_seconds = time.perf_counter() - t0
            get_requests = len(emu.requests) - before
            assert len(got) == n
        finally:
            p.close()
    return {
        "images": n, "latency_ms": latency * 1000,
        "list": {"requests": list_requests, "seconds": round(list_seconds, 2)},
        "per_image_get_10_workers": {"requests": get_requests, "seconds": round(get_seconds, 2)},
        "request_ratio": round(get_requests / list_requests, 1),
    }


def bench_apply(n: int, parallelism: int, lro_seconds: float) -> dict[str, Any]:
    vms = [f"vm-{i:03d}" for i in range(n)]
    state = {"resources": [vm_resource(v) for v in vms]}
    faults = Faults(lro_seconds=lro_seconds, lro_polls=0, retry_after=1)
    with ArmEmulator(state, page_size=100, faults=faults) as emu:
        p = open_azure(emu)
        try:
            specs = tuple(ImageSpec(name=f"cap-{i:03d}", type=ImageType.OS, os="linux",
                                    os_state=OSState.GENERALIZED, source=Source(vm=v)) for i, v in enumerate(vms))
            desired = DesiredState(CatalogConfig(OWNER, "azure"), Policy(), specs, "bench")
            plan = make_plan(desired, p.snapshot(), p.capabilities)
            assert not plan.errored, plan.all_errors
            before = len(emu.requests)
            t0 = time.perf_counter()
            result = apply_plan(plan, p, parallelism=parallelism)
            seconds = time.perf_counter() - t0
            assert result.ok, [r.error for r in result.results if r.error]
            requests = len(emu.requests) - before
        finally:
            p.close()
    ideal = n / parallelism * lro_seconds
    return {"captures": n, "parallelism": parallelism, "lro_seconds": lro_seconds, "seconds": round(seconds, 2),
            "ideal_seconds": ideal, "overhead": round(seconds / ideal, 2), "requests": requests}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--latency", type=float, default=0.005)
    ap.add_argument("--captures", type=int, default=100)
    ap.add_argument("--parallelism", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    snap = bench_snapshot(args.images, args.latency)
    apply = bench_apply(args.captures, args.parallelism, 1.0)
    report = {"snapshot": snap, "apply": apply}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        s, a = snap, apply
        print(f"snapshot of {s['images']} images, {s['latency_ms']:g} ms latency per request:")
        print(f"  list + nextLink      {s['list']['requests']:>6} requests  {s['list']['seconds']:>7.2f} s")
        print(f"  per-image GET (x10)  {s['per_image_get_10_workers']['requests']:>6} requests  "
              f"{s['per_image_get_10_workers']['seconds']:>7.2f} s")
        print(f"  -> {s['request_ratio']}x fewer requests")
        print(f"apply of {a['captures']} captures (1 s each), parallelism {a['parallelism']}: "
              f"{a['seconds']:.2f} s vs {a['ideal_seconds']:g} s ideal ({a['overhead']}x), {a['requests']} requests")
    ok = snap["request_ratio"] >= 20
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
