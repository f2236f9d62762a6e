/*
 * scale.c: ir-scale's policy, pure: counters + workers + clock + state in,
 * a decision out (see scale.h for the rule and the reasoning).
 *
 * Invariants: desired is always inside [min, max]; a decision never stops
 * workers before desired has been below the number of workers for the
 * whole cooldown, and never stops below the highest desired of that
 * window; scale-out never waits.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scale.h"

int
ir_scale_policy_check(const struct ir_scale_policy *p, char *err)
{
	if (p->target < 1)
		return ir_err(err, IR_EINVAL, "target per worker must be >= 1");
	if (p->min < 0 || p->max < 0)
		return ir_err(err, IR_EINVAL, "band must not be negative");
	if (p->min > p->max)
		return ir_err(err, IR_EINVAL,
		    "minimum %d is above maximum %d", p->min, p->max);
	if (p->max > IR_ACT_MAXID)
		return ir_err(err, IR_EINVAL, "maximum %d is above %d",
		    p->max, IR_ACT_MAXID);
	if (!(p->cooldown_s >= 0) || isinf(p->cooldown_s))
		return ir_err(err, IR_EINVAL, "cooldown must be >= 0 seconds");
	return IR_OK;
}

int
ir_scale_desired(const struct ir_scale_policy *p, long backlog)
{
	long want;

	if (backlog < 0)
		backlog = 0;
	/* ceil without overflow: backlog / target rounded up */
	want = backlog / p->target + (backlog % p->target != 0);
	if (want < p->min)
		want = p->min;
	if (want > p->max)
		want = p->max;
	return (int)want;
}

void
ir_scale_decide(const struct ir_scale_policy *p, struct ir_scale_state *s,
    long visible, long inflight, int workers, double now,
    struct ir_scale_decision *d)
{
	memset(d, 0, sizeof *d);
	d->visible = visible > 0 ? visible : 0;
	d->inflight = inflight > 0 ? inflight : 0;
	d->backlog = d->visible + d->inflight;
	d->workers = workers > 0 ? workers : 0;
	d->desired = ir_scale_desired(p, d->backlog);

	if (d->desired >= d->workers) {
		/* at or above: the scale-in window (if any) is over */
		s->below = 0;
		s->below_since = 0;
		s->window_max = 0;
		if (d->desired > d->workers) {
			d->action = IR_SCALE_OUT;
			d->delta = d->desired - d->workers;
		} else
			d->action = IR_SCALE_HOLD;
	} else {
		if (!s->below || now < s->below_since) {
			/* a new window (or a clock that went back) */
			s->below = 1;
			s->below_since = now;
			s->window_max = d->desired;
		} else if (d->desired > s->window_max)
			s->window_max = d->desired;
		if (now - s->below_since >= p->cooldown_s) {
			int keep = s->window_max;

			if (keep < p->min)
				keep = p->min;
			d->action = IR_SCALE_IN;
			d->delta = keep - d->workers;
			/* after a scale-in the cooldown starts over */
			s->below = 0;
			s->below_since = 0;
			s->window_max = 0;
			if (d->delta >= 0) {
				d->delta = 0;
				d->action = IR_SCALE_WAIT;
			}
		} else {
			d->action = IR_SCALE_WAIT;
			d->wait_s = p->cooldown_s - (now - s->below_since);
		}
	}
	s->last_t = now;
	s->last_desired = d->desired;
	s->last_workers = d->workers;
}

const char *
ir_scale_action_name(enum ir_scale_action a)
{
	switch (a) {
	case IR_SCALE_HOLD: return "hold";
	case IR_SCALE_OUT: return "out";
	case IR_SCALE_WAIT: return "wait";
	case IR_SCALE_IN: return "in";
	}
	return "?";
}

int
ir_scale_state_format(const struct ir_scale_state *s, char *buf, size_t len)
{
	return snprintf(buf, len,
	    "below=%d\nbelow_since=%.3f\nwindow_max=%d\nlast_t=%.3f\n"
	    "last_desired=%d\nlast_workers=%d\n",
	    s->below, s->below_since, s->window_max, s->last_t, s->last_desired,
	    s->last_workers);
}

static int
parse_double(const char *v, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(v, &end);
	return errno == 0 && end != v && *end == '\0' && isfinite(*out) &&
	    *out >= 0;
}

static int
parse_int(const char *v, int *out)
{
	char *end;
	long l;

	errno = 0;
	l = strtol(v, &end, 10);
	if (errno || end == v || *end || l < 0 || l > IR_ACT_MAXID)
		return 0;
	*out = (int)l;
	return 1;
}

int
ir_scale_state_parse(const char *text, struct ir_scale_state *s, char *err)
{
	struct ir_scale_state t;
	char line[128], *eq;
	const char *p = text, *nl;
	size_t n;
	int good;

	memset(&t, 0, sizeof t);
	memset(s, 0, sizeof *s);
	while (*p) {
		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		if (n >= sizeof line)
			return ir_err(err, IR_EINVAL, "state line too long");
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (nl != NULL);
		if (!*line)
			continue;
		if (!(eq = strchr(line, '=')))
			return ir_err(err, IR_EINVAL,
			    "state line without '=': %.40s", line);
		*eq++ = '\0';
		good = 1;
		if (!strcmp(line, "below"))
			good = parse_int(eq, &t.below) && t.below <= 1;
		else if (!strcmp(line, "below_since"))
			good = parse_double(eq, &t.below_since);
		else if (!strcmp(line, "window_max"))
			good = parse_int(eq, &t.window_max);
		else if (!strcmp(line, "last_t"))
			good = parse_double(eq, &t.last_t);
		else if (!strcmp(line, "last_desired"))
			good = parse_int(eq, &t.last_desired);
		else if (!strcmp(line, "last_workers"))
			good = parse_int(eq, &t.last_workers);
		if (!good)
			return ir_err(err, IR_EINVAL, "bad state value %s=%.40s",
			    line, eq);
	}
	*s = t;
	return IR_OK;
}
