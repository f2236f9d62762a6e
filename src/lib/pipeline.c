/*
 * pipeline.c: the face pipeline of face.h: detector -> 68 landmarks ->
 * alignment box -> descriptor, as face-api's
 * detectAllFaces().withFaceLandmarks().withFaceDescriptors() does it
 * (MODEL-SPEC.md section 7), plus the whole-image fallback for tight crops.
 *
 * Invariants:
 *  - The weights (models and the networks pointing into them) live in one
 *    reference-counted `struct shared`, read-only after open, so clones in
 *    other threads share them; each engine owns its arena and its small
 *    per-image arrays, so an engine is used by one thread at a time.
 *  - The arena is sized at open for the largest stage: the detector at its
 *    largest input (tiny at opts.tiny_size, SSD at 512) or the landmark net
 *    at min(max_batch, 8) faces; the descriptor net (facenet.h) keeps its
 *    own arena for max_batch faces, also allocated at open. Every network
 *    resizes straight from the image into its input tensor, so the image
 *    size does not matter and the per-image path never allocates.
 *  - At most IR_ENGINE_DET_CAP detections are kept per image (the highest
 *    scoring ones, SSD keeps at most 100 anyway); they are then sorted
 *    largest box first (stable, so equal areas keep the detector's order)
 *    and the first `max` go through landmarks and descriptor.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.h"
#include "face.h"
#include "facenet.h"
#include "facenets.h"
#include "image.h"
#include "model.h"
#include "util.h"

#define DET_CAP IR_ENGINE_DET_CAP
/* Faces per landmark pass: 8 already make GEMMs of 25000+ rows in the
 * first block; more only grows the arena (3.5 MB per face). */
#define LM_BATCH 8
/* Crops per jittered face: shifts of -1, 0, 1 px in x and y. */
#define NJIT 9

struct shared {
	atomic_int refs;
	int detector, tiny_lm;
	struct ir_model *mdet, *mlm;
	struct ir_tinydet *tiny;
	struct ir_ssdnet *ssd;
	struct ir_lmnet *lm;
};

struct ir_engine {
	struct shared *sh;
	struct ir_facenet *rec;      /* shares its weights with clones */
	struct ir_engine_opts o;     /* defaults resolved */
	int tiny_auto;               /* tiny_size 0: follow small images */
	float *arena;
	size_t arena_n;              /* floats */
	struct ir_det det[DET_CAP];
	int crop[DET_CAP][4];        /* landmark crops */
	int dcrop[DET_CAP][4];       /* descriptor crops */
	double rel[DET_CAP][68][2];
	struct ir_facecrop fc[DET_CAP * NJIT];
	float desc[DET_CAP * NJIT * IR_DESC_DIM];
};

static void
shared_release(struct shared *sh)
{
	if (sh == NULL || atomic_fetch_sub(&sh->refs, 1) != 1)
		return;
	ir_tinydet_free(sh->tiny);
	ir_ssd_free(sh->ssd);
	ir_lmnet_free(sh->lm);
	ir_model_close(sh->mdet);
	ir_model_close(sh->mlm);
	free(sh);
}

static int
open_model(const char *dir, const char *file, struct ir_model **m, char *err)
{
	char path[4096];

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >=
	    sizeof path)
		return ir_err(err, IR_EINVAL, "model folder name too long");
	int r = ir_model_open(path, m, err);
	if (r == IR_OK)
		ir_model_drop_codes(*m);  /* these nets read the floats */
	return r;
}

static int
lm_batch(const struct ir_engine *e)
{
	return e->o.max_batch < LM_BATCH ? e->o.max_batch : LM_BATCH;
}

/* Sizes the arena for e's options (called by open and clone). */
static void
arena_alloc(struct ir_engine *e)
{
	struct shared *sh = e->sh;
	size_t n;

	if (sh->detector == IR_DET_SSD)
		n = ir_ssd_scratch(sh->ssd);
	else
		n = ir_tinydet_scratch(sh->tiny, e->o.tiny_size);
	n = ir_maxz(n, ir_lmnet_scratch(sh->lm, lm_batch(e)));
	e->arena_n = n;
	e->arena = ir_xaligned(n * sizeof(float));
}

