#!/usr/bin/env bash
# The dependency audit (deny.toml): cargo-deny, built from crates.io at a pinned version into
# .deps/tools, checks advisories against the dated RustSec copy the team provides beside the
# project (../shared/rustsec-advisory-db; never the network), then licences, bans and sources.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DENY_VERSION=0.20.2
TOOLS="$ROOT/.deps/tools"
DENY="$TOOLS/bin/cargo-deny"
if ! "$DENY" --version 2>/dev/null | grep -qx "cargo-deny $DENY_VERSION"; then
  echo "audit: building cargo-deny $DENY_VERSION into $TOOLS" >&2
  cargo install --quiet --locked --root "$TOOLS" "cargo-deny@$DENY_VERSION"
fi
# cargo-deny reads the database as a git checkout in a folder named after its URL.
SNAPSHOT=""
for d in "${AISLE_ADVISORY_DB:-}" "$ROOT/../shared/rustsec-advisory-db"; do
  if [ -n "$d" ] && [ -d "$d/crates" ]; then SNAPSHOT=$d; break; fi
done
DB="$ROOT/.deps/advisory-dbs/advisory-db-3157b0e258782691"
if [ -n "$SNAPSHOT" ] && ! cmp -s "$SNAPSHOT/SNAPSHOT.txt" "$DB/SNAPSHOT.txt" 2>/dev/null; then
  echo "audit: preparing the advisory database from $SNAPSHOT" >&2
  rm -rf "$DB"
  mkdir -p "$DB"
  cp -r "$SNAPSHOT/." "$DB/"
  stamp=$(sed -n 's/.*(\([0-9]\{4\}-[0-9]\{2\}-[0-9]\{2\}\)).*/\1/p' "$SNAPSHOT/SNAPSHOT.txt" | head -1)
  (cd "$DB" && rm -rf .git && git init -q && git add -A &&
    GIT_AUTHOR_DATE="${stamp:-2026-01-01}T00:00:00Z" GIT_COMMITTER_DATE="${stamp:-2026-01-01}T00:00:00Z" \
      git -c user.name=aisle -c user.email=aisle@localhost commit -q -m "RustSec advisory-db snapshot")
fi
# Every platform's crates, so cargo-deny's `cargo metadata` can run offline.
cargo fetch --locked --quiet
if [ -d "$DB/crates" ]; then
  "$DENY" deny --offline check advisories bans licenses sources
else
  echo "audit: no advisory database (../shared/rustsec-advisory-db): advisories NOT checked" >&2
  "$DENY" deny --offline check bans licenses sources
fi
