/*
 * scale.c: TAP tests of ir-scale's policy (src/lib/scale.c) on synthetic
 * traces: a step, a burst, a ramp, an idle queue, a flapping depth, the
 * band limits, the target, the cooldown window and its state file.
 *
 * A trace is replayed tick by tick through ir_scale_decide with workers
 * that obey at once (started ones appear, stopped ones vanish), as the
 * scaler's loop would see them, unless a test says otherwise.
 */
#include <stdio.h>
#include <string.h>

#include "scale.h"
#include "tap.h"

static void
is(long got, long want, const char *what)
{
	ok(got == want, "%s", what);
	if (got != want)
		printf("#   got %ld, expected %ld\n", got, want);
}

static struct ir_scale_policy
pol(long target, int min, int max, double cooldown)
{
	struct ir_scale_policy p = { target, min, max, cooldown };

	return p;
}

/*
 * Replays depth[] (visible, nothing in flight), one tick per second from
 * t0, starting with *workers; records each tick's workers after acting
 * into trace[] and returns the number of scale-in actions.
 */
static int
replay(const struct ir_scale_policy *p, struct ir_scale_state *s,
    const long *depth, int n, int *workers, double t0, int *trace,
    enum ir_scale_action *acts)
{
	struct ir_scale_decision d;
	int i, ins = 0;

	for (i = 0; i < n; i++) {
		ir_scale_decide(p, s, depth[i], 0, *workers, t0 + i, &d);
		*workers += d.delta;
		if (d.action == IR_SCALE_IN)
			ins++;
		if (trace)
			trace[i] = *workers;
		if (acts)
			acts[i] = d.action;
	}
	return ins;
}

static void
test_desired(void)
{
	struct ir_scale_policy p = pol(1, 0, 19, 30);

	is(ir_scale_desired(&p, 0), 0, "desired: empty queue, min 0 -> 0");
	is(ir_scale_desired(&p, 7), 7, "desired: 7 messages, target 1 -> 7");
	is(ir_scale_desired(&p, 100), 19, "desired: 100 clamped to max 19");
	is(ir_scale_desired(&p, -5), 0, "desired: negative backlog reads 0");
	p = pol(5, 0, 19, 30);
	is(ir_scale_desired(&p, 11), 3, "desired: target 5, 11 -> ceil 3");
	is(ir_scale_desired(&p, 10), 2, "desired: target 5, 10 -> exactly 2");
	is(ir_scale_desired(&p, 1), 1, "desired: target 5, 1 -> 1");
	p = pol(1, 2, 4, 30);
	is(ir_scale_desired(&p, 0), 2, "desired: min 2 holds an idle floor");
	p = pol(1000000, 0, 19, 0);
	is(ir_scale_desired(&p, 0x7fffffffffffffffL), 19,
	    "desired: huge backlog does not overflow");
}

static void
test_check(void)
{
	char err[IR_ERRMAX];
	struct ir_scale_policy p;

	p = pol(1, 0, 19, 30);
	is(ir_scale_policy_check(&p, err), IR_OK, "check: defaults accepted");
	p = pol(0, 0, 19, 30);
	ok(ir_scale_policy_check(&p, err) == IR_EINVAL &&
	    strstr(err, "target"), "check: target 0 refused");
	p = pol(1, 5, 3, 30);
	ok(ir_scale_policy_check(&p, err) == IR_EINVAL &&
	    strstr(err, "above"), "check: min above max refused");
	p = pol(1, -1, 3, 30);
	ok(ir_scale_policy_check(&p, err) == IR_EINVAL,
	    "check: negative min refused");
	p = pol(1, 0, 3, -1);
	ok(ir_scale_policy_check(&p, err) == IR_EINVAL,
	    "check: negative cooldown refused");
	p = pol(1, 0, IR_ACT_MAXID + 1, 1);
	ok(ir_scale_policy_check(&p, err) == IR_EINVAL,
	    "check: max above the slot limit refused");
}

