#!/usr/bin/env bash
# Creates the peers' virtual environments under .venv-peers/ (see bench/peers/README.md).
# Run from the repository root (`make bench` does). Idempotent: each venv has a stamp file that
# records what was installed; a venv whose stamp matches the pins below is left alone.
# A peer that cannot be installed is reported on one line and skipped; the script still exits 0.
set -uo pipefail

PY=${PY:-python3}
ROOT=.venv-peers
TORCH=torch==2.13.0 # a CPU wheel on local disk; must go in before anything that needs torch
HIGHWAY_REQS=(highway-env==1.12.1 stable-baselines3==2.9.2)
ENVPOOL_REQ=envpool==1.2.5 # optional: has HighwayFast-v0 (envpool.highway) since 1.2
MPE2_REQS=(mpe2==1.1.1)
# imitation 1.0.1 (PreferenceComparisons peer) resolves to stable-baselines3 2.2.x and gymnasium
# 0.29.x; both are pinned here so a re-run gets the same set. torch goes in first, as for highway.
IMITATION_REQS=(imitation==1.0.1 stable-baselines3==2.2.1 gymnasium==0.29.1)
IMITATION_CHECK="import torch, gymnasium, stable_baselines3, imitation.algorithms.preference_comparisons"

# pip_in VENV ARGS...: a quiet `pip install` in VENV, without the notes this machine's pip config
# prints about local indexes that lack a package.
pip_in() {
	"$1/bin/python" -m pip install --quiet "${@:2}" \
		2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

# fresh_venv VENV STAMP_TEXT: returns 1 when VENV is already up to date, else makes sure it exists.
fresh_venv() {
	if [[ -f $1/.stamp && "$(cat "$1/.stamp")" == "$2" ]]; then
		echo "peers: $1 is up to date"
		return 1
	fi
	echo "peers: setting up $1 ($2)"
	rm -f "$1/.stamp"
	if [[ ! -x $1/bin/python ]]; then
		"$PY" -m venv "$1" && pip_in "$1" --upgrade pip
	fi
}

setup_highway() {
	local venv=$ROOT/highway
	local stamp="$TORCH ${HIGHWAY_REQS[*]} $ENVPOOL_REQ"
	fresh_venv "$venv" "$stamp" || return 0
	if ! { pip_in "$venv" "$TORCH" && pip_in "$venv" "${HIGHWAY_REQS[@]}"; }; then
		echo "peers: PEER NOT INSTALLED: highway-env (${HIGHWAY_REQS[*]}) failed to install in $venv"
		return 0
	fi
	if ! pip_in "$venv" "$ENVPOOL_REQ"; then
		echo "peers: PEER NOT INSTALLED: $ENVPOOL_REQ (no wheel for this Python/platform?);" \
			"the highway peer runs without EnvPool"
	fi
	echo "$stamp" >"$venv/.stamp"
}

setup_mpe2() {
	local venv=$ROOT/mpe2
	local stamp="${MPE2_REQS[*]}"
	fresh_venv "$venv" "$stamp" || return 0
	if ! pip_in "$venv" "${MPE2_REQS[@]}"; then
		echo "peers: PEER NOT INSTALLED: mpe2 (${MPE2_REQS[*]}) failed to install in $venv"
		return 0
	fi
	echo "$stamp" >"$venv/.stamp"
}

setup_imitation() {
	local venv=$ROOT/imitation
	local stamp="$TORCH ${IMITATION_REQS[*]}"
	# A stamped venv whose imports fail (e.g. a half-deleted site-packages) is set up again.
	if [[ -f $venv/.stamp ]] && ! "$venv/bin/python" -c "$IMITATION_CHECK" 2>/dev/null; then
		echo "peers: $venv does not import; reinstalling"
		rm -f "$venv/.stamp"
	fi
	fresh_venv "$venv" "$stamp" || return 0
	if ! { pip_in "$venv" "$TORCH" && pip_in "$venv" "${IMITATION_REQS[@]}" &&
		"$venv/bin/python" -c "$IMITATION_CHECK"; }; then
		echo "peers: PEER NOT INSTALLED: imitation (${IMITATION_REQS[*]}) failed to install in $venv"
		return 0
	fi
	echo "$stamp" >"$venv/.stamp"
}

mkdir -p "$ROOT"
setup_highway
setup_mpe2
setup_imitation
