#!/usr/bin/env bash
# Compiles another revision of gatehouse into .build/base-<REV> for `npm run bench -- --baseline DIR`:
# the bench then loads that build's gateway beside this one's in the same rounds.
#
#   bench/build-baseline.sh REV        e.g. HEAD~1, main, a commit id
#
# The build sits inside this repository so that its imports find this checkout's
# node_modules: dependencies are this checkout's, the code is REV's.
set -euo pipefail
cd "$(dirname "$0")/.."

rev="${1:?usage: bench/build-baseline.sh REV}"
commit="$(git rev-parse --verify --quiet "${rev}^{commit}")" || { echo "not a revision: $rev" >&2; exit 2; }
short="$(git rev-parse --short "$commit")"
src=".build/src-$short"
out=".build/base-$short"

rm -rf "$src" "$out"
git worktree prune
git worktree add --detach --quiet "$src" "$commit"
trap 'git worktree remove --force "$src" >/dev/null 2>&1 || rm -rf "$src"; git worktree prune' EXIT
# tsc resolves types from node_modules above the sources.
ln -s "$PWD/node_modules" "$src/node_modules"
npx tsc -p "$src/tsconfig.json" --outDir "$out"
echo "$short $(git log -1 --format=%s "$commit" | cut -c1-80)" > "$out/REVISION"
echo "$out"
