#!/usr/bin/env bash
# benches/check-ingest.sh — before a change lands: is ingest still ahead of mbsync, and no slower
# than the base it changes?
#
#   benches/check-ingest.sh [BASE_REF]      (default: origin/main if it exists, else main)
#
# Builds BASE_REF in a temporary worktree (release), then runs the ingest benchmark once with
# both builds taking turns on the same mailbox, against the same mbsync runs. It fails when this
# build's ingest is below 1.0x mbsync on the empty store or below 0.95x with stored tickets, or
# more than 5 % slower than the base's in the same run. Needs what `cargo bench --bench ingest`
# needs (dovecot-imapd, isync). The default size (3,000 mails, 10,000 stored tickets, 3 runs)
# takes about 3 minutes after the builds; DESKGATE_BENCH_MAILS / _TICKETS / _RUNS change it.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

base=${1:-}
if [ -z "$base" ]; then
    if git rev-parse -q --verify origin/main >/dev/null; then base=origin/main; else base=main; fi
fi
work=$(mktemp -d)
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

echo "== building $base in $work/base" >&2
git worktree add -q --detach "$work/base" "$base"
(cd "$work/base" && CARGO_TARGET_DIR="$work/target" cargo build -q --release --bin deskgate)
mkdir -p "$work/bin"
cp "$work/target/release/deskgate" "$work/bin/deskgate"
cp -r "$work/base/templates" "$work/bin/templates"

echo "== building this checkout" >&2
cargo build -q --release --bin deskgate

export DESKGATE_BENCH_MAILS=${DESKGATE_BENCH_MAILS:-3000}
export DESKGATE_BENCH_TICKETS=${DESKGATE_BENCH_TICKETS:-10000}
export DESKGATE_BENCH_RUNS=${DESKGATE_BENCH_RUNS:-3}
export DESKGATE_BENCH_IDLE=0
export DESKGATE_BENCH_BIN="this=$PWD/target/release/deskgate,base=$work/bin/deskgate"
out="$work/bench.out"
cargo bench --bench ingest | tee "$out"

# The summary line is this build's; the base's ratios are read from its table rows.
python3 - "$out" <<'EOF'
import json, re, sys
text = open(sys.argv[1]).read()
summary = json.loads(re.search(r"^DESKGATE-BENCH (.*)$", text, re.M).group(1))
def ratio(label, stored):
    kind = "tickets stored" if stored else "empty store"
    m = re.search(r"^\| deskgate ingest, [^|]*%s \(%s\) \| [^|]+\| [^|]+\| ([0-9.]+) \|" % (kind, label), text, re.M)
    return float(m.group(1)) if m else None
problems = []
checks = [("empty store", summary["empty_ratio"], 1.0, ratio("base", False)),
          ("tickets stored", summary["full_ratio"], 0.95, ratio("base", True))]
for what, this, floor, base in checks:
    if this is None:
        continue
    print(f"{what}: this build {this:.2f}x mbsync, base {base:.2f}x" if base else f"{what}: {this:.2f}x")
    if this < floor:
        problems.append(f"{what}: {this:.2f}x mbsync is below {floor:.2f}x")
    if base and this < base * 0.95:
        problems.append(f"{what}: {this:.2f}x is more than 5 % below the base's {base:.2f}x")
if problems:
    print("ingest regressed:\n  " + "\n  ".join(problems))
    sys.exit(1)
print("ingest speed: ok")
EOF
