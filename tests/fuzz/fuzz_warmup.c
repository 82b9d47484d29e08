/* fuzz_warmup.c - warmup files read back from disk (server/warmup*.c: the header, the
 * chunk record table, the CRC check of every chunk served). Options: 64 KiB chunks, a
 * 128 KiB head, a 64 KiB tail. Input: a flag byte, 8 bytes of file size (little-endian;
 * taken modulo 1 MiB unless flag bit 2), then the rest R. Flag bit 0 clear: R is the
 * warmup file as is. Set: the harness lays the file out as the writer does - header with
 * its CRC, one record per slot chosen by R[slot] % 4 (0 valid, 1 empty, 2 valid over data
 * damaged afterwards, 3 a wrong length, all with correct record CRCs), chunk data cycled
 * from R - so mutations get past the CRCs; bit 1 takes the header's first 88 bytes from R
 * (CRC fixed), bit 3 cuts the file short. Then the folder is opened and the file read:
 * what warmup_read serves must be exactly the bytes that were written, never damaged ones. */
#include "warmup_int.h"     /* the format helpers, to lay a valid file out */

#include "fuzz.h"
#include "mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *hash = "0123456789abcdef0123456789abcdef01234567";

static const struct warmup_opts opts = {
	.head_size = 128u << 10, .tail_size = 64u << 10, .quota = 1u << 30,
	.chunk_size = 64u << 10, .queue_max = 1u << 20, .partial_max = 1u << 20,
	.max_open_files = 4,
};

/* The byte the harness put at file offset off (fix mode). */
static uint8_t want_byte(const uint8_t *r, size_t rlen, uint64_t off)
{
	return rlen ? r[off % rlen] : (uint8_t)(off * 7);
}

static void check_read(warmup *w, int64_t fs, int64_t off, size_t len, bool fixed,
		       const uint8_t *r, size_t rlen)
{
	static uint8_t buf[256u << 10];
	ssize_t n;

	if (len > sizeof buf)
		len = sizeof buf;
	n = warmup_read(w, hash, 0, fs, off, buf, len);
	if (n < 0 && n != -ENOENT && n != -EINVAL && n != -EIO)
		abort();
	if (n > (ssize_t)len || (n > 0 && off + n > fs))
		abort();
	for (ssize_t i = 0; fixed && i < n; i++)
		if (buf[i] != want_byte(r, rlen, (uint64_t)(off + i)))
			abort();        /* served bytes that were never written there */
	(void)warmup_covered(w, hash, 0, fs, off, len);
	(void)warmup_pending(w, hash, 0, fs, off, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[512], path[700];
	uint8_t flag;
	uint64_t fs;
	const uint8_t *r;
	size_t rlen;
	unsigned char *file = NULL;
	size_t flen = 0;
	warmup *w = NULL;

	if (!dir[0]) {
		fuzz_logs_off();
		snprintf(dir, sizeof dir, "%s/warmup", fuzz_tmpdir());
		mkdir(dir, 0700);
		snprintf(path, sizeof path, "%s/%s-0.wu", dir, hash);
	}
	if (size < 9)
		return 0;
	flag = data[0];
	fs = wu_get_le64(data + 1);
	if (!(flag & 4))
		fs = fs % (1u << 20) + 1;
	r = data + 9;
	rlen = size - 9;
	fuzz_empty_dir(dir);

	if (flag & 1) {
		struct wu_entry e = { 0 };
		unsigned char *h;
		if (fs > INT64_MAX)
			fs = INT64_MAX;
		if (wu_parse_key(hash, 0, &e.key) < 0)
			abort();
		wu_layout_of(&opts, (int64_t)fs, &e.l);
		e.nonce = 0x0123456789abcdefull;
		flen = e.l.data_off + e.l.ns * opts.chunk_size;
		file = xcalloc(1, flen);
		h = file;
		wu_header_encode(&opts, &e, h);
		if ((flag & 2) && rlen >= WU_HDR_USED) {
			memcpy(h, r, WU_HDR_USED);
			wu_put_le32(h + WU_HDR_USED, wu_crc_of(h, WU_HDR_USED));
		}
		for (uint64_t s = 0; s < e.l.ns; s++) {
			uint64_t k = s < e.l.nh ? s : e.l.t0 + (s - e.l.nh);
			uint32_t len = wu_chunk_len(&e.l, opts.chunk_size, k);
			unsigned char *d = file + wu_slot_data_off(&e.l, opts.chunk_size, s);
			int mode = rlen > s ? r[s] % 4 : 0;
			for (uint32_t i = 0; i < len; i++)
				d[i] = want_byte(r, rlen, k * opts.chunk_size + i);
			if (mode == 1)
				continue;
			wu_rec_encode(file + wu_slot_rec_off(s), e.nonce, s, mode == 3 ? len + 1 : len,
				   wu_crc_of(d, len));
			if (mode == 2)
				d[len / 2] ^= 0x5a;
		}
		if ((flag & 8) && rlen >= 4)
			flen = wu_get_le32(r + rlen - 4) % (flen + 1);
	}
	if (fuzz_write_file(path, file ? file : r, file ? flen : rlen) < 0)
		abort();
	free(file);

	if (warmup_open(&w, dir, &opts) < 0)
		abort();
	int64_t f = (int64_t)(fs > INT64_MAX ? INT64_MAX : fs);
	bool fixed = (flag & 1) && !(flag & 2);
	check_read(w, f, 0, 4096, fixed, r, rlen);
	check_read(w, f, 100000, 100000, fixed, r, rlen);
	check_read(w, f, f > 1 ? f - 1 : 0, 1, fixed, r, rlen);
	check_read(w, f, f > 70000 ? f - 70000 : 0, 70000, fixed, r, rlen);
	if (rlen >= 12)
		check_read(w, f, (int64_t)(wu_get_le64(r + rlen - 12) % ((uint64_t)f + 1)),
			   wu_get_le32(r + rlen - 4) % (200u << 10), fixed, r, rlen);
	warmup_close(w);
	return 0;
}
