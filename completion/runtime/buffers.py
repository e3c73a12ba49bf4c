"""Where llama.cpp may put the model's weights on this CPU, decided before the model loads.

llama.cpp's "extra buffer types" re-lay weights for faster CPU kernels: CPU_REPACK (AVX2/AVX512) and,
in builds compiled for Intel AMX, an AMX buffer. On AMX CPUs (Sapphire Rapids and later) the AMX buffer
crashes the first decode of Q4_K weights (llama.cpp#20824, closed without a fix), so wherever that
buffer would be used the extra buffer types are turned off: the weights stay in the mapped file.
The decision is pure (CPU flags and llama.cpp's system info in, a choice out) so that it is tested on
any CPU; `llama_backend` applies it and checks afterwards which buffers the load really used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
AMX_BUG = "llama.cpp#20824"
BUFFER_LINE = re.compile(r"\b([A-Za-z0-9_]+) model buffer size\s*=\s*([0-9.]+) MiB")


@dataclass(frozen=True)
class WeightBuffers:
    """Whether llama.cpp may use its extra buffer types for weights, and why."""

    extra: bool  # the `use_extra_bufts` model parameter
    reason: str  # one line, for `tabwise doctor`


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags as Linux lists them ("amx_int8", "avx512f", ...); empty elsewhere."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def amx_in_build(system_info: str) -> bool:
    """True if llama.cpp was compiled with its AMX kernels (`llama_print_system_info()` says AMX_INT8 = 1)."""
    return re.search(r"\bAMX_INT8 = 1\b", system_info) is not None


def choose_weight_buffers(flags: frozenset[str], system_info: str, setting: bool | None = None) -> WeightBuffers:
    """The extra buffer types stay on unless llama.cpp would put weights into its AMX buffer."""
    if setting is not None:
        return WeightBuffers(setting, f"extra buffer types {'on' if setting else 'off'} by the extra_buffers setting")
    if "amx_int8" in flags and amx_in_build(system_info):
        return WeightBuffers(
            False,
            f"this CPU has AMX and llama.cpp was built with it; its AMX weight buffer crashes ({AMX_BUG}), "
            "so weights stay in the model file's own buffer",
        )
    why = "this CPU has no AMX" if "amx_int8" not in flags else "this llama.cpp was built without AMX kernels"
    return WeightBuffers(True, f"extra buffer types on (weights repacked for this CPU): {why}")


def weight_buffers_in_log(lines: list[str]) -> dict[str, float]:
    """Buffer type -> MiB of weights, read from llama.cpp's load log ("CPU_REPACK model buffer size = ...")."""
    found: dict[str, float] = {}
    for line in lines:
        if (match := BUFFER_LINE.search(line)) is not None:
            found[match.group(1)] = found.get(match.group(1), 0.0) + float(match.group(2))
    return found


def uses_amx(buffers: dict[str, float]) -> bool:
    """True if any weights went into an AMX buffer."""
    return any("AMX" in name.upper() for name in buffers)
