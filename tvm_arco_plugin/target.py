"""The x86 CPU target, built in one place.

The hhb-tvm fork's default LLVM triple is RISC-V: a bare ``"llvm"`` target emits RISC-V objects
and ``export_library`` fails ("Relocations in generic ELF (EM: 243)"). Every CPU target in this
project therefore names the x86 triple and this host's CPU explicitly (``-mcpu=native`` is
rejected together with an explicit triple, so the CPU name is asked from LLVM).
"""
import functools
import os

X86_TRIPLE = "x86_64-linux-gnu"
_FALLBACK_CPU = "x86-64"


@functools.lru_cache(maxsize=None)
def host_cpu():
    """LLVM's name for this machine's CPU (e.g. ``skylake-avx512``); override with ARCO_MCPU."""
    forced = os.environ.get("ARCO_MCPU")
    if forced:
        return forced
    from tvm.target import codegen

    try:
        name = codegen.llvm_get_system_cpu()
    except Exception:  # pylint: disable=broad-except
        name = None
    if name and name != "generic":
        return name
    # The fork's LLVM was configured for another host and answers "generic": read the CPU flags.
    return cpu_from_flags(_read_cpu_flags())


def _read_cpu_flags():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_from_flags(flags):
    """The most capable CPU name TVM's x86 schedules know (they test ``mcpu`` by name) for these flags."""
    if {"avx512f", "avx512bw", "avx512_vnni"} <= flags:
        return "cascadelake"
    if {"avx512f", "avx512bw"} <= flags:
        return "skylake-avx512"
    if "avx2" in flags:
        return "haswell"
    return _FALLBACK_CPU


def host_target_string(extra=""):
    text = f"llvm -mtriple={X86_TRIPLE} -mcpu={host_cpu()}"
    return f"{text} {extra}".strip()


def host_target(extra=""):
    """``tvm.target.Target`` for this x86 host; use it wherever AutoTVM or relay builds for the CPU."""
    import tvm

    return tvm.target.Target(host_target_string(extra))
