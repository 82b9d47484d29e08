#!/usr/bin/env bash
# B7 - listing a folder of BENCH_B7_TITLES titles (default 10,000, torrents added through
# the API, all asleep): `PROPFIND Depth: 1` on /movies/ (curl, time to the whole body),
# and `ls -l` of the FUSE mount's movies/ folder. References: rclone serve webdav
# --read-only over a local directory of as many files (hard links of the film, same
# names), and `ls -l` of that directory. Each figure is the median of BENCH_B7_REPS runs
# after two untimed ones (both servers warm); the first, cold `ls -l` is kept in the raw
# figures. Targets: PROPFIND <= 0.5x rclone and < 200 ms; ls -l < 200 ms. Also the CPU
# gostream uses at rest over 10 s with every title asleep (target: 1% of a core).
. "$(dirname "$0")/lib.sh"
gsb_prepare
command -v rclone >/dev/null || fail "rclone missing (apt-get install rclone)"
: "${BENCH_B7_TITLES:=10000}" "${BENCH_B7_REPS:=15}"
N=$BENCH_B7_TITLES
t0=$(date +%s.%N)
gsb_titles b7_ "$N"
note "made $N torrents in $(since "$t0") s"
GSB_FUSE=1 gsb_gostream gs
t0=$(date +%s.%N)
gsb_add "$TITLES_LIST"
note "added $N titles in $(since "$t0") s"
# At rest with every title asleep: what a large library costs a Pi doing nothing.
sleep 2
c0=$(cpu_of "$GS_PID"); sleep 10; c1=$(cpu_of "$GS_PID")
idle_ms=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.1f", (b - a) * 1000 / 10 }')
mkdir -p "$T/rc"
cut -f2 "$TITLES_LIST" | while read -r t; do ln "$FILM" "$T/rc/$t.mkv"; done
[ "$(ls "$T/rc" | wc -l)" = "$N" ] || fail "rclone folder holds $(ls "$T/rc" | wc -l) files"
RC_PORT=$(gs_free_port)
RCLONE_CONFIG=/dev/null rclone serve webdav --read-only --addr "127.0.0.1:$RC_PORT" "$T/rc" \
	> "$T/rclone.log" 2>&1 &
GS_PIDS+=("$!")
for ((i = 0; i < 100; i++)); do
	curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$RC_PORT/" && break; sleep 0.1
done

propfind() {   # propfind URL OUT -> appends seconds; body entry count to OUT.count
	curl -s -X PROPFIND -H 'Depth: 1' --max-time 60 -o "$T/body" -w '%{http_code} %{time_total}\n' "$1" \
		> "$T/pf"
	read -r code secs < "$T/pf"
	[ "$code" = 207 ] || fail "PROPFIND $1: HTTP $code"
	echo "$secs" >> "$2"
	grep -oi '<[a-z]*:response[ >]' "$T/body" | wc -l > "$2.count"
	stat -c %s "$T/body" > "$2.bytes"
}
for k in 1 2; do propfind "$GS_URL/movies/" /dev/null; propfind "http://127.0.0.1:$RC_PORT/" /dev/null; done
for ((k = 0; k < BENCH_B7_REPS; k++)); do
	propfind "$GS_URL/movies/" "$T/pf.gs"
	propfind "http://127.0.0.1:$RC_PORT/" "$T/pf.rc"
done
[ "$(cat "$T/pf.gs.count")" -gt "$N" ] || fail "gostream's PROPFIND lists $(cat "$T/pf.gs.count") entries"
[ "$(cat "$T/pf.rc.count")" -gt "$N" ] || fail "rclone's PROPFIND lists $(cat "$T/pf.rc.count") entries"

lsl() {   # lsl DIR OUT
	local t0
	t0=$(date +%s.%N)
	ls -l "$1" > "$T/ls.out" || fail "ls -l $1"
	since "$t0" >> "$2"; echo >> "$2"
	[ "$(wc -l < "$T/ls.out")" -gt "$N" ] || fail "ls -l $1 lists $(wc -l < "$T/ls.out") lines"
}
lsl "$GS_MNT/movies" "$T/ls.gs.cold"
lsl "$T/rc" /dev/null
lsl "$GS_MNT/movies" /dev/null
for ((k = 0; k < BENCH_B7_REPS; k++)); do
	lsl "$GS_MNT/movies" "$T/ls.gs"
	lsl "$T/rc" "$T/ls.rc"
done
gsb_gostream_stop

g=$(summ 1000 < "$T/pf.gs"); r=$(summ 1000 < "$T/pf.rc")
row what="PROPFIND Depth 1, $N titles" unit=ms gostream="$(jq - 'round(j["p50"], 1)' <<< "$g")" \
	reference="$(jq - 'round(j["p50"], 1)' <<< "$r")" ref_name="rclone serve webdav" \
	target="<= 0.5x, < 200 ms" check="ratio <= 0.5 and g < 200" reps="$BENCH_B7_REPS" \
	spread="gs $(jq - '"%.0f-%.0f" % (j["min"], j["max"])' <<< "$g"), rclone $(jq - '"%.0f-%.0f" % (j["min"], j["max"])' <<< "$r")" \
	raw_gostream="$g" raw_reference="$r" body_bytes="gs $(cat "$T/pf.gs.bytes"), rclone $(cat "$T/pf.rc.bytes")"
g=$(summ 1000 < "$T/ls.gs"); r=$(summ 1000 < "$T/ls.rc")
row what="FUSE ls -l, $N titles" unit=ms gostream="$(jq - 'round(j["p50"], 1)' <<< "$g")" \
	reference="$(jq - 'round(j["p50"], 1)' <<< "$r")" ref_name="ls -l local dir" \
	target="< 200 ms" check="g < 200" reps="$BENCH_B7_REPS" \
	spread="gs $(jq - '"%.0f-%.0f" % (j["min"], j["max"])' <<< "$g") (first, cold: $(awk '{printf "%.0f", $1 * 1000}' "$T/ls.gs.cold")), local $(jq - '"%.0f-%.0f" % (j["min"], j["max"])' <<< "$r")" \
	raw_gostream="$g" raw_reference="$r" cold_ms="$(awk '{printf "%.1f", $1 * 1000}' "$T/ls.gs.cold")"
row what="idle CPU, $N asleep titles" unit=cpu-ms/s gostream="$idle_ms" reference=null \
	ref_name="-" target="<= 10 cpu-ms/s (1% of a core)" check="g <= 10" reps="10 s" \
	spread="CPU time of the gostream process over 10 s, no client"
