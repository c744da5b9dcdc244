#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine: Deno 2.9.6 from npm, and the real
# peers the tests check ocisync against (registry, skopeo, umoci, podman, GNU tar, bsdtar, …).
# Installs only what is missing; as a non-root user it prints the command to run instead.
set -euo pipefail

DENO_VERSION=2.9.6
# command -> Debian package
declare -A PEERS=(
  [docker-registry]=docker-registry [skopeo]=skopeo [umoci]=umoci [podman]=podman [runc]=runc
  [bsdtar]=libarchive-tools [zstd]=zstd [pigz]=pigz [htpasswd]=apache2-utils [openssl]=openssl
  [busybox]=busybox-static [newuidmap]=uidmap [setpriv]=util-linux [gzip]=gzip [tar]=tar
  [python3]=python3 [sha256sum]=coreutils [containerd]=containerd [ctr]=containerd [mkfifo]=coreutils [script]=bsdutils [pip3]=python3-pip
)

missing=()
for cmd in "${!PEERS[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PEERS[$cmd]}")
done
# Packages that install no command of their own (Python modules for building wheels, and for
# signing test vectors made outside ocisync: cryptography, PyNaCl).
for package in python3-setuptools python3-wheel python3-cryptography python3-nacl; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing test tools; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing ${missing[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$(deno --version 2>/dev/null | head -n1 | cut -d' ' -f2)" != "$DENO_VERSION" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "installing deno@$DENO_VERSION from npm" >&2
    npm install -g --silent "deno@$DENO_VERSION" >/dev/null
  else
    echo "deno $DENO_VERSION is not on PATH; run: npm install -g deno@$DENO_VERSION" >&2
    exit 1
  fi
fi