static void
test_step(void)
{
	struct ir_scale_policy p = pol(1, 0, 19, 30);
	struct ir_scale_state s;
	struct ir_scale_decision d;
	long depth[12] = { 0, 0, 0, 10, 10, 10, 10, 10, 10, 10, 10, 10 };
	int trace[12], w = 0, i, outs = 0;
	enum ir_scale_action acts[12];

	memset(&s, 0, sizeof s);
	replay(&p, &s, depth, 12, &w, 100, trace, acts);
	is(trace[2], 0, "step: no workers before the step");
	is(acts[3], IR_SCALE_OUT, "step: scale out on the tick of the step");
	is(trace[3], 10, "step: all 10 started at once");
	for (i = 0; i < 12; i++)
		outs += acts[i] == IR_SCALE_OUT;
	is(outs, 1, "step: one scale-out, then hold");
	is(acts[11], IR_SCALE_HOLD, "step: hold at 10");

	/* in-flight messages count as backlog too */
	memset(&s, 0, sizeof s);
	ir_scale_decide(&p, &s, 3, 4, 2, 1, &d);
	ok(d.backlog == 7 && d.desired == 7 && d.delta == 5 &&
	    d.action == IR_SCALE_OUT, "step: visible 3 + in flight 4 -> 7");
}

static void
test_burst(void)
{
	struct ir_scale_policy p = pol(1, 0, 15, 30);
	struct ir_scale_state s;
	struct ir_scale_decision d;
	long depth[8];
	int trace[8], w = 0, i, maxw = 0;

	/* 100 requests land at once and drain by 15 a tick (as 15 workers
	 * in flight then done) */
	for (i = 0; i < 8; i++)
		depth[i] = 100 - 15 * i > 0 ? 100 - 15 * i : 0;
	memset(&s, 0, sizeof s);
	ir_scale_decide(&p, &s, 100, 0, 0, 10, &d);
	ok(d.desired == 15 && d.delta == 15 && d.action == IR_SCALE_OUT,
	    "burst: 100 requests, -M 15 -> desired 15, start 15 at once");
	w = 15;
	replay(&p, &s, depth + 1, 7, &w, 11, trace, NULL);
	for (i = 0; i < 7; i++)
		if (trace[i] > maxw)
			maxw = trace[i];
	is(maxw, 15, "burst: never above the band's max");
	is(trace[5], 15, "burst: drained queue, cooldown keeps the workers");
	p = pol(1, 0, 19, 30);
	memset(&s, 0, sizeof s);
	ir_scale_decide(&p, &s, 100, 0, 0, 10, &d);
	is(d.desired, 19, "burst: default band caps at 19 (the seed's)");
}

static void
test_ramp(void)
{
	struct ir_scale_policy p = pol(2, 1, 19, 30);
	struct ir_scale_state s;
	long depth[60];
	int trace[60], w = 0, i, mono = 1, ins;

	for (i = 0; i < 60; i++)
		depth[i] = i;           /* one more message a second */
	memset(&s, 0, sizeof s);
	ins = replay(&p, &s, depth, 60, &w, 0, trace, NULL);
	for (i = 1; i < 60; i++)
		if (trace[i] < trace[i - 1])
			mono = 0;
	ok(mono, "ramp: workers never go down on a rising queue");
	is(ins, 0, "ramp: no scale-in");
	is(trace[0], 1, "ramp: min 1 from the first tick");
	is(trace[10], 5, "ramp: 10 messages, target 2 -> 5 workers");
	is(trace[59], 19, "ramp: capped at max 19");
}

