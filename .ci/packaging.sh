#!/usr/bin/env bash
# Packaging checks, each in fresh virtualenvs under a temporary directory (removed at
# the end), on a copy of this checkout with whatever lies in it:
#   1. `python -m build` makes an sdist and a wheel (with the C accelerator compiled);
#      `twine check --strict` passes; both hold what they must and nothing else
#      (.ci/package_contents.py);
#   2. the wheel, and the sdist built on install, each install into a fresh virtualenv
#      and pass .ci/package_smoke.py (import, masking, an echo round trip on loopback)
#      with the C accelerator, and the wheel again with RAWSOCK_NO_SPEEDUPS=1;
#   3. the sdist installs with no C compiler reachable (a PATH holding only the
#      virtualenv's bin/) and passes the smoke test with the pure-Python masking;
#   4. docs/howto/install.rst's Python examples run in those installations and print
#      what the page says, and its shell commands (a virtualenv, `pip install .`,
#      `python -m build`, installing the wheel) work as written in a copy of the checkout;
#   5. after the README's `pip install -e '.[test]'` in a fresh virtualenv,
#      `mypy --strict` on that page's examples, outside the checkout, finds rawsock
#      and passes, and rejects a misspelt option.
# Needs python3 with venv, a C compiler, and PyPI. Fails on the first failure.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
page="$root/docs/howto/install.rst"
# the checks choose the masking implementation themselves
unset RAWSOCK_NO_SPEEDUPS

say() { echo "== packaging: $*"; }

