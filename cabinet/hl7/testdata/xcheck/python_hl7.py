"""Reads HL7 messages with python-hl7 (Debian: python3-hl7), for the Go differential test.

stdin: a JSON list of {"name": str, "b64": str}. stdout: a JSON list, in the same order, of
{"name": str, "error": str} or {"name": str, "segments": [[name, [field, ...]], ...]} where a
field is a list of repetitions, a repetition a list of components, a component a list of
subcomponents (strings), each leaf as python-hl7 holds it and, where it holds the escape
character, as python-hl7's Message.unescape gives it ("unescaped" beside it).
"""
import base64
import json
import sys

import hl7


def component(c):
    if isinstance(c, str):
        return [c]
    return [str(s) for s in c]


def repetition(r):
    if isinstance(r, str):
        return [[r]]
    return [component(c) for c in r]


def field(f):
    if isinstance(f, str):
        return [[[f]]]
    return [repetition(r) for r in f]


def read(raw):
    msg = hl7.parse(raw.decode("utf-8"))
    segments = []
    for seg in msg:
        name = str(seg[0])
        if name == "":
            continue
        fields = [field(f) for f in seg[1:]]
        if name == "MSH":
            # python-hl7 holds MSH-1 and MSH-2 as fields 1 and 2, as HL7 numbers them.
            fields = [[[[str(seg[1])]]], [[[str(seg[2])]]]] + [field(f) for f in seg[3:]]
        for f in fields:
            for r in f:
                for c in r:
                    for i, s in enumerate(c):
                        if msg.esc in s:
                            c[i] = {"raw": s, "unescaped": msg.unescape(s)}
        segments.append([name, fields])
    return segments


def main():
    out = []
    for item in json.load(sys.stdin):
        raw = base64.b64decode(item["b64"])
        try:
            out.append({"name": item["name"], "segments": read(raw)})
        except Exception as e:  # noqa: BLE001 - any failure is a refusal to compare
            out.append({"name": item["name"], "error": "%s: %s" % (type(e).__name__, e)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
