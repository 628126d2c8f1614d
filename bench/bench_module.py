"""SelfAttention on (1, 8192, 64), one head, inference mode, against the seed's formulation.

Goals: time ratio <= 0.6; peak extra memory <= 1.3 matrices of 8192 x 8192 float32 (seed: ~2).
Memory is the growth of the process's peak resident set during one forward pass, measured in a
fresh process per formulation so that neither sees the other's freed pages.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time

from common import PYTHON, report

T, D = 8192, 64
MATRIX_BYTES = T * T * 4


def build():
    import torch

    from attninspect.model.attention import SelfAttention

    torch.manual_seed(0)
    module = SelfAttention(D).eval()
    x = torch.rand(1, T, D)
    return torch, module, x


def seed_forward(torch, module, x):
    """The tutorial's code: matmul, divide, softmax, matmul."""
    import torch.nn.functional as F

    scaling = torch.sqrt(torch.tensor(D, dtype=torch.float32))
    q, k, v = module.W_q(x), module.W_k(x), module.W_v(x)
    scores = torch.matmul(q, k.transpose(-2, -1)) / scaling
    weights = F.softmax(scores, dim=-1)
    return torch.matmul(weights, v), weights


def ours_forward(torch, module, x):
    return module(x)


FORWARDS = {"seed": seed_forward, "ours": ours_forward}


def peak_resident_bytes() -> int:
    """This process's peak resident set (VmHWM; ru_maxrss would include the parent's, via fork)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_rss_growth(name: str) -> int:
    """Child: one forward pass; print how much the peak RSS grew, in bytes."""
    torch, module, x = build()
    with torch.inference_mode():
        module(x[:, :16])  # warm up kernels on a small input
        before = peak_resident_bytes()
        FORWARDS[name](torch, module, x)
        after = peak_resident_bytes()
    return after - before


def timings(repeats: int = 7) -> dict[str, float]:
    torch, module, x = build()
    result: dict[str, list[float]] = {name: [] for name in FORWARDS}
    with torch.inference_mode():
        for _ in range(repeats + 1):
            for name, forward in FORWARDS.items():
                started = time.perf_counter()
                output = forward(torch, module, x)
                result[name].append(time.perf_counter() - started)
                del output
    return {name: statistics.median(values[1:]) for name, values in result.items()}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--memory":
        print(json.dumps(peak_rss_growth(sys.argv[2])))
        return
    times = timings()
    report("module forward (1, 8192, 64) time", times["ours"], times["seed"], "<= 0.6")
    memory = {}
    for name in FORWARDS:
        out = subprocess.run(
            [PYTHON, __file__, "--memory", name], capture_output=True, text=True, check=True
        )
        memory[name] = json.loads(out.stdout) / MATRIX_BYTES
    verdict = "ok" if memory["ours"] <= 1.3 else "MISSED"
    print(
        f"{'module forward peak extra memory (TxT units)':<44} ours {memory['ours']:9.2f}    "
        f"seed {memory['seed']:9.2f}    goal ours <= 1.3 {verdict}",
        flush=True,
    )


if __name__ == "__main__":
    main()
