#!/bin/sh
# mkmedia.sh - make a real Matroska file for tests: H.264 + AAC, Cues and Tags written
# after the last cluster (mkvmerge's layout, like scene releases), deterministic bytes
# for the same arguments so .torrent info-hashes stay stable across runs.
#
# usage: mkmedia.sh OUT.mkv LENGTH
#   LENGTH  30s   -> 30 seconds of video
#           20    -> about 20 MiB (also 20M, 1G); the file is within a few % of it
# A 10 s clip (640x360, temporal noise so it does not compress away: ~3 MB/s) is encoded
# once and cached in $GS_MEDIA_CACHE (default $TMPDIR/gostream-media-cache); longer
# files are stream copies of it (concat demuxer), then remuxed by mkvmerge.
# Prints nothing but errors; exit status 0 on success.
set -eu

die() { echo "mkmedia.sh: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: mkmedia.sh OUT.mkv SECONDSs|SIZE_MB[M|G]"
out=$1
len=$2
for t in ffmpeg ffprobe mkvmerge; do
	command -v "$t" >/dev/null 2>&1 || die "$t not found (apt-get install ffmpeg mkvtoolnix)"
done

case $len in
	*[!0-9]*s|s|*[!0-9sMG]*) die "bad LENGTH '$len'";;
esac

cache=${GS_MEDIA_CACHE:-${TMPDIR:-/tmp}/gostream-media-cache}
clip_secs=10
clip="$cache/clip-640x360-${clip_secs}s-v1.mkv"
mkdir -p "$cache"
if [ ! -s "$clip" ]; then
	# Encoded to a private name and renamed, so parallel tests never see half a clip.
	tmpclip=$(mktemp "$cache/.clip.XXXXXX")
	ffmpeg -nostdin -hide_banner -loglevel error -y \
		-f lavfi -i testsrc2=size=640x360:rate=24 \
		-f lavfi -i sine=frequency=440:sample_rate=48000 \
		-t "$clip_secs" -map 0:v -map 1:a -vf noise=alls=12:allf=t \
		-c:v libx264 -preset ultrafast -threads 1 -g 48 -qp 18 -pix_fmt yuv420p \
		-c:a aac -b:a 128k \
		-fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
		-f matroska "$tmpclip" || { rm -f "$tmpclip"; die "ffmpeg encode failed"; }
	mv -f "$tmpclip" "$clip"
fi

case $len in
	*s) secs=${len%s};;
	*)
		case $len in
			*G) mib=$(( ${len%G} * 1024 ));;
			*M) mib=${len%M};;
			*)  mib=$len;;
		esac
		[ "$mib" -gt 0 ] || die "size must be > 0"
		clip_bytes=$(stat -c %s "$clip")
		# seconds = size / (clip bytes per second), rounded to milliseconds
		secs=$(awk -v m="$mib" -v b="$clip_bytes" -v s="$clip_secs" \
			'BEGIN { printf "%.3f", m * 1048576 * s / b }')
		;;
esac
awk -v s="$secs" 'BEGIN { exit !(s > 0) }' || die "length must be > 0"
copies=$(awk -v s="$secs" -v c="$clip_secs" 'BEGIN { n = int(s / c) + 1; print n }')

outdir=$(dirname -- "$out")
[ -d "$outdir" ] || die "no directory $outdir"
work=$(mktemp -d "$outdir/.mkmedia.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

i=0
while [ "$i" -lt "$copies" ]; do
	printf "file '%s'\n" "$clip"
	i=$((i + 1))
done > "$work/list.txt"

ffmpeg -nostdin -hide_banner -loglevel error -y -f concat -safe 0 -i "$work/list.txt" \
	-t "$secs" -map 0 -c copy -fflags +bitexact -f matroska "$work/cat.mkv" \
	|| die "ffmpeg concat failed"
# mkvmerge writes Cues (and statistics Tags) after the clusters; --deterministic fixes
# the UIDs so the same input gives the same bytes.
mkvmerge -q --deterministic 1 -o "$work/out.mkv" "$work/cat.mkv" >"$work/mkvmerge.log" 2>&1 \
	|| { cat "$work/mkvmerge.log" >&2; die "mkvmerge failed"; }
mv -f "$work/out.mkv" "$out"
