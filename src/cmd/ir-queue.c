/*
 * ir-queue: send, receive, delete, change the visibility of and count
 * messages on any queue ir can open (spool: or SQS), by hand or from
 * scripts and tests. See ir-queue(1).
 *
 * Output is one line per message; a receipt handle printed by "receive"
 * is what "delete" and "visibility" take back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "queue.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: ir-queue [-cj] [-m MAXRECEIVE] [-n MAX] [-s MS] "
	    "[-v VISIBILITY] [-w WAIT]\n"
	    "                COMMAND URL [ARG...]\n"
	    "commands: send URL [BODY...] | receive URL | consume URL |\n"
	    "          delete URL HANDLE... | visibility URL SECONDS HANDLE... |\n"
	    "          depth URL\n");
	exit(IR_EXIT_USAGE);
}

/* Prints a body on one line: backslash, TAB, CR and LF escaped. */
static void
put_escaped(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		switch (s[i]) {
		case '\\': fputs("\\\\", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		default: putchar(s[i]);
		}
	}
}

static int
do_send(struct ir_queue *q, char **bodies, int nb)
{
	const char *b[IR_QUEUE_MAX_BATCH];
	size_t l[IR_QUEUE_MAX_BATCH];
	char err[IR_ERRMAX], *line = NULL;
	size_t cap = 0;
	int n = 0, i, rc;
	ssize_t len;

	if (nb > 0) {
		for (i = 0; i < nb; i += n) {
			n = nb - i < IR_QUEUE_MAX_BATCH ? nb - i :
			    IR_QUEUE_MAX_BATCH;
			for (int k = 0; k < n; k++) {
				b[k] = bodies[i + k];
				l[k] = strlen(bodies[i + k]);
			}
			if ((rc = ir_queue_send_batch(q, b, l, n, err))) {
				ir_warn("%s", err);
				return ir_exit_code(rc);
			}
		}
		return 0;
	}
	/* One message per stdin line; batches of up to 10. */
	char *keep[IR_QUEUE_MAX_BATCH];
	for (;;) {
		len = getline(&line, &cap, stdin);
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = 0;
		if (len > 0) {
			keep[n] = ir_xstrdup(line);
			b[n] = keep[n];
			l[n] = (size_t)len;
			n++;
		}
		if (n == IR_QUEUE_MAX_BATCH || (len < 0 && n > 0)) {
			rc = ir_queue_send_batch(q, b, l, n, err);
			for (i = 0; i < n; i++)
				free(keep[i]);
			n = 0;
			if (rc) {
				ir_warn("%s", err);
				free(line);
				return ir_exit_code(rc);
			}
		}
		if (len < 0)
			break;
	}
	free(line);
	return 0;
}

/*
 * receive: one receive call. consume: receive, print and delete until a
 * receive waits wait seconds for nothing; each line is flushed before its
 * message is deleted, so a consumer killed at any moment has printed every
 * message it deleted (at-least-once, as a worker must).
 */
static int pause_ms; /* -s: simulated work per consumed message */

static int
do_receive(struct ir_queue *q, int max, int wait, int vis, int json,
    int consume)
{
	struct ir_msg m[IR_QUEUE_MAX_BATCH];
	char err[IR_ERRMAX];
	int n, i, rc, total = 0;

again:
	if ((rc = ir_queue_receive(q, m, max, wait, vis, &n, err))) {
		ir_warn("%s", err);
		return ir_exit_code(rc) == IR_EXIT_NO ? IR_EXIT_TEMPFAIL :
		    ir_exit_code(rc);
	}
	total += n;
	for (i = 0; i < n; i++) {
		if (consume && pause_ms > 0) {
			struct timespec ts = { pause_ms / 1000,
			    pause_ms % 1000 * 1000000L };
			nanosleep(&ts, NULL);
		}
		if (json) {
			json_t *o = json_pack("{s:s, s:s, s:i, s:s%}",
			    "handle", m[i].handle, "id", m[i].id,
			    "receive_count", m[i].receive_count,
			    "body", m[i].body, m[i].len);
			char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
			if (s)
				puts(s);
			else
				ir_warn("message %s: not UTF-8, skipped in -j",
				    m[i].id);
			free(s);
			json_decref(o);
		} else {
			printf("%s\t%s\t%d\t", m[i].handle, m[i].id,
			    m[i].receive_count);
			put_escaped(m[i].body, m[i].len);
			putchar('\n');
		}
		if (consume) {
			if (fflush(stdout) == EOF) {
				ir_warn("stdout: write error");
				return IR_EXIT_TEMPFAIL;
			}
			/* IR_ENOENT: the lease ran out; it comes again. */
			if ((rc = ir_queue_delete(q, &m[i], err)) &&
			    rc != IR_ENOENT) {
				ir_warn("%s", err);
				return ir_exit_code(rc);
			}
		}
		ir_msg_free(&m[i]);
	}
	if (consume && n > 0)
		goto again;
	return total > 0 ? IR_EXIT_OK : IR_EXIT_NO;
}

