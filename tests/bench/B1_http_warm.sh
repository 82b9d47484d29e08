#!/usr/bin/env bash
# B1 - throughput of a fully warm 1 GiB file over HTTP, gostream vs nginx serving the same
# bytes from a plain file (page cache warm): curl of the whole file (one stream), and wrk
# with 8 connections on random 1 MiB ranges. gostream's RAM read-ahead is sized to hold
# the whole file and is filled by one read through the swarm first. Runs alternate
# between the two servers so machine noise hits both alike. Target: >= 0.8x nginx.
. "$(dirname "$0")/lib.sh"
gsb_prepare
command -v wrk >/dev/null || fail "wrk missing (apt-get install wrk)"
: "${BENCH_B1_CURL:=5}" "${BENCH_WRK_SECONDS:=4}"

gsb_titles b1_ 1
gsb_seed 127.0.0.2 "$T/tor/b1_0001.mkv.torrent"
gsb_gostream gs '"read_ahead_budget_mb": 1536'
gsb_add "$TITLES_LIST" "$SEED_EP"
P=$(cut -f2 "$ADDED")
warm_http "$GS_URL$P"
warm_http "$GS_URL$P"
ra=$(metric read_ahead_total_bytes)
[ "$ra" -ge "$FILM_SIZE" ] || note "gostream RAM read-ahead holds $ra of $FILM_SIZE bytes"

mkdir -p "$T/www/movies"
ln -f "$FILM" "$T/www$("$PY" -c 'import sys,urllib.parse as u; print(u.unquote(sys.argv[1]))' "$P")"
gsb_nginx "$T/www"
warm_http "$NGX_URL$P"

# curl: MB/s of the whole body
for ((i = 0; i < BENCH_B1_CURL; i++)); do
	for who in gs ngx; do
		[ $who = gs ] && u=$GS_URL$P || u=$NGX_URL$P
		read -r code n secs < <(curl -s -o /dev/null --max-time 120 \
			-w '%{http_code} %{size_download} %{time_total}\n' "$u")
		[ "$code" = 200 ] && [ "$n" = "$FILM_SIZE" ] || fail "$who: HTTP $code, $n bytes"
		rate "$n" "$secs" >> "$T/curl.$who"; echo >> "$T/curl.$who"
	done
done
g=$(summ < "$T/curl.gs"); r=$(summ < "$T/curl.ngx")
echo "$g" > "$BENCH_RAW/B1_curl_gostream.json"; echo "$r" > "$BENCH_RAW/B1_curl_nginx.json"
row what="warm 1 GiB, curl (1 stream)" unit=MB/s gostream="$(jq - 'j["p50"]' <<< "$g")" \
	reference="$(jq - 'j["p50"]' <<< "$r")" ref_name=nginx target=">= 0.8x" check="ratio >= 0.8" \
	spread="gs $(jq - '"%.0f-%.0f" % (j["min"], j["max"])' <<< "$g"), nginx $(jq - '"%.0f-%.0f" % (j["min"], j["max"])' <<< "$r")" \
	reps="$BENCH_B1_CURL" raw_gostream="$g" raw_reference="$r"

# wrk: 8 connections, 2 threads (one per core), random 1 MiB ranges
for ((i = 0; i < BENCH_REPS; i++)); do
	for who in gs ngx; do
		[ $who = gs ] && u=$GS_URL$P || u=$NGX_URL$P
		WRK_SIZE=$FILM_SIZE wrk -t2 -c8 -d"${BENCH_WRK_SECONDS}s" -s "$TOP_SRCDIR/tests/bench/ranges.lua" \
			"$u" > "$T/wrk.out" 2>&1 || { cat "$T/wrk.out" >&2; fail "wrk on $who"; }
		j=$(sed -n 's/^WRKJSON //p' "$T/wrk.out")
		[ "$(jq - 'j["errors"] + j["status_errors"]' <<< "$j")" = 0 ] || fail "wrk errors on $who: $j"
		echo "$j" >> "$BENCH_RAW/B1_wrk_$who.jsonl"
		jq - '"%.1f" % (j["bytes"] / j["duration_us"])' <<< "$j" >> "$T/wrk.$who"
	done
done
g=$(summ < "$T/wrk.gs"); r=$(summ < "$T/wrk.ngx")
row what="warm 1 GiB, wrk 8 conns, 1 MiB ranges" unit=MB/s gostream="$(jq - 'j["p50"]' <<< "$g")" \
	reference="$(jq - 'j["p50"]' <<< "$r")" ref_name=nginx target=">= 0.8x" check="ratio >= 0.8" \
	spread="gs $(jq - '"%.0f-%.0f" % (j["min"], j["max"])' <<< "$g"), nginx $(jq - '"%.0f-%.0f" % (j["min"], j["max"])' <<< "$r")" \
	reps="$BENCH_REPS x ${BENCH_WRK_SECONDS}s" raw_gostream="$g" raw_reference="$r"
gsb_gostream_stop
