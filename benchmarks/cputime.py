"""Wall time with CPU-seconds beside it, for the benchmarks on a shared machine.

Wall time is what a user waits; CPU-seconds (user + system) are what a busy machine inflates
least, and they show work a second process or thread does that wall time hides. Every figure
here comes from ``resource.getrusage`` (this process, all its threads, and its children once
reaped) or ``/proc`` (a process still running, such as a node, and the whole machine).
"""

import gc
import os
import platform
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """User + system seconds of this process (every thread) and of its children already reaped."""
    mine, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """User + system seconds of a running process (and its reaped children), read from ``/proc``."""
    with open(f"/proc/{pid}/stat") as handle:
        after_name = handle.read().rsplit(")", 1)[1].split()
    # Fields 14-17 of proc(5): utime, stime, cutime, cstime; after_name starts at field 3.
    return sum(int(value) for value in after_name[11:15]) / _TICKS


def backend_cpu(database: str) -> dict[int, float]:
    """CPU-seconds of each PostgreSQL backend serving ``database`` now (its process title names it)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                title = handle.read().replace(b"\0", b" ").decode(errors="replace")
            if title.startswith("postgres: ") and f" {database} " in title:
                found[int(entry)] = process_cpu_seconds(int(entry))
        except OSError:
            continue
    return found


def machine_cpu_seconds() -> float:
    """CPU seconds every process on the machine has used so far (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as handle:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in handle.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / _TICKS


def gc_collections() -> int:
    """Cyclic garbage collections run so far in this process, all generations."""
    return sum(generation["collections"] for generation in gc.get_stats())


@dataclass
class Sample:
    """One timed run: wall seconds, this process's CPU-seconds, a watched process's, everyone else's."""

    wall: float = 0.0
    cpu: float = 0.0  # this process, all threads, plus children it reaped during the run
    watched_cpu: float = 0.0  # e.g. the node serving the requests (0 when none is watched)
    other_cpu: float = 0.0  # the rest of the machine: other helpers' tests, other benchmarks
    gc_collections: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def measured(watch: int | None = None) -> Iterator[Sample]:
    """Measure the block; ``watch`` is the pid of a running process whose CPU time is reported apart."""
    sample = Sample()
    watched = process_cpu_seconds(watch) if watch else 0.0
    machine, own, collections = machine_cpu_seconds(), own_cpu_seconds(), gc_collections()
    started = time.perf_counter()
    yield sample
    sample.wall = time.perf_counter() - started
    sample.cpu = own_cpu_seconds() - own
    sample.gc_collections = gc_collections() - collections
    sample.watched_cpu = process_cpu_seconds(watch) - watched if watch else 0.0
    sample.other_cpu = max(0.0, machine_cpu_seconds() - machine - sample.cpu - sample.watched_cpu)


def timed(function: Callable[[], Any], watch: int | None = None) -> Sample:
    with measured(watch) as sample:
        sample.extra["result"] = function()
    return sample


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    with open("/proc/meminfo") as handle:
        memory_kb = int(handle.readline().split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(memory_kb / 2**20, 1),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def describe(info: dict[str, Any]) -> str:
    load = ", ".join(f"{value:.2f}" for value in info["load_average_at_start"])
    return (
        f"machine: {info['cores']} cores ({info['cpu'] or 'unknown CPU'}), {info['memory_gib']} GiB, "
        f"Python {info['python']}; load average at start {load}"
    )
