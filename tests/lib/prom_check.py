#!/usr/bin/python3
"""prom_check.py - strict check of a Prometheus text exposition (format 0.0.4).

Parses the text with prometheus_client's parser (Debian: python3-prometheus-client) and
checks on top what that lax parser lets through: every sample line is well formed; each
metric family has exactly one HELP and one TYPE line, before its samples; a family's
samples are contiguous; TYPE is counter or gauge; counters end in _total; every name
starts with PREFIX; label names are valid and not repeated; values are floats; no
(name, labels) pair repeats. Prints the parsed samples as JSON {"name{labels}": value}.

usage: prom_check.py PREFIX < exposition
"""
import json
import math
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s(?:,%s)*)?\})? (\S+)$" % (NAME, LABEL, LABEL))


def fail(msg):
    print("prom_check: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    prefix = sys.argv[1]
    text = sys.stdin.read()
    if not text.endswith("\n"):
        fail("exposition does not end with a newline")
    helps, types, done, seen = {}, {}, set(), set()
    current = None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not re.fullmatch(NAME, parts[2]):
                fail("line %d: malformed %s line: %r" % (n, parts[1], line))
            kind, name = parts[1], parts[2]
            table = helps if kind == "HELP" else types
            if name in table:
                fail("line %d: second %s for %s" % (n, kind, name))
            if name in done or (current and current != name and name in seen):
                fail("line %d: %s of %s after its samples" % (n, kind, name))
            table[name] = parts[3]
            if kind == "TYPE" and parts[3] not in ("counter", "gauge"):
                fail("line %d: unexpected type %r" % (n, parts[3]))
            if current and current != name:
                done.add(current)
            current = name
            continue
        if line.startswith("#") or line == "":
            fail("line %d: unexpected line %r" % (n, line))
        m = SAMPLE.match(line)
        if not m:
            fail("line %d: malformed sample %r" % (n, line))
        name = m.group(1)
        if name != current:
            fail("line %d: sample %s outside its family (%s)" % (n, name, current))
        if name not in helps or name not in types:
            fail("line %d: %s has no HELP or no TYPE before it" % (n, name))
        if not name.startswith(prefix):
            fail("line %d: %s does not start with %s" % (n, name, prefix))
        if types[name] == "counter" and not name.endswith("_total"):
            fail("line %d: counter %s does not end in _total" % (n, name))
        if types[name] == "gauge" and name.endswith("_total"):
            fail("line %d: gauge %s ends in _total" % (n, name))
        try:
            v = float(m.group(3))
        except ValueError:
            fail("line %d: value %r is not a float" % (n, m.group(3)))
        if math.isnan(v):
            fail("line %d: NaN" % n)
        if types[name] == "counter" and v < 0:
            fail("line %d: negative counter" % n)
        labels = m.group(2) or ""
        lnames = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', labels)
        if len(lnames) != len(set(lnames)):
            fail("line %d: repeated label name" % n)
        key = name + labels
        if key in seen:
            fail("line %d: sample %s repeated" % (n, key))
        seen.add(key)
        seen.add(name)
    for name in types:
        if name not in helps:
            fail("%s has TYPE but no HELP" % name)
    out = {}
    for fam in text_string_to_metric_families(text):
        if fam.type not in ("counter", "gauge"):
            fail("family %s parsed as %s" % (fam.name, fam.type))
        for s in fam.samples:
            lab = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
            out[s.name + ("{" + lab + "}" if lab else "")] = s.value
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
