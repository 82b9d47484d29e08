#!/bin/sh
# include_graph.sh - fails when the modules of server/, davfs/ and fuse/ include each
# other in a cycle (include_graph.py prints the graph and the cycle).
exec python3 "${srcdir:-.}/tests/unit/include_graph.py" "${srcdir:-.}"
