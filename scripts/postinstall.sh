#!/usr/bin/env bash
# npm's postinstall, in quirky's own checkout only (installed as another project's dependency, quirky changes
# nothing on the system or in node_modules):
#  - the Debian packages the tests use (scripts/system-deps.sh says which, and installs them as root);
#  - node-llama-cpp (a dev dependency: llama.cpp, the test oracle for the forward pass) brings its GPU and ARM
#    prebuilt binaries as optional dependencies, about 650 MB that no test loads (the oracle runs llama.cpp's
#    linux-x64 CPU build, gpu: false). npm has no switch to skip one package's optional dependencies, so they are
#    removed here after install.
set -u
here=$(pwd -P)
root=$(cd "${npm_config_local_prefix:-$here}" 2>/dev/null && pwd -P)
if [ "$root" != "$here" ] || [ ! -d "$here/test" ]; then exit 0; fi
unused=()
for d in node_modules/@node-llama-cpp/*; do
  [ -d "$d" ] && [ "$(basename "$d")" != linux-x64 ] && unused+=("$d")
done
if [ ${#unused[@]} -gt 0 ]; then
  size=$(du -sch "${unused[@]}" | tail -1 | cut -f1)
  rm -rf "${unused[@]}"
  echo "quirky: removed node-llama-cpp's unused prebuilt binaries ($size: ${unused[*]#node_modules/}); the tests use @node-llama-cpp/linux-x64" >&2
fi
exec bash scripts/system-deps.sh
