/*
 * bench_descriptor.c: times our descriptor net (src/lib/facenet.c) on
 * random input, the same thing bench/torch_bench.py times for PyTorch:
 * the network alone on a ready n x 150 x 150 x 3 tensor (no decode, no
 * resize). Built by `make` as build/bench/descriptor; bench/descriptor
 * runs it next to PyTorch and prints the ratios.
 *
 * usage: descriptor [-b batch] [-T threads] [-s seconds] [-r reps]
 *                   [-c avx512|avx2|generic]
 * Prints one line of key=value pairs: ms_per_face_best (best of the reps),
 * ms_per_face_med, ms_per_face_cputime (median CPU time per face and
 * thread, as torch_bench.py computes it), the kernel variant, the BLAS
 * core and what ran.
 * OPENBLAS_* variables are read (printed by the script), never set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cnn.h"
#include "facenet.h"
#include "util.h"

/* CPU time of the whole process (all threads), milliseconds. */
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

int
main(int argc, char **argv)
{
	int batch = 1, threads = 1, reps = 5, c;
	double secs = 2.0;
	const char *cpu = NULL;
	char err[IR_ERRMAX];

	ir_setprog(argv[0]);
	while ((c = getopt(argc, argv, "b:T:s:r:c:h")) != -1) {
		switch (c) {
		case 'b': batch = atoi(optarg); break;
		case 'T': threads = atoi(optarg); break;
		case 's': secs = atof(optarg); break;
		case 'r': reps = atoi(optarg); break;
		case 'c': cpu = optarg; break;
		default:
			fprintf(stderr, "usage: %s [-b batch] [-T threads] "
			    "[-s seconds] [-r reps] [-c cpu]\n", ir_progname);
			return 2;
		}
	}
	if (batch < 1 || threads < 1 || reps < 1 || reps > 100 || secs <= 0)
		ir_die(2, "bad arguments");
	if (cpu && ir_cnn_set_cpu(cpu, err) != IR_OK)
		ir_die(2, "%s", err);

	struct ir_facenet *f;
	if (ir_facenet_open(NULL, batch, threads, &f, err) != IR_OK)
		ir_die(2, "%s", err);
	size_t nin = (size_t)batch * IR_FACENET_SIZE * IR_FACENET_SIZE * 3;
	float *in = ir_xaligned(nin * sizeof(float));
	float *desc = ir_xmalloc((size_t)batch * IR_FACENET_DIM *
	    sizeof(float));
	unsigned s = 12345;
	for (size_t i = 0; i < nin; i++) {
		s = s * 1103515245u + 12345u;
		in[i] = (float)((s >> 9) & 0xffff) / 65536.0f - 0.5f;
	}

	/* warm up, then size the repetitions to secs in total */
	for (int i = 0; i < 3; i++)
		ir_facenet_forward(f, in, batch, desc, err);
	double t0 = ir_now_ms();
	ir_facenet_forward(f, in, batch, desc, err);
	double one = ir_now_ms() - t0;
	int it = (int)(secs * 1000.0 / reps / (one > 0.01 ? one : 0.01));
	if (it < 1)
		it = 1;
	double per[100], cput[100];
	for (int r = 0; r < reps; r++) {
		double c0 = cpu_ms();
		t0 = ir_now_ms();
		for (int i = 0; i < it; i++)
			ir_facenet_forward(f, in, batch, desc, err);
		per[r] = (ir_now_ms() - t0) / it / batch;
		cput[r] = (cpu_ms() - c0) / threads / it / batch;
	}
	double best = per[0];
	for (int r = 1; r < reps; r++)
		best = per[r] < best ? per[r] : best;
	qsort(per, reps, sizeof per[0], cmp);
	qsort(cput, reps, sizeof cput[0], cmp);
	char what[512], tiles[64];
	ir_cnn_describe(what, sizeof what);
	ir_facenet_tiles(f, tiles, sizeof tiles);
	printf("batch=%d threads=%d ms_per_face_best=%.4f ms_per_face_med=%.4f "
	    "ms_per_face_cputime=%.4f iters=%d %s tiles=%s\n", batch, threads,
	    best, per[reps / 2], cput[reps / 2], it, what, tiles);
	ir_facenet_close(f);
	free(in);
	free(desc);
	return 0;
}