int
ir_engine_open(struct ir_engine **out, const struct ir_engine_opts *o,
    char *err)
{
	struct ir_engine_opts d = { 0 };
	struct shared *sh;
	struct ir_engine *e;
	const char *dir;
	int rc;

	*out = NULL;
	if (o != NULL)
		d = *o;
	if (d.detector != IR_DET_TINY && d.detector != IR_DET_SSD)
		return ir_err(err, IR_EINVAL, "unknown face detector %d",
		    d.detector);
	int tiny_auto = d.tiny_size == 0;
	if (d.tiny_size == 0)
		d.tiny_size = 416;
	if (d.tiny_size < 32 || d.tiny_size > 2048 || d.tiny_size % 32 != 0)
		return ir_err(err, IR_EINVAL, "tiny detector input size %d: "
		    "must be a multiple of 32 from 32 to 2048", d.tiny_size);
	if (d.min_score == 0)
		d.min_score = 0.5;
	if (!(d.min_score > 0 && d.min_score < 1))
		return ir_err(err, IR_EINVAL, "detection threshold %g: must be "
		    "between 0 and 1", d.min_score);
	if (d.threads <= 0)
		d.threads = 1;
	if (d.whole_max == 0)
		d.whole_max = 160;
	if (d.max_batch <= 0)
		d.max_batch = 16;
	if (d.max_batch > DET_CAP)
		d.max_batch = DET_CAP;
	if (d.jitter == 0)
		d.jitter = atoi(ir_getenv("IR_JITTER", "48"));
	dir = d.model_dir ? d.model_dir : ir_model_dir();

	sh = ir_xcalloc(1, sizeof *sh);
	atomic_init(&sh->refs, 1);
	sh->detector = d.detector;
	sh->tiny_lm = d.tiny_landmarks != 0;
	if (d.detector == IR_DET_SSD) {
		if ((rc = open_model(dir, "ssd_mobilenetv1.irw", &sh->mdet,
		    err)) != 0 ||
		    (rc = ir_ssd_load(sh->mdet, &sh->ssd, err)) != 0)
			goto fail;
	} else {
		if ((rc = open_model(dir, "tiny_face_detector.irw", &sh->mdet,
		    err)) != 0 ||
		    (rc = ir_tinydet_load(sh->mdet, &sh->tiny, err)) != 0)
			goto fail;
	}
	if ((rc = open_model(dir, sh->tiny_lm ? "face_landmark_68_tiny.irw" :
	    "face_landmark_68.irw", &sh->mlm, err)) != 0 ||
	    (rc = ir_lmnet_load(sh->mlm, sh->tiny_lm, &sh->lm, err)) != 0)
		goto fail;
	char rpath[4096];
	if ((size_t)snprintf(rpath, sizeof rpath, "%s/face_recognition.irw",
	    dir) >= sizeof rpath) {
		rc = ir_err(err, IR_EINVAL, "model folder name too long");
		goto fail;
	}
	e = ir_xcalloc(1, sizeof *e);
	if ((rc = ir_facenet_open(rpath, d.max_batch, d.threads, &e->rec,
	    err)) != 0) {
		free(e);
		goto fail;
	}
	ir_cnn_set_threads(d.threads);
	e->sh = sh;
	e->o = d;
	e->tiny_auto = tiny_auto;
	e->o.model_dir = NULL; /* not kept: the caller's string */
	arena_alloc(e);
	*out = e;
	return IR_OK;
fail:
	shared_release(sh);
	return rc;
}

int
ir_engine_clone(struct ir_engine *src, struct ir_engine **out, char *err)
{
	struct ir_engine *e = ir_xcalloc(1, sizeof *e);
	int rc;

	*out = NULL;
	if ((rc = ir_facenet_clone(src->rec, &e->rec, err)) != 0) {
		free(e);
		return rc;
	}
	atomic_fetch_add(&src->sh->refs, 1);
	e->sh = src->sh;
	e->o = src->o;
	e->tiny_auto = src->tiny_auto;
	arena_alloc(e);
	*out = e;
	return IR_OK;
}

void
ir_engine_close(struct ir_engine *e)
{
	if (e == NULL)
		return;
	shared_release(e->sh);
	ir_facenet_close(e->rec);
	free(e->arena);
	free(e);
}

const char *
ir_face_path_name(int path)
{
	switch (path) {
	case IR_PATH_TINY:
		return "tiny";
	case IR_PATH_SSD:
		return "ssd";
	case IR_PATH_WHOLE:
		return "whole";
	}
	return "?";
}

static int
check_image(const struct ir_image *img, char *err)
{
	if (img == NULL || img->rgb == NULL || img->w <= 0 || img->h <= 0)
		return ir_err(err, IR_EINVAL, "empty image");
	return IR_OK;
}

