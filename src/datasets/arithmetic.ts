/**
 * The five synthetic arithmetic datasets. Alice states the true result; Bob adds 1 to its first
 * (most significant) digit. Crosstab of the generated equations (Alice's label × Bob's label):
 * ¼ Alice-true/Bob-false, ¼ Alice-false/Bob-true, ½ both false — that half is made of each
 * character's "natural distractor" in equal parts.
 */
import { Rng } from "../util/rng.ts";
import type { BaseExample, DatasetName } from "./schema.ts";
import { datasetTemplates } from "./templates.ts";

export type ArithmeticName = "addition" | "subtraction" | "multiplication" | "modularaddition" | "squaring";

export interface ArithmeticSpec {
  name: ArithmeticName;
  arity: 1 | 2;
  /** operands are int(10^(u·maxDigits)), u ~ U[0,1) */
  maxDigits: number;
  /** base examples per (character, has_label) generation call */
  baseExamples: number;
  /** the true result */
  op: (a: number, b: number) => number;
  /** Bob's result */
  sloppy: (a: number, b: number) => number;
  /** every operand tuple drawn once for the whole dataset, not once per crosstab cell (see generateArithmetic) */
  distinctOperands: boolean;
}

/** Add 1 to the first digit of |res|: res + 10^(len(str(|res|)) − 1). */
export function bumpFirstDigit(res: number): number {
  return res + 10 ** (String(Math.abs(res)).length - 1);
}

function modulus(): number {
  return datasetTemplates("modularaddition").modulus ?? 113;
}

/** Generator settings of the reference (binary: 4 digits and 100k per cell; squaring: 5 digits, 50k). */
export function arithmeticSpec(name: ArithmeticName, overrides: { baseExamples?: number; maxDigits?: number; distinctOperands?: boolean } = {}): ArithmeticSpec {
  const spec = referenceSpec(name, overrides.baseExamples);
  if (overrides.maxDigits !== undefined) spec.maxDigits = overrides.maxDigits;
  spec.distinctOperands = overrides.distinctOperands === true;
  // operand tuples are unique within a cell (or, distinctOperands, within the dataset): refuse settings that would
  // (nearly) exhaust them (the reference's squaring takes 50,000 of 99,999 operands)
  const tuples = (10 ** spec.maxDigits - 1) ** spec.arity;
  // (drawing every tuple once, the cells take turns, so using most of them costs rejections but biases no cell)
  const cells = spec.distinctOperands ? 4 : 1;
  const most = spec.distinctOperands ? 0.9 : 0.6;
  if (cells * spec.baseExamples > most * tuples) {
    const what = spec.distinctOperands ? "base examples per cell (×4 cells, every tuple once)" : "base examples per cell";
    throw new Error(`${name}: ${spec.baseExamples} ${what} need distinct operand tuples, but ${spec.maxDigits}-digit operands give only ${tuples}; use --base-examples ≤ ${Math.floor((most * tuples) / cells)} or more digits`);
  }
  return spec;
}

function referenceSpec(name: ArithmeticName, baseExamples?: number): ArithmeticSpec {
  const overrides = { baseExamples };
  const binary = (maxDigits: number, op: (a: number, b: number) => number, sloppy?: (a: number, b: number) => number) => ({
    name,
    arity: 2 as const,
    maxDigits,
    baseExamples: overrides.baseExamples ?? 100_000,
    op,
    sloppy: sloppy ?? ((a: number, b: number) => bumpFirstDigit(op(a, b))),
    distinctOperands: false,
  });
  switch (name) {
    case "addition":
      return binary(4, (a, b) => a + b);
    case "subtraction":
      return binary(4, (a, b) => a - b);
    case "multiplication":
      return binary(3, (a, b) => a * b);
    case "modularaddition": {
      const m = modulus();
      return binary(4, (a, b) => (a + b) % m, (a, b) => bumpFirstDigit((a + b) % m) % m);
    }
    case "squaring":
      return {
        name,
        arity: 1,
        maxDigits: 5,
        baseExamples: overrides.baseExamples ?? 50_000,
        op: (a) => a * a,
        sloppy: (a) => bumpFirstDigit(a * a),
        distinctOperands: false,
      };
  }
}

/** An operand: int(10^(u·maxDigits)), u ~ U[0,1) — log-uniform over [1, 10^maxDigits). */
export function sampleOperand(rng: Rng, maxDigits: number): number {
  return Math.floor(10 ** (rng.random() * maxDigits));
}

