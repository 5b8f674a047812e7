#!/usr/bin/env bash
# Installs what is missing (Debian packages), then configures and builds racehunt in build/.
# Safe to run again: installed packages are skipped, the build is incremental.
# Extra Debian packages to install can follow as arguments (bench/run.sh passes its own).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake
  libboost1.81-dev libboost-program-options1.81-dev
  libtomlplusplus-dev nlohmann-json3-dev libpugixml-dev libxml2-utils
  googletest libgtest-dev librapidcheck-dev libbenchmark-dev
  python3 python3-pytest gdb
  "$@"
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake_args=(-S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo)
[ "${CI:-}" = "true" ] && cmake_args+=(-DRACEHUNT_WERROR=ON)
cmake "${cmake_args[@]}" >/dev/null
cmake --build build -j"$(nproc)" 2>&1 | grep -E "error|warning|Error" || true
test -x build/racehunt || { echo "setup: build failed" >&2; exit 1; }
echo "setup: built build/racehunt" >&2

# Install: bin/racehunt and lib/racehunt/ (the shim and the Python injectors it loads), so
# that racehunt works from anywhere and without the build tree. As root into /usr/local,
# else into ~/.local; RACEHUNT_PREFIX chooses another place.
prefix="${RACEHUNT_PREFIX:-}"
if [ -z "$prefix" ]; then
  if [ "$(id -u)" -eq 0 ]; then prefix=/usr/local; else prefix="$HOME/.local"; fi
fi
cmake --install build --prefix "$prefix" --strip >/dev/null
found="$(command -v racehunt || true)"
if [ "$found" -ef "$prefix/bin/racehunt" ]; then
  echo "setup: installed $prefix/bin/racehunt (on PATH: run it as racehunt)" >&2
elif [ -n "$found" ]; then
  echo "setup: installed $prefix/bin/racehunt; note: PATH finds another racehunt first ($found)" >&2
else
  echo "setup: installed $prefix/bin/racehunt; $prefix/bin is not on PATH (add it: export PATH=\"$prefix/bin:\$PATH\")" >&2
fi