int
ir_engine_option(struct ir_engine_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case 'd':
		if (strcmp(arg, "tiny") == 0)
			o->detector = IR_DET_TINY;
		else if (strcmp(arg, "ssd") == 0)
			o->detector = IR_DET_SSD;
		else
			ir_die(IR_EXIT_USAGE, "bad detector \"%s\" (want tiny "
			    "or ssd)", arg);
		return 1;
	case 'S':
		o->tiny_size = ir_optint(arg, "tiny size", 32, 1024);
		if (o->tiny_size % 32)
			ir_die(IR_EXIT_USAGE, "bad tiny size %s (want a "
			    "multiple of 32)", arg);
		return 1;
	case 'T':
		o->threads = ir_optint(arg, "thread count", 1, 256);
		return 1;
	case IR_OPT_TINY_LANDMARKS:
		o->tiny_landmarks = 1;
		return 1;
	case IR_OPT_JPEG:
		if (strcmp(arg, "libjpeg") == 0)
			o->jpeg = IR_JPEG_LIBJPEG;
		else if (strcmp(arg, "faceapi") == 0)
			o->jpeg = IR_JPEG_FACEAPI;
		else
			ir_die(IR_EXIT_USAGE, "bad JPEG decoder \"%s\" (want "
			    "libjpeg or faceapi)", arg);
		return 1;
	}
	return 0;
}

/*
 * The tiny detector's input size for a W x H image. Fixed when the caller
 * chose one (face-api's behaviour). By default 416, but never more than
 * the image's longer side rounded up to a multiple of 32 (at least 128):
 * upscaling a small image blurs it and the detector misses its faces
 * (measured on the course's 64x64 photos: 2 of 10 found at 416, 10 of 10
 * at 128; 250x250 originals: 7 of 10 at 416, 9 of 10 at 256, the tenth at
 * 416). When the reduced size finds nothing, ir_engine_faces tries
 * tiny_size itself. Images at least tiny_size on their longer side are
 * unaffected: face-api's behaviour exactly.
 */
static int
tiny_size(const struct ir_engine *e, int W, int H)
{
	int m = W > H ? W : H, s;

	if (!e->tiny_auto)
		return e->o.tiny_size;
	s = (m + 31) / 32 * 32;
	if (s < 128)
		s = 128;
	return s < e->o.tiny_size ? s : e->o.tiny_size;
}

/* Stable sort of det[0..n) by box area, largest first. */
static void
sort_by_area(struct ir_det *d, int n)
{
	for (int i = 1; i < n; i++) {
		struct ir_det t = d[i];
		double a = t.box[2] * t.box[3];
		int j = i;
		while (j > 0 && d[j - 1].box[2] * d[j - 1].box[3] < a) {
			d[j] = d[j - 1];
			j--;
		}
		d[j] = t;
	}
}

