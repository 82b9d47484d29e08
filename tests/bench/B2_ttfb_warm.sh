#!/usr/bin/env bash
# B2 - time to the first 64 KiB of a warm file (`Range: bytes=0-65535`), each request on
# a new connection (`Connection: close`, as players open one per seek), gostream vs nginx
# on the same bytes. curl's time_total (the whole 64 KiB, not just the headers) in batches
# of 50 alternating between the servers. Targets: p50 <= 2x nginx, p99 <= 3x nginx.
. "$(dirname "$0")/lib.sh"
gsb_prepare
: "${BENCH_B2_REQUESTS:=200}"

gsb_titles b2_ 1
gsb_seed 127.0.0.2 "$T/tor/b2_0001.mkv.torrent"
gsb_gostream gs
gsb_add "$TITLES_LIST" "$SEED_EP"
P=$(cut -f2 "$ADDED")
curl -sf -r 0-$(((4 << 20) - 1)) -o /dev/null --max-time 60 "$GS_URL$P" || fail "warming the head"
mkdir -p "$T/www/movies"
ln -f "$FILM" "$T/www$("$PY" -c 'import sys,urllib.parse as u; print(u.unquote(sys.argv[1]))' "$P")"
gsb_nginx "$T/www"

batch() {   # batch URL N OUT
	local args=() i
	for ((i = 0; i < $2; i++)); do args+=(-o /dev/null "$1"); done
	curl -s -r 0-65535 -H 'Connection: close' --max-time 60 \
		-w '%{http_code} %{size_download} %{time_starttransfer} %{time_total}\n' "${args[@]}" >> "$3"
}
for who in gs ngx; do batch "$([ $who = gs ] && echo "$GS_URL" || echo "$NGX_URL")$P" 5 /dev/null; done
per=50
for ((done_ = 0; done_ < BENCH_B2_REQUESTS; done_ += per)); do
	batch "$GS_URL$P" $per "$T/gs.txt"
	batch "$NGX_URL$P" $per "$T/ngx.txt"
done
for who in gs ngx; do
	awk '$1 != 206 || $2 != 65536 { bad++ } END { exit bad > 0 }' "$T/$who.txt" ||
		{ sort "$T/$who.txt" | uniq -c | sort -rn | head -5 >&2; fail "$who: a response other than 206 with 65536 bytes"; }
done
g=$(awk '{print $4}' "$T/gs.txt" | summ 1000); r=$(awk '{print $4}' "$T/ngx.txt" | summ 1000)
gf=$(awk '{print $3}' "$T/gs.txt" | summ 1000); rf=$(awk '{print $3}' "$T/ngx.txt" | summ 1000)
n=$(wc -l < "$T/gs.txt")
for p in p50 p99; do
	[ $p = p50 ] && k=2 || k=3
	row what="warm 64 KiB range, new connection, $p" unit=ms \
		gostream="$(jq - "round(j['$p'], 3)" <<< "$g")" reference="$(jq - "round(j['$p'], 3)" <<< "$r")" \
		ref_name=nginx target="<= ${k}x" check="ratio <= $k" reps="$n requests" \
		spread="gs $(jq - '"%.2f-%.2f" % (j["min"], j["max"])' <<< "$g"), nginx $(jq - '"%.2f-%.2f" % (j["min"], j["max"])' <<< "$r")" \
		raw_gostream="$g" raw_reference="$r" raw_gostream_headers="$gf" raw_reference_headers="$rf"
done
gsb_gostream_stop