int
main(int argc, char **argv)
{
	struct ir_queue_opts o = { 0 };
	int c, max = 1, wait = 0, vis = -1, json = 0, i, rc, ex = 0;
	char err[IR_ERRMAX];
	struct ir_queue *q;
	const char *cmd, *url;

	ir_setprog(argv[0]);
	while ((c = getopt(argc, argv, "+chjm:n:s:v:w:")) != -1) {
		switch (c) {
		case 'c': o.create = 1; break;
		case 'j': json = 1; break;
		case 'm':
			o.max_receive = ir_optint(optarg, "-m", -1, 1000000);
			break;
		case 'n': max = ir_optint(optarg, "-n", 1, IR_QUEUE_MAX_BATCH);
			break;
		case 's': pause_ms = ir_optint(optarg, "-s", 0, 3600000); break;
		case 'v':
			vis = ir_optint(optarg, "-v", 0,
			    IR_QUEUE_MAX_VISIBILITY);
			break;
		case 'w': wait = ir_optint(optarg, "-w", 0, IR_QUEUE_MAX_WAIT);
			break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2)
		usage();
	cmd = argv[0];
	url = argv[1];
	argc -= 2;
	argv += 2;
	if (strcmp(cmd, "send") && strcmp(cmd, "receive") &&
	    strcmp(cmd, "consume") &&
	    strcmp(cmd, "delete") && strcmp(cmd, "visibility") &&
	    strcmp(cmd, "depth")) {
		ir_warn("%s: unknown command", cmd);
		usage();
	}
	if ((!strcmp(cmd, "receive") || !strcmp(cmd, "consume") ||
	    !strcmp(cmd, "depth")) && argc)
		usage();
	if (!strcmp(cmd, "delete") && argc < 1)
		usage();
	if (!strcmp(cmd, "visibility") && argc < 2)
		usage();
	if ((rc = ir_queue_open(url, &o, &q, err))) {
		ir_warn("%s", err);
		return ir_exit_code(rc) == IR_EXIT_NO ? IR_EXIT_TEMPFAIL :
		    ir_exit_code(rc);
	}
	if (!strcmp(cmd, "send")) {
		ex = do_send(q, argv, argc);
	} else if (!strcmp(cmd, "receive")) {
		ex = do_receive(q, max, wait, vis, json, 0);
	} else if (!strcmp(cmd, "consume")) {
		ex = do_receive(q, max, wait, vis, json, 1);
	} else if (!strcmp(cmd, "delete")) {
		for (i = 0; i < argc; i++) {
			struct ir_msg m = { .handle = argv[i] };
			if ((rc = ir_queue_delete(q, &m, err))) {
				ir_warn("%s", err);
				if (ir_exit_code(rc) > ex)
					ex = ir_exit_code(rc);
			}
		}
	} else if (!strcmp(cmd, "visibility")) {
		int s = ir_optint(argv[0], "seconds", 0,
		    IR_QUEUE_MAX_VISIBILITY);
		for (i = 1; i < argc; i++) {
			struct ir_msg m = { .handle = argv[i] };
			if ((rc = ir_queue_change_visibility(q, &m, s, err))) {
				ir_warn("%s", err);
				if (ir_exit_code(rc) > ex)
					ex = ir_exit_code(rc);
			} else {
				/* The spool rewrites the handle's lease. */
				puts(m.handle);
			}
		}
	} else {
		long vis_n, fl;
		if ((rc = ir_queue_depth(q, &vis_n, &fl, err))) {
			ir_warn("%s", err);
			ex = ir_exit_code(rc);
		} else {
			printf("%ld\t%ld\n", vis_n, fl);
		}
	}
	ir_queue_close(q);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		ir_warn("stdout: write error");
		return IR_EXIT_TEMPFAIL;
	}
	return ex;
}
