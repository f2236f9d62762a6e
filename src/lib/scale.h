/*
 * scale.h: the autoscaling policy of ir-scale (scale.c) and the actuators
 * that carry its decisions out (actuator.c).
 *
 * The policy is pure: a function of the queue's counters, the number of
 * workers, the clock and a small state that survives between runs, so one
 * decision per run from a timer behaves as a loop does, and the unit tests
 * replay synthetic traces through it.
 *
 *   backlog = visible + in flight (the queue's own counters)
 *   desired = clamp(ceil(backlog / target), min, max)
 *
 * Scale out at once (desired > workers: start the difference). Scale in
 * only as a backstop: idle workers exit by themselves after their idle
 * time; when desired has stayed below the number of workers for the whole
 * cooldown, stop down to the highest desired seen in that window (the
 * stabilisation window of Kubernetes' HPA and KEDA), so a flapping depth
 * never makes workers churn. After a scale-in the cooldown starts over.
 */
#ifndef IR_SCALE_H
#define IR_SCALE_H

#include "util.h"

struct ir_scale_policy {
	long target;        /* backlog per worker, >= 1 */
	int min, max;       /* the band: 0 <= min <= max */
	double cooldown_s;  /* desired must stay below workers this long */
};

/* What survives between decisions (saved in the state folder). */
struct ir_scale_state {
	int below;          /* desired is below workers since below_since */
	double below_since;
	int window_max;     /* highest desired since below_since */
	double last_t;      /* time of the last decision; 0: none */
	int last_desired;
	int last_workers;
};

enum ir_scale_action {
	IR_SCALE_HOLD,  /* desired == workers: nothing to do */
	IR_SCALE_OUT,   /* start delta workers */
	IR_SCALE_WAIT,  /* desired < workers, cooldown still running */
	IR_SCALE_IN     /* stop -delta workers */
};

struct ir_scale_decision {
	long visible, inflight;
	long backlog;       /* visible + inflight, negatives read as 0 */
	int workers;
	int desired;        /* clamp(ceil(backlog / target), min, max) */
	int delta;          /* OUT: > 0 to start; IN: < 0 to stop; else 0 */
	enum ir_scale_action action;
	double wait_s;      /* WAIT: seconds of cooldown left */
};

/* IR_OK if p is usable, else IR_EINVAL with the reason in err. */
int ir_scale_policy_check(const struct ir_scale_policy *p, char *err);

/* clamp(ceil(backlog / p->target), p->min, p->max); backlog < 0 is 0. */
int ir_scale_desired(const struct ir_scale_policy *p, long backlog);

/*
 * One decision at time now (seconds, any clock that only moves forward
 * between the calls sharing s). Updates s (zeroed state = first run) and
 * fills d. The caller carries out d->delta.
 */
void ir_scale_decide(const struct ir_scale_policy *p, struct ir_scale_state *s,
    long visible, long inflight, int workers, double now,
    struct ir_scale_decision *d);

/* "hold", "out", "wait", "in". */
const char *ir_scale_action_name(enum ir_scale_action a);

/*
 * The state as text ("key=value" lines) and back. Format writes at most
 * len bytes and returns the length it needed (as snprintf). Parse ignores
 * unknown keys and returns IR_EINVAL for a malformed line (s is then the
 * zeroed state, which is always safe: the cooldown starts over).
 */
int ir_scale_state_format(const struct ir_scale_state *s, char *buf,
    size_t len);
int ir_scale_state_parse(const char *text, struct ir_scale_state *s,
    char *err);

/*
 * Actuators: how workers are counted, started and stopped. Each worker has
 * a small positive instance number (ir-worker@N, app-tier-instance-N, or a
 * local worker's slot), and new workers take the lowest free numbers.
 */
enum ir_act_kind { IR_ACT_LOCAL, IR_ACT_SYSTEMD, IR_ACT_EXEC };

struct ir_act {
	enum ir_act_kind kind;
	char *statedir;     /* local: the workers/ folder lives here */
	char *command;      /* exec: shell command; local: worker command */
	char **wargs;       /* local: extra arguments for each worker */
	int nwargs;
	double idle_s;      /* local: the workers' idle exit time (-i);
			       < 0: the worker's own default */
	const char *logfile; /* local: workers' stdout/stderr (append);
			       NULL: inherited */
	int persistent;     /* local: slots <= persistent start with -P */
	int lockfd;         /* local: inherited by children until exec */
	int readonly;       /* local: list without removing dead workers'
			       files (a dry run holds no lock) */
	int stop_busy;      /* local: a drain: SIGTERM busy workers too (they
			       finish their batch before exiting) */
};

#define IR_ACT_MAXID 4096

/*
 * Lists the running workers' instance numbers into ids (sorted, at most
 * IR_ACT_MAXID), *n their count. Workers being stopped are not counted.
 * Local: reads workers/N.pid, checks /proc/PID/stat's start time (so a
 * reused pid is not a worker), removes the files of dead workers.
 */
int ir_act_list(struct ir_act *a, int *ids, int *n, char *err);

/*
 * Starts count workers on the lowest free instance numbers given the
 * running ids; *started says how many did start (also on error).
 */
int ir_act_start(struct ir_act *a, const int *ids, int n, int count,
    int *started, char *err);

/*
 * Stops count workers, never one busy with a message: local workers get
 * SIGTERM (a worker finishes its batch, then exits), those whose state
 * file says "busy" are skipped and ones saying "idle" go first; systemd
 * units are stopped (SIGTERM, the same); exec calls CMD stop. Highest
 * numbers first. *stopped says how many.
 */
int ir_act_stop(struct ir_act *a, const int *ids, int n, int count,
    int *stopped, char *err);

/* Slots taken after the last ir_act_list: running workers plus those
 * still stopping (for a drain that waits until none is left). */
int ir_act_occupied(void);

/*
 * Reaps exited children of this process (local workers) without blocking.
 * Returns how many of them failed in a way a restart will not mend (exit
 * 2: bad gallery, model or URL; 126/127: the command cannot run), with
 * the last such status in *status (may be NULL).
 */
int ir_act_reap(int *status);

/* The start time of a process in clock ticks since boot (/proc/PID/stat
 * field 22) and its state letter; IR_ENOENT if there is no such process. */
int ir_proc_start(long pid, unsigned long long *start, char *state);

#endif