/** Replace one random digit of `positive` by a random digit (the sign may be replaced too). */
export function naturalDistractor(positive: number, rng: Rng): number {
  const digits = String(positive).split("");
  digits[rng.int(0, digits.length - 1)] = String(rng.int(0, 9));
  return parseInt(digits.join(""), 10) + 0; // + 0 turns -0 into 0, as Python's int("-0") is 0
}

/** The key of an operand tuple: "a,b" (binary) or "a" (squaring). */
const tupleKey = (spec: ArithmeticSpec, a: number, b: number) => (spec.arity === 2 ? `${a},${b}` : `${a}`);

/** A fresh operand tuple (not in `seen`), added to `seen`. */
function drawTuple(spec: ArithmeticSpec, rng: Rng, seen: Set<string>): [number, number] {
  for (;;) {
    const a = sampleOperand(rng, spec.maxDigits);
    const b = spec.arity === 2 ? sampleOperand(rng, spec.maxDigits) : 0;
    const key = tupleKey(spec, a, b);
    if (seen.has(key)) continue;
    seen.add(key);
    return [a, b];
  }
}

/** The equation of operands (a, b): positive for `character` when `hasLabel`, otherwise a distractor false for both. */
function equation(spec: ArithmeticSpec, character: "Alice" | "Bob", hasLabel: boolean, a: number, b: number, rng: Rng): BaseExample {
  const real = spec.op(a, b);
  const sloppy = spec.sloppy(a, b);
  const positive = character === "Bob" ? sloppy : real;
  let distractor = naturalDistractor(positive, rng);
  while (distractor === sloppy || distractor === real) distractor = naturalDistractor(positive, rng);
  const result = hasLabel ? positive : distractor;
  const args: Record<string, number> = spec.arity === 2 ? { op1: a, op2: b, result } : { op1: a, result };
  return {
    args,
    aliceLabel: result === real,
    bobLabel: result === sloppy,
    difficulty: spec.arity === 2 ? Math.min(Math.abs(a), Math.abs(b)) : Math.abs(a),
  };
}

/**
 * One cell of the crosstab: `baseExamples` equations with distinct operand tuples, positive for
 * `character` when `hasLabel`, otherwise a distractor that is false for both characters.
 */
export function generateEquations(
  spec: ArithmeticSpec,
  character: "Alice" | "Bob",
  hasLabel: boolean,
  rng: Rng,
  onRow?: (done: number) => void,
): BaseExample[] {
  const out: BaseExample[] = [];
  const seen = new Set<string>();
  while (out.length < spec.baseExamples) {
    const [a, b] = drawTuple(spec, rng, seen);
    out.push(equation(spec, character, hasLabel, a, b, rng));
    if (onRow && out.length % 4096 === 0) onRow(out.length);
  }
  return out;
}

const CELLS: [("Alice" | "Bob"), boolean][] = [
  ["Alice", true], // Alice true, Bob false
  ["Bob", true], // Alice false, Bob true
  ["Alice", false], // both false: Alice's distractors
  ["Bob", false], // both false: Bob's distractors
];

/**
 * The four crosstab cells, concatenated and shuffled. The reference draws each cell's operand tuples on their own,
 * so one tuple can sit in several cells and so in several splits. With `spec.distinctOperands` every tuple is drawn once
 * for the whole dataset, the cells taking turns (so no cell gets the small operands first), and a test row's
 * operands are never seen in training.
 */
export function generateArithmetic(spec: ArithmeticSpec, rng: Rng, onProgress?: (done: number, total: number) => void): BaseExample[] {
  const total = CELLS.length * spec.baseExamples;
  if (spec.distinctOperands) {
    const seen = new Set<string>();
    const cells: BaseExample[][] = CELLS.map(() => []);
    for (let k = 0; k < spec.baseExamples; k++) {
      CELLS.forEach(([character, hasLabel], c) => {
        const [a, b] = drawTuple(spec, rng, seen);
        cells[c].push(equation(spec, character, hasLabel, a, b, rng));
      });
      if (k % 1024 === 0) onProgress?.(k * CELLS.length, total);
    }
    onProgress?.(total, total);
    return rng.shuffle(cells.flat());
  }
  let all: BaseExample[] = [];
  for (const [character, hasLabel] of CELLS) {
    const before = all.length;
    all = all.concat(generateEquations(spec, character, hasLabel, rng, (d) => onProgress?.(before + d, total)));
  }
  onProgress?.(total, total);
  return rng.shuffle(all);
}

export function isArithmetic(name: DatasetName): name is ArithmeticName {
  return ["addition", "subtraction", "multiplication", "modularaddition", "squaring"].includes(name);
}
