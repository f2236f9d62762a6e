/*
 * ir-store: put, get, head, remove and list objects in any store ir can
 * open (dir: or s3://), by hand or from scripts and tests. See
 * ir-store(1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: ir-store [-m MAXBYTES] [-t TYPE] COMMAND URL [ARG...]\n"
	    "commands: put URL KEY [FILE] | get URL KEY | head URL KEY |\n"
	    "          rm URL KEY... | ls URL [PREFIX]\n");
	exit(IR_EXIT_USAGE);
}

static int
print_key(const char *key, size_t len, void *arg)
{
	(void)arg;
	printf("%s\t%zu\n", key, len);
	return ferror(stdout) ? IR_ESYS : 0;
}

int
main(int argc, char **argv)
{
	const char *cmd, *url, *ctype = NULL;
	char err[IR_ERRMAX], *end;
	struct ir_store *s;
	unsigned long long max = 0;
	unsigned char *buf;
	size_t len;
	int c, rc, ex = 0, i;

	ir_setprog(argv[0]);
	while ((c = getopt(argc, argv, "+hm:t:")) != -1) {
		switch (c) {
		case 'm':
			errno = 0;
			max = strtoull(optarg, &end, 10);
			if (errno || !*optarg || *end || optarg[0] == '-') {
				ir_warn("-m %s: not a byte count", optarg);
				usage();
			}
			break;
		case 't': ctype = optarg; break;
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
	if (!((!strcmp(cmd, "put") && (argc == 1 || argc == 2)) ||
	    ((!strcmp(cmd, "get") || !strcmp(cmd, "head")) && argc == 1) ||
	    (!strcmp(cmd, "rm") && argc >= 1) ||
	    (!strcmp(cmd, "ls") && argc <= 1)))
		usage();
	if ((rc = ir_store_open(url, &s, err))) {
		ir_warn("%s", err);
		return rc == IR_EINVAL ? IR_EXIT_USAGE : IR_EXIT_TEMPFAIL;
	}
	if (!strcmp(cmd, "put")) {
		const char *file = argc == 2 ? argv[1] : "-";
		if ((rc = ir_read_file(file, &buf, &len, 0, err))) {
			ir_warn("%s", err);
			ex = rc == IR_ESYS ? IR_EXIT_TEMPFAIL : IR_EXIT_USAGE;
		} else {
			if ((rc = ir_store_put(s, argv[0], buf, len, ctype,
			    err))) {
				ir_warn("%s", err);
				ex = ir_exit_code(rc);
			}
			free(buf);
		}
	} else if (!strcmp(cmd, "get")) {
		if ((rc = ir_store_get(s, argv[0], &buf, &len, (size_t)max,
		    err))) {
			ir_warn("%s", err);
			ex = ir_exit_code(rc);
		} else {
			if (fwrite(buf, 1, len, stdout) != len)
				ex = IR_EXIT_TEMPFAIL;
			free(buf);
		}
	} else if (!strcmp(cmd, "head")) {
		if ((rc = ir_store_head(s, argv[0], &len, err))) {
			ir_warn("%s", err);
			ex = ir_exit_code(rc);
		} else {
			printf("%zu\n", len);
		}
	} else if (!strcmp(cmd, "rm")) {
		for (i = 0; i < argc; i++)
			if ((rc = ir_store_delete(s, argv[i], err))) {
				ir_warn("%s", err);
				if (ir_exit_code(rc) > ex)
					ex = ir_exit_code(rc);
			}
	} else {
		if ((rc = ir_store_list(s, argc ? argv[0] : "", print_key, NULL,
		    err))) {
			if (rc == IR_ESYS && ferror(stdout))
				snprintf(err, sizeof err, "stdout: write error");
			ir_warn("%s", err);
			ex = ir_exit_code(rc);
		}
	}
	ir_store_close(s);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		ir_warn("stdout: write error");
		return IR_EXIT_TEMPFAIL;
	}
	return ex;
}
