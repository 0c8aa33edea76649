#!/usr/bin/env bash
# Install quirky as a user's dependency would be: `npm pack` this checkout, install the tarball into an empty
# project, and check that nothing on the system changed (dpkg -l before and after), `npx quirky --version` works
# and, unless --quick, that `npx quirky demo` runs there. Prints what it measured. Usage: scripts/pack-check.sh [--quick]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd -P)
work=$(mktemp -d /tmp/quirky-pack-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$here"
tarball=$(npm pack --silent --pack-destination "$work")
echo "packed $tarball ($(du -h "$work/$tarball" | cut -f1))"
dpkg -l > "$work/dpkg-before.txt" 2>/dev/null || true
mkdir "$work/project" && cd "$work/project"
npm init -y >/dev/null
# onnxruntime-node's own install script downloads its CUDA provider from nuget.org, which this machine cannot reach
# (and the CPU and WebGPU providers ship in the package): a user's project says so as quirky's own checkout does
npm pkg set allowScripts.onnxruntime-node=false --json
# (npm 11 runs the other dependencies' scripts with a warning, quirky's postinstall among them: as a dependency it
# exits at once, which test/package.test.ts checks)
npm install --no-audit --no-fund "$work/$tarball" 2>&1 | tee "$work/install.log"
dpkg -l > "$work/dpkg-after.txt" 2>/dev/null || true
if cmp -s "$work/dpkg-before.txt" "$work/dpkg-after.txt"; then echo "dpkg -l: unchanged ($(grep -c '^ii' "$work/dpkg-after.txt") packages)"; else echo "dpkg -l CHANGED:"; diff "$work/dpkg-before.txt" "$work/dpkg-after.txt" || true; exit 1; fi
if grep -q "apt-get\|installing Debian" "$work/install.log"; then echo "the install ran apt-get"; exit 1; fi
echo "node_modules: $(du -sh node_modules | cut -f1)"
echo "npx quirky --version: $(npx quirky --version 2>"$work/npx.err")"
if [ -s "$work/npx.err" ]; then echo "npx printed on stderr:"; cat "$work/npx.err"; exit 1; fi
if [ "${1:-}" != --quick ]; then
  start=$(date +%s)
  npx quirky demo --out "$work/demo" | tail -n 25
  echo "npx quirky demo: exit 0 in $(( $(date +%s) - start )) s; report $(ls "$work/demo/report/index.html")"
fi
