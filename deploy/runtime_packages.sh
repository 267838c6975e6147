#!/usr/bin/env bash
# Prints, one a line, the Debian packages that hold the shared libraries the
# given binaries load (ldd), so that the runtime image installs exactly those.
# Fails if a library is not found or belongs to no package.
#   deploy/runtime_packages.sh BINARY...
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }
libs=$(ldd "$@" | awk '/not found/ {print "MISSING:" $1; next} $2 == "=>" && $3 ~ /^\// {print $3}')
if grep -q '^MISSING:' <<<"$libs"; then
  echo "runtime_packages: not found: $(grep '^MISSING:' <<<"$libs" | cut -d: -f2 | sort -u | tr '\n' ' ')" >&2
  exit 1
fi
for lib in $(sort -u <<<"$libs"); do
  # Bookworm registers most libraries under /lib, some under /usr/lib, while
  # ldd may print either (merged /usr): ask for both spellings.
  alt="${lib#/usr}"
  [ "$alt" != "$lib" ] || alt="/usr$lib"
  pkg=$(dpkg-query -S "$lib" 2>/dev/null || dpkg-query -S "$alt" 2>/dev/null) ||
    { echo "runtime_packages: $lib belongs to no package" >&2; exit 1; }
  echo "${pkg%%:*}"
done | sort -u
