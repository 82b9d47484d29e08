/* warmup_chunk.c - the warmup file format: little-endian fields, CRC-32 (zlib), the
 * header, the per-slot records, the chunk/slot layout of a file and the file names; and
 * whole-buffer pread/pwrite. Pure functions without state (docs/internals/warmup.md),
 * called by the read path, the start-up load and the writer thread. */
#include "warmup_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

void wu_put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

void wu_put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

uint32_t wu_get_le32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint64_t wu_get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint32_t wu_crc_of(const void *p, size_t n)
{
	return (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), p, n);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int wu_parse_key(const char *hash, uint32_t idx, struct wu_key *k)
{
	if (!hash)
		return -EINVAL;
	for (int i = 0; i < 20; i++) {
		int hi = hexval((unsigned char)hash[2 * i]), lo;
		if (hi < 0)
			return -EINVAL;
		lo = hexval((unsigned char)hash[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		k->hash[i] = (uint8_t)(hi << 4 | lo);
	}
	if (hash[40])
		return -EINVAL;
	k->idx = idx;
	return 0;
}

void wu_key_name(const struct wu_key *k, char *out, size_t n)
{
	char hex[41];
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", k->hash[i]);
	snprintf(out, n, "%s-%" PRIu32 WU_SUFFIX, hex, k->idx);
}

bool wu_key_eq(const struct wu_key *a, const struct wu_key *b)
{
	return a->idx == b->idx && memcmp(a->hash, b->hash, 20) == 0;
}

uint64_t wu_key_hash(const struct wu_key *k)
{
	uint64_t h;
	memcpy(&h, k->hash, 8);        /* an info-hash is already uniform */
	return h ^ ((uint64_t)k->idx * 0x9e3779b97f4a7c15ULL);
}

int wu_pread_full(int fd, void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, off + (off_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ENODATA;   /* file shorter than its records say: truncated */
		done += (size_t)r;
	}
	return 0;
}

int wu_pwrite_full(int fd, const void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return 0;
}

/* --- layout --- */

void wu_layout_of(const struct warmup_opts *o, int64_t file_size, struct wu_layout *l)
{
	uint64_t c = o->chunk_size, fs = (uint64_t)file_size, tstart;

	l->file_size = file_size;
	l->nchunks = (fs + c - 1) / c;
	l->nh = (o->head_size + c - 1) / c;
	if (l->nh > l->nchunks)
		l->nh = l->nchunks;
	if (o->tail_size == 0) {
		l->t0 = l->nchunks;
	} else {
		tstart = o->tail_size >= fs ? 0 : fs - o->tail_size;
		l->t0 = tstart / c;
	}
	if (l->t0 < l->nh)
		l->t0 = l->nh;
	l->ns = l->nh + (l->nchunks - l->t0);
	l->data_off = (WU_HDR_SIZE + l->ns * WU_REC_SIZE + 4095) & ~(uint64_t)4095;
}

/* Slot of chunk k, or -1 when k is in neither region. */
int64_t wu_slot_of(const struct wu_layout *l, uint64_t k)
{
	if (k < l->nh)
		return (int64_t)k;
	if (k >= l->t0 && k < l->nchunks)
		return (int64_t)(l->nh + (k - l->t0));
	return -1;
}

uint32_t wu_chunk_len(const struct wu_layout *l, uint32_t c, uint64_t k)
{
	uint64_t start = k * c, fs = (uint64_t)l->file_size;
	return (uint32_t)(fs - start < c ? fs - start : c);
}

off_t wu_slot_data_off(const struct wu_layout *l, uint32_t c, uint64_t s)
{
	return (off_t)(l->data_off + s * c);
}

off_t wu_slot_rec_off(uint64_t s)
{
	return (off_t)(WU_HDR_SIZE + s * WU_REC_SIZE);
}

void wu_rec_encode(unsigned char rec[WU_REC_SIZE], uint64_t nonce, uint64_t slot,
		uint32_t len, uint32_t crc)
{
	unsigned char in[28];

	wu_put_le64(in, nonce);
	wu_put_le64(in + 8, slot);
	wu_put_le32(in + 16, WU_REC_TAG);
	wu_put_le32(in + 20, len);
	wu_put_le32(in + 24, crc);
	memcpy(rec, in + 16, 12);
	wu_put_le32(rec + 12, wu_crc_of(in, sizeof(in)));
}

/* 1 and the chunk's len/crc when rec is a valid record for this file and slot. */
int wu_rec_decode(const unsigned char rec[WU_REC_SIZE], uint64_t nonce, uint64_t slot,
		uint32_t *len, uint32_t *crc)
{
	unsigned char want[WU_REC_SIZE];

	if (wu_get_le32(rec) != WU_REC_TAG)
		return 0;
	*len = wu_get_le32(rec + 4);
	*crc = wu_get_le32(rec + 8);
	wu_rec_encode(want, nonce, slot, *len, *crc);
	return memcmp(want, rec, WU_REC_SIZE) == 0;
}

int wu_parse_name(const char *name, struct wu_key *k)
{
	char hex[41];
	char *end;
	unsigned long v;

	if (strlen(name) < 42 || name[40] != '-')
		return -EINVAL;
	memcpy(hex, name, 40);
	hex[40] = 0;
	if (name[41] < '0' || name[41] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(name + 41, &end, 10);
	if (errno || v > UINT32_MAX || strcmp(end, WU_SUFFIX) != 0)
		return -EINVAL;
	if (wu_parse_key(hex, (uint32_t)v, k) < 0)
		return -EINVAL;
	return 0;
}

void wu_header_encode(const struct warmup_opts *o, const struct wu_entry *e, unsigned char *h)
{
	memset(h, 0, WU_HDR_SIZE);
	memcpy(h, WU_MAGIC, 8);
	wu_put_le32(h + 8, WU_VERSION);
	wu_put_le32(h + 12, o->chunk_size);
	memcpy(h + 16, e->key.hash, 20);
	wu_put_le32(h + 36, e->key.idx);
	wu_put_le64(h + 40, (uint64_t)e->l.file_size);
	wu_put_le64(h + 48, o->head_size);
	wu_put_le64(h + 56, o->tail_size);
	wu_put_le64(h + 64, e->nonce);
	wu_put_le64(h + 72, e->l.ns);
	wu_put_le64(h + 80, e->l.data_off);
	wu_put_le32(h + WU_HDR_USED, wu_crc_of(h, WU_HDR_USED));
}

/* Checks a header against the file's key k and the options o; fills the file's layout l
 * and nonce. Returns NULL or a short reason. */
const char *wu_header_check(const struct warmup_opts *o, const unsigned char *h,
		const struct wu_key *k, struct wu_layout *l, uint64_t *nonce)
{
	uint64_t fs;

	if (memcmp(h, WU_MAGIC, 8) != 0)
		return "bad magic";
	if (wu_get_le32(h + WU_HDR_USED) != wu_crc_of(h, WU_HDR_USED))
		return "header checksum mismatch";
	if (wu_get_le32(h + 8) != WU_VERSION)
		return "unknown version";
	if (memcmp(h + 16, k->hash, 20) != 0 || wu_get_le32(h + 36) != k->idx)
		return "header does not match the file name";
	if (wu_get_le32(h + 12) != o->chunk_size || wu_get_le64(h + 48) != o->head_size ||
	    wu_get_le64(h + 56) != o->tail_size)
		return "made with other chunk/head/tail sizes";
	fs = wu_get_le64(h + 40);
	if (fs == 0 || fs > INT64_MAX)
		return "bad file size";
	wu_layout_of(o, (int64_t)fs, l);
	if (wu_get_le64(h + 72) != l->ns || wu_get_le64(h + 80) != l->data_off)
		return "layout mismatch";
	*nonce = wu_get_le64(h + 64);
	return NULL;
}
