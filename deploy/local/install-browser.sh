#!/usr/bin/env bash
# Debian's Chromium and a CJK font for the browser tests (tests/integration/test_browser.py).
# Installs only what is missing; never fatal: without Chromium the browser tests skip and say why.
set -u
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-wqy-microhei)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "browser tests: no apt-get here; install ${need[*]} yourself (the tests skip without Chromium)"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
echo "browser tests: installing ${need[*]} (Debian packages)"
if ! $sudo apt-get install -y -q --no-install-recommends "${need[@]}" >/tmp/wastestream-apt.log 2>&1; then
  $sudo apt-get update -q >>/tmp/wastestream-apt.log 2>&1
  $sudo apt-get install -y -q --no-install-recommends "${need[@]}" >>/tmp/wastestream-apt.log 2>&1 \
    || echo "browser tests: could not install ${need[*]} (see /tmp/wastestream-apt.log); they will skip"
fi
exit 0
