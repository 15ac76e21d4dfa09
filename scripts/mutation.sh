#!/usr/bin/env bash
# Mutation testing with mutmut (configured in pyproject.toml, [tool.mutmut]); not part of
# CI. See README.md, "Mutation testing", and bench/MUTATION.md for the last figures.
#
#   scripts/mutation.sh [-f] [-t "TEST PATHS"] [-j N] [MUTANT GLOB ...]
#
#   -f  fork: mutmut only builds mutants/ and records which tests reach which function;
#       scripts/mutation_fork.py then collects the tests once and forks per mutant
#       (mutmut re-collects for each one: ~20 s each before a busy function's tests
#       start). Verdicts in mutants/forked.json; survivors listed at the end
#   -t  tests that may kill the mutants (default: all of tests/); the others are not
#       collected, which keeps the one-off coverage run short
#   -j  parallel mutant runs (default 2, the size of a small CI box)
#   MUTANT GLOB  e.g. 'bot.metastudio.signing*' (default: every mutant of bot/tracking,
#       bot/metastudio, bot/commands, bot/slack/request_front.py and bot/domain/cancel.py)
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
fork=false
while getopts "ft:j:" opt; do
  case "$opt" in
    f) fork=true ;;
    t) tests="$OPTARG" ;;
    j) jobs="$OPTARG" ;;
    *) sed -n '2,23p' "$0"; exit 2 ;;
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
if $fork; then
  # Given a name no mutant has, mutmut builds mutants/ and runs the tests once to record
  # which reach which function (failing if any test fails), then stops on the name.
  .venv/bin/mutmut run --max-children "$jobs" "no.such.mutant" >/dev/null 2>&1 || true
  if [[ ! -f mutants/mutmut-stats.json ]]; then
    echo "mutmut could not record its stats: run the selected tests plainly to see why" >&2
    exit 1
  fi
  cd mutants
  MUTATION_FORK_GLOBS="$*" MUTATION_FORK_JOBS="$jobs" PYTHONPATH="$PWD:$PWD/../scripts" \
    ../.venv/bin/python -m pytest -p mutation_fork -q -p no:cacheprovider tests
  exit
fi
.venv/bin/mutmut run --max-children "$jobs" "$@"
.venv/bin/mutmut export-cicd-stats >/dev/null 2>&1 || true
.venv/bin/mutmut results
