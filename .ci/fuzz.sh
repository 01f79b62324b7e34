#!/usr/bin/env bash
# Fuzzing step of CI: installs cargo-fuzz if missing, builds the libFuzzer targets of
# tests/fuzz/ and runs each for a bounded time (FUZZ_SECONDS, default 30) from its committed
# seed corpus. A crash (a panic or a broken invariant of src/fuzzing/checks.rs) fails the step; its input is left under
# tests/fuzz/artifacts/<target>/, to be kept as a regression in tests/fuzz/regressions/<target>/.
#
# cargo-fuzz needs unstable rustc flags (-Zsanitizer); RUSTC_BOOTSTRAP=1 lets the stable
# toolchain take them. The fuzz build has its own target dir outside the checkout
# (FUZZ_TARGET_DIR), so a later run on the same machine builds only what changed. New corpus
# entries go to a scratch directory: the committed seeds are never rewritten.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-30}"
target_dir="${FUZZ_TARGET_DIR:-${HOME}/.cache/messages/fuzz-target}"
# No AddressSanitizer: the crate forbids unsafe code, so what ASan could add is already a
# panic, and an instrumented build of every dependency took 15 minutes on a fresh machine.
fuzz=(--fuzz-dir tests/fuzz --target-dir "${target_dir}" --sanitizer none)
targets=(request_head chunked_body form_fields cursor_token dump_reader)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked --quiet cargo-fuzz
fi

started=$(date +%s)
echo "== cargo fuzz build ($(cargo fuzz --version))"
cargo fuzz build "${fuzz[@]}"
echo "   built in $(( $(date +%s) - started )) s"

scratch=$(mktemp -d)
trap 'rm -rf "${scratch}"' EXIT
for target in "${targets[@]}"; do
  echo "== fuzz ${target} for ${seconds} s"
  mkdir -p "${scratch}/${target}"
  # -jobs/-workers stay at 1: the machine has two cores and other steps may run beside us.
  if ! cargo fuzz run "${fuzz[@]}" "${target}" "${scratch}/${target}" "tests/fuzz/corpus/${target}" -- \
      -max_total_time="${seconds}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      > "${scratch}/${target}.log" 2>&1; then
    tail -n 60 "${scratch}/${target}.log"
    echo "fuzz target ${target} crashed: keep the input under tests/fuzz/artifacts/${target}/ in tests/fuzz/regressions/${target}/ and fix the bug"
    exit 1
  fi
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE" "${scratch}/${target}.log" || true
done
echo "fuzzing passed in $(( $(date +%s) - started )) s"
