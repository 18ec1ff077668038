#!/usr/bin/env bash
# bench/log.sh: log throughput. Each log_* program writes BENCH_LOG_RECORDS
# [500000] records of exactly 100 bytes in total (from 1 thread, then 4
# sharing the logger) to a new file on tmpfs and on disk, and reports
# records/s; BENCH_LOG_REPS [3] interleaved runs per cell, median shown,
# ratio against the raw write(2) loop. log_common.h checks each file (one
# 100-byte line per record) and lull's guarantee: every record in the file
# when the last call returned, before any close or flush.
# Results: log.FS.THREADS (lull / raw), log.FS.THREADS.ahead (1 if no peer
# with the same guarantee is faster), FS tmpfs or disk.
. "$(dirname "$0")/lib.sh"
LOG_RECORDS=${BENCH_LOG_RECORDS:-500000}
LOG_REPS=${BENCH_LOG_REPS:-3}

shm_scratch
disk_scratch
progs=(log_raw log_lull log_fprintf log_log4c log_spdlog)
declare -A name=(
	[log_raw]="raw write(2) loop, O_APPEND (limit)"
	[log_lull]="lull log_info"
	[log_fprintf]="fprintf + fflush per record (glibc)"
	[log_log4c]="log4c 1.2 stream appender (default)"
	[log_spdlog]="spdlog basic_file_sink_mt, flush_on(trace)"
)
declare -A skip secs cpus kernel intact rate cpurec
for p in "${progs[@]}"; do need "$p" || skip[$p]=$why; done
fs_list=()
[[ -n $shm_dir ]] && fs_list+=(tmpfs)
[[ -n $disk_dir ]] && fs_list+=(disk)
fsdir() { if [[ $1 == tmpfs ]]; then echo "$shm_dir"; else echo "$disk_dir"; fi; }

echo
echo "== Log throughput: $LOG_RECORDS records of 100 bytes in total (split among the threads),"
echo "   median of $LOG_REPS runs; tmpfs = ${shm_dir:-none}, disk = ${disk_dir:-none} ($(fstype "${disk_dir:-/}"))"
# Repetitions are interleaved (every cell once, then again), and each one
# rotates the order of the loggers, so that drift and warm-up are spread
# over all of them rather than landing on whichever runs first. Disk runs
# write to the page cache; a sync before each keeps one run's writeback
# out of the next.
n=${#progs[@]}
for ((rep = 1; rep <= LOG_REPS; rep++)); do
	for fs in "${fs_list[@]}"; do
		for th in 1 4; do
			for ((j = 0; j < n; j++)); do
				p=${progs[(j + rep - 1) % n]}
				[[ -n ${skip[$p]:-} ]] && continue
				f=$(fsdir "$fs")/log
				[[ $fs == disk ]] && sync -f "$(fsdir "$fs")" 2>/dev/null
				r=$("$out/$p" "$f" "$th" "$LOG_RECORDS" 2>&1 | tail -n 1)
				[[ -n $(field seconds "$r") ]] || echo "   $p, $fs, $th thr: failed: $r"
				rm -f "$f"
				k="$p|$fs|$th"
				secs[$k]+="$(field seconds "$r") "
				cpus[$k]+="$(field cpu_seconds "$r") "
				kernel[$k]+="$(field in_kernel "$r") "
				intact[$k]+="$(field intact "$r") "
			done
		done
	done
done

for k in "${!secs[@]}"; do
	s=$(echo "${secs[$k]}" | median)
	[[ -n $s ]] && rate[$k]=$(calc "\"%.0f\", $LOG_RECORDS / $s")
	c=$(echo "${cpus[$k]}" | median)
	[[ -n $c ]] && cpurec[$k]=$(calc "\"%.0f\", $c * 1e9 / $LOG_RECORDS")
done

hdr=("logger" "in kernel at return")
for fs in "${fs_list[@]}"; do for th in 1 4; do hdr+=("$fs, $th thr: rec/s (x raw)"); done; done
hdr+=("worst spread")
echo
row "${hdr[@]}"
sep "${#hdr[@]}"
for p in "${progs[@]}"; do
	if [[ -n ${skip[$p]:-} ]]; then
		row "${name[$p]}" "${skip[$p]}"
		continue
	fi
	kern=
	cells=()
	worst=0
	for fs in "${fs_list[@]}"; do
		for th in 1 4; do
			k="$p|$fs|$th"
			kern+="${kernel[$k]} "
			r=${rate[$k]:-}
			raw=${rate["log_raw|$fs|$th"]:-}
			if [[ -z $r ]]; then
				cells+=("failed")
				continue
			fi
			c="$(human "$r") ($(calc "\"%.2fx\", $r / ${raw:-$r}"))"
			sp=$(echo "${secs[$k]}" | spread)
			((sp > worst)) && worst=$sp
			[[ $(all_yes "${intact[$k]}") != yes ]] && c+=" MANGLED"
			cells+=("$c")
		done
	done
	row "${name[$p]}" "$(all_yes "$kern")" "${cells[@]}" "$worst%"
done
echo "in kernel at return: the file held every record once the last call returned, before any"
echo "close or flush. MANGLED: the file was not exactly one 100-byte line per record (records"
echo "split, interleaved or lost). worst spread: the largest (max - min) / median of the runs"
echo "behind one cell of the row."

# The same runs by CPU time: what a record costs the process, which a
# busy machine (steal, other processes) does not inflate as it does the
# wall-clock rates above.
hdr=("logger")
for fs in "${fs_list[@]}"; do for th in 1 4; do hdr+=("$fs, $th thr: CPU ns/record (x raw)"); done; done
echo
row "${hdr[@]}"
sep "${#hdr[@]}"
for p in "${progs[@]}"; do
	[[ -n ${skip[$p]:-} ]] && continue
	cells=()
	for fs in "${fs_list[@]}"; do
		for th in 1 4; do
			c=${cpurec["$p|$fs|$th"]:-}
			raw=${cpurec["log_raw|$fs|$th"]:-}
			if [[ -z $c ]]; then
				cells+=("failed")
			else
				cells+=("$c ($(calc "\"%.2fx\", $c / ${raw:-$c}"))")
			fi
		done
	done
	row "${name[$p]}" "${cells[@]}"
done
echo "CPU: user + system time of the logging process (getrusage), median of the runs, per record;"
echo "the threads' waits for the file's lock are not in it."

# lull against the raw loop, and against the peers that give the same
# guarantee (in the kernel at return, intact).
for fs in "${fs_list[@]}"; do
	for th in 1 4; do
		r=${rate["log_lull|$fs|$th"]:-}
		raw=${rate["log_raw|$fs|$th"]:-}
		[[ -n $r && -n $raw ]] || continue
		x=$(calc "\"%.2f\", $r / $raw")
		result "log.$fs.$th" "$x" "${x}x"
		behind=
		for p in log_fprintf log_log4c log_spdlog; do
			pk="$p|$fs|$th"
			[[ -n ${rate[$pk]:-} ]] || continue
			[[ $(all_yes "${kernel[$pk]}") == yes && $(all_yes "${intact[$pk]}") == yes ]] || continue
			((rate[$pk] > r)) && behind+=" ${p#log_}"
		done
		if [[ -z $behind ]]; then
			result "log.$fs.$th.ahead" 1 "ahead"
		else
			result "log.$fs.$th.ahead" 0 "behind:$behind"
		fi
	done
done
exit 0
