#!/usr/bin/env bash
# Mutation testing with mutmut (configured in pyproject.toml, [tool.mutmut]); not part of
# CI. See README.md, "Mutation testing", and bench/MUTATION.md for the last figures.
#
#   scripts/mutation.sh [-t "TEST PATHS"] [-j N] [MUTANT GLOB ...]
#
#   -t  tests that may kill the mutants (default: all of tests/); the others are not
#       collected, which keeps the one-off coverage run short
#   -j  parallel mutant runs (default 2, the size of a small CI box)
#   MUTANT GLOB  e.g. 'bot.metastudio.signing*' (default: every mutant of bot/tracking,
#       bot/metastudio and bot/commands)
#
# Examples:
#   scripts/mutation.sh -t "tests/metastudio" 'bot.metastudio.signing*'
#   scripts/mutation.sh -t "tests/tracking" 'bot.tracking*'
#
# Results stay in mutants/ (git-ignored): `.venv/bin/mutmut results` lists survivors,
# `.venv/bin/mutmut show NAME` shows one as a diff. Needs `pip install -e '.[test,mutation]'`.
set -euo pipefail
cd "$(dirname "$0")/.."

tests="tests"
jobs=2
while getopts "t:j:" opt; do
  case "$opt" in
    t) tests="$OPTARG" ;;
    j) jobs="$OPTARG" ;;
    *) sed -n '2,18p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

# mutmut's test selection is fixed in pyproject.toml (all of tests/); narrow it by
# telling pytest to skip every top-level test path that was not asked for.
ignores=()
if [[ "$tests" != "tests" ]]; then
  for entry in tests/*; do
    name="$(basename "$entry")"
    [[ -d "$entry" && "$name" != "fakes" && "$name" != "fixtures" && "$name" != __* ]] \
      || [[ "$name" == test_*.py ]] || continue
    keep=false
    for wanted in $tests; do
      [[ "${wanted%/}" == "$entry" ]] && keep=true
    done
    $keep || ignores+=("--ignore=$entry")
  done
fi

export PYTEST_ADDOPTS="${PYTEST_ADDOPTS:-} ${ignores[*]:-}"
# Hypothesis replays a fixed set of examples (tests/conftest.py, profile "ci"): a kill
# must come from the mutant, not from a lucky draw.
export CI=1
# A previous run's mutants and coverage are reused only when nothing changed; start clean
# so the figures always match the tree.
rm -rf mutants
.venv/bin/mutmut run --max-children "$jobs" "$@"
.venv/bin/mutmut export-cicd-stats >/dev/null 2>&1 || true
.venv/bin/mutmut results
