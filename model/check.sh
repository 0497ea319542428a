#!/usr/bin/env bash
# check.sh: check every configuration of redlock.pml and semaphore.pml
# with spin (see README.md). A configuration of today's protocol must hold
# every property; one with a defect put back (OLD_*, COUNTING) or an
# assumption broken must be caught. Two configurations run at a time. Exits non-zero when
# any outcome differs. TRACE=name prints the counterexample of that
# configuration step by step.
set -euo pipefail
cd "$(dirname "$0")"
command -v spin >/dev/null || { echo "spin is missing: install the Debian package spin" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
names=()
pml=redlock.pml # the model the next checks run on

# check NAME EXPECT FLAGS...: EXPECT is "holds" or the assertion that must
# fail. OPT=-O0 before it compiles the verifier faster and runs it slower,
# for configurations whose search is short. It runs in the background, two at a time; its line goes to
# $work/NAME.line, and $work/NAME.failed marks a failure.
check() {
	names+=("$1")
	while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || true; done
	run "$@" >"$work/$1.line" 2>&1 &
}

run() {
	local name=$1 expect=$2
	shift 2
	local dir="$work/$name" out start=$SECONDS
	mkdir -p "$dir"
	cp "$pml" "$dir/"
	(cd "$dir" && spin -a "$@" "$pml" >/dev/null &&
		gcc "${OPT:--O1}" -w -DSAFETY -DNOBOUNDCHECK -DNOCOMP -DT_REVERSE -DMEMLIM=6000 -o pan pan.c) || {
		echo "FAIL  $name: does not build"; touch "$work/$name.failed"; return; }
	out=$(cd "$dir" && ./pan -m1000000 -w24 2>&1) || true
	local states depth
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' <<<"$out" | head -1)
	if grep -qE 'out of memory|max search depth too small|aborted' <<<"$out"; then
		echo "FAIL  $name: search incomplete"; touch "$work/$name.failed"; return
	fi
	if [ "$expect" = holds ]; then
		if grep -q 'errors: 0' <<<"$out"; then
			printf 'ok    %-22s holds         %10s states  %4ds\n' "$name" "$states" $((SECONDS - start))
		else
			echo "FAIL  $name: $(grep -m1 'assertion violated' <<<"$out")"
			(cd "$dir" && spin -t -p -g "$@" "$pml" | tail -40)
			touch "$work/$name.failed"
		fi
		return
	fi
	if grep -q "assertion violated $expect" <<<"$out"; then
		depth=$(sed -n 's/.*assertion violated.*(at depth \([0-9]*\)).*/\1/p' <<<"$out" | head -1)
		printf 'ok    %-22s caught: %s at step %s  %4ds\n' "$name" "$expect" "$depth" $((SECONDS - start))
		if [ "${TRACE:-}" = "$name" ]; then
			(cd "$dir" && spin -t -p -g "$@" "$pml")
		fi
	else
		echo "FAIL  $name: expected $expect to be violated, got: $(grep -m1 -E 'errors:' <<<"$out")"
		touch "$work/$name.failed"
	fi
}

if [ "${1:-}" = quick ]; then
	# a quick pass, what CI runs: mutual exclusion and token order each
	# holding, and the defects of both caught
	# (the longest first, so that the two at a time end together)
	check fence-restart holds             -DFENCING=1 -DB0=2 -DB1=2 -DRESTART=1 -DFAULTS=0 -DLATES=0 -DEXTEND=0 -DUNLOCK=0
	check refresh     holds               -DB0=2 -DB1=1 -DFAULTS=2 -DLATES=1 -DEXTEND=0 -DRETRIES=1
	# counters that expire: tokens seeded from the clock hold (model-full has the defects
	# of the seed, old-counter and counter-skew, and old-extend)
	check counter-ttl holds               -DFENCING=1 -DCOUNTER_TTL=1 -DB0=2 -DB1=2 -DFAULTS=0 -DLATES=0 -DEXTEND=0 -DUNLOCK=0
	check old-fence   P2_new_token_above  -DFENCING=1 -DB0=2 -DB1=2 -DRESTART=1 -DFAULTS=0 -DLATES=0 -DEXTEND=0 -DUNLOCK=0 -DOLD_FENCE=1 -DFQ=2
	OPT=-O0 check old-refresh P1_mutual_exclusion -DB0=2 -DB1=1 -DFAULTS=2 -DLATES=1 -DEXTEND=0 -DOLD_UNDO=1
	# the semaphore, within small bounds, and its counting defect caught
	pml=semaphore.pml
	OPT=-O0 check sem-slots   holds               -DB0=1 -DB1=1 -DB2=1 -DFAULTS=0 -DLATES=0 -DSYMMETRY=0
	OPT=-O0 check sem-counting P3_at_most_limit   -DCOUNTING=1 -DB0=1 -DB1=1 -DB2=1 -DFAULTS=0 -DLATES=0 -DSYMMETRY=0
	set -- done
fi
[ "${1:-}" = done ] || {
# name             expect                     bounds and switches (see redlock.pml)
check refresh         holds                      -DB0=2 -DB1=1 -DFAULTS=2 -DLATES=1 -DEXTEND=0 -DRETRIES=1
check old-refresh     P1_mutual_exclusion        -DB0=2 -DB1=1 -DFAULTS=2 -DLATES=1 -DEXTEND=0 -DOLD_UNDO=1
check shared          holds                      -DNC=3 -DSHARED=1 -DB0=1 -DB1=1 -DB2=1 -DFAULTS=2 -DLATES=1 -DUNLOCK=0 -DEXTEND=0
check extend          holds                      -DB0=3 -DB1=1 -DFAULTS=1 -DLATES=0 -DUNLOCK=0
check old-extend      P1_mutual_exclusion        -DB0=3 -DB1=1 -DFAULTS=1 -DLATES=0 -DUNLOCK=0 -DOLD_EXTEND=1
check handover        holds                      -DNC=3 -DHANDOVER=1 -DB0=3 -DB1=1 -DB2=1 -DFAULTS=1 -DLATES=0 -DEXTEND=0 -DRETRIES=1
check fence-restart   holds                      -DFENCING=1 -DB0=2 -DB1=2 -DRESTART=1 -DFAULTS=0 -DLATES=0 -DEXTEND=0 -DUNLOCK=0
check old-fence       P2_new_token_above         -DFENCING=1 -DB0=2 -DB1=2 -DRESTART=1 -DFAULTS=0 -DLATES=0 -DEXTEND=0 -DUNLOCK=0 -DOLD_FENCE=1 -DFQ=2
check fence-reuse     holds                      -DFENCING=1 -DB0=3 -DB1=2 -DFAULTS=0 -DLATES=0 -DEXTEND=0 -DUNLOCK=0
check old-reuse       P2_reused_token_not_below  -DFENCING=1 -DB0=3 -DB1=2 -DFAULTS=0 -DLATES=0 -DEXTEND=0 -DUNLOCK=0 -DOLD_REUSE=1
check counter-ttl     holds                      -DFENCING=1 -DCOUNTER_TTL=1 -DB0=2 -DB1=2 -DFAULTS=0 -DLATES=0 -DEXTEND=0 -DUNLOCK=0
check old-counter     P2_new_token_above         -DFENCING=1 -DCOUNTER_TTL=1 -DSEED=0 -DB0=2 -DB1=2 -DFAULTS=0 -DLATES=0 -DEXTEND=0 -DUNLOCK=0
check counter-skew    P2_new_token_above         -DFENCING=1 -DCOUNTER_TTL=1 -DSKEW=3 -DCTTL=2 -DB0=2 -DB1=2 -DFAULTS=0 -DLATES=0 -DEXTEND=0 -DUNLOCK=0
pml=semaphore.pml
check sem-slots       holds                      -DB0=1 -DB1=1 -DB2=1 -DFAULTS=1 -DLATES=1
check sem-retake      holds                      -DB0=2 -DB1=1 -DB2=1 -DFAULTS=1 -DLATES=0
check sem-counting    P3_at_most_limit           -DCOUNTING=1 -DB0=1 -DB1=1 -DB2=1 -DFAULTS=0 -DLATES=0
}
wait
failed=0
for name in "${names[@]}"; do
	cat "$work/$name.line"
	[ ! -e "$work/$name.failed" ] || failed=1
done
exit $failed