static void
test_idle(void)
{
	struct ir_scale_policy p = pol(1, 0, 19, 10);
	struct ir_scale_state s;
	long depth[20] = { 0 };
	int trace[20], w = 5, ins;
	enum ir_scale_action acts[20];
	struct ir_scale_decision d;

	memset(&s, 0, sizeof s);
	ins = replay(&p, &s, depth, 20, &w, 1000, trace, acts);
	is(acts[0], IR_SCALE_WAIT, "idle: first idle tick waits");
	is(trace[9], 5, "idle: workers kept for the 10 s cooldown");
	is(acts[10], IR_SCALE_IN, "idle: scale in once the cooldown passed");
	is(trace[10], 0, "idle: down to min 0");
	is(ins, 1, "idle: one scale-in only");
	is(acts[19], IR_SCALE_HOLD, "idle: then hold at 0");

	/* the cooldown's time left is reported */
	memset(&s, 0, sizeof s);
	ir_scale_decide(&p, &s, 0, 0, 3, 50, &d);
	ir_scale_decide(&p, &s, 0, 0, 3, 54, &d);
	ok(d.action == IR_SCALE_WAIT && d.wait_s > 5.9 && d.wait_s < 6.1,
	    "idle: 6 s of cooldown left after 4 s");

	/* min keeps a floor */
	p = pol(1, 2, 19, 10);
	memset(&s, 0, sizeof s);
	w = 6;
	replay(&p, &s, depth, 20, &w, 0, trace, NULL);
	is(trace[19], 2, "idle: scale in stops at min 2");

	/* cooldown 0 scales in at once */
	p = pol(1, 0, 19, 0);
	memset(&s, 0, sizeof s);
	ir_scale_decide(&p, &s, 0, 0, 4, 7, &d);
	ok(d.action == IR_SCALE_IN && d.delta == -4, "idle: cooldown 0 stops at once");

	/* after a scale-in the cooldown starts over */
	p = pol(1, 0, 19, 5);
	memset(&s, 0, sizeof s);
	ir_scale_decide(&p, &s, 4, 0, 10, 0, &d);
	ir_scale_decide(&p, &s, 4, 0, 10, 5, &d);
	ok(d.action == IR_SCALE_IN && d.delta == -6, "idle: 10 -> 4 after 5 s");
	ir_scale_decide(&p, &s, 2, 0, 4, 6, &d);
	ok(d.action == IR_SCALE_WAIT, "idle: a further drop waits a new cooldown");
	ir_scale_decide(&p, &s, 2, 0, 4, 10.5, &d);
	ok(d.action == IR_SCALE_WAIT, "idle: still waiting 4.5 s into it");
	ir_scale_decide(&p, &s, 2, 0, 4, 11, &d);
	ok(d.action == IR_SCALE_IN && d.delta == -2, "idle: 4 -> 2 after it");

	/* workers that exit by themselves end the window */
	p = pol(1, 0, 19, 10);
	memset(&s, 0, sizeof s);
	ir_scale_decide(&p, &s, 0, 0, 4, 0, &d);
	ir_scale_decide(&p, &s, 0, 0, 0, 2, &d);
	ok(d.action == IR_SCALE_HOLD && !s.below,
	    "idle: workers gone on their own -> hold, window over");
}

static void
test_flapping(void)
{
	struct ir_scale_policy p = pol(1, 0, 19, 5);
	struct ir_scale_state s;
	long depth[40];
	int trace[40], w, i, ins;

	/* 10, 0, 10, 0...: back at the workers' number every other tick */
	for (i = 0; i < 40; i++)
		depth[i] = i % 2 ? 0 : 10;
	memset(&s, 0, sizeof s);
	w = 10;
	ins = replay(&p, &s, depth, 40, &w, 0, trace, NULL);
	is(ins, 0, "flapping 10/0: no scale-in at all");
	is(trace[39], 10, "flapping 10/0: workers steady at 10");

	/* 6, 2, 6, 2... below 10 workers: after the cooldown stop down to
	 * the window's highest (6), never to 2 */
	for (i = 0; i < 40; i++)
		depth[i] = i % 2 ? 2 : 6;
	memset(&s, 0, sizeof s);
	w = 10;
	ins = replay(&p, &s, depth, 40, &w, 0, trace, NULL);
	is(trace[4], 10, "flapping 6/2: kept during the cooldown");
	is(trace[5], 6, "flapping 6/2: stopped down to the window's max 6");
	is(ins, 1, "flapping 6/2: one scale-in, no churn after");
	is(trace[39], 6, "flapping 6/2: steady at 6");

	/* a burst in the middle of a window restarts it */
	memset(&s, 0, sizeof s);
	{
		long d2[12] = { 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0 };
		enum ir_scale_action a[12];

		w = 9;
		replay(&p, &s, d2, 12, &w, 0, trace, a);
		is(a[4], IR_SCALE_HOLD, "flapping: back to 9 mid-window holds");
		is(trace[8], 9, "flapping: window restarted after the burst");
		is(a[10], IR_SCALE_IN, "flapping: scale-in 5 s after the burst");
		is(trace[10], 0, "flapping: then down to 0");
	}
}

