/**
 * The experiment defaults, in one place: the CLI's flags, the grid, `quirky run`'s config, the demo and the library
 * functions all read them from here.
 */
export const DEFAULTS = {
  /** the reference's seed: example shuffles, templates, probe fits (layer l: seed + l), detectors, bootstrap */
  seed: 633,
  /** prompts per forward pass */
  batchSize: 16,
  /** examples per train distribution (validation split) and per test distribution (test split), as the reference */
  maxTrain: 4000,
  maxTest: 1000,
  /** directions of the random-direction baseline */
  randomSamples: 1000,
  /** bootstrap samples of anomaly detection's 95% interval */
  bootstrap: 1000,
  /** templatization: the paper's "single" template */
  method: "first",
} as const;
