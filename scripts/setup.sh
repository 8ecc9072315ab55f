#!/usr/bin/env bash
# Installs what diffuse needs to build and test, from Debian 12's own packages, when it is missing.
# Nothing is downloaded from anywhere else. Run as root (or with sudo available).
set -euo pipefail

packages=(
  g++ cmake ninja-build          # toolchain: C++20, CMake 3.25, Ninja
  libopenblas-dev                # GEMMs (OpenBLAS 0.3.21)
  libdnnl-dev                    # convolutions (oneDNN 2.6.3)
  libcli11-dev                   # the command line
  doctest-dev                    # the tests
  nlohmann-json3-dev             # checkpoint headers, metrics
  libpng-dev                     # sample grids
  libplplot-dev                  # `diffuse plot`: PLplot's C API (5.15)
  plplot-driver-cairo            # ... and its pngcairo driver, which writes the PNG files without a display
  libprotobuf-dev protobuf-compiler  # TensorBoard event files: Event messages (protoc at build time)
  libboost-dev                   # their records' CRC-32C (Boost.CRC, header-only; bookworm has no libcrc32c-dev)
  dataset-fashion-mnist          # Fashion-MNIST (IDX files in /usr/share/datasets/fashion-mnist)
  openmpi-bin libopenmpi-dev     # data parallelism over MPI (optional at build time; CI tests it)
  diatheke                       # SWORD's command line: scripts/export_bible.sh exports Bibles verse by verse
  sword-text-web                 # the World English Bible with deuterocanon (engWEB2015eb; public domain, modern English)
  sword-text-kjv                 # the King James Version (engKJV2006eb)
  sword-text-sparv               # the Reina-Valera 1909, Spanish (spaRV1909eb): translation pairs
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages are installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
