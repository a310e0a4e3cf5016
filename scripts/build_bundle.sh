#!/usr/bin/env bash
# Build the desktop bundle dist/dip-studio/ (PyInstaller, build.spec), run both self-tests on the
# built programs, and report the build time, the bundle's size and each program's start-up time.
#
#   scripts/build_bundle.sh                 build (reusing build/ caches), then check
#   scripts/build_bundle.sh --clean         build from scratch, then check
#   scripts/build_bundle.sh --no-build      check the existing dist/dip-studio/ only
#
# Cold start: before a cold run the bundle's own files are evicted from the page cache
# (fsync + posix_fadvise DONTNEED, file by file; nothing else on the machine is touched), so
# the program reads its libraries from disk as it would on first launch. System libraries
# stay cached. The summary is also written to build/bundle-report.txt. Exit status: 0 when
# both self-tests pass, 1 otherwise (size and start-up budgets only warn).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
DIST=$ROOT/dist/dip-studio
REPORT=$ROOT/build/bundle-report.txt
SIZE_BUDGET_MB=800
START_BUDGET_S=5

build=1
clean=()
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --clean) clean=(--clean) ;;
    *) echo "usage: scripts/build_bundle.sh [--clean | --no-build]" >&2; exit 2 ;;
  esac
done

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
lines=()
say() { echo "$*"; lines+=("$*"); }

build_s=-
if [ "$build" = 1 ]; then
  if ! "$PY" -m PyInstaller --version >/dev/null 2>&1; then
    echo "PyInstaller is missing: .venv/bin/python -m pip install -c constraints.txt -e '.[build]'" >&2
    exit 2
  fi
  echo "building $DIST with PyInstaller $("$PY" -m PyInstaller --version) ..."
  t0=$(now)
  "$PY" -m PyInstaller --noconfirm "${clean[@]}" --log-level WARN build.spec
  build_s=$(secs "$t0" "$(now)")
fi
[ -x "$DIST/dip-studio" ] && [ -x "$DIST/dip-engine" ] || { echo "no bundle at $DIST" >&2; exit 1; }

evict() {   # drop the bundle's files from the page cache, so the next start is a cold one
  python3 - "$DIST" <<'EOF' 2>/dev/null || echo "(could not evict the page cache: this start may be warm)"
import os, sys
for top, _, files in os.walk(sys.argv[1]):
    for name in files:
        path = os.path.join(top, name)
        if os.path.islink(path):
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
EOF
}

# Run the programs as a user would: from an empty folder, no Python environment leaking in.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
run() {   # run NAME CMD...: time it, keep its output in $out and its status in $rc
  local name=$1; shift
  local t0; t0=$(now)
  set +e
  out=$(cd "$work" && env -u PYTHONPATH -u PYTHONHOME QT_QPA_PLATFORM=offscreen "$@" 2>&1)
  rc=$?
  set -e
  took=$(secs "$t0" "$(now)")
  echo "--- $name: exit $rc, ${took} s"
  echo "$out" | grep -v "propagateSizeHints" | tail -n 5
}

size_h=$(du -sh "$DIST" | cut -f1)
size_mb=$(du -sm "$DIST" | cut -f1)

evict; run "dip-engine --version (cold)" "$DIST/dip-engine" --version
engine_version_cold=$took; [ "$rc" = 0 ] || failed=1
run "dip-engine --version (warm)" "$DIST/dip-engine" --version
engine_version_warm=$took; [ "$rc" = 0 ] || failed=1
evict; run "dip-engine --selftest (cold)" "$DIST/dip-engine" --selftest
engine_selftest=$took; engine_line=$(echo "$out" | grep -E "^selftest (ok|failed)" | tail -n 1 || true)
[ "$rc" = 0 ] || failed=1
evict; run "dip-studio --selftest (cold, offscreen)" "$DIST/dip-studio" --selftest
studio_selftest_cold=$took; studio_line=$(echo "$out" | grep -E "^selftest (ok|failed)" | tail -n 1 || true)
[ "$rc" = 0 ] || failed=1
window_cold=$(echo "$studio_line" | sed -n 's/.*, \([0-9.]*\) s after process start.*/\1/p')
run "dip-studio --selftest (warm, offscreen)" "$DIST/dip-studio" --selftest
studio_selftest_warm=$took
window_warm=$(echo "$out" | sed -n 's/.*, \([0-9.]*\) s after process start.*/\1/p')
[ "$rc" = 0 ] || failed=1

echo
say "DIP Studio bundle report ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m))"
say "bundle:       $DIST  $size_h (${size_mb} MB; budget ${SIZE_BUDGET_MB} MB)"
say "build:        ${build_s} s"
say "dip-engine:   --version cold ${engine_version_cold} s, warm ${engine_version_warm} s; --selftest ${engine_selftest} s"
say "              ${engine_line:-no self-test line}"
say "dip-studio:   window shown ${window_cold:-?} s after start cold, ${window_warm:-?} s warm (budget ${START_BUDGET_S} s);"
say "              whole --selftest ${studio_selftest_cold} s cold, ${studio_selftest_warm} s warm"
say "              ${studio_line:-no self-test line}"
[ "$size_mb" -le "$SIZE_BUDGET_MB" ] || say "WARNING: the bundle is over ${SIZE_BUDGET_MB} MB"
if [ -n "${window_cold:-}" ] && awk -v t="$window_cold" -v b="$START_BUDGET_S" 'BEGIN { exit !(t > b) }'; then
  say "WARNING: the app's cold start is over ${START_BUDGET_S} s"
fi
if [ "$failed" = 0 ]; then say "self-tests:   both passed"; else say "self-tests:   FAILED"; fi
mkdir -p "$(dirname "$REPORT")"
printf '%s\n' "${lines[@]}" > "$REPORT"
exit "$failed"
