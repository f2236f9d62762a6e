/*
 * bench_pipeline.c: times the whole per-image path of ir-classify on one
 * photo, stage by stage: JPEG decode (libjpeg-turbo, from memory), face
 * detection, 68 landmarks (+ alignment), descriptors, gallery match. Built
 * by `make` as build/bench/pipeline; bench/pipeline runs it on
 * tests/data/faces640.jpg (640x480, 3 faces) with the default engine
 * (tiny detector 416, full landmarks) and with SSD.
 *
 * usage: pipeline [-d tiny|ssd] [-S size] [-t] [-T threads] [-r reps]
 *                 [-m faces] [-c avx512|avx2|generic] FILE
 *   -d  detector (default tiny), -S tiny detector input size (default:
 *       the engine's), -t the tiny landmark net, -T BLAS threads
 *       (default 1), -r repetitions (default 30), -m at most this many
 *       faces through landmarks and descriptor (default all: the cost of
 *       a one-face photo is -m 1), -c kernel variant.
 * Prints a header line, then one table row per stage with the median and
 * the best wall-clock milliseconds over the repetitions, and the total;
 * the cpu_ms column is the median process CPU time (decode, the engine's
 * three stages together, match, total), steadier on a busy machine.
 * OPENBLAS_* variables are read, never set.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cnn.h"
#include "face.h"
#include "gallery.h"
#include "image.h"
#include "util.h"

#define NSTAGE 6

/* CPU time of the whole process (all threads), milliseconds: on a busy
 * machine it is steadier than the wall clock. */
static double
cpu_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void
usage(void)
{
	fprintf(stderr, "usage: pipeline [-d tiny|ssd] [-S size] [-t] "
	    "[-T threads] [-r reps] [-m faces] [-c avx512|avx2|generic] "
	    "FILE\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const char *stage[NSTAGE] = { "decode", "detect", "landmarks",
		"describe", "match", "total" };
	struct ir_engine_opts o = { 0 };
	struct ir_engine *e;
	struct ir_gallery g;
	static struct ir_face faces[IR_MAX_FACES];
	char err[IR_ERRMAX];
	unsigned char *buf;
	size_t len;
	int reps = 30, c, n = 0, maxf = IR_MAX_FACES;
	const char *cpu = NULL;

	ir_setprog(argv[0]);
	while ((c = getopt(argc, argv, "d:S:tT:r:m:c:h")) != -1)
		switch (c) {
		case 'd':
			if (strcmp(optarg, "tiny") == 0)
				o.detector = IR_DET_TINY;
			else if (strcmp(optarg, "ssd") == 0)
				o.detector = IR_DET_SSD;
			else
				usage();
			break;
		case 'S':
			o.tiny_size = atoi(optarg);
			break;
		case 't':
			o.tiny_landmarks = 1;
			break;
		case 'T':
			o.threads = atoi(optarg);
			break;
		case 'r':
			reps = atoi(optarg);
			break;
		case 'c':
			cpu = optarg;
			break;
		case 'm':
			maxf = atoi(optarg);
			if (maxf < 1 || maxf > IR_MAX_FACES)
				usage();
			break;
		default:
			usage();
		}
	if (optind + 1 != argc || reps < 1)
		usage();
	if (cpu != NULL && ir_cnn_set_cpu(cpu, err) != 0)
		ir_die(2, "%s", err);
	if (ir_read_file(argv[optind], &buf, &len, 0, err) != 0)
		ir_die(2, "%s", err);
	if (ir_engine_open(&e, &o, err) != 0)
		ir_die(2, "%s", err);

	/* a gallery of 8 people x 2 descriptors, like the course's */
	ir_gallery_init(&g);
	for (int p = 0; p < 8; p++) {
		float d[2 * IR_DESC_DIM];
		char name[16];
		srand(p + 1);
		for (int k = 0; k < 2 * IR_DESC_DIM; k++)
			d[k] = (float)rand() / RAND_MAX * 0.2f - 0.1f;
		snprintf(name, sizeof name, "person%d", p);
		if (ir_gallery_add(&g, name, d, 2, err) != 0)
			ir_die(2, "%s", err);
	}

	double *t = ir_xcalloc((size_t)reps * NSTAGE, sizeof(double));
	double *cput = ir_xcalloc((size_t)reps * 4, sizeof(double));
	struct ir_image img = { 0 };
	for (int r = -2; r < reps; r++) { /* two warm-up runs */
		struct ir_timing tm;
		struct ir_match m;
		double c0 = cpu_ms(), t0 = ir_now_ms();
		if (ir_image_decode(buf, len, 0, &img, err) != 0)
			ir_die(2, "%s: %s", argv[optind], err);
		double c1 = cpu_ms(), t1 = ir_now_ms();
		if (ir_engine_faces(e, &img, faces, maxf, &n, &tm, err) != 0)
			ir_die(2, "%s: %s", argv[optind], err);
		double c2 = cpu_ms(), t2 = ir_now_ms();
		for (int i = 0; i < n; i++)
			ir_gallery_match(&g, faces[i].desc, 0, &m);
		double c3 = cpu_ms(), t3 = ir_now_ms();
		ir_image_free(&img);
		if (r < 0)
			continue;
		double *row = t + (size_t)r * NSTAGE;
		row[0] = t1 - t0;
		row[1] = tm.detect;
		row[2] = tm.landmarks;
		row[3] = tm.describe;
		row[4] = t3 - t2;
		row[5] = t3 - t0;
		double *cr = cput + (size_t)r * 4;
		cr[0] = c1 - c0;
		cr[1] = c2 - c1;
		cr[2] = c3 - c2;
		cr[3] = c3 - c0;
	}
	char desc[256];
	ir_cnn_describe(desc, sizeof desc);
	printf("# %s: %d faces, detector %s%s, %s landmarks, %d threads, %d "
	    "reps; %s\n", argv[optind], n,
	    o.detector == IR_DET_SSD ? "ssd" : "tiny",
	    o.detector == IR_DET_SSD ? "" : o.tiny_size ? "" : " (auto size)",
	    o.tiny_landmarks ? "tiny" : "full", o.threads ? o.threads : 1,
	    reps, desc);
	printf("%-10s %10s %10s %10s\n", "stage", "median_ms", "best_ms",
	    "cpu_ms");
	double col[reps], ccol[reps];
	/* cpu columns: decode, -, -, engine (detect..describe), match, total */
	static const int cpucol[NSTAGE] = { 0, -1, -1, 1, 2, 3 };
	for (int s = 0; s < NSTAGE; s++) {
		for (int r = 0; r < reps; r++)
			col[r] = t[(size_t)r * NSTAGE + s];
		qsort(col, reps, sizeof col[0], cmp);
		printf("%-10s %10.3f %10.3f", stage[s], col[reps / 2], col[0]);
		if (cpucol[s] >= 0) {
			for (int r = 0; r < reps; r++)
				ccol[r] = cput[(size_t)r * 4 + cpucol[s]];
			qsort(ccol, reps, sizeof ccol[0], cmp);
			printf(" %10.3f%s", ccol[reps / 2],
			    s == 3 ? "  (detect+landmarks+describe)" : "");
		}
		printf("\n");
	}
	free(t);
	free(cput);
	free(buf);
	ir_gallery_free(&g);
	ir_engine_close(e);
	return 0;
}
