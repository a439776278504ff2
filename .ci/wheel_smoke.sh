#!/usr/bin/env bash
# CI: the product as a user installs it. Builds the sfsync and sfsync-sandbox wheels, installs
# sfsync alone into a fresh virtualenv outside the repository, checks that its requirements
# carry no web-server or certificate library and that `sfsync demo` then says how to install
# the local practice org; installs that wheel too, runs `sfsync init` and the demo (twice: the
# second run changes nothing).
#   .ci/wheel_smoke.sh            uses python3.11 (override with PYTHON=...)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3.11}"
work="$(mktemp -d "${TMPDIR:-/tmp}/sfsync-wheel-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { printf 'wheel smoke: FAILED: %s\n' "$*" >&2; exit 1; }

step "build the wheels"
"$python" -m venv "$work/build-venv"
"$work/build-venv/bin/pip" install -q 'build>=1.0'
rm -rf "$repo/build" "$repo/sandbox/build"  # setuptools would pack stale files left there
"$work/build-venv/bin/python" -m build -q --wheel --outdir "$work/dist" "$repo" >/dev/null
"$work/build-venv/bin/python" -m build -q --wheel --outdir "$work/dist" "$repo/sandbox" >/dev/null
ls "$work/dist"
"$work/build-venv/bin/python" - "$work/dist"/sfsync-[0-9]*.whl <<'PY' || fail "the sfsync wheel is not self-contained"
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert not [n for n in names if n.startswith(("sfsync/sandbox/", "sfsync_sandbox/"))], "carries the practice org"
for needed in ("sfsync/project_template/sfsync.yaml", "sfsync/project_template/jobs/nightly.yaml",
               "sfsync/project_template/mappings/templates/ja/",
               "sfsync/project_template/deploy/salesforce/sfdx-project.json"):
    assert any(n.startswith(needed) for n in names), f"lacks {needed}"
PY

step "install the sfsync wheel alone into a fresh virtualenv"
"$python" -m venv "$work/venv"
venv="$work/venv/bin"
"$venv/pip" install -q "$work/dist"/sfsync-[0-9]*.whl
installed="$("$venv/pip" list --format=freeze)"
for lib in werkzeug trustme flask gunicorn uvicorn; do
  if grep -qi "^$lib==" <<<"$installed"; then fail "the product installs $lib"; fi
done

cd "$work"  # outside the repository: nothing may be read from the checkout
export PYTHONPATH=
step "sfsync init"
"$venv/sfsync" init "$work/project"
cd "$work/project"
for path in sfsync.yaml jobs/nightly.yaml mappings/scorecards/default.yaml \
            mappings/templates/ja mappings/playbook.yaml \
            deploy/salesforce/force-app/main/default/objects/Account/fields; do
  [ -e "$path" ] || fail "sfsync init did not write $path"
done
if "$venv/sfsync" init "$work/project" >/dev/null 2>&1; then
  fail "sfsync init overwrote an existing project without --force"
fi
"$venv/sfsync" validate

step "sfsync demo without the local practice org"
set +e
out="$("$venv/sfsync" demo 2>&1)"; rc=$?
set -e
[ "$rc" -eq 1 ] || fail "demo without sfsync-sandbox exited $rc: $out"
grep -q "local practice org (sfsync-sandbox) is not installed" <<<"$out" || fail "no install hint: $out"
grep -q "Traceback" <<<"$out" && fail "a traceback: $out"

step "install the sfsync-sandbox wheel, run the demo twice"
"$venv/pip" install -q "$work/dist"/sfsync_sandbox-*.whl
"$venv/sfsync" --log-format console demo --as-of 2025-03-15 | tail -n 12
second="$("$venv/sfsync" --log-format console demo --as-of 2025-03-15)"
grep -q "0 account updates, 0 tasks created" <<<"$second" \
  || fail "the second demo changed something: $second"
step "wheel smoke: OK"