static void
test_band(void)
{
	struct ir_scale_policy p = pol(1, 3, 5, 10);
	struct ir_scale_state s;
	struct ir_scale_decision d;

	memset(&s, 0, sizeof s);
	ir_scale_decide(&p, &s, 0, 0, 0, 1, &d);
	ok(d.desired == 3 && d.delta == 3, "band: below min starts up to min");
	ir_scale_decide(&p, &s, 50, 0, 3, 2, &d);
	ok(d.desired == 5 && d.delta == 2, "band: above max starts up to max");
	/* more workers than max (max lowered): in after the cooldown */
	memset(&s, 0, sizeof s);
	ir_scale_decide(&p, &s, 50, 0, 8, 0, &d);
	ok(d.action == IR_SCALE_WAIT, "band: over max waits for the cooldown");
	ir_scale_decide(&p, &s, 50, 0, 8, 10, &d);
	ok(d.action == IR_SCALE_IN && d.delta == -3,
	    "band: over max stopped down to max");
	/* a clock that went back starts the window over */
	memset(&s, 0, sizeof s);
	ir_scale_decide(&p, &s, 0, 0, 5, 100, &d);
	ir_scale_decide(&p, &s, 0, 0, 5, 50, &d);
	ok(d.action == IR_SCALE_WAIT && s.below_since == 50,
	    "band: clock going back restarts the cooldown");
	is(strcmp(ir_scale_action_name(IR_SCALE_IN), "in"), 0,
	    "names: in");
}

static void
test_state(void)
{
	struct ir_scale_policy p = pol(1, 0, 19, 10);
	struct ir_scale_state s, t;
	struct ir_scale_decision d;
	char buf[512], err[IR_ERRMAX];
	int n;

	/* a one-shot run per tick, state through text, acts like the loop */
	memset(&s, 0, sizeof s);
	ir_scale_decide(&p, &s, 0, 0, 4, 1000.5, &d);
	n = ir_scale_state_format(&s, buf, sizeof buf);
	ok(n > 0 && (size_t)n < sizeof buf, "state: formatted");
	is(ir_scale_state_parse(buf, &t, err), IR_OK, "state: parsed back");
	ok(t.below && t.below_since == 1000.5 && t.window_max == 0 && t.last_workers == 4,
	    "state: round trip keeps the window");
	ir_scale_decide(&p, &t, 0, 0, 4, 1010.5, &d);
	ok(d.action == IR_SCALE_IN && d.delta == -4,
	    "state: the next run finishes the cooldown");
	is(ir_scale_state_parse("below_since=abc\n", &t, err), IR_EINVAL,
	    "state: bad number refused");
	ok(!t.below && t.below_since == 0, "state: a refused file reads as a fresh state");
	is(ir_scale_state_parse("garbage\n", &t, err), IR_EINVAL,
	    "state: line without = refused");
	is(ir_scale_state_parse("future_key=1\nwindow_max=3\n", &t, err),
	    IR_OK, "state: unknown keys ignored");
	is(t.window_max, 3, "state: known key read");
	is(ir_scale_state_parse("", &t, err), IR_OK, "state: empty is fresh");
}

int
main(void)
{
	test_desired();
	test_check();
	test_step();
	test_burst();
	test_ramp();
	test_idle();
	test_flapping();
	test_band();
	test_state();
	printf("1..%d\n", tap_n);
	return tap_fail != 0;
}
