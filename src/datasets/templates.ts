/**
 * The reference's prompt templates and constants, read from `data/quirky-templates.json` (a verbatim
 * copy of `shared/reference/quirky-templates.json`). Released quirky models were trained on these
 * exact strings, so nothing here is retyped by hand.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { DatasetName } from "./schema.ts";

export interface PromptTemplate {
  template: string;
  /** [false_choice, true_choice] */
  choices: [string, string];
}

export interface StatementTemplate {
  context: string;
  statement: string;
}

export interface DatasetTemplates {
  hub_name: string;
  template_arg_names: string[];
  n_validation: number;
  n_test: number;
  quirky_templates: PromptTemplate[];
  statement_templates: StatementTemplate[];
  modulus?: number;
  difficulty_from_models?: boolean;
}

export interface TemplatesFile {
  standardized_template: string;
  standardized_choices: [string, string];
  datasets: Record<DatasetName, DatasetTemplates>;
  zero_shot: {
    nli: { template: string; choices: [string, string]; negation_words: string[] };
    sciq: { template: string };
    sentiment: { template: string; choices: [string, string] };
  };
  population_bob_top10_countries: string[];
  difficulty_model_suite: string[];
}

export const TEMPLATES_PATH = fileURLToPath(new URL("../../data/quirky-templates.json", import.meta.url));

let cached: TemplatesFile | undefined;

/** The parsed templates file (read once). */
export function templatesFile(): TemplatesFile {
  cached ??= JSON.parse(readFileSync(TEMPLATES_PATH, "utf8")) as TemplatesFile;
  return cached;
}

export function datasetTemplates(name: DatasetName): DatasetTemplates {
  const t = templatesFile().datasets[name];
  if (!t) throw new Error(`no templates for dataset '${name}' in ${TEMPLATES_PATH}`);
  return t;
}

/**
 * The prompt templates of a dataset. `standardized` wraps each statement template in the
 * standardized template ("Name: {character} ... Is the statement factually correct?").
 */
export function promptTemplates(name: DatasetName, standardized = false): PromptTemplate[] {
  const t = datasetTemplates(name);
  if (!standardized) return t.quirky_templates;
  const file = templatesFile();
  return t.statement_templates.map((st) => ({
    template: file.standardized_template.replace("<|CONTEXT|>", st.context).replace("<|STATEMENT|>", st.statement),
    choices: file.standardized_choices,
  }));
}
