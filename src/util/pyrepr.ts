/**
 * Python's `str()` of the values that appear in quirky template arguments, so that our row ids
 * (md5 of `str(template_args)`, as the reference computes them) match the released datasets.
 *
 * Covered: dict (insertion order), str, int, float, bool, None; `null` stands for a missing
 * value, which pandas reads as float NaN, so it prints as `nan`.
 */
import { createHash } from "node:crypto";

export type PyValue = string | number | bigint | boolean | null;

/** `str(d)` for a Python dict with string keys. */
export function pyDictStr(dict: Record<string, PyValue>): string {
  const parts = Object.entries(dict).map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`);
  return `{${parts.join(", ")}}`;
}

/** `repr(v)`. Integral JS numbers print as Python ints, the others as Python floats. */
export function pyRepr(v: PyValue): string {
  if (v === null) return "nan";
  if (typeof v === "string") return pyStrRepr(v);
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "bigint") return v.toString();
  if (Number.isInteger(v)) return Object.is(v, -0) ? "0" : v.toFixed(0);
  return pyFloatRepr(v);
}

/** Python's float repr: shortest round-trip digits; exponent form when exp < -4 or exp >= 16. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  const [mantissa, expStr] = x.toExponential().split("e");
  const exp = Number(expStr);
  const sign = mantissa.startsWith("-") ? "-" : "";
  const digits = mantissa.replace("-", "").replace(".", "");
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, "0");
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${e}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
  const frac = digits.slice(exp + 1);
  return `${sign}${intPart}.${frac || "0"}`;
}

// Python's str.isprintable(): false for categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs (but ' ' is printable).
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** Python's repr of a str. */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === "\\") out += "\\" + ch;
    else if (ch === "\t") out += "\\t";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === " ") out += ch;
    else if (cp < 0x20 || cp === 0x7f) out += "\\x" + hex(cp, 2);
    else if (cp < 0x7f) out += ch;
    else if (NON_PRINTABLE.test(ch)) {
      if (cp < 0x100) out += "\\x" + hex(cp, 2);
      else if (cp < 0x10000) out += "\\u" + hex(cp, 4);
      else out += "\\U" + hex(cp, 8);
    } else out += ch;
  }
  return out + quote;
}

function hex(cp: number, width: number): string {
  return cp.toString(16).padStart(width, "0");
}

/** md5 hex digest of the UTF-8 bytes of `s`. */
export function md5Hex(s: string): string {
  return createHash("md5").update(s, "utf8").digest("hex");
}

/** The reference's row id: first 8 hex chars of md5(str(template_args)). */
export function quirkyId(templateArgs: Record<string, PyValue>): string {
  return md5Hex(pyDictStr(templateArgs)).slice(0, 8);
}
