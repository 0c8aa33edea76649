#!/usr/bin/env bash
# Debian packages some tests use as independent references or real parts:
#   python3-sklearn  scikit-learn (LogisticRegression, LDA, roc_auc_score) under /usr/bin/python3
#   chromium         a real browser for the HTML report
#   slurm-wlm munge  a real one-machine SLURM cluster for test/slurm.test.ts (scripts/slurm-cluster.sh)
#   python3-torch    PyTorch under /usr/bin/python3, a reference for the benchmarks
# Installs what is missing when it can (root + apt-get); otherwise says what to install and exits 0, and the
# tests that need a package say so — except with CI=true, where a package still missing is an error (exit 1).
# Run by `npm ci` (postinstall) and by .ci/run.
set -u
# what is missing now: the package names
missing_packages() {
  /usr/bin/python3 -c "import sklearn" >/dev/null 2>&1 || echo python3-sklearn
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || echo chromium
  for b in slurmctld slurmd sbatch; do command -v $b >/dev/null 2>&1 || [ -x /usr/sbin/$b ] || { echo slurm-wlm; break; }; done
  command -v munged >/dev/null 2>&1 || [ -x /usr/sbin/munged ] || echo munge
  /usr/bin/python3 -c "import torch" >/dev/null 2>&1 || echo python3-torch
}
missing=($(missing_packages))
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "quirky: installing Debian packages: ${missing[*]}" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/tmp/quirky-apt.log 2>&1 \
    || echo "quirky: apt-get failed (see /tmp/quirky-apt.log); install ${missing[*]} by hand" >&2
else
  echo "quirky: some tests need Debian packages: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
fi
# CI must have every package: a test that would be skipped elsewhere fails there
still=($(missing_packages))
if [ "${CI:-}" = true ] && [ ${#still[@]} -gt 0 ]; then
  echo "quirky: CI=true and these Debian packages are still missing: ${still[*]}" >&2
  exit 1
fi
exit 0
