/* fuzz_blocklist.c - the peer IP blocklist as downloaded or saved (server/blocklist.c):
 * gzip detection and gunzip (zlib), P2P / eMule DAT / CIDR / bare range lines (IPv4 and
 * IPv6), sorting and merging, the verdict on a body that is no list; and the parsed-ranges
 * cache blocklist.ranges read back at start. Input: one flag byte, then the bytes. Flag
 * bit 0 clear: the body as downloaded (blocklist_decode). Set: the rest is the ranges
 * cache's payload (pairs of IPv4 then IPv6 ranges, counts from the next 2 bytes) and the
 * harness writes the header with the right magic, sizes and CRC, so mutations reach what
 * read_ranges accepts rather than stop at the CRC. Beyond "no crash": what the engine gets
 * is sorted, first <= last, merged (no overlap, no adjacency), and parsing the result
 * written back as "first-last" lines gives the same ranges (the merge is a fixpoint). */
#include "fuzz.h"

#include "../../server/blocklist.c"

static bool ranges_ok(const struct blocklist_ranges *r)
{
	for (size_t i = 0; i < r->n4; i++) {
		if (r->v4[i].first > r->v4[i].last)
			return false;
		/* after the previous range, with a gap of at least one address */
		if (i && (r->v4[i - 1].last == UINT32_MAX || r->v4[i].first <= r->v4[i - 1].last + 1))
			return false;
	}
	for (size_t i = 0; i < r->n6; i++) {
		if (memcmp(r->v6[i].first, r->v6[i].last, 16) > 0)
			return false;
		if (i && (memcmp(r->v6[i].first, r->v6[i - 1].last, 16) <= 0 ||
			  v6_adjacent(r->v6[i - 1].last, r->v6[i].first)))
			return false;
	}
	return true;
}

/* r written back as bare "first-last" lines and parsed again must give r. */
static void check_fixpoint(const struct blocklist_ranges *r)
{
	size_t cap = (r->n4 + r->n6) * 84 + 1, len = 0;
	char *text = xmalloc(cap), a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	struct blocklist_ranges again = { 0 };

	for (size_t i = 0; i < r->n4; i++) {
		uint32_t f = htonl(r->v4[i].first), l = htonl(r->v4[i].last);
		inet_ntop(AF_INET, &f, a, sizeof a);
		inet_ntop(AF_INET, &l, b, sizeof b);
		len += (size_t)snprintf(text + len, cap - len, "%s-%s\n", a, b);
	}
	for (size_t i = 0; i < r->n6; i++) {
		inet_ntop(AF_INET6, r->v6[i].first, a, sizeof a);
		inet_ntop(AF_INET6, r->v6[i].last, b, sizeof b);
		len += (size_t)snprintf(text + len, cap - len, "%s-%s\n", a, b);
	}
	if (blocklist_parse(text, len, &again) != 0 || again.n4 != r->n4 || again.n6 != r->n6 ||
	    again.malformed != 0 ||
	    (r->n4 && memcmp(again.v4, r->v4, r->n4 * sizeof *r->v4) != 0) ||
	    (r->n6 && memcmp(again.v6, r->v6, r->n6 * sizeof *r->v6) != 0)) {
		fprintf(stderr, "blocklist: parsing the merged ranges back gives other ranges "
			"(%zu+%zu -> %zu+%zu, %zu malformed)\n%s", r->n4, r->n6, again.n4, again.n6,
			again.malformed, text);
		abort();
	}
	blocklist_ranges_free(&again);
	free(text);
}

static void decode_body(const uint8_t *data, size_t size)
{
	struct blocklist_ranges r = { 0 };
	char err[256] = "";
	int rc = blocklist_decode(data, size, &r, err, sizeof err);

	if (rc < 0) {
		/* refused: a reason, nothing left allocated for the engine */
		if (!err[0] || r.v4 || r.v6 || (rc != -EBADMSG && rc != -EFBIG)) {
			fprintf(stderr, "blocklist: refused (%d) without a reason or with ranges\n", rc);
			abort();
		}
		return;
	}
	if (r.n4 + r.n6 == 0 || r.n4 + r.n6 > r.entries || r.malformed > r.entries ||
	    !ranges_ok(&r)) {
		fprintf(stderr, "blocklist: accepted list breaks the promise: %zu+%zu ranges of "
			"%zu entries, %zu malformed\n", r.n4, r.n6, r.entries, r.malformed);
		abort();
	}
	check_fixpoint(&r);
	blocklist_ranges_free(&r);
}

static void read_cache(const uint8_t *data, size_t size)
{
	static char path[512];
	struct ranges_header h = { .lines = 7, .malformed = 1 };
	struct blocklist_ranges r;
	gs_blocklist b = { .ranges_path = path };

	if (!path[0])
		snprintf(path, sizeof path, "%s/blocklist.ranges", fuzz_tmpdir());
	if (size < 2)
		return;
	h.n4 = data[0];
	h.n6 = data[1];
	data += 2;
	size -= 2;
	/* the payload: as many ranges as the counts ask for (zeros past the input) */
	size_t p4 = h.n4 * sizeof(bt_ip4_range), p6 = h.n6 * sizeof(bt_ip6_range);
	size_t body = p4 + p6, flen = sizeof h + body;
	if (size > body)
		flen += size - body;    /* trailing bytes: the size check must refuse them */
	unsigned char *file = xcalloc(1, flen);
	memcpy(file + sizeof h, data, size < flen - sizeof h ? size : flen - sizeof h);
	uLong crc = crc32(0L, Z_NULL, 0);
	crc = crc32(crc, file + sizeof h, (uInt)body);
	memcpy(h.magic, RANGES_MAGIC, 8);
	h.crc = (uint32_t)crc;
	memcpy(file, &h, sizeof h);
	if (fuzz_write_file(path, file, flen) != 0)
		abort();
	free(file);
	if (read_ranges(&b, &r) == 0) {
		/* what load_saved hands to the engine as is */
		if (!ranges_ok(&r)) {
			fprintf(stderr, "blocklist: the ranges cache loaded unsorted, unmerged or "
				"reversed ranges into the filter\n");
			abort();
		}
		blocklist_ranges_free(&r);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;

	if (!init) {
		fuzz_logs_off();
		init = true;
	}
	if (size < 1)
		return 0;
	if (data[0] & 1)
		read_cache(data + 1, size - 1);
	else
		decode_body(data + 1, size - 1);
	return 0;
}
