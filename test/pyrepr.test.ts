import { test } from "node:test";
import assert from "node:assert/strict";
import { pyDictStr, pyFloatRepr, quirkyId } from "../src/util/pyrepr.ts";
import { runPython } from "./helpers.ts";

// Dicts as template args look in the reference (str() of a Python dict), with awkward strings.
const CASES: Record<string, string | number | null>[] = [
  { character: "Alice", op1: 123, op2: 4, result: 127 },
  { character: "Bob", op1: -5, result: 0 },
  { character: "Alice", city: "Tōkyō", admin_name: "Île-de-France", country: "France" },
  { character: "Bob", author: "Flannery O'Connor", title: 'The "Complete" Stories' },
  { character: "Alice", title: "It's \"both\" quotes", review: "tab\there\nnewline\\backslash\r" },
  { character: "Bob", question: "control \u0001 \u007f and nbsp\u00a0 and zwsp\u200b", support: "emoji 😀 and line sep \u2028 ok" },
  { character: "Alice", city: "Naïve café", admin_name: null, country: "Nowhere" },
  { character: "Bob", answer: "", support: "  leading spaces" },
  { character: "Alice", premise: "Soft hyphen\u00ad and BOM\ufeff and bidi\u202e", hypothesis: "CJK 東京 arabic مرحبا" },
];

test("str(template_args) matches Python's str() of the same dict", () => {
  // JSON null → Python NaN (pandas reads a missing value as float nan)
  const code = `
import json, sys, hashlib
for d in json.loads(sys.stdin.read()):
    d = {k: (float('nan') if v is None else v) for k, v in d.items()}
    s = str(d)
    print(json.dumps([s, hashlib.md5(s.encode()).hexdigest()[:8]]))`;
  const lines = runPython(code, JSON.stringify(CASES)).trim().split("\n");
  assert.equal(lines.length, CASES.length);
  CASES.forEach((c, i) => {
    const [pyStr, pyId] = JSON.parse(lines[i]);
    assert.equal(pyDictStr(c), pyStr, `case ${i}`);
    assert.equal(quirkyId(c), pyId, `case ${i}`);
  });
});

test("float repr matches Python's repr(float)", () => {
  const xs = [0.5, 1e-5, 123456789.125, 1e16, 1.5e300, -2.5e-7, 3.14159, 0.0001, 1e22 + 0.5, -0.1];
  const py = runPython("import json,sys\nfor x in json.loads(sys.stdin.read()): print(repr(float(x)))", JSON.stringify(xs)).trim().split("\n");
  xs.forEach((x, i) => assert.equal(pyFloatRepr(x), py[i], `x=${x}`));
});
