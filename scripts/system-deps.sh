#!/usr/bin/env bash
# Debian packages some tests use as independent references or real parts:
#   python3-sklearn  scikit-learn (LogisticRegression, LDA, roc_auc_score) under /usr/bin/python3
#   chromium         a real browser for the HTML report
#   slurm-wlm munge  a real one-machine SLURM cluster for test/slurm.test.ts (scripts/slurm-cluster.sh)
#   python3-torch    PyTorch under /usr/bin/python3, a reference for the benchmarks
#   mesa-vulkan-drivers libvulkan1 (>= 25, from bookworm-backports on bookworm) and vulkan-tools: Mesa's software
#                    Vulkan driver (lavapipe), so onnxruntime's WebGPU provider runs the device tests without a GPU
#                    (bookworm's own 22.3 is too old: Dawn finds no adapter); vulkaninfo names the adapter
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

# lavapipe: bookworm's mesa-vulkan-drivers 22.3 gives onnxruntime's Dawn no adapter, bookworm-backports' 25.x does
vulkan_missing() {
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null) && dpkg --compare-versions "$v" ge 25 \
    && dpkg-query -W -f='${Status}' libvulkan1 2>/dev/null | grep -q 'ok installed' || echo mesa-vulkan-drivers libvulkan1
  command -v vulkaninfo >/dev/null 2>&1 || echo vulkan-tools
}
vk_missing=($(vulkan_missing))
codename=$(. /etc/os-release 2>/dev/null; echo "${VERSION_CODENAME:-}")
if [ ${#vk_missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "quirky: installing Vulkan packages (lavapipe): ${vk_missing[*]}" >&2
  target=()
  if [ "$codename" = bookworm ]; then
    # the backports suite on the same mirror as the machine's bookworm source, added only if no source names it
    if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
      uri=$(awk '/^URIs:/ { u = $2 } /^Suites:/ && / bookworm( |$)/ { print u; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null)
      [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
      if [ -n "$uri" ]; then
        printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
          "$uri" >/etc/apt/sources.list.d/bookworm-backports.sources
      else
        echo "quirky: no apt source for bookworm found to take the mirror from; add the suite bookworm-backports (component main) to apt's sources" >&2
      fi
    fi
    target=(-t bookworm-backports)
  fi
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${target[@]}" \
      mesa-vulkan-drivers libvulkan1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends vulkan-tools; } \
    >/tmp/quirky-apt-vulkan.log 2>&1 \
    || echo "quirky: apt-get failed (see /tmp/quirky-apt-vulkan.log); install ${vk_missing[*]} by hand" >&2
elif [ ${#vk_missing[@]} -gt 0 ]; then
  from=""; [ "$codename" = bookworm ] && from=" -t bookworm-backports (add the suite bookworm-backports to apt's sources)"
  echo "quirky: the WebGPU tests need Mesa's Vulkan driver: sudo apt-get install --no-install-recommends$from mesa-vulkan-drivers libvulkan1; and vulkan-tools" >&2
fi
vk_still=($(vulkan_missing))

missing=($(missing_packages))
if [ ${#missing[@]} -eq 0 ]; then
  if [ "${CI:-}" = true ] && [ ${#vk_still[@]} -gt 0 ]; then
    echo "quirky: CI=true and these Debian packages are still missing: ${vk_still[*]}" >&2
    exit 1
  fi
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "quirky: installing Debian packages: ${missing[*]}" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/tmp/quirky-apt.log 2>&1 \
    || echo "quirky: apt-get failed (see /tmp/quirky-apt.log); install ${missing[*]} by hand" >&2
else
  echo "quirky: some tests need Debian packages: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
fi
# CI must have every package: a test that would be skipped elsewhere fails there
still=($(missing_packages) "${vk_still[@]}")
if [ "${CI:-}" = true ] && [ ${#still[@]} -gt 0 ]; then
  echo "quirky: CI=true and these Debian packages are still missing: ${still[*]}" >&2
  exit 1
fi
exit 0
