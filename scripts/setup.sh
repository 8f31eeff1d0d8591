#!/usr/bin/env bash
# Installs what Continuum needs to build and test, from Debian bookworm packages and npm.
# Idempotent: packages already present are not touched; apt-get runs only when one is missing.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
  libsqlite3-dev libssl-dev libsodium-dev libspdlog-dev libcli11-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev sqlite3 libhnswlib-dev libzstd-dev libjemalloc-dev
  openssl clang libclang-rt-14-dev bubblewrap python3 libseccomp-dev libyaml-cpp-dev prometheus-cpp-dev libpcre2-dev chromium
  libpq-dev postgresql-15
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# OpenAI's BPE rank tables, for exact token counts (src/tokens/); without them counts are estimated.
(cd "$(dirname "$0")/../tokenizers" && { [ -f node_modules/tiktoken/encoders/o200k_base.json ] || npm ci --no-audit --no-fund --loglevel=error; })
if [ "${1:-}" = "--with-node" ]; then
  (cd "$(dirname "$0")/../tests/e2e" && { [ -d node_modules/openai ] && [ -d node_modules/@modelcontextprotocol/sdk ] && [ -d node_modules/playwright-core ] && [ -d node_modules/@openai/agents ] || npm ci --no-audit --no-fund --loglevel=error; })
fi
