"""Times the per-bar call paths of an SDK strategy through each binding module (run.sh).

Each figure is the median of 7 rounds of N calls, minus the same loop without the call being
measured (what a pure-Python loop costs anyway), in nanoseconds per call. Rounds of the two
libraries are interleaved so that a slower moment of the machine hits both."""
import statistics
import sys
import time

import probe_nanobind
import probe_pybind11

N = 1_000_000


def on_bar(bar):
    pass


class Strat:
    def on_bar(self, bar):
        pass


def loop_empty(n):
    for _ in range(n):
        pass


def timed(fn, *args):
    t = time.perf_counter_ns()
    fn(*args)
    return (time.perf_counter_ns() - t) / N


def cases(mod):
    cell = mod.Cell()
    strat = Strat()

    def read_property(n, c=cell):
        for _ in range(n):
            c.value

    def read_int_property(n, c=cell):
        for _ in range(n):
            c.sign > 0

    def call_method(n, c=cell):
        for _ in range(n):
            c.get()

    def call_method_arg(n, c=cell):
        for _ in range(n):
            c.set(1.0)

    return {
        "C++ -> Python: a function(bar)": (lambda: timed(mod.drive, on_bar, N), None),
        "C++ -> Python: a bound method(bar)": (lambda: timed(mod.drive, strat.on_bar, N), None),
        "Python -> C++: read a float property": (lambda: timed(read_property, N), loop_empty),
        "Python -> C++: read an int property, compare": (lambda: timed(read_int_property, N),
                                                         loop_empty),
        "Python -> C++: call a method, no argument": (lambda: timed(call_method, N), loop_empty),
        "Python -> C++: call a method, one float": (lambda: timed(call_method_arg, N),
                                                    loop_empty),
    }


def main():
    mods = {"nanobind": probe_nanobind, "pybind11": probe_pybind11}
    table = {name: cases(mod) for name, mod in mods.items()}
    results = {name: {case: [] for case in table[name]} for name in mods}
    empty = []
    for _ in range(7):
        empty.append(timed(loop_empty, N))
        for name in mods:
            for case, (fn, _) in table[name].items():
                results[name][case].append(fn())
    base = statistics.median(empty)
    print(f"{'ns per call (median of 7 x 1M, loop overhead subtracted)':60} "
          f"{'nanobind':>9} {'pybind11':>9}")
    for case, (_, subtract) in table["nanobind"].items():
        row = []
        for name in mods:
            v = statistics.median(results[name][case]) - (base if subtract else 0)
            row.append(v)
        print(f"{case:60} {row[0]:9.1f} {row[1]:9.1f}")
    print(f"{'(an empty Python for-loop iteration)':60} {base:9.1f}")
    # A pure-Python function call, the floor of any on_bar.
    def call_py(n, f=on_bar):
        for _ in range(n):
            f(None)
    py = statistics.median(timed(call_py, N) for _ in range(7)) - base
    print(f"{'(Python -> Python: a function(bar), for reference)':60} {py:9.1f}")
    print(f"python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
