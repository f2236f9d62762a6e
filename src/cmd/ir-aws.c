/*
 * ir-aws: set-up and diagnosis for the AWS backends: create a bucket,
 * create a queue (with its dead-letter queue), show where the credentials
 * come from. See ir-aws(1). Everything else (objects, messages) goes
 * through ir-store(1) and ir-queue(1), which speak every backend.
 *
 * Never prints a secret: "whoami" shows the access key id only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws.h"
#include "queue.h"
#include "s3.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: ir-aws [-t TIMEOUT] mb s3://BUCKET...\n"
	    "       ir-aws [-t TIMEOUT] [-m MAXRECEIVE] [-v VISIBILITY] "
	    "mkqueue sqs://NAME...\n"
	    "       ir-aws whoami\n");
	exit(IR_EXIT_USAGE);
}

int
main(int argc, char **argv)
{
	struct ir_queue_opts o = { .create = 1 };
	char err[IR_ERRMAX];
	int c, worst = IR_EXIT_OK;

	ir_setprog(argv[0]);
	while ((c = getopt(argc, argv, "m:t:v:")) != -1) {
		switch (c) {
		case 'm':
			o.max_receive = ir_optint(optarg, "-m", -1, 1000);
			break;
		case 't':
			ir_aws_set_timeout(ir_optint(optarg, "-t", 1, 86400));
			break;
		case 'v':
			o.visibility_s = ir_optint(optarg, "-v", 1, 43200);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	const char *cmd = argv[0];
	if (strcmp(cmd, "whoami") == 0) {
		char src[400], akid[200];
		long long exp;
		int rc;
		if (argc != 1)
			usage();
		if ((rc = ir_aws_whoami(src, sizeof src, akid, sizeof akid,
		    &exp, err)) != IR_OK)
			ir_die(ir_exit_code(rc), "%s", err);
		printf("%s\t%s\t%lld\n", akid, src, exp / 1000);
		return 0;
	}
	if (argc < 2)
		usage();
	for (int i = 1; i < argc; i++) {
		int rc;
		if (strcmp(cmd, "mb") == 0) {
			rc = ir_s3_create_bucket(argv[i], err);
			if (rc == IR_OK)
				printf("%s\n", argv[i]);
		} else if (strcmp(cmd, "mkqueue") == 0) {
			struct ir_queue *q;
			if (strncmp(argv[i], "sqs://", 6) != 0) {
				ir_warn("%s: mkqueue takes sqs://NAME", argv[i]);
				usage();
			}
			rc = ir_queue_open(argv[i], &o, &q, err);
			if (rc == IR_OK) {
				printf("%s\n", ir_queue_url(q));
				ir_queue_close(q);
			}
		} else {
			usage();
		}
		if (rc != IR_OK) {
			ir_warn("%s", err);
			if (ir_exit_code(rc) > worst || worst == IR_EXIT_NO)
				worst = ir_exit_code(rc);
		}
	}
	return worst;
}
