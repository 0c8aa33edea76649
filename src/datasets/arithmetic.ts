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
}

/** Add 1 to the first digit of |res|: res + 10^(len(str(|res|)) − 1). */
export function bumpFirstDigit(res: number): number {
  return res + 10 ** (String(Math.abs(res)).length - 1);
}

function modulus(): number {
  return datasetTemplates("modularaddition").modulus ?? 113;
}

/** Generator settings of the reference (binary: 4 digits and 100k per cell; squaring: 5 digits, 50k). */
export function arithmeticSpec(name: ArithmeticName, overrides: { baseExamples?: number; maxDigits?: number } = {}): ArithmeticSpec {
  const spec = referenceSpec(name, overrides.baseExamples);
  if (overrides.maxDigits !== undefined) spec.maxDigits = overrides.maxDigits;
  // operand tuples are unique within a cell: refuse a cell that would (nearly) exhaust them (the reference's
  // squaring takes 50,000 of 99,999 operands)
  const tuples = (10 ** spec.maxDigits - 1) ** spec.arity;
  if (spec.baseExamples > 0.6 * tuples) {
    throw new Error(`${name}: ${spec.baseExamples} base examples per cell need distinct operand tuples, but ${spec.maxDigits}-digit operands give only ${tuples}; use --base-examples ≤ ${Math.floor(0.6 * tuples)} or more digits`);
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
  const operand = () => sampleOperand(rng, spec.maxDigits);
  while (out.length < spec.baseExamples) {
    const a = operand();
    const b = spec.arity === 2 ? operand() : 0;
    const key = spec.arity === 2 ? `${a},${b}` : `${a}`;
    if (seen.has(key)) continue;
    seen.add(key);

    const real = spec.op(a, b);
    const sloppy = spec.sloppy(a, b);
    const positive = character === "Bob" ? sloppy : real;
    let distractor = naturalDistractor(positive, rng);
    while (distractor === sloppy || distractor === real) distractor = naturalDistractor(positive, rng);
    const result = hasLabel ? positive : distractor;

    const args: Record<string, number> = spec.arity === 2 ? { op1: a, op2: b, result } : { op1: a, result };
    out.push({
      args,
      aliceLabel: result === real,
      bobLabel: result === sloppy,
      difficulty: spec.arity === 2 ? Math.min(Math.abs(a), Math.abs(b)) : Math.abs(a),
    });
    if (onRow && out.length % 4096 === 0) onRow(out.length);
  }
  return out;
}

/** The four crosstab cells, concatenated and shuffled. */
export function generateArithmetic(spec: ArithmeticSpec, rng: Rng, onProgress?: (done: number, total: number) => void): BaseExample[] {
  const cells: [("Alice" | "Bob"), boolean][] = [
    ["Alice", true], // Alice true, Bob false
    ["Bob", true], // Alice false, Bob true
    ["Alice", false], // both false: Alice's distractors
    ["Bob", false], // both false: Bob's distractors
  ];
  let all: BaseExample[] = [];
  const total = cells.length * spec.baseExamples;
  for (const [character, hasLabel] of cells) {
    const before = all.length;
    all = all.concat(generateEquations(spec, character, hasLabel, rng, (d) => onProgress?.(before + d, total)));
  }
  onProgress?.(total, total);
  return rng.shuffle(all);
}

export function isArithmetic(name: DatasetName): name is ArithmeticName {
  return ["addition", "subtraction", "multiplication", "modularaddition", "squaring"].includes(name);
}
