#!/usr/bin/env bash
# Leave-one-out check of a calibrated baseline: for each session, calibrate from the others and
# judge it against that baseline (`python -m quantbench compare`), as a new session would be.
# An unchanged build should pass every time; prints one line per session and exits 1 if any failed.
#   usage: bash tools/leave_one_out.sh S1.json S2.json S3.json ...   (work folder: $LOO, default a temp dir)
set -uo pipefail
[ $# -ge 3 ] || { echo "leave_one_out: needs at least three session files" >&2; exit 2; }
work=${LOO:-$(mktemp -d)}; failed=0
for out in "$@"; do
  name=$(echo "$out" | tr '/' '_'); d=$work/$name; mkdir -p "$d"
  others=(); for s in "$@"; do [ "$s" != "$out" ] && others+=("$s"); done
  python -m quantbench calibrate "${others[@]}" --baseline-dir "$d/base" > "$d/calibrate.log" 2>&1 \
    || { echo "$out: calibrate failed: $(tail -1 "$d/calibrate.log")"; failed=1; continue; }
  cp "$out" "$d/session.json"
  python -m quantbench compare "$d/session.json" --baseline-dir "$d/base" --report-dir "$d/report" > "$d/compare.log" 2>&1
  rc=$?; [ $rc -eq 0 ] || failed=1
  echo "$out: exit $rc, $(grep '^gate:' "$d/compare.log" | tail -1)"
done
echo "logs: $work"; exit $failed