# fail MESSAGE [LOG]: print the message (and the log), exit 1
fail() {
    echo "packaging check FAILED: $1" >&2
    if [[ $# -gt 1 ]]; then cat "$2" >&2; fi
    exit 1
}

# copy_checkout DEST: the checkout, untracked files included, without its git directory
# or any virtualenv kept in it
copy_checkout() {
    local excludes=(--exclude=./.git) dir
    for dir in "$root"/* "$root"/.[!.]*; do
        if [[ -f $dir/pyvenv.cfg ]]; then excludes+=("--exclude=./${dir##*/}"); fi
    done
    mkdir -p "$1"
    tar -C "$root" "${excludes[@]}" -cf - . | tar -C "$1" -xf -
}

# new_venv NAME: a fresh virtualenv under the work directory; prints its path
new_venv() {
    "$python" -m venv "$work/$1"
    echo "$work/$1"
}

# smoke VENV ACCELERATOR: the smoke test, from a directory outside every checkout
smoke() {
    (cd "$work/run" && "$1/bin/python" "$root/.ci/package_smoke.py" --accelerator "$2")
}

# page_prints VENV EXPECTED_MASKING: the install page's examples print what it says
page_prints() {
    local output expected
    output="$("$1/bin/python" "$root/.ci/package_doc_blocks.py" run "$page")"
    expected="$(printf '%s\n%s' "$2" hello)"
    [[ "$output" == "$expected" ]] ||
        fail "$page's examples printed '$output', expected '$expected'"
    echo "$(basename "$page")'s examples print: ${output//$'\n'/, }"
}

mkdir "$work/run"
say "copy of the checkout, and the tools (build, twine)"
copy_checkout "$work/src"
tools="$(new_venv tools)"
"$tools/bin/pip" install -q build twine

say "python -m build: sdist and wheel, with the C accelerator"
"$tools/bin/python" -m build --outdir "$work/dist" "$work/src" >"$work/build.log" 2>&1 ||
    fail "python -m build" "$work/build.log"
sdists=("$work"/dist/rawsock-*.tar.gz)
wheels=("$work"/dist/rawsock-*.whl)
[[ ${#sdists[@]} -eq 1 && -f ${sdists[0]} && ${#wheels[@]} -eq 1 && -f ${wheels[0]} ]] ||
    fail "expected one sdist and one wheel in $work/dist: $(ls "$work/dist")"
sdist="${sdists[0]}"
wheel="${wheels[0]}"
ls -l "$work/dist"

say "twine check --strict"
"$tools/bin/twine" check --strict "$sdist" "$wheel"

say "contents of the sdist and the wheel"
"$tools/bin/python" "$root/.ci/package_contents.py" --source "$work/src" \
    --sdist "$sdist" --wheel "$wheel" --accelerator built

say "the wheel in a fresh virtualenv"
venv="$(new_venv wheel)"
"$venv/bin/pip" install -q "$wheel"
smoke "$venv" built
page_prints "$venv" True
say "the same with RAWSOCK_NO_SPEEDUPS=1: the pure-Python masking"
RAWSOCK_NO_SPEEDUPS=1 smoke "$venv" built
RAWSOCK_NO_SPEEDUPS=1 page_prints "$venv" False

say "the sdist in a fresh virtualenv, built there with the C compiler"
venv="$(new_venv sdist)"
"$venv/bin/pip" install -q --no-cache-dir "$sdist"
smoke "$venv" built

say "the sdist in a fresh virtualenv with no C compiler: the pure-Python fallback"
venv="$(new_venv sdist-no-compiler)"
bare_path="$venv/bin"
# the compiler setuptools would run (sysconfig's CC), looked up on PATH by name
configured="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("CC") or "cc")')"
configured="${configured%% *}"
configured="${configured##*/}"
for compiler in "$configured" cc gcc clang c99 x86_64-linux-gnu-gcc; do
    if PATH="$bare_path" type -P "$compiler" >/dev/null; then
        fail "a C compiler is still reachable: $(PATH="$bare_path" type -P "$compiler")"
    fi
done
echo "no C compiler on PATH=$bare_path (setuptools would run '$configured')"
PATH="$bare_path" CC="$configured" "$venv/bin/pip" install -v --no-cache-dir "$sdist" \
    >"$work/no-compiler.log" 2>&1 || fail "pip install of the sdist without a compiler" \
    "$work/no-compiler.log"
grep -F 'building extension "rawsock.sansio._speedups" failed' "$work/no-compiler.log" ||
    fail "the install without a compiler did not report the extension's failed build" \
    "$work/no-compiler.log"
smoke "$venv" absent
page_prints "$venv" False

say "the install page's shell commands, as written, in a copy of the checkout"
copy_checkout "$work/page"
rm -rf "$work/page/.venv" "$work/page/build" "$work/page/dist"  # as in a fresh clone
"$tools/bin/python" "$root/.ci/package_doc_blocks.py" commands "$page" >"$work/commands.sh"
sed 's/^/$ /' "$work/commands.sh"
# `python` on PATH is the Python these checks use, as the page's reader has one
mkdir "$work/bin"
ln -s "$("$python" -c 'import sys; print(sys.executable)')" "$work/bin/python"
(cd "$work/page" && PATH="$work/bin:$PATH" bash -euo pipefail "$work/commands.sh") \
    >"$work/commands.log" 2>&1 || fail "the install page's commands" "$work/commands.log"
smoke "$work/page/.venv" built

say "mypy --strict after the README's install: pip install -e '.[test]'"
copy_checkout "$work/checkout"
venv="$(new_venv editable)"
(
    # shellcheck disable=SC1091
    . "$venv/bin/activate"
    cd "$work/checkout"
    pip install -q -e '.[test]'
)
"$venv/bin/python" "$root/.ci/package_doc_blocks.py" extract "$page" --to "$work/user"
(cd "$work/user" && "$venv/bin/mypy" --strict --no-incremental ./*.py) ||
    fail "mypy --strict on $page's examples, outside the checkout, after pip install -e"
mkdir "$work/typo"
for file in "$work"/user/*.py; do
    if grep -q 'ping_interval=' "$file"; then
        sed 's/ping_interval=/ping_intervall=/' "$file" >"$work/typo/$(basename "$file")"
    fi
done
compgen -G "$work/typo/*.py" >/dev/null || fail "no example of $page passes ping_interval="
if (cd "$work/typo" && "$venv/bin/mypy" --strict --no-incremental ./*.py) >"$work/typo.log"; then
    fail "mypy --strict accepted a misspelt option" "$work/typo.log"
fi
grep -F 'Unexpected keyword argument "ping_intervall"' "$work/typo.log" ||
    fail "mypy did not name the misspelt option" "$work/typo.log"
if grep -F 'import-not-found' "$work/typo.log"; then
    fail "mypy did not find rawsock" "$work/typo.log"
fi

say "all packaging checks passed"
