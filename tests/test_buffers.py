"""Where the weights go: the AMX decision on any CPU (a table), and real loads that say which buffers they used."""

from __future__ import annotations

from pathlib import Path

import pytest

from completion.runtime.buffers import (
    amx_in_build,
    choose_weight_buffers,
    cpu_flags,
    uses_amx,
    weight_buffers_in_log,
)
from completion.runtime.llama_backend import LlamaBackend
from tests.conftest import TinyModels, tiny_config

SAPPHIRE_RAPIDS = frozenset(["fpu", "avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "amx_int8"])
EPYC = frozenset(["fpu", "avx2", "avx512f", "avx512_bf16", "avx512_vnni"])
NATIVE_AMX_BUILD = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | REPACK = 1 |"
BUILD_WITHOUT_AMX = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_BF16 = 1 | LLAMAFILE = 1 | REPACK = 1 |"


@pytest.mark.parametrize(
    ("flags", "system_info", "setting", "extra", "why"),
    [
        (SAPPHIRE_RAPIDS, NATIVE_AMX_BUILD, None, False, "llama.cpp#20824"),  # the crash: weights stay mapped
        (SAPPHIRE_RAPIDS, BUILD_WITHOUT_AMX, None, True, "built without AMX"),  # AMX compiled out: REPACK kept
        (EPYC, BUILD_WITHOUT_AMX, None, True, "this CPU has no AMX"),  # AMD: REPACK kept
        (EPYC, NATIVE_AMX_BUILD, None, True, "this CPU has no AMX"),  # a build for AMX on a CPU without it
        (frozenset(), "", None, True, "this CPU has no AMX"),  # not Linux, or nothing known
        (SAPPHIRE_RAPIDS, NATIVE_AMX_BUILD, True, True, "by the extra_buffers setting"),  # the user insists
        (EPYC, BUILD_WITHOUT_AMX, False, False, "by the extra_buffers setting"),
    ],
)
def test_weight_buffer_decision(flags, system_info, setting, extra, why) -> None:
    choice = choose_weight_buffers(flags, system_info, setting)
    assert choice.extra is extra and why in choice.reason


def test_cpu_flags_and_build_are_read_as_linux_and_llama_cpp_write_them(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx512f amx_int8 amx_tile\n\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx512f", "amx_int8", "amx_tile"}
    assert cpu_flags(tmp_path / "missing") == frozenset()
    assert amx_in_build(NATIVE_AMX_BUILD) and not amx_in_build(BUILD_WITHOUT_AMX)
    assert not amx_in_build("AMX_INT8 = 0 |")


def test_buffers_are_read_from_the_load_log() -> None:
    log = [
        "load_tensors:   CPU_Mapped model buffer size =  1059.89 MiB\n",
        "load_tensors:          AMX model buffer size =   596.53 MiB\n",
        "llama_kv_cache:        CPU KV buffer size =    14.00 MiB\n",  # not weights
    ]
    buffers = weight_buffers_in_log(log)
    assert buffers == {"CPU_Mapped": 1059.89, "AMX": 596.53} and uses_amx(buffers)
    assert not uses_amx({"CPU_Mapped": 1.0, "CPU_REPACK": 2.0})


@pytest.mark.parametrize("setting", [None, False])
def test_a_real_load_says_where_its_weights_are(tiny_models: TinyModels, setting: bool | None) -> None:
    backend = LlamaBackend.load(tiny_config(tiny_models.qwen, extra_buffers=setting), tiny_models.qwen)
    names = [name for name, _ in backend.info.weight_buffers]
    assert names and all(mib > 0 for _, mib in backend.info.weight_buffers)
    assert not uses_amx(dict(backend.info.weight_buffers))
    if setting is False:
        assert names == ["CPU_Mapped"] and "extra_buffers setting" in backend.info.weight_buffers_reason
    assert backend.info.weight_buffers_reason