int
ir_engine_faces(struct ir_engine *e, const struct ir_image *img,
    struct ir_face *faces, int max, int *nout, struct ir_timing *t,
    char *err)
{
	struct shared *sh = e->sh;
	int n = 0, rc, path, W, H;
	double t0, t1, t2, t3;

	*nout = 0;
	if ((rc = check_image(img, err)) != 0)
		return rc;
	if (max <= 0)
		return IR_OK;
	if (max > DET_CAP)
		max = DET_CAP;
	W = img->w;
	H = img->h;

	t0 = ir_now_ms();
	if (sh->detector == IR_DET_SSD) {
		rc = ir_ssd_detect(sh->ssd, img, e->o.min_score, e->arena,
		    e->det, DET_CAP, &n, err);
		path = IR_PATH_SSD;
	} else {
		int ts = tiny_size(e, W, H);
		rc = ir_tinydet_detect(sh->tiny, img, ts, e->o.min_score,
		    e->arena, e->det, DET_CAP, &n, err);
		/* nothing at the reduced size: face-api's own size */
		if (rc == 0 && n == 0 && ts != e->o.tiny_size)
			rc = ir_tinydet_detect(sh->tiny, img, e->o.tiny_size,
			    e->o.min_score, e->arena, e->det, DET_CAP, &n, err);
		path = IR_PATH_TINY;
	}
	if (rc != 0)
		return rc;
	sort_by_area(e->det, n);

	/* landmark crops; detections whose crop is empty are dropped */
	int k = 0;
	for (int i = 0; i < n && k < max; i++)
		if (ir_box_clip_floor(e->det[i].box, W, H, e->crop[k]))
			e->det[k++] = e->det[i];
	n = k;
	if (n == 0 && e->o.whole_max > 0 && W <= e->o.whole_max &&
	    H <= e->o.whole_max) {
		/* a tight face crop: the whole image is the face */
		e->det[0].score = 0;
		e->det[0].box[0] = e->det[0].box[1] = 0;
		e->det[0].box[2] = W;
		e->det[0].box[3] = H;
		e->crop[0][0] = e->crop[0][1] = 0;
		e->crop[0][2] = W;
		e->crop[0][3] = H;
		n = 1;
		path = IR_PATH_WHOLE;
	}
	t1 = ir_now_ms();
	if (n == 0) {
		if (t != NULL) {
			t->detect = t1 - t0;
			t->landmarks = t->describe = 0;
		}
		return IR_OK;
	}

	rc = ir_lmnet_run(sh->lm, img, (const int (*)[4])e->crop, n,
	    lm_batch(e), e->arena, e->rel, err);
	if (rc != 0)
		return rc;
	for (int i = 0; i < n; i++) {
		struct ir_face *f = &faces[i];
		const int *c = e->crop[i];
		double ab[4];

		memset(f, 0, sizeof *f);
		f->score = e->det[i].score;
		memcpy(f->box, e->det[i].box, sizeof f->box);
		memcpy(f->crop, c, sizeof f->crop);
		f->path = path;
		/* face-api shifts by the unfloored detection origin but scales
		 * by the floored, clipped crop (spec 7.2) */
		for (int p = 0; p < 68; p++) {
			f->landmarks[p][0] = e->rel[i][p][0] * c[2] + f->box[0];
			f->landmarks[p][1] = e->rel[i][p][1] * c[3] + f->box[1];
		}
		ir_align_box(f->landmarks, c[2], c[3], ab);
		/* an empty alignment box (landmarks gone wild, far outside
		 * the image) gets 128 zeros from face-api; we describe the
		 * landmark crop instead, which at least is a face */
		if (!ir_box_clip_floor(ab, W, H, e->dcrop[i]))
			memcpy(e->dcrop[i], c, sizeof e->dcrop[i]);
		for (int j = 0; j < 4; j++)
			f->aligned[j] = e->dcrop[i][j];
	}
	t2 = ir_now_ms();

	/* one call: the net batches up to max_batch crops per pass */
	int m = 0, nj[DET_CAP];
	for (int i = 0; i < n; i++) {
		const int *c = e->dcrop[i];
		nj[i] = e->o.jitter > 0 && c[2] < e->o.jitter ? NJIT : 1;
		for (int j = 0; j < nj[i]; j++, m++) {
			/* j = 4 is the crop itself; facenet clips the rest */
			e->fc[m].img = img;
			e->fc[m].rect[0] = c[0] + (nj[i] > 1 ? j % 3 - 1 : 0);
			e->fc[m].rect[1] = c[1] + (nj[i] > 1 ? j / 3 - 1 : 0);
			e->fc[m].rect[2] = c[2];
			e->fc[m].rect[3] = c[3];
		}
	}
	if ((rc = ir_facenet_describe(e->rec, e->fc, m, e->desc, err)) != 0)
		return rc;
	for (int i = 0, k = 0; i < n; k += nj[i], i++)
		for (int d = 0; d < IR_DESC_DIM; d++) {
			double s = 0;
			for (int j = 0; j < nj[i]; j++)
				s += e->desc[(size_t)(k + j) * IR_DESC_DIM + d];
			faces[i].desc[d] = (float)(s / nj[i]);
		}
	t3 = ir_now_ms();
	if (t != NULL) {
		t->detect = t1 - t0;
		t->landmarks = t2 - t1;
		t->describe = t3 - t2;
	}
	*nout = n;
	return IR_OK;
}

int
ir_engine_describe(struct ir_engine *e, const struct ir_image *crops, int n,
    float *desc, char *err)
{
	int rc;

	for (int i0 = 0; i0 < n; i0 += DET_CAP) {
		int nb = n - i0 < DET_CAP ? n - i0 : DET_CAP;
		for (int i = 0; i < nb; i++) {
			const struct ir_image *c = &crops[i0 + i];
			if ((rc = check_image(c, err)) != 0)
				return rc;
			e->fc[i].img = c;
			e->fc[i].rect[0] = e->fc[i].rect[1] = 0;
			e->fc[i].rect[2] = c->w;
			e->fc[i].rect[3] = c->h;
		}
		rc = ir_facenet_describe(e->rec, e->fc, nb,
		    desc + (size_t)i0 * IR_DESC_DIM, err);
		if (rc != 0)
			return rc;
	}
	return IR_OK;
}
