/** Python's whitespace handling, for labels the reference computes with str.split() / str.lstrip(). */

// exactly the characters for which Python's str.isspace() is true
const PY_WS = "\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WS_RUN = new RegExp(`[${PY_WS}]+`, "u");
const LEADING_WS = new RegExp(`^[${PY_WS}]+`, "u");

/** str.split() with no separator: split on runs of whitespace, no empty strings. */
export function pySplit(s: string): string[] {
  return s.split(WS_RUN).filter((w) => w.length > 0);
}

/** str.lstrip() */
export function pyLstrip(s: string): string {
  return s.replace(LEADING_WS, "");
}

/** str.format(**args) for templates with {name} fields ({{ and }} are literal braces). */
export function pyFormat(template: string, args: Record<string, unknown>): string {
  return template.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (m, name: string | undefined) => {
    if (m === "{{") return "{";
    if (m === "}}") return "}";
    if (!name || !(name in args)) throw new Error(`template field {${name ?? ""}} has no value (template: ${JSON.stringify(template)})`);
    return pyStrOf(args[name]);
  });
}

/** Python's str() of a template value: strings as they are, ints in decimal, missing as nan. */
export function pyStrOf(v: unknown): string {
  if (v === null || v === undefined || (typeof v === "number" && Number.isNaN(v))) return "nan";
  if (typeof v === "boolean") return v ? "True" : "False";
  return String(v);
}
