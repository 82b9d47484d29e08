#!/usr/bin/env python3
"""include_graph.py - the module include graph of server/, davfs/ and fuse/, and a check
that it has no cycle. A module is a .c with its .h (bt_shim.cc counts as module "bt");
a module split over several files has one private header <m>_int.h, and it and every .c
(or .cc: bt_store.cc ... with bt_int.h are module bt) that includes it belong to module m (stream_wake.c, stream_fill.c ... are module stream).
module A uses B when A's .c or .h includes B's .h. Prints the graph (one "A -> B C" line
per module) and exits 1 naming a cycle if there is one. Run from the source tree or give
it as the first argument. Used by make check (TESTS) and by hand."""
import os
import re
import sys

top = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("srcdir", ".")
dirs = ["server", "davfs", "fuse"]
inc = re.compile(r'^\s*#\s*include\s+"([^"]+)\.h"', re.M)
modules, uses = {}, {}
for d in dirs:
    p = os.path.join(top, d)
    if not os.path.isdir(p):
        continue
    for f in sorted(os.listdir(p)):
        base, ext = os.path.splitext(f)
        if ext not in (".c", ".h", ".cc"):
            continue
        m = "bt" if base == "bt_shim" else base
        if base.endswith("_int") and ext == ".h":
            m = base[:-len("_int")]
        elif ext in (".c", ".cc"):
            with open(os.path.join(p, f), encoding="utf-8", errors="replace") as fh:
                own = [h for h in inc.findall(fh.read()) if h.endswith("_int")]
            if own and base.startswith(own[0][:-len("_int")] + "_"):
                m = own[0][:-len("_int")]
        modules.setdefault(m, set()).add(os.path.join(d, f))
for m, files in modules.items():
    uses[m] = set()
    for f in files:
        with open(os.path.join(top, f), encoding="utf-8", errors="replace") as fh:
            for h in inc.findall(fh.read()):
                h = os.path.basename(h)
                if h.endswith("_int") and h[:-len("_int")] in modules:
                    h = h[:-len("_int")]
                if h in modules and h != m:
                    uses[m].add(h)

for m in sorted(uses):
    print(f"{m} -> {' '.join(sorted(uses[m])) or '-'}")

# Depth-first search with colours: grey on the stack, black done.
colour, stack = {}, []


def visit(m):
    colour[m] = "grey"
    stack.append(m)
    for n in sorted(uses[m]):
        if colour.get(n) == "grey":
            cyc = stack[stack.index(n):] + [n]
            print("include cycle: " + " -> ".join(cyc), file=sys.stderr)
            sys.exit(1)
        if n not in colour:
            visit(n)
    stack.pop()
    colour[m] = "black"


sys.setrecursionlimit(10000)
for m in sorted(uses):
    if m not in colour:
        visit(m)
print(f"{len(uses)} modules, {sum(len(v) for v in uses.values())} edges, no cycle")
