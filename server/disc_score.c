/* disc_score.c - quality marks, score, Torrentio title fields, episode numbers (see
 * disc_score.h). Names are matched token by token (runs of [a-z0-9+] after lowercasing)
 * so "TS" inside "HEISTS" or "DV" inside "DVD" never count; audio channels are read
 * from the raw text ("DDP5.1" splits into tokens at the dot). */
#include "disc_score.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOK_MAX 64
/* A season or episode number above this is no numbering (and would not fit an int:
 * "1x2222222222222222222" came out negative) */
#define MAX_NUMBER 99999

static bool in_list(const char *tok, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(tok, *list) == 0)
			return true;
	return false;
}

static bool tok_char(int c)
{
	return isalnum(c) || c == '+';
}

/* "5.1" / "7.1" / "2.0" with no digit on either side (5.1 inside "DDP5.1" counts). */
static bool has_channels(const char *s, char major, char minor)
{
	for (const char *p = s; (p = strchr(p, major)); p++) {
		if (p > s && isdigit((unsigned char)p[-1]))
			continue;
		if ((p[1] == '.' || p[1] == ' ' || p[1] == '_') && p[2] == minor &&
		    !isdigit((unsigned char)p[3]))
			return true;
	}
	return false;
}

void disc_quality_parse(const char *text, struct disc_quality *q)
{
	static const char *const cams[] = { "cam", "hdcam", "camrip", "ts", "hdts", "telesync",
		"tc", "hdtc", "telecine", "scr", "screener", "dvdscr", "bdscr", "hdtsrip", NULL };
	static const char *const uhd[] = { "2160p", "4k", "uhd", "2160", NULL };
	char tok[TOK_MAX], prev[TOK_MAX] = "";
	const char *p = text;

	memset(q, 0, sizeof *q);
	while (p && *p) {
		size_t n = 0;
		while (*p && !tok_char((unsigned char)*p))
			p++;
		while (*p && tok_char((unsigned char)*p)) {
			if (n < TOK_MAX - 1)
				tok[n++] = (char)tolower((unsigned char)*p);
			p++;
		}
		tok[n] = '\0';
		if (!n)
			break;
		if (in_list(tok, uhd))
			q->res = 2160;
		else if (strcmp(tok, "1080p") == 0 || strcmp(tok, "1080i") == 0)
			q->res = q->res > 1080 ? q->res : 1080;
		else if (strcmp(tok, "720p") == 0)
			q->res = q->res > 720 ? q->res : 720;
		else if (strcmp(tok, "480p") == 0 || strcmp(tok, "576p") == 0 || strcmp(tok, "sd") == 0)
			q->res = q->res > 480 ? q->res : 480;
		else if (strcmp(tok, "dv") == 0 || strcmp(tok, "dovi") == 0 ||
			 strcmp(tok, "dolbyvision") == 0 ||
			 (strcmp(tok, "vision") == 0 && strcmp(prev, "dolby") == 0))
			q->dv = true;
		else if (strcmp(tok, "hdr10+") == 0 || strcmp(tok, "hdr10plus") == 0 ||
			 strcmp(tok, "hdr10p") == 0)
			q->hdr10p = true;
		else if (strcmp(tok, "hdr") == 0 || strcmp(tok, "hdr10") == 0)
			q->hdr = true;
		else if (strcmp(tok, "remux") == 0)
			q->remux = true;
		else if (strcmp(tok, "atmos") == 0)
			q->atmos = true;
		else if (strcmp(tok, "stereo") == 0)
			q->stereo = true;
		else if (strcmp(tok, "6ch") == 0 || strcmp(tok, "8ch") == 0)
			q->multich = true;
		else if (in_list(tok, cams))
			q->cam = true;
		snprintf(prev, sizeof prev, "%s", tok);
	}
	if (has_channels(text, '5', '1') || has_channels(text, '7', '1'))
		q->multich = true;
	if (has_channels(text, '2', '0'))
		q->stereo = true;
}

int disc_score(const struct disc_quality *q, int seeders)
{
	int s = q->res >= 2160 ? 1000 : q->res == 1080 ? 200 : 0;

	if (q->dv)
		s += 100;
	else if (q->hdr10p)
		s += 80;
	else if (q->hdr)
		s += 60;
	if (q->atmos)
		s += 50;
	else if (q->multich)
		s += 25;
	else if (q->stereo)
		s -= 50;
	if (q->remux)
		s += 30;
	return s + (seeders < 0 ? 0 : seeders > 50 ? 50 : seeders);
}

