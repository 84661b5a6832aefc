#!/usr/bin/env bash
# End-to-end test of `runner jobs -engine slurm` on a real Slurm (Debian's slurm-wlm):
# a single-node cluster on loopback (munged, slurmctld and slurmd as root, state and logs
# under WORKDIR), the generated job array runs a 4-shard plan, the merge job merges the
# shards and writes the report, and the table and records must equal one local run of the
# same plan (records modulo times, host and command line).
#
#   scripts/slurm-test.sh RUNNER_BINARY PLAN_FILE WORKDIR
#
# Exit 0: passed; 77: skipped (Slurm not installed and not installable, CI unset); any
# other: failed. Called by runner/slurm_test.go (make test). Every daemon it starts is
# stopped on exit.
set -euo pipefail
bin=$(realpath "$1"); plan=$(realpath "$2"); w=$(realpath -m "$3")
shards=4
t0=$(date +%s)
log() { echo "slurm-test: [$(($(date +%s) - t0))s] $*"; }

# 1. Install slurm-wlm's daemons and munge when missing.
if ! command -v jq >/dev/null || ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
	log "installing slurmctld slurmd slurm-client munge jq (apt-get)"
	if ! { [ "$(id -u)" = 0 ] && { DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmctld slurmd slurm-client munge jq >"$w.apt.log" 2>&1 ||
		{ apt-get update -q >>"$w.apt.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmctld slurmd slurm-client munge jq >>"$w.apt.log" 2>&1; }; }; }; then
		tail -5 "$w.apt.log" 2>/dev/null || true
		if [ -n "${CI:-}" ]; then
			log "FAIL: could not install Slurm (apt-get as root; log $w.apt.log)"
			exit 1
		fi
		log "SKIP: Slurm is not installed and apt-get could not install it (needs root and Debian's packages); CI unset"
		exit 77
	fi
fi
log "$(slurmctld -V), $(munged --version 2>&1 | awk "{print \$1}")"

# 2. A private single-node cluster under $w.
rm -rf "$w"
mkdir -p "$w"/{munge,state,spool,logs}
chmod 700 "$w/munge"
pids=()
cleanup() {
	local rc=$?
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	[ ${#pids[@]} -gt 0 ] && log "stopped daemons ${pids[*]}"
	exit $rc
}
trap cleanup EXIT INT TERM

dd if=/dev/urandom of="$w/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$w/munge/munge.key"
munged --foreground --force --key-file="$w/munge/munge.key" --socket="$w/munge/munge.sock" \
	--pid-file="$w/munge/munged.pid" --log-file="$w/logs/munged.log" --seed-file="$w/munge/seed" &
pids+=($!)
for _ in $(seq 50); do [ -S "$w/munge/munge.sock" ] && break; sleep 0.1; done
[ -S "$w/munge/munge.sock" ] || { log "FAIL: munged did not start"; cat "$w/logs/munged.log"; exit 1; }

# Ports from the PID, so that two runs on one machine do not collide.
port=$((20000 + ($$ % 20000)))
cat >"$w/slurm.conf" <<CONF
ClusterName=harness
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$w/munge/munge.sock
StateSaveLocation=$w/state
SlurmdSpoolDir=$w/spool
SlurmctldPidFile=$w/slurmctld.pid
SlurmdPidFile=$w/slurmd.pid
SlurmctldLogFile=$w/logs/slurmctld.log
SlurmdLogFile=$w/logs/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=8000 State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$w/slurm.conf"
slurmctld -D -c -f "$SLURM_CONF" >"$w/logs/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N localhost -f "$SLURM_CONF" >"$w/logs/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)' && break
	sleep 0.2
done
if ! sinfo -h -N -o '%T' | grep -Eq '^idle'; then
	log "FAIL: the node did not come up idle: $(sinfo -h -N -o '%N %T %E' 2>&1)"
	tail -20 "$w/logs/slurmctld.log" "$w/logs/slurmd.log" "$w"/logs/*.out
	exit 1
fi
log "cluster up: $(sinfo -h -N -o '%N %c CPUs %m MB %T')"

# 3. Job scripts for 4 shards, submitted; the same thread count as the local run below,
# so that both compute the same numbers (sbatch passes the environment on).
export OMP_NUM_THREADS=1
"$bin" jobs -plan "$plan" -engine slurm -shards "$shards" -out "$w/results" -binary "$bin" \
	-cpus 1 -mem 1G -time 10:00 -partition test -name harness-test
ids=$(bash "$w/results/jobs/submit.sh")
log "submitted: $ids"
array=$(sed -n 's/.*array=\([0-9]*\).*/\1/p' <<<"$ids")
merge=$(sed -n 's/.*merge=\([0-9]*\).*/\1/p' <<<"$ids")

# 4. Meanwhile, the local run of the whole plan.
"$bin" -plan "$plan" -out "$w/local" >"$w/logs/local.out" 2>&1 || { log "FAIL: local run"; tail -20 "$w/logs/local.out"; exit 1; }
log "local run done"

# 5. Wait for the array and the merge job (a few minutes at most).
deadline=$(($(date +%s) + 600))
while squeue -h -j "$array,$merge" 2>/dev/null | grep -q .; do
	if [ "$(date +%s)" -gt "$deadline" ]; then
		log "FAIL: jobs still queued after 600 s"; squeue; exit 1
	fi
	sleep 2
done
state() { scontrol show job "$1" | tr ' ' '\n' | sed -n 's/^JobState=//p' | sort | uniq -c | tr '\n' ' '; }
log "array job $array: $(state "$array"); merge job $merge: $(state "$merge")"
for f in "$w"/results/logs/*; do echo "--- $f"; tail -3 "$f"; done
if [ "$(state "$merge")" != "      1 COMPLETED " ] || scontrol show job "$array" | grep -q 'JobState=[^C]'; then
	log "FAIL: a job did not complete"
	tail -20 "$w/logs/slurmctld.log" "$w/logs/slurmd.log"
	exit 1
fi

# 6. Every shard ran its share; the merged table and records equal the local run's.
for i in $(seq "$shards"); do
	log "shard $i: $(find "$w/results/shard-$i" -maxdepth 1 -name '*.json' | wc -l) records"
done
"$bin" report -in "$w/local" >"$w/local-report.md"
# The tables without the columns that measure this machine's speed at that moment
# (seconds, milliseconds, peak memory): every other cell must be equal.
untimed() {
	awk -F'|' -v OFS='|' '
		!/^\|/ { intable = 0; print; next }
		!intable { intable = 1; delete drop
			for (i = 2; i < NF; i++) if ($i ~ /\((s|ms|MiB)\)/) drop[i] = 1 }
		{ line = ""; for (i = 2; i < NF; i++) if (!(i in drop)) line = line "|" $i; print line "|" }' "$1"
}
if ! diff -u <(untimed "$w/local-report.md") <(untimed "$w/results/merged/report.md"); then
	log "FAIL: the merged report differs from the local run's (timing columns left out)"
	exit 1
fi
if diff -q "$w/local-report.md" "$w/results/merged/report.md" >/dev/null; then
	log "reports identical"
else
	log "reports equal but for the timing columns: $(untimed "$w/local-report.md" | grep -c '^|') table lines compared"
fi
cat "$w/results/merged/report.md"
# Records: equal but for what says when, where and how the run was started.
norm='del(.timing, .started_at, .finished_at, .environment, .peak_rss_bytes, .command, .peak_gpu_memory)'
n=0
for f in "$w"/local/*.json; do
	g="$w/results/merged/$(basename "$f")"
	[ -f "$g" ] || { log "FAIL: $(basename "$f") missing from the merged folder"; exit 1; }
	if ! diff <(jq -S "$norm" "$f") <(jq -S "$norm" "$g") >/dev/null; then
		log "FAIL: $(basename "$f") differs (modulo times, host, command):"
		diff <(jq -S "$norm" "$f") <(jq -S "$norm" "$g") | head -20
		exit 1
	fi
	n=$((n + 1))
done
m=$(find "$w/results/merged" -maxdepth 1 -name '*.json' | wc -l)
[ "$n" -gt 0 ] && [ "$n" = "$m" ] || { log "FAIL: $n local records, $m merged"; exit 1; }
log "PASS: $n records from $shards Slurm array tasks merge into the local run's table and records"
