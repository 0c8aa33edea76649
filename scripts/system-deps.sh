#!/usr/bin/env bash
# Debian packages some tests use as independent references or real parts:
#   python3-sklearn  scikit-learn (LogisticRegression, LDA, roc_auc_score) under /usr/bin/python3
#   chromium         a real browser for the HTML report
# Installs what is missing when it can (root + apt-get); otherwise says what to install and exits 0, and the
# tests that need a package say so. Run by `npm ci` (postinstall) and by .ci/run.
set -u
missing=()
/usr/bin/python3 -c "import sklearn" >/dev/null 2>&1 || missing+=(python3-sklearn)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "quirky: installing Debian packages: ${missing[*]}" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/tmp/quirky-apt.log 2>&1 \
    || echo "quirky: apt-get failed (see /tmp/quirky-apt.log); install ${missing[*]} by hand" >&2
else
  echo "quirky: some tests need Debian packages: sudo apt-get install ${missing[*]}" >&2
fi
exit 0