void disc_quality_label(const struct disc_quality *q, char *out, size_t n)
{
	size_t o = 0;

	out[0] = '\0';
#define ADD(cond, s) do { if ((cond) && o < n) \
		o += (size_t)snprintf(out + o, n - o, "%s%s", o ? " " : "", s); } while (0)
	ADD(q->res >= 2160, "2160p");
	ADD(q->res == 1080, "1080p");
	ADD(q->res == 720, "720p");
	ADD(q->res == 480, "SD");
	ADD(q->dv, "DV");
	ADD(q->hdr10p, "HDR10+");
	ADD(q->hdr && !q->hdr10p, "HDR");
	ADD(q->remux, "REMUX");
	ADD(q->atmos, "Atmos");
	ADD(!q->atmos && q->multich, "5.1");
	ADD(!q->atmos && !q->multich && q->stereo, "2.0");
	ADD(q->cam, "CAM");
#undef ADD
	if (!out[0])
		snprintf(out, n, "unknown");
}

bool disc_is_upgrade(int old_score, int new_score, double factor)
{
	return (double)new_score > (double)old_score * factor;
}

int disc_parse_seeders(const char *title)
{
	const char *p = title ? strstr(title, "\xF0\x9F\x91\xA4") : NULL;   /* 👤 */

	if (!p)
		return -1;
	p += 4;
	while (*p == ' ')
		p++;
	if (!isdigit((unsigned char)*p))
		return -1;
	long v = strtol(p, NULL, 10);
	return v > 1000000 ? 1000000 : (int)v;
}

int64_t disc_parse_size(const char *title)
{
	const char *p = title ? strstr(title, "\xF0\x9F\x92\xBE") : NULL;   /* 💾 */
	char *end;

	if (!p)
		return -1;
	p += 4;
	while (*p == ' ')
		p++;
	double v = strtod(p, &end);
	if (end == p || !(v >= 0 && v <= 1e6))     /* NaN too: its cast is undefined */
		return -1;
	while (*end == ' ')
		end++;
	double mult = 0;
	if (strncasecmp(end, "TB", 2) == 0)
		mult = 1024.0 * 1024 * 1024 * 1024;
	else if (strncasecmp(end, "GB", 2) == 0)
		mult = 1024.0 * 1024 * 1024;
	else if (strncasecmp(end, "MB", 2) == 0)
		mult = 1024.0 * 1024;
	else if (strncasecmp(end, "KB", 2) == 0)
		mult = 1024.0;
	else
		return -1;
	return (int64_t)(v * mult);
}

static bool word_start(const char *s, const char *p)
{
	return p == s || !isalnum((unsigned char)p[-1]);
}

int disc_parse_episode(const char *name, int *season, int *episode)
{
	const char *s = name;
	int pack_season = -1;

	if (!name)
		return -ENOENT;
	for (const char *p = s; *p; p++) {
		if (!word_start(s, p))
			continue;
		/* S01E02 / S01 / S01-S03 */
		if ((*p == 's' || *p == 'S') && isdigit((unsigned char)p[1])) {
			char *e;
			long sn = strtol(p + 1, &e, 10);
			if (e - (p + 1) > 2)
				continue;
			if ((*e == 'e' || *e == 'E') && isdigit((unsigned char)e[1])) {
				long en = strtol(e + 1, NULL, 10);
				if (en > MAX_NUMBER)
					continue;
				*season = (int)sn;
				*episode = (int)en;
				return 0;
			}
			if (!isalnum((unsigned char)*e) && pack_season < 0)
				pack_season = (int)sn;
			continue;
		}
		/* 1x02 */
		if (isdigit((unsigned char)*p)) {
			char *x;
			long sn = strtol(p, &x, 10);
			if (x - p <= 2 && (*x == 'x' || *x == 'X') && isdigit((unsigned char)x[1]) &&
			    isdigit((unsigned char)x[2])) {
				char *e;
				long ep = strtol(x + 1, &e, 10);
				if (!isalnum((unsigned char)*e) && ep <= MAX_NUMBER) {
					*season = (int)sn;
					*episode = (int)ep;
					return 0;
				}
			}
			continue;
		}
		/* "Season 1", "Season.01", "Season1" */
		if (strncasecmp(p, "season", 6) == 0 && pack_season < 0) {
			const char *q = p + 6;
			while (*q == ' ' || *q == '.' || *q == '_' || *q == '-')
				q++;
			long sn = isdigit((unsigned char)*q) ? strtol(q, NULL, 10) : -1;
			if (sn >= 0 && sn <= MAX_NUMBER)
				pack_season = (int)sn;
		}
	}
	if (pack_season >= 0) {
		*season = pack_season;
		*episode = 0;
		return 0;
	}
	return -ENOENT;
}
